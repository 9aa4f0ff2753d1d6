//! rtpfastvrawpay and rtpfastvrawdepay allocate (almost) nothing per packet
//! in steady state: 1080p UYVP (the compare tool's raw video media) at MTU
//! 1400, heap allocations counted by the malloc interposer with
//! `G_SLICE=always-malloc` (as tests/steady_state_allocs.rs does) over 10 000
//! packets after a warm-up. The stock elements are measured the same way,
//! which proves the counter sees GStreamer's allocations.

#[path = "../src/alloc_counter.rs"]
mod alloc_counter;
mod common;
#[path = "../src/bin/rtp_perf_compare/rig.rs"]
#[allow(dead_code)]
mod rig;

use rig::Rig;

const MIN_PACKETS: u64 = 10_000;
const WARM_PACKETS: u64 = 2_500;

fn media() -> (gst::Caps, Vec<gst::Buffer>) {
    let (caps, frames) = common::run_collect(
        "videotestsrc num-buffers=2 pattern=ball ! \
         video/x-raw,format=UYVP,width=1920,height=1080,framerate=25/1 ! \
         appsink name=sink sync=false",
        None,
    );
    (caps.unwrap(), frames)
}

/// `frames` cycled into `n` fresh buffers (deep copies, as a source pushes
/// them), 40 ms apart.
fn input(frames: &[gst::Buffer], n: usize) -> Vec<gst::Buffer> {
    (0..n)
        .map(|i| {
            let mut b = frames[i % frames.len()].copy_deep().unwrap();
            b.get_mut()
                .unwrap()
                .set_pts(gst::ClockTime::from_mseconds(40 * i as u64));
            b
        })
        .collect()
}

/// (pay, depay) heap allocations per packet.
fn measure(caps: &gst::Caps, frames: &[gst::Buffer], pay: &str, depay: &str) -> (f64, f64) {
    let props = [("mtu", 1400u32)];
    let probe = Rig::new(pay, &props, caps, false).unwrap();
    probe.push(frames[0].copy_deep().unwrap()).unwrap();
    let per_frame = probe.packets().max(1);
    drop(probe);
    let warm = WARM_PACKETS.div_ceil(per_frame) as usize;
    let counted = MIN_PACKETS.div_ceil(per_frame) as usize;
    let bufs = input(frames, warm + counted);

    let rig = Rig::new(pay, &props, caps, false).unwrap();
    for b in bufs[..warm].iter().cloned() {
        rig.push(b).unwrap();
    }
    rig.reset();
    let counted_in: Vec<gst::Buffer> = bufs[warm..].to_vec();
    let a0 = alloc_counter::allocations();
    for b in counted_in {
        rig.push(b).unwrap();
    }
    let allocs = alloc_counter::allocations() - a0;
    let packets = rig.packets();
    assert!(packets >= MIN_PACKETS, "only {packets} packets");
    let pay_allocs = allocs as f64 / packets as f64;
    drop(rig);

    // The depayloader's input: the same stream, collected.
    let collector = Rig::new(pay, &props, caps, true).unwrap();
    for b in bufs {
        collector.push(b).unwrap();
    }
    let rtp_caps = collector.output_caps().unwrap();
    let packets: Vec<gst::Buffer> = collector
        .take_collected()
        .into_iter()
        .map(gst::Buffer::from_mut_slice)
        .collect();
    drop(collector);
    let warm_packets = per_frame as usize * warm;
    let rig = Rig::new(depay, &[], &rtp_caps, false).unwrap();
    let (w, c) = packets.split_at(warm_packets);
    for b in w.iter().cloned() {
        rig.push(b).unwrap();
    }
    let counted_packets: Vec<gst::Buffer> = c.to_vec();
    let n = counted_packets.len() as f64;
    let a0 = alloc_counter::allocations();
    for b in counted_packets {
        rig.push(b).unwrap();
    }
    let allocs = alloc_counter::allocations() - a0;
    assert!(
        n >= MIN_PACKETS as f64,
        "only {n} packets into the depayloader"
    );
    (pay_allocs, allocs as f64 / n)
}

#[test]
fn child_measure() {
    if std::env::var_os("VRAW_ALLOCS_CHILD").is_none() {
        return;
    }
    common::init();
    assert!(alloc_counter::is_active(), "malloc interposer not active");
    let (caps, frames) = media();
    let (pay, depay) = measure(&caps, &frames, "rtpfastvrawpay", "rtpfastvrawdepay");
    let (stock_pay, stock_depay) = measure(&caps, &frames, "rtpvrawpay", "rtpvrawdepay");
    println!(
        "allocations per packet: rtpfastvrawpay {pay:.4} rtpfastvrawdepay {depay:.4} \
         rtpvrawpay {stock_pay:.4} rtpvrawdepay {stock_depay:.4}"
    );
    assert!(stock_pay > 1.0, "stock payloader: {stock_pay}");
    assert!(pay <= 0.05, "rtpfastvrawpay: {pay} allocations per packet");
    assert!(
        depay <= 0.05,
        "rtpfastvrawdepay: {depay} allocations per packet"
    );
}

#[test]
fn vraw_elements_allocate_nothing_per_packet_in_steady_state() {
    common::run_allocation_child("child_measure", "VRAW_ALLOCS_CHILD");
}
