//! gst-rtsp-server in process on a free localhost port, serving one
//! launch line at `/test`, its main loop on a thread of its own until the
//! server is dropped.

use gst::glib;
use gst_rtsp_server::prelude::*;

pub struct Server {
    pub port: i32,
    main_loop: glib::MainLoop,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Serve `launch` (a `( … name=pay0 … )` bin description).
    pub fn start(launch: &str) -> Server {
        let server = gst_rtsp_server::RTSPServer::new();
        server.set_address("127.0.0.1");
        server.set_service("0");
        let factory = gst_rtsp_server::RTSPMediaFactory::new();
        factory.set_launch(launch);
        server.mount_points().unwrap().add_factory("/test", factory);
        let ctx = glib::MainContext::new();
        server.attach(Some(&ctx)).expect("RTSP server attached");
        let port = server.bound_port();
        assert!(port > 0, "bound port");
        let main_loop = glib::MainLoop::new(Some(&ctx), false);
        let thread = {
            let main_loop = main_loop.clone();
            std::thread::spawn(move || {
                // The server lives as long as the loop runs.
                let _server = server;
                main_loop.run();
            })
        };
        Server {
            port,
            main_loop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/test", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.main_loop.quit();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
