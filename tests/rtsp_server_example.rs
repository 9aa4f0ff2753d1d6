//! examples/rtsp_server.rs end to end in one process over loopback: the
//! example's server (our payloader) on a free port, played by `rtspsrc` and
//! by `uridecodebin` (which autoplugs a depayloader), frames decoded.

#[allow(dead_code)]
#[path = "../examples/rtsp_server.rs"]
mod example;

use clap::Parser;
use gst::prelude::*;
use std::time::{Duration, Instant};

fn serve() -> example::Server {
    // Small and fast for a test; the example's own launch line otherwise.
    let opts = example::Opts::parse_from([
        "rtsp_server",
        "--port",
        "0",
        "--launch",
        &example::DEFAULT_LAUNCH.replace("width=1280,height=720", "width=320,height=240"),
    ]);
    example::Server::start(&opts).expect("server starts")
}

/// Decoded frames of `desc` (ending in `appsink name=sink`), until `want`
/// or 30 s.
fn decoded_frames(desc: &str, want: usize) -> usize {
    let pipeline = gst::parse::launch(desc).unwrap();
    let sink = pipeline
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut frames = 0;
    while frames < want && Instant::now() < deadline {
        if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            panic!("{desc}: {msg:?}");
        }
        if let Some(s) = sink.try_pull_sample(gst::ClockTime::from_mseconds(100)) {
            let caps = s.caps().unwrap().structure(0).unwrap().name().to_string();
            assert_eq!(caps, "video/x-raw");
            frames += 1;
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    frames
}

#[test]
fn rtspsrc_and_uridecodebin_play_the_example_server() {
    let server = serve();
    assert!(
        server.url.starts_with("rtsp://127.0.0.1:"),
        "{}",
        server.url
    );
    let n = decoded_frames(
        &format!(
            "rtspsrc location={} latency=0 ! rtph264depay ! avdec_h264 ! appsink name=sink sync=false",
            server.url
        ),
        10,
    );
    assert_eq!(n, 10, "rtspsrc decoded {n} frames");
    let n = decoded_frames(
        &format!(
            "uridecodebin uri={} ! videoconvert ! appsink name=sink sync=false",
            server.url
        ),
        10,
    );
    assert_eq!(n, 10, "uridecodebin decoded {n} frames");
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let first = serve();
    let port: u16 = first
        .url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let opts = example::Opts::parse_from(["rtsp_server", "--port", &port.to_string()]);
    let err = example::Server::start(&opts)
        .err()
        .expect("second server on the same port fails");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
}
