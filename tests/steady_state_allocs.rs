//! The real elements allocate nothing per packet in steady state: after a
//! warm-up, rtpfasth264pay and rtpfasth264depay do at most 0.05 heap
//! allocations per RTP packet over 10 000+ packets, counted by a malloc
//! interposer with `G_SLICE=always-malloc` (so GLib's slice magazines cannot
//! hide GstBuffer/GstMemory allocations). The stock elements are measured the
//! same way, which proves the counter sees GStreamer's allocations.

#[path = "../src/alloc_counter.rs"]
mod alloc_counter;
mod common;
#[path = "../src/bin/rtp_perf_compare/rig.rs"]
#[allow(dead_code)]
mod rig;

use rig::Rig;

const MIN_PACKETS: u64 = 10_000;
/// Packets pushed before counting: more than a size class's free list holds
/// (1024 header blocks), so every parked buffer has been dressed once.
const WARM_PACKETS: u64 = 2_500;

/// `frames` repeated `times`, with timestamps moving on at each repeat; deep copies, so every buffer is a
/// fresh single system memory as an encoder pushes it.
fn repeat(frames: &[gst::Buffer], times: usize) -> Vec<gst::Buffer> {
    let span = gst::ClockTime::from_seconds(10);
    (0..times)
        .flat_map(|r| {
            frames.iter().map(move |f| {
                let mut b = f.copy_deep().unwrap();
                let bm = b.get_mut().unwrap();
                bm.set_pts(f.pts().map(|p| p + span * r as u64));
                bm.set_dts(f.dts().map(|p| p + span * r as u64));
                b
            })
        })
        .collect()
}

fn rtp_buffers(packets: Vec<Vec<u8>>) -> Vec<gst::Buffer> {
    packets
        .into_iter()
        .map(gst::Buffer::from_mut_slice)
        .collect()
}

/// Push `warm` untimed, then count heap allocations while pushing `counted`.
/// Returns allocations per output packet.
fn allocs_per_packet(rig: &Rig, warm: Vec<gst::Buffer>, counted: Vec<gst::Buffer>) -> f64 {
    for b in warm {
        rig.push(b).unwrap();
    }
    rig.reset();
    let a0 = alloc_counter::allocations();
    for b in counted {
        rig.push(b).unwrap();
    }
    let allocs = alloc_counter::allocations() - a0;
    let packets = rig.packets();
    assert!(packets >= MIN_PACKETS, "only {packets} packets counted");
    allocs as f64 / packets as f64
}

/// 1080p H.264 at ~20 Mbit/s (the compare tool's operating point): about 60
/// packets per frame. The one GstBufferList per input frame is inherent to
/// pushing lists (so is the stock element's); per packet it is ~0.02.
fn media() -> common::Media {
    let (caps, frames) = common::run_collect(
        "videotestsrc num-buffers=30 pattern=snow ! \
         video/x-raw,width=1920,height=1080,framerate=30/1,format=I420 ! \
         x264enc tune=zerolatency key-int-max=30 bitrate=20000 speed-preset=ultrafast ! \
         video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=sink sync=false",
        None,
    );
    common::Media {
        caps: caps.expect("encoder produced caps"),
        frames,
    }
}

fn measure(media: &common::Media, pay: &str, depay: &str) -> (f64, f64) {
    let caps = media.caps.clone();
    // Packets per repeat, from one untimed pass.
    let probe = Rig::new(pay, &[("mtu", 1400)], &caps, false).unwrap();
    for b in repeat(&media.frames, 1) {
        probe.push(b).unwrap();
    }
    let per_repeat = probe.packets().max(1);
    drop(probe);
    let warm_repeats = WARM_PACKETS.div_ceil(per_repeat) as usize;
    let counted_repeats = MIN_PACKETS.div_ceil(per_repeat) as usize;
    let input = repeat(&media.frames, warm_repeats + counted_repeats);
    let (warm, counted) = input.split_at(media.frames.len() * warm_repeats);

    let rig = Rig::new(pay, &[("mtu", 1400)], &caps, false).unwrap();
    let pay_allocs = allocs_per_packet(&rig, warm.to_vec(), counted.to_vec());
    drop(rig);

    // The depayloader's input: the same stream, collected (not counted).
    let collector = Rig::new(pay, &[("mtu", 1400)], &caps, true).unwrap();
    for b in input {
        collector.push(b).unwrap();
    }
    let rtp_caps = collector.output_caps().unwrap();
    let packets = rtp_buffers(collector.take_collected());
    drop(collector);
    let rig = Rig::new(depay, &[], &rtp_caps, false).unwrap();
    let warm_packets = packets.len() * warm_repeats / (warm_repeats + counted_repeats);
    let (warm, counted) = packets.split_at(warm_packets);
    let depay_allocs =
        allocs_per_packet_in(&rig, warm.to_vec(), counted.to_vec(), counted.len() as f64);
    (pay_allocs, depay_allocs)
}

/// Like [`allocs_per_packet`] but per *input* packet (depayloaders output
/// access units, not packets).
fn allocs_per_packet_in(
    rig: &Rig,
    warm: Vec<gst::Buffer>,
    counted: Vec<gst::Buffer>,
    n: f64,
) -> f64 {
    for b in warm {
        rig.push(b).unwrap();
    }
    let a0 = alloc_counter::allocations();
    for b in counted {
        rig.push(b).unwrap();
    }
    let allocs = alloc_counter::allocations() - a0;
    assert!(n >= MIN_PACKETS as f64, "only {n} packets counted");
    allocs as f64 / n
}

/// Child half: runs only when started by the parent test below, with
/// G_SLICE=always-malloc in its environment from process start.
#[test]
fn child_measure() {
    if std::env::var_os("STEADY_ALLOCS_CHILD").is_none() {
        return;
    }
    common::init();
    assert!(alloc_counter::is_active(), "malloc interposer not active");
    let media = media();
    let (pay, depay) = measure(&media, "rtpfasth264pay", "rtpfasth264depay");
    let (stock_pay, stock_depay) = measure(&media, "rtph264pay", "rtph264depay");
    println!(
        "allocations per packet: rtpfasth264pay {pay:.4} rtpfasth264depay {depay:.4} \
         rtph264pay {stock_pay:.4} rtph264depay {stock_depay:.4}"
    );
    // The counter sees GStreamer's own allocations...
    assert!(stock_pay > 1.0, "stock payloader: {stock_pay}");
    assert!(stock_depay > 1.0, "stock depayloader: {stock_depay}");
    // ...and ours make (almost) none.
    assert!(pay <= 0.05, "rtpfasth264pay: {pay} allocations per packet");
    assert!(
        depay <= 0.05,
        "rtpfasth264depay: {depay} allocations per packet"
    );
}

#[test]
fn elements_allocate_nothing_per_packet_in_steady_state() {
    common::run_allocation_child("child_measure", "STEADY_ALLOCS_CHILD");
}
