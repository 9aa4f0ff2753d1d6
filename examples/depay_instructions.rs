//! Instructions per packet of a depayloader, for valgrind callgrind: push
//! RTP packets pad-to-pad into one element and count only the push loop.
//!
//!     cargo run --release --example depay_instructions -- gen /tmp/h264.rtp
//!     valgrind --tool=callgrind --toggle-collect='*counted_pushes*' \
//!         target/release/examples/depay_instructions run rtpfasth264depay /tmp/h264.rtp 600
//!
//! Run with N and 2N packets: (total(2N) - total(N)) / N is the cost per
//! packet with start-up and warm-up cancelled out. `valve` is run with
//! `drop=true` (one push in, nothing out: the floor for a depayloader).

use gst::prelude::*;
use std::io::{Read, Write};

/// Packets pushed before the counted loop (pool and caches warm).
const WARM: usize = 300;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    gst::init().unwrap();
    gstrsrtpfast::plugin_register_static().unwrap();
    match args.get(1).map(String::as_str) {
        Some("gen") => generate(&args[2]),
        Some("run") => run(&args[2], &args[3], args[4].parse().unwrap()),
        _ => eprintln!("usage: depay_instructions gen FILE | run ELEMENT FILE N"),
    }
}

/// 1080p x264 at ~20 Mbit/s, payloaded by rtph264pay with MTU 1400: the
/// caps on the first line, then each packet as a u32 length + bytes.
fn generate(path: &str) {
    let pipeline = gst::parse::launch(
        "videotestsrc num-buffers=40 pattern=snow ! \
         video/x-raw,width=1920,height=1080,framerate=30/1,format=I420 ! \
         x264enc tune=zerolatency key-int-max=30 bitrate=20000 speed-preset=ultrafast ! \
         rtph264pay mtu=1400 config-interval=-1 ! appsink name=sink sync=false",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut caps = None;
    let mut out = Vec::new();
    let mut n = 0;
    while let Ok(sample) = sink.pull_sample() {
        caps = caps.or_else(|| sample.caps().map(|c| c.to_owned()));
        let map = sample.buffer().unwrap().map_readable().unwrap();
        out.extend_from_slice(&(map.len() as u32).to_le_bytes());
        out.extend_from_slice(&map);
        n += 1;
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let mut f = std::fs::File::create(path).unwrap();
    writeln!(f, "{}", caps.unwrap()).unwrap();
    f.write_all(&out).unwrap();
    eprintln!("{n} packets written to {path}");
}

fn run(element: &str, path: &str, n: usize) {
    let mut data = Vec::new();
    std::fs::File::open(path)
        .unwrap()
        .read_to_end(&mut data)
        .unwrap();
    let nl = data.iter().position(|&b| b == b'\n').unwrap();
    let caps: gst::Caps = std::str::from_utf8(&data[..nl]).unwrap().parse().unwrap();
    let mut rest = &data[nl + 1..];
    let mut packets = Vec::new();
    while rest.len() >= 4 {
        let len = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
        packets.push(rest[4..4 + len].to_vec());
        rest = &rest[4 + len..];
    }
    assert!(packets.len() >= WARM + n, "only {} packets", packets.len());

    let e = gst::ElementFactory::make(element).build().unwrap();
    if element == "valve" {
        e.set_property("drop", true);
    }
    let src = gst::Pad::builder(gst::PadDirection::Src).build();
    let sink = gst::Pad::builder(gst::PadDirection::Sink)
        .chain_function(|_, _, _| Ok(gst::FlowSuccess::Ok))
        .chain_list_function(|_, _, _| Ok(gst::FlowSuccess::Ok))
        .event_function(|_, _, _| true)
        .query_function(|_, _, q| {
            if let gst::QueryViewMut::Caps(c) = q.view_mut() {
                // Byte-stream AUs, as a decoder behind h264parse asks.
                let caps = gst::Caps::builder("video/x-h264")
                    .field("stream-format", "byte-stream")
                    .field("alignment", "au")
                    .build();
                c.set_result(&caps);
                return true;
            }
            false
        })
        .build();
    src.set_active(true).unwrap();
    sink.set_active(true).unwrap();
    src.link(&e.static_pad("sink").unwrap()).unwrap();
    e.static_pad("src").unwrap().link(&sink).unwrap();
    e.set_state(gst::State::Playing).unwrap();
    assert!(src.push_event(gst::event::StreamStart::new("callgrind")));
    assert!(src.push_event(gst::event::Caps::new(&caps)));
    assert!(
        src.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
            gst::ClockTime,
        >::new()))
    );
    let mut buffers: Vec<gst::Buffer> = packets[..WARM + n]
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut b = gst::Buffer::from_slice(p.clone());
            b.get_mut()
                .unwrap()
                .set_pts(gst::ClockTime::from_mseconds(i as u64));
            b
        })
        .collect();
    let counted = buffers.split_off(WARM);
    warm_pushes(&src, buffers);
    counted_pushes(&src, counted);
    e.set_state(gst::State::Null).unwrap();
}

#[inline(never)]
fn warm_pushes(src: &gst::Pad, buffers: Vec<gst::Buffer>) {
    for b in buffers {
        src.push(b).unwrap();
    }
}

#[inline(never)]
fn counted_pushes(src: &gst::Pad, buffers: Vec<gst::Buffer>) {
    for b in buffers {
        src.push(b).unwrap();
    }
}
