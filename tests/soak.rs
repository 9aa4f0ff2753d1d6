//! Soak: many RTP packets through `pay ! depay` in one process, for H.264
//! and L16. Every frame must come out with its content intact, resident
//! memory must stay flat after warm-up and the shared pool's high-water mark
//! must stop growing.
//!
//! `RSRTPFAST_SOAK_PACKETS` sets the number of RTP packets per format
//! (default 10^7 in a release build, ~20 s here; 10^6 in a debug build,
//! ~11 s, where 10^7 takes ~2 min); `make soak` runs the full count in
//! release.
//! Each test prints its figures (time, packets/s, RSS, pool high-water).

mod common;

use gst::prelude::*;
use gstrsrtpfast::pool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// RSS and the pool are process-wide: run one soak at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Resident growth allowed after warm-up.
const MAX_RSS_GROWTH: u64 = 1024 * 1024;
/// Pool high-water growth allowed after warm-up (the mark is sampled, so a
/// late sample may raise it by a block or two).
const MAX_POOL_HW_GROWTH: u64 = 1024 * 1024;
/// The pool's high-water mark at all: a pay ! depay pair holds a few
/// packets and one access unit at a time.
const MAX_POOL_HW: u64 = 8 * 1024 * 1024;

/// Inputs handed to appsrc per push (a divisor of 256, the RSS sampling
/// period in inputs).
const INPUTS_PER_PUSH: u64 = 16;

fn target_packets() -> u64 {
    let default = if cfg!(debug_assertions) {
        1_000_000
    } else {
        10_000_000
    };
    std::env::var("RSRTPFAST_SOAK_PACKETS")
        .ok()
        .map(|v| {
            v.parse()
                .expect("RSRTPFAST_SOAK_PACKETS must be a number of packets")
        })
        .unwrap_or(default)
}

/// VmRSS of this process in bytes.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS line");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmRSS value");
    kib * 1024
}

/// What the checker in the depayloader's src probe found.
#[derive(Default)]
struct Check {
    units_out: u64,
    mismatches: u64,
    first_mismatch: Option<String>,
}

/// Memory and progress figures of one soak.
struct Figures {
    rss_warm: u64,
    rss_max_after_warm: u64,
    rss_end: u64,
    pool_hw_warm: u64,
    pool_hw_end: u64,
}

/// Feeds `next_input(i)` into `appsrc name=src` of `desc` until the
/// payloader (`name=pay`) has sent `target` packets; the depayloader
/// (`name=depay`) src probe runs `check` on every output buffer.
fn soak(
    label: &str,
    desc: &str,
    caps: &gst::Caps,
    target: u64,
    mut next_input: impl FnMut(u64) -> gst::Buffer,
    check: impl Fn(&gst::BufferRef, &mut Check) + Send + Sync + 'static,
) -> (u64, Check, Figures) {
    common::init();
    let (pipeline, src) = common::launch_with_src(desc);

    src.set_caps(Some(caps));
    src.set_format(gst::Format::Time);
    // Bounded queue: the feeder blocks instead of running ahead.
    src.set_block(true);
    src.set_max_buffers(8);
    src.set_max_bytes(0);

    let packets = Arc::new(AtomicU64::new(0));
    let pay_src = pipeline.by_name("pay").unwrap().static_pad("src").unwrap();
    {
        let packets = packets.clone();
        pay_src.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |_, info| {
                let n = match &info.data {
                    Some(gst::PadProbeData::BufferList(l)) => l.len() as u64,
                    Some(gst::PadProbeData::Buffer(_)) => 1,
                    _ => 0,
                };
                packets.fetch_add(n, Ordering::Relaxed);
                gst::PadProbeReturn::Ok
            },
        );
    }
    let result = Arc::new(Mutex::new(Check::default()));
    let depay_src = pipeline
        .by_name("depay")
        .unwrap()
        .static_pad("src")
        .unwrap();
    {
        let result = result.clone();
        depay_src.add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |_, info| {
                let mut r = result.lock().unwrap();
                match &info.data {
                    Some(gst::PadProbeData::Buffer(b)) => check(b, &mut r),
                    Some(gst::PadProbeData::BufferList(l)) => {
                        for b in l.iter() {
                            check(b, &mut r)
                        }
                    }
                    _ => {}
                }
                gst::PadProbeReturn::Ok
            },
        );
    }

    pipeline.set_state(gst::State::Playing).unwrap();
    let warm_up = (target / 10).max(1);
    let start = Instant::now();
    let mut fig = Figures {
        rss_warm: 0,
        rss_max_after_warm: 0,
        rss_end: 0,
        pool_hw_warm: 0,
        pool_hw_end: 0,
    };
    let mut warm = false;
    let mut inputs = 0u64;
    while packets.load(Ordering::Relaxed) < target {
        // Inputs go in lists: one hand-over to appsrc's streaming thread per
        // INPUTS_PER_PUSH inputs, so the feeding costs little beside the
        // elements (the payloader takes a list as its buffers in turn).
        let mut list = gst::BufferList::new_sized(INPUTS_PER_PUSH as usize);
        {
            let list = list.get_mut().unwrap();
            for _ in 0..INPUTS_PER_PUSH {
                list.add(next_input(inputs));
                inputs += 1;
            }
        }
        src.push_buffer_list(list).expect("appsrc push");
        if inputs.is_multiple_of(256) {
            let sent = packets.load(Ordering::Relaxed);
            if !warm && sent >= warm_up {
                warm = true;
                fig.rss_warm = rss_bytes();
                fig.pool_hw_warm = pool::stats().high_water;
                fig.rss_max_after_warm = fig.rss_warm;
            } else if warm {
                fig.rss_max_after_warm = fig.rss_max_after_warm.max(rss_bytes());
            }
        }
    }
    src.end_of_stream().unwrap();
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(60),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("EOS within 60 s");
    if let gst::MessageView::Error(e) = msg.view() {
        panic!("{label}: pipeline error {} ({:?})", e.error(), e.debug());
    }
    let elapsed = start.elapsed();
    fig.rss_end = rss_bytes();
    fig.rss_max_after_warm = fig.rss_max_after_warm.max(fig.rss_end);
    fig.pool_hw_end = pool::stats().high_water;
    if !warm {
        // Too few packets for a sample before the end: warm-up is the end.
        fig.rss_warm = fig.rss_end;
        fig.pool_hw_warm = fig.pool_hw_end;
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let sent = packets.load(Ordering::Relaxed);
    let secs = elapsed.as_secs_f64();
    let stats = pool::stats();
    println!(
        "soak {label}: {sent} packets, {inputs} inputs in {secs:.2} s = {:.0} packets/s; \
         RSS warm-up {} KiB, max after {} KiB, end {} KiB (growth {} KiB); \
         pool high-water warm-up {} KiB, end {} KiB; pool acquired {} recycled {} misses {}",
        sent as f64 / secs,
        fig.rss_warm / 1024,
        fig.rss_max_after_warm / 1024,
        fig.rss_end / 1024,
        fig.rss_max_after_warm.saturating_sub(fig.rss_warm) / 1024,
        fig.pool_hw_warm / 1024,
        fig.pool_hw_end / 1024,
        stats.acquired,
        stats.recycled,
        stats.misses,
    );
    let check = std::mem::take(&mut *result.lock().unwrap());
    (inputs, check, fig)
}

fn assert_figures(label: &str, fig: &Figures) {
    let growth = fig.rss_max_after_warm.saturating_sub(fig.rss_warm);
    assert!(
        growth <= MAX_RSS_GROWTH,
        "{label}: resident memory grew {growth} bytes after warm-up ({} -> {} max)",
        fig.rss_warm,
        fig.rss_max_after_warm
    );
    let hw_growth = fig.pool_hw_end.saturating_sub(fig.pool_hw_warm);
    assert!(
        hw_growth <= MAX_POOL_HW_GROWTH,
        "{label}: pool high-water grew {hw_growth} bytes after warm-up ({} -> {})",
        fig.pool_hw_warm,
        fig.pool_hw_end
    );
    assert!(
        fig.pool_hw_end <= MAX_POOL_HW,
        "{label}: pool high-water {} bytes",
        fig.pool_hw_end
    );
}

/// An access unit as NAL bodies each behind a 4-byte start code (what the
/// depayloader writes), whatever start codes the encoder used.
fn normalize_annexb(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    for nal in common::annexb_nals(data) {
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(&nal);
    }
    out
}

/// (type, size) of each NAL, for failure messages.
fn nal_summary(data: &[u8]) -> Vec<(u8, usize)> {
    common::annexb_nals(data)
        .iter()
        .map(|n| (n[0] & 0x1f, n.len()))
        .collect()
}

#[test]
fn soak_h264() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let target = target_packets();
    // One GOP encoded once (x264enc is not part of the measured loop).
    let media = common::encode(common::Codec::H264, 30, 320, 240);
    let gop: Vec<gst::Buffer> = media.frames.clone();
    let expected: Arc<Vec<Vec<u8>>> = Arc::new(
        gop.iter()
            .map(|b| normalize_annexb(&b.map_readable().unwrap()))
            .collect(),
    );
    let frame_ns = 1_000_000_000u64 / 30;
    let desc = "appsrc name=src ! rtpfasth264pay name=pay mtu=300 config-interval=0 \
                ! rtpfasth264depay name=depay \
                ! video/x-h264,stream-format=byte-stream,alignment=au ! fakesink sync=false";
    let exp = expected.clone();
    let (inputs, check, fig) = soak(
        "h264",
        desc,
        &media.caps,
        target,
        |i| {
            let mut b = gop[(i % gop.len() as u64) as usize].copy();
            let b_mut = b.get_mut().unwrap();
            b_mut.set_pts(gst::ClockTime::from_nseconds(i * frame_ns));
            b_mut.set_dts(gst::ClockTime::from_nseconds(i * frame_ns));
            b_mut.set_duration(gst::ClockTime::from_nseconds(frame_ns));
            b
        },
        move |b, r| {
            let idx = (r.units_out % exp.len() as u64) as usize;
            let map = b.map_readable().unwrap();
            // The first unit may start with the parameter sets of the caps'
            // sprop-parameter-sets (as rtph264depay does too).
            let ok = map.as_slice() == exp[idx].as_slice()
                || (r.units_out == 0
                    && map.ends_with(&exp[idx])
                    && common::annexb_nals(&map[..map.len() - exp[idx].len()])
                        .iter()
                        .all(|n| matches!(n[0] & 0x1f, 7 | 8)));
            if !ok {
                r.mismatches += 1;
                if r.first_mismatch.is_none() {
                    r.first_mismatch = Some(format!(
                        "unit {} (GOP frame {idx}): {} bytes out, {} expected; NALs out {:?}, expected {:?}",
                        r.units_out,
                        map.len(),
                        exp[idx].len(),
                        nal_summary(&map),
                        nal_summary(&exp[idx]),
                    ));
                }
            }
            r.units_out += 1;
        },
    );
    assert_eq!(
        check.units_out, inputs,
        "h264: {inputs} access units in, {} out",
        check.units_out
    );
    assert_eq!(
        check.mismatches, 0,
        "h264: {} access units differ from the input, first: {:?}",
        check.mismatches, check.first_mismatch
    );
    assert_figures("h264", &fig);
}

/// Sample `k` of the L16 test signal (a period of `L16_PERIOD` samples that
/// is not a multiple of any packet size, so every packet sees new values).
const L16_FRAMES_PER_BUFFER: u64 = 480; // 10 ms at 48 kHz
const L16_BUFFERS_PER_PERIOD: u64 = 7;
const L16_PERIOD: u64 = L16_FRAMES_PER_BUFFER * 2 * L16_BUFFERS_PER_PERIOD;

fn l16_sample(k: u64) -> i16 {
    let k = k % L16_PERIOD;
    (k.wrapping_mul(2_654_435_761) >> 7) as i16
}

#[test]
fn soak_l16() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Before the caps below (this test may run before soak_h264).
    common::init();
    let target = target_packets();
    let caps = gst::Caps::builder("audio/x-raw")
        .field("format", "S16LE")
        .field("layout", "interleaved")
        .field("rate", 48_000i32)
        .field("channels", 2i32)
        .build();
    // The period's buffers are built once and reused (each push is a new
    // reference, so the payloader byte-swaps into a pooled copy).
    let period: Vec<gst::Buffer> = (0..L16_BUFFERS_PER_PERIOD)
        .map(|n| {
            let base = n * L16_FRAMES_PER_BUFFER * 2;
            let bytes: Vec<u8> = (0..L16_FRAMES_PER_BUFFER * 2)
                .flat_map(|s| l16_sample(base + s).to_le_bytes())
                .collect();
            gst::Buffer::from_mut_slice(bytes)
        })
        .collect();
    let expected: Vec<u8> = (0..L16_PERIOD * 2)
        .flat_map(|k| l16_sample(k).to_le_bytes())
        .collect();
    let buf_ns = L16_FRAMES_PER_BUFFER * 1_000_000_000 / 48_000;
    // mtu 112: 100 bytes of payload = 25 frames, ~20 packets per 10 ms.
    let desc = "appsrc name=src ! rtpfastL16pay name=pay mtu=112 \
                ! rtpfastL16depay name=depay \
                ! audio/x-raw,format=S16LE ! fakesink sync=false";
    let (inputs, check, fig) = soak(
        "L16",
        desc,
        &caps,
        target,
        |i| {
            let mut b = period[(i % L16_BUFFERS_PER_PERIOD) as usize].clone();
            let b_mut = b.make_mut();
            b_mut.set_pts(gst::ClockTime::from_nseconds(i * buf_ns));
            b_mut.set_duration(gst::ClockTime::from_nseconds(buf_ns));
            b_mut.set_offset(i * L16_FRAMES_PER_BUFFER);
            b
        },
        // units_out counts samples here; each output buffer is compared with
        // the signal at its position in one memcmp (two periods back to
        // back, so any window shorter than a period is contiguous).
        move |b, r| {
            let map = b.map_readable().unwrap();
            let data = map.as_slice();
            let start = (r.units_out % L16_PERIOD) as usize * 2;
            let ok = data.len() % 2 == 0
                && data.len() <= L16_PERIOD as usize * 2
                && data == &expected[start..start + data.len()];
            if !ok {
                r.mismatches += 1;
                if r.first_mismatch.is_none() {
                    let first_bad = data
                        .chunks(2)
                        .zip(expected[start..].chunks(2))
                        .position(|(got, want)| got != want);
                    r.first_mismatch = Some(format!(
                        "{} bytes at sample {}: first differing sample {:?}",
                        data.len(),
                        r.units_out,
                        first_bad.map(|i| r.units_out + i as u64)
                    ));
                }
            }
            r.units_out += data.len() as u64 / 2;
        },
    );
    let samples_in = inputs * L16_FRAMES_PER_BUFFER * 2;
    assert_eq!(
        check.units_out, samples_in,
        "L16: {samples_in} samples in, {} out",
        check.units_out
    );
    assert_eq!(
        check.mismatches, 0,
        "L16: {} output buffers differ from the signal, first: {:?}",
        check.mismatches, check.first_mismatch
    );
    assert_figures("L16", &fig);
}
