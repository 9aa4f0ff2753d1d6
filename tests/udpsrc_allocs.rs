//! Heap allocations per received datagram on the source's streaming thread,
//! rtpfastudpsrc against stock udpsrc, counted by the malloc interposer
//! with `G_SLICE=always-malloc` (so GstBuffer/GstMemory/meta slices are
//! visible). Traffic: 1200-byte datagrams from a std socket on loopback,
//! into fakesink. The streaming thread does all of the source's work
//! (wait, receive, buffers, metas, push, free in the sink), so its count is
//! the source's cost; the sending thread is not counted.

#[path = "../src/alloc_counter.rs"]
mod alloc_counter;
mod common;

use gst::prelude::*;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WARM: u64 = 3_000;
const COUNTED: u64 = 20_000;
const CHILD_ENV: &str = "UDPSRC_ALLOCS_CHILD";

/// (datagrams seen, allocations at the end of warm-up, at the last one).
#[derive(Default)]
struct Marks {
    seen: AtomicU64,
    start: AtomicU64,
    seen_at_start: AtomicU64,
    end: AtomicU64,
    seen_at_end: AtomicU64,
}

fn allocs_per_datagram(element: &str, props: &str) -> f64 {
    common::init();
    let desc = format!("{element} name=src address=127.0.0.1 port=0 {props} ! fakesink sync=false");
    let pipeline = gst::parse::launch(&desc)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let src = pipeline.by_name("src").unwrap();
    let marks = Arc::new(Marks::default());
    let m = marks.clone();
    src.static_pad("src").unwrap().add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
        move |_, info| {
            let n = match &info.data {
                Some(gst::PadProbeData::Buffer(_)) => 1,
                Some(gst::PadProbeData::BufferList(l)) => l.len() as u64,
                _ => 0,
            };
            let before = m.seen.fetch_add(n, Ordering::Relaxed);
            let now = before + n;
            if before < WARM && now >= WARM {
                m.start
                    .store(alloc_counter::thread_allocations(), Ordering::Relaxed);
                m.seen_at_start.store(now, Ordering::Relaxed);
            }
            if now > WARM {
                m.end
                    .store(alloc_counter::thread_allocations(), Ordering::Relaxed);
                m.seen_at_end.store(now, Ordering::Relaxed);
            }
            gst::PadProbeReturn::Ok
        },
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    let port = src.property::<i32>("port") as u16;
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let payload = [0x80u8; 1200];
    let total = WARM + COUNTED;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut sent = 0u64;
    // Paced bursts so that few are dropped; stop once enough arrived.
    while marks.seen.load(Ordering::Relaxed) < total && Instant::now() < deadline {
        for _ in 0..16 {
            tx.send_to(&payload, ("127.0.0.1", port)).unwrap();
            sent += 1;
        }
        std::thread::sleep(Duration::from_micros(300));
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let counted =
        marks.seen_at_end.load(Ordering::Relaxed) - marks.seen_at_start.load(Ordering::Relaxed);
    assert!(
        counted >= COUNTED / 2,
        "{element}: only {counted} datagrams counted of {sent} sent"
    );
    let allocs = marks.end.load(Ordering::Relaxed) - marks.start.load(Ordering::Relaxed);
    allocs as f64 / counted as f64
}

#[test]
#[ignore = "run with G_SLICE=always-malloc by udpsrc_allocations_per_datagram"]
fn child_measure() {
    assert_eq!(std::env::var(CHILD_ENV).as_deref(), Ok("1"));
    assert!(alloc_counter::is_active(), "malloc interposer not active");
    let stock = allocs_per_datagram("udpsrc", "");
    let ours_meta = allocs_per_datagram("rtpfastudpsrc", "");
    let ours_plain = allocs_per_datagram("rtpfastudpsrc", "retrieve-sender-address=false");
    let stock_plain = allocs_per_datagram("udpsrc", "retrieve-sender-address=false");
    println!(
        "allocations per datagram: udpsrc {stock:.3} (no sender meta {stock_plain:.3}), \
         rtpfastudpsrc {ours_meta:.3} (no sender meta {ours_plain:.3})"
    );
    // The counter sees GStreamer's allocations: stock adds a meta per
    // datagram (GSocket caches the GSocketAddress of a repeated sender).
    assert!(
        stock >= 0.9,
        "stock udpsrc measured {stock}: counter blind?"
    );
    // Without the meta: nothing per datagram.
    assert!(
        ours_plain <= 0.05,
        "rtpfastudpsrc without sender meta: {ours_plain}"
    );
    // With it: one, GstBuffer's meta item (gst_buffer_add_meta allocates
    // one per buffer, and our pool strips metas on recycle), as stock; the
    // GSocketAddress is cached.
    assert!(
        ours_meta <= stock + 0.05,
        "rtpfastudpsrc with sender meta: {ours_meta}, stock {stock}"
    );
}

#[test]
fn udpsrc_allocations_per_datagram() {
    common::run_allocation_child("child_measure", CHILD_ENV);
}
