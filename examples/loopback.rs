//! Loopback demo: H.264 sender -> UDP 127.0.0.1 -> receiver, both with the
//! fast elements, then prints what the elements measured (`stats`).
//!
//! cargo run --release --example loopback [-- FRAMES]

use gst::prelude::*;
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    gst::init()?;
    gstrsrtpfast::plugin_register_static()?;
    let frames: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300);
    let port = 5000 + (std::process::id() % 1000) as u16;

    let receiver = gst::parse::launch(&format!(
        "udpsrc address=127.0.0.1 port={port} caps=\"application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload=96\" \
         ! rtpfasth264depay name=depay ! avdec_h264 ! fakesink name=sink sync=false"
    ))?
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sender = gst::parse::launch(&format!(
        "videotestsrc num-buffers={frames} pattern=ball ! video/x-raw,width=1280,height=720,framerate=30/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=8000 key-int-max=30 \
         ! rtpfasth264pay name=pay config-interval=1 pt=96 ! udpsink host=127.0.0.1 port={port} sync=false"
    ))?
    .downcast::<gst::Pipeline>()
    .unwrap();

    let decoded = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = decoded.clone();
    receiver
        .by_name("sink")
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });

    receiver.set_state(gst::State::Playing)?;
    let start = Instant::now();
    sender.set_state(gst::State::Playing)?;
    let bus = sender.bus().unwrap();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(120)) {
        match msg.view() {
            gst::MessageView::Eos(..) => break,
            gst::MessageView::Error(e) => {
                return Err(format!("sender: {} ({:?})", e.error(), e.debug()).into())
            }
            _ => {}
        }
    }
    // Give the receiver a moment to drain the socket.
    std::thread::sleep(Duration::from_millis(300));
    let elapsed = start.elapsed();

    let pay_stats = sender
        .by_name("pay")
        .unwrap()
        .property::<gst::Structure>("stats");
    let depay_stats = receiver
        .by_name("depay")
        .unwrap()
        .property::<gst::Structure>("stats");
    println!(
        "rsrtpfast loopback: {frames} frames 720p H.264 over UDP 127.0.0.1:{port} in {:.2?}",
        elapsed
    );
    println!(
        "  frames decoded by the receiver: {}",
        decoded.load(std::sync::atomic::Ordering::Relaxed)
    );
    for (name, s) in [
        ("rtpfasth264pay", &pay_stats),
        ("rtpfasth264depay", &depay_stats),
    ] {
        println!(
            "  {name:17} packets={} bytes={} dropped={} malformed={} simd={} processing p50={} ns p99={} ns",
            s.get::<u64>("packets").unwrap_or(0),
            s.get::<u64>("bytes").unwrap_or(0),
            s.get::<u64>("dropped").unwrap_or(0),
            s.get::<u64>("malformed").unwrap_or(0),
            s.get::<&str>("simd-level").unwrap_or("?"),
            s.get::<u32>("processing-ns-p50").unwrap_or(0),
            s.get::<u32>("processing-ns-p99").unwrap_or(0),
        );
    }
    sender.set_state(gst::State::Null)?;
    receiver.set_state(gst::State::Null)?;
    Ok(())
}
