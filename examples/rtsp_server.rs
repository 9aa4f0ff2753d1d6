//! An RTSP server whose media is payloaded by rsrtpfast: gst-rtsp-server
//! with `rtpfasth264pay name=pay0` in its launch line, the one change from a
//! stock server.
//!
//! ```text
//! cargo run --release --example rtsp_server -- [--port 8554] [--launch "( ... name=pay0 ... )"]
//! gst-launch-1.0 playbin uri=rtsp://127.0.0.1:8554/test      # or ffplay, VLC, ...
//! ```
//!
//! The plugin is registered from this binary, so nothing needs installing;
//! with the plugin installed the same launch line works in any
//! gst-rtsp-server application (e.g. its `test-launch`).

use clap::Parser;
use gst::glib;
use gst_rtsp_server::prelude::*;

/// Live H.264 at 720p30, payloaded by ours; parameter sets with every IDR
/// so players can join at any time.
pub const DEFAULT_LAUNCH: &str = "( videotestsrc is-live=true pattern=ball \
     ! video/x-raw,width=1280,height=720,framerate=30/1 \
     ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 \
     ! rtpfasth264pay name=pay0 pt=96 config-interval=-1 )";

#[derive(Parser, Debug)]
#[command(about = "RTSP server with rsrtpfast payloaders (gst-rtsp-server)")]
pub struct Opts {
    /// TCP port (0: any free port, printed).
    #[arg(long, default_value_t = 8554)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub address: String,
    /// Mount point.
    #[arg(long, default_value = "/test")]
    pub mount: String,
    /// The media: a gst-rtsp-server launch line, payloaders named pay0, pay1, ...
    #[arg(long, default_value = DEFAULT_LAUNCH)]
    pub launch: String,
    /// Stop after this many seconds (default: run until killed).
    #[arg(long)]
    pub seconds: Option<u64>,
}

/// A running server: its main loop runs on a thread of its own until dropped.
pub struct Server {
    pub url: String,
    /// The bound TCP port (the one picked when asked for 0).
    pub port: i32,
    main_loop: glib::MainLoop,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// The example's server: GStreamer and the plugin initialised here, one
    /// media shared by every client, as a live camera would be.
    pub fn start(opts: &Opts) -> Result<Server, String> {
        static INIT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
        INIT.get_or_init(|| {
            gst::init().map_err(|e| e.to_string())?;
            gstrsrtpfast::plugin_register_static().map_err(|e| e.to_string())
        })
        .clone()?;
        Self::serve(&opts.address, opts.port, &opts.mount, &opts.launch, true)
    }

    /// Serve `launch` at `mount` (GStreamer and the plugin already
    /// initialised); `shared`: one media for every client.
    pub fn serve(
        address: &str,
        port: u16,
        mount: &str,
        launch: &str,
        shared: bool,
    ) -> Result<Server, String> {
        let server = gst_rtsp_server::RTSPServer::new();
        server.set_address(address);
        server.set_service(&port.to_string());
        let factory = gst_rtsp_server::RTSPMediaFactory::new();
        factory.set_launch(launch);
        factory.set_shared(shared);
        server
            .mount_points()
            .ok_or("no mount points")?
            .add_factory(mount, factory);
        let ctx = glib::MainContext::new();
        server
            .attach(Some(&ctx))
            .map_err(|e| format!("cannot listen on {address}:{port}: {e}"))?;
        let port = server.bound_port();
        let url = format!("rtsp://{address}:{port}{mount}");
        let main_loop = glib::MainLoop::new(Some(&ctx), false);
        let thread = {
            let main_loop = main_loop.clone();
            std::thread::spawn(move || {
                let _server = server;
                main_loop.run();
            })
        };
        Ok(Server {
            url,
            port,
            main_loop,
            thread: Some(thread),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            // A quit before the thread entered `run` would be lost: repeat
            // it until the thread is done.
            while !t.is_finished() {
                self.main_loop.quit();
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let _ = t.join();
        }
    }
}

#[allow(dead_code)]
fn main() {
    let opts = Opts::parse();
    let server = match Server::start(&opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rtsp_server: {e}");
            std::process::exit(1);
        }
    };
    println!("serving {}", server.url);
    match opts.seconds {
        Some(s) => std::thread::sleep(std::time::Duration::from_secs(s)),
        None => loop {
            std::thread::park();
        },
    }
}
