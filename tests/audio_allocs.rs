//! rtpfastL16depay / rtpfastL24depay and rtpfastL16pay / rtpfastL24pay
//! allocate nothing per packet in steady state, big-endian (zero-copy views)
//! and little-endian (pooled copies, or swapped in place) alike: heap
//! allocations counted by the malloc interposer with
//! `G_SLICE=always-malloc` (as tests/steady_state_allocs.rs does), over
//! 10 000 packets after a warm-up. The stock elements are measured the
//! same way, which proves the counter sees GStreamer's allocations.

#[path = "../src/alloc_counter.rs"]
mod alloc_counter;
mod common;

use gst::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const WARM: usize = 2_500;
const COUNTED: usize = 10_000;

/// Element between a plain src pad and a sink pad that drops what it gets
/// and answers the CAPS query with `downstream`.
struct Rig {
    element: gst::Element,
    src: gst::Pad,
    _sink: gst::Pad,
    /// Buffers that reached the sink.
    out: Arc<AtomicU64>,
}

impl Rig {
    fn new(factory: &str, rtp_caps: &gst::Caps, downstream: gst::Caps) -> Rig {
        let element = gst::ElementFactory::make(factory).build().unwrap();
        let src = gst::Pad::builder(gst::PadDirection::Src).build();
        let out = Arc::new(AtomicU64::new(0));
        let counted = out.clone();
        let counted_list = out.clone();
        let sink = gst::Pad::builder(gst::PadDirection::Sink)
            .chain_function(move |_, _, _| {
                counted.fetch_add(1, Ordering::Relaxed);
                Ok(gst::FlowSuccess::Ok)
            })
            .chain_list_function(move |_, _, list| {
                counted_list.fetch_add(list.len() as u64, Ordering::Relaxed);
                Ok(gst::FlowSuccess::Ok)
            })
            .event_function(|_, _, _| true)
            .query_function(move |_, _, q| match q.view_mut() {
                gst::QueryViewMut::Caps(c) => {
                    let caps = match c.filter() {
                        Some(f) => {
                            f.intersect_with_mode(&downstream, gst::CapsIntersectMode::First)
                        }
                        None => downstream.clone(),
                    };
                    c.set_result(&caps);
                    true
                }
                gst::QueryViewMut::AcceptCaps(a) => {
                    let ok = a.caps().can_intersect(&downstream);
                    a.set_result(ok);
                    true
                }
                _ => false,
            })
            .build();
        src.set_active(true).unwrap();
        sink.set_active(true).unwrap();
        src.link(&element.static_pad("sink").unwrap()).unwrap();
        element.static_pad("src").unwrap().link(&sink).unwrap();
        element.set_state(gst::State::Playing).unwrap();
        assert!(src.push_event(gst::event::StreamStart::new("allocs")));
        assert!(src.push_event(gst::event::Caps::new(rtp_caps)));
        assert!(
            src.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
                gst::ClockTime,
            >::new()))
        );
        Rig {
            element,
            src,
            _sink: sink,
            out,
        }
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = self.element.set_state(gst::State::Null);
    }
}

/// 5 ms packets of 48 kHz stereo (fresh single-memory buffers, like udpsrc
/// hands out), built before counting.
fn packets(sample_bytes: usize, n: usize) -> Vec<gst::Buffer> {
    let payload = 240 * 2 * sample_bytes;
    (0..n)
        .map(|i| {
            let mut v = vec![0x80, 96];
            v.extend_from_slice(&(i as u16).to_be_bytes());
            v.extend_from_slice(&(i as u32 * 240).to_be_bytes());
            v.extend_from_slice(&0x1234u32.to_be_bytes());
            v.extend((0..payload).map(|j| (i + j) as u8));
            let mut b = gst::Buffer::from_mut_slice(v);
            b.get_mut()
                .unwrap()
                .set_pts(gst::ClockTime::from_useconds(i as u64 * 5000));
            b
        })
        .collect()
}

fn allocs_per_packet(factory: &str, encoding: &str, sample_bytes: usize, format: &str) -> f64 {
    allocs_per_packet_in(factory, encoding, sample_bytes, format, 0)
}

/// `list` > 0: the packets pushed in buffer lists of that many (built
/// before counting, as a batching source builds them).
fn allocs_per_packet_in(
    factory: &str,
    encoding: &str,
    sample_bytes: usize,
    format: &str,
    list: usize,
) -> f64 {
    let rtp_caps: gst::Caps = format!(
        "application/x-rtp,media=audio,clock-rate=48000,encoding-name={encoding},encoding-params=(string)2,payload=96"
    )
    .parse()
    .unwrap();
    let downstream: gst::Caps = format!("audio/x-raw,format={format}").parse().unwrap();
    let rig = Rig::new(factory, &rtp_caps, downstream);
    let mut input = packets(sample_bytes, WARM + COUNTED);
    let counted = input.split_off(WARM);
    // Warmed up the way it is measured: with lists, the pools grow to a
    // list's worth of output buffers alive at once.
    if list > 0 {
        for c in input.chunks(list) {
            let mut l = gst::BufferList::new_sized(c.len());
            for b in c {
                l.get_mut().unwrap().add(b.clone());
            }
            rig.src.push_list(l).unwrap();
        }
    } else {
        for b in input {
            rig.src.push(b).unwrap();
        }
    }
    let lists: Vec<gst::BufferList> = if list > 0 {
        counted
            .chunks(list)
            .map(|c| {
                let mut l = gst::BufferList::new_sized(c.len());
                for b in c {
                    l.get_mut().unwrap().add(b.clone());
                }
                l
            })
            .collect()
    } else {
        Vec::new()
    };
    let counted = if list > 0 { Vec::new() } else { counted };
    let out0 = rig.out.load(Ordering::Relaxed);
    let a0 = alloc_counter::allocations();
    for b in counted {
        rig.src.push(b).unwrap();
    }
    for l in lists {
        rig.src.push_list(l).unwrap();
    }
    let allocs = alloc_counter::allocations() - a0;
    assert_eq!(
        rig.out.load(Ordering::Relaxed) - out0,
        COUNTED as u64,
        "{factory}: output buffers"
    );
    if factory.starts_with("rtpfast") {
        let caps = rig
            .element
            .static_pad("src")
            .unwrap()
            .current_caps()
            .unwrap();
        assert_eq!(
            caps.structure(0).unwrap().get::<&str>("format").unwrap(),
            format
        );
    }
    allocs as f64 / COUNTED as f64
}

/// 20 ms buffers of 48 kHz stereo raw audio (fresh, writable, as a source
/// pushes them): 3 packets each for L16 at MTU 1400, 5 for L24.
fn audio_buffers(sample_bytes: usize, n: usize) -> Vec<gst::Buffer> {
    (0..n)
        .map(|i| {
            let data: Vec<u8> = (0..960 * 2 * sample_bytes).map(|j| (i + j) as u8).collect();
            let mut b = gst::Buffer::from_mut_slice(data);
            b.get_mut()
                .unwrap()
                .set_pts(gst::ClockTime::from_mseconds(i as u64 * 20));
            b
        })
        .collect()
}

/// A payloader's heap allocations per RTP packet out.
fn pay_allocs_per_packet(factory: &str, format: &str, sample_bytes: usize) -> f64 {
    let caps: gst::Caps =
        format!("audio/x-raw,format={format},layout=interleaved,rate=48000,channels=2")
            .parse()
            .unwrap();
    let rig = Rig::new(factory, &caps, "application/x-rtp".parse().unwrap());
    let warm_inputs = WARM / 3;
    let counted_inputs = COUNTED / 3 + 1;
    let mut input = audio_buffers(sample_bytes, warm_inputs + counted_inputs);
    let counted = input.split_off(warm_inputs);
    for b in input {
        rig.src.push(b).unwrap();
    }
    let p0 = rig.out.load(Ordering::Relaxed);
    let a0 = alloc_counter::allocations();
    for b in counted {
        rig.src.push(b).unwrap();
    }
    let allocs = alloc_counter::allocations() - a0;
    let packets = rig.out.load(Ordering::Relaxed) - p0;
    assert!(
        packets >= COUNTED as u64,
        "{factory}: only {packets} packets"
    );
    allocs as f64 / packets as f64
}

/// Child half: runs only when started by the parent test below, with
/// G_SLICE=always-malloc in its environment from process start.
#[test]
fn child_measure() {
    if std::env::var_os("AUDIO_ALLOCS_CHILD").is_none() {
        return;
    }
    common::init();
    assert!(alloc_counter::is_active(), "malloc interposer not active");
    let mut report = Vec::new();
    for (stock, ours, enc, bytes, be, le) in [
        ("rtpL16depay", "rtpfastL16depay", "L16", 2, "S16BE", "S16LE"),
        ("rtpL24depay", "rtpfastL24depay", "L24", 3, "S24BE", "S24LE"),
    ] {
        let stock_be = allocs_per_packet(stock, enc, bytes, be);
        let ours_be = allocs_per_packet(ours, enc, bytes, be);
        let ours_le = allocs_per_packet(ours, enc, bytes, le);
        // Lists in, lists out (the output list is a recycled one).
        let ours_lists = allocs_per_packet_in(ours, enc, bytes, be, 32);
        report.push(format!(
            "{stock} {stock_be:.4} | {ours} {be} {ours_be:.4} {le} {ours_le:.4} lists of 32 {ours_lists:.4}"
        ));
        assert!(
            ours_lists <= 0.05,
            "{ours} {be} in lists: {ours_lists} allocations per packet"
        );
        assert!(stock_be > 1.0, "{stock}: {stock_be}: counter blind?");
        assert!(
            ours_be <= 0.05,
            "{ours} {be}: {ours_be} allocations per packet"
        );
        assert!(
            ours_le <= 0.05,
            "{ours} {le}: {ours_le} allocations per packet"
        );
    }
    for (stock, ours, bytes, be, le) in [
        ("rtpL16pay", "rtpfastL16pay", 2, "S16BE", "S16LE"),
        ("rtpL24pay", "rtpfastL24pay", 3, "S24BE", "S24LE"),
    ] {
        let stock_be = pay_allocs_per_packet(stock, be, bytes);
        let ours_be = pay_allocs_per_packet(ours, be, bytes);
        let ours_le = pay_allocs_per_packet(ours, le, bytes);
        report.push(format!(
            "{stock} {stock_be:.4} | {ours} {be} {ours_be:.4} {le} {ours_le:.4}"
        ));
        assert!(stock_be > 1.0, "{stock}: {stock_be}: counter blind?");
        assert!(
            ours_be <= 0.05,
            "{ours} {be}: {ours_be} allocations per packet"
        );
        assert!(
            ours_le <= 0.05,
            "{ours} {le}: {ours_le} allocations per packet"
        );
    }
    println!("allocations per packet: {}", report.join("; "));
}

#[test]
fn raw_audio_elements_allocate_nothing_per_packet() {
    common::run_allocation_child("child_measure", "AUDIO_ALLOCS_CHILD");
}
