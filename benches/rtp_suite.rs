//! The criterion suite of issue 4: RTP header write/parse, start-code scan at
//! every SIMD level against the scalar reference and `memmem`, the L16/L24
//! byte swap at every SIMD level (issue 10), the H.264
//! packetizer and depacketizer cores without GStreamer, and the full
//! elements (ours and the stock twins) pushed pad-to-pad.
//!
//! Input is synthetic but shaped like x264 `tune=zerolatency` output at 1080p
//! ~20 Mbit/s: ~80 KB access units of 4 slices, slice bytes random with
//! emulation prevention applied (so `00 00 03` sequences and stray zeros
//! occur as in real CABAC data), MTU 1400.
//!
//! Times are thread CPU time per iteration (`ThreadCpu` below), which keeps
//! other processes on this shared 2-core machine out of the numbers.
//!
//!     cargo bench --features performance --bench rtp_suite
//!     cargo bench --features performance -- --output-format json | tee perf_results.json
//!
//! (the JSON mode is in `common/mod.rs`).

mod common;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use gst::prelude::*;
use gstrsrtpfast::core::byteswap::{swap16_copy, swap24_copy};
use gstrsrtpfast::core::depacketizer::{DepayConfig, NalDepacketizer, PacketIn};
use gstrsrtpfast::core::nal::H264;
use gstrsrtpfast::core::packetizer::{packet_payloads, NalPacketizer, PayConfig};
use gstrsrtpfast::core::rtp;
use gstrsrtpfast::core::simd::SimdLevel;
use gstrsrtpfast::core::startcode::{
    find_start_code, find_start_code_memmem, find_start_code_scalar, nal_units,
};
use std::cell::Cell;
use std::hint::black_box;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

// ---------------------------------------------------------------- clock

/// Thread CPU time (CLOCK_THREAD_CPUTIME_ID) in nanoseconds.
pub struct ThreadCpu;

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and a valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

impl Measurement for ThreadCpu {
    type Intermediate = u64;
    type Value = u64;
    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, i: u64) -> u64 {
        thread_cpu_ns().saturating_sub(i)
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        static WALL: WallTime = WallTime;
        WALL.formatter()
    }
}

type C = Criterion<ThreadCpu>;

// ---------------------------------------------------------------- media

const AU_BYTES: usize = 80_000;
const SLICES: usize = 4;
const MTU: usize = 1400;
const PT: u8 = 96;
const SSRC: u32 = 0x1234_5678;
/// 1080p High profile SPS and a PPS as x264 writes them.
const SPS: &[u8] = &[
    0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03,
    0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc6, 0x58,
];
const PPS: &[u8] = &[0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0];

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn byte(&mut self) -> u8 {
        // Zero bytes a bit more often than uniform, as in CABAC output.
        let r = self.next();
        if r.is_multiple_of(64) {
            0
        } else {
            (r >> 32) as u8
        }
    }
}

/// `len` bytes of slice data with emulation prevention (no `00 00 0x`, x<=3).
fn slice_body(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + len / 64);
    let mut zeros = 0;
    while v.len() < len {
        let b = rng.byte();
        if zeros >= 2 && b <= 3 {
            v.push(3);
            zeros = 0;
        }
        v.push(b);
        zeros = if b == 0 { zeros + 1 } else { 0 };
    }
    // rbsp_trailing_bits: never end in 0x00.
    v.push(0x80);
    v
}

/// One Annex-B access unit of ~`AU_BYTES` (IDR with SPS/PPS, or non-IDR).
fn access_unit(rng: &mut Rng, idr: bool) -> Vec<u8> {
    let mut au = Vec::with_capacity(AU_BYTES + 256);
    if idr {
        for ps in [SPS, PPS] {
            au.extend_from_slice(&[0, 0, 0, 1]);
            au.extend_from_slice(ps);
        }
    }
    for i in 0..SLICES {
        au.extend_from_slice(if i == 0 { &[0, 0, 0, 1] } else { &[0, 0, 1] });
        au.push(if idr { 0x65 } else { 0x41 });
        au.extend_from_slice(&slice_body(rng, AU_BYTES / SLICES - 4));
    }
    au
}

struct Media {
    idr: Arc<[u8]>,
    p: Arc<[u8]>,
}

fn media() -> Media {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    Media {
        idr: access_unit(&mut rng, true).into(),
        p: access_unit(&mut rng, false).into(),
    }
}

/// RTP payloads (no header) and marker bits of one AU, from our packetizer.
fn payloads(au: &[u8]) -> Vec<(Vec<u8>, bool)> {
    let mut p = NalPacketizer::<H264>::new(PayConfig {
        mtu: MTU,
        ..PayConfig::default()
    });
    p.begin();
    for r in nal_units(au, SimdLevel::Scalar) {
        p.push_nal(au, r, None);
    }
    p.end_au();
    // The marker is on the last packet of the access unit.
    let bodies = packet_payloads(p.packets(), p.scratch(), au);
    let last = bodies.len().saturating_sub(1);
    bodies
        .into_iter()
        .enumerate()
        .map(|(i, v)| (v, i == last))
        .collect()
}

fn rtp_packet(payload: &[u8], marker: bool, seq: u16, ts: u32) -> Vec<u8> {
    let mut v = vec![0u8; rtp::RTP_HEADER_LEN + payload.len()];
    rtp::write_header(&mut v, marker, PT, seq, ts, SSRC);
    v[rtp::RTP_HEADER_LEN..].copy_from_slice(payload);
    v
}

// ---------------------------------------------------------------- core

fn bench_rtp(c: &mut C) {
    const N: usize = 64;
    let mut g = c.benchmark_group("rtp");
    g.throughput(Throughput::Elements(N as u64));
    let mut out = vec![0u8; N * rtp::RTP_HEADER_LEN];
    let mut seq = 0u16;
    g.bench_function("write_header/64", |b| {
        b.iter(|| {
            for (i, h) in out.chunks_exact_mut(rtp::RTP_HEADER_LEN).enumerate() {
                seq = seq.wrapping_add(1);
                rtp::write_header(h, i == N - 1, PT, seq, 90_000, SSRC);
            }
            black_box(&mut out);
        })
    });
    let m = media();
    let packets: Vec<Vec<u8>> = payloads(&m.p)
        .iter()
        .cycle()
        .take(N)
        .enumerate()
        .map(|(i, (p, mk))| rtp_packet(p, *mk, i as u16, 3000))
        .collect();
    g.bench_function("parse/64", |b| {
        b.iter(|| {
            let mut sum = 0usize;
            for p in &packets {
                sum += rtp::parse(black_box(p)).unwrap().payload.len();
            }
            black_box(sum)
        })
    });
    g.finish();
}

fn scan_all(data: &[u8], f: impl Fn(&[u8]) -> Option<usize>) -> usize {
    let (mut pos, mut n) = (0, 0);
    while let Some(p) = f(&data[pos..]) {
        n += 1;
        pos += p + 3;
    }
    n
}

fn bench_startcode(c: &mut C) {
    let m = media();
    let payload: Vec<u8> = {
        // One FU payload's worth of slice bytes: no start code inside.
        let r = nal_units(&m.p, SimdLevel::Scalar).next().unwrap();
        m.p[r.start..r.start + 1400].to_vec()
    };
    let inputs: [(&str, &[u8]); 2] = [("au_80k", &m.idr), ("payload_1400", &payload)];
    for (name, data) in inputs {
        let mut g = c.benchmark_group(format!("startcode_{name}"));
        g.throughput(Throughput::Bytes(data.len() as u64));
        for level in SimdLevel::available_levels() {
            g.bench_function(level.nick(), |b| {
                b.iter(|| scan_all(black_box(data), |d| find_start_code(d, level)))
            });
        }
        g.bench_function("scalar_ref", |b| {
            b.iter(|| scan_all(black_box(data), find_start_code_scalar))
        });
        g.bench_function("memmem", |b| {
            b.iter(|| scan_all(black_box(data), find_start_code_memmem))
        });
        g.finish();
    }
}

/// 20 ms of 48 kHz stereo, S16 (3840 bytes) and S24 (5760 bytes), copied
/// with the byte swap at every level runnable here.
fn bench_byteswap(c: &mut C) {
    type Swap = fn(SimdLevel, &[u8], &mut [u8]);
    let kernels: [(&str, usize, Swap); 2] = [
        ("byteswap16_3840", 3840, swap16_copy),
        ("byteswap24_5760", 5760, swap24_copy),
    ];
    for (name, len, swap) in kernels {
        // Audio-like content does not matter to these branch-free kernels;
        // any fixed pattern will do.
        let src: Vec<u8> = (0..len).map(|i| (i * 131 + 7) as u8).collect();
        let mut dst = vec![0u8; len];
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(len as u64));
        for level in SimdLevel::available_levels() {
            g.bench_function(level.nick(), |b| {
                b.iter(|| swap(level, black_box(&src), black_box(&mut dst)))
            });
        }
        g.finish();
    }
}

fn bench_packetizer(c: &mut C) {
    let m = media();
    let au: &[u8] = &m.p;
    let ranges: Vec<Range<usize>> = nal_units(au, SimdLevel::Scalar).collect();
    let mut p = NalPacketizer::<H264>::new(PayConfig {
        mtu: MTU,
        ..PayConfig::default()
    });
    let mut g = c.benchmark_group("packetizer_h264");
    g.throughput(Throughput::Bytes(au.len() as u64));
    g.bench_function("au_80k_mtu1400", |b| {
        b.iter(|| {
            p.begin();
            for r in &ranges {
                p.push_nal(black_box(au), r.clone(), None);
            }
            p.end_au();
            black_box(p.packets().len())
        })
    });
    let level = SimdLevel::best();
    g.bench_function("scan_and_packetize", |b| {
        b.iter(|| {
            p.begin();
            for r in nal_units(black_box(au), level) {
                p.push_nal(au, r, None);
            }
            p.end_au();
            black_box(p.packets().len())
        })
    });
    g.finish();
}

fn bench_depacketizer(c: &mut C) {
    let m = media();
    let pl = payloads(&m.p);
    let mut d = NalDepacketizer::<H264>::new(DepayConfig::default());
    let mut sink: Vec<u8> = Vec::with_capacity(2 * AU_BYTES);
    let mut ts = 0u32;
    let mut g = c.benchmark_group("depacketizer_h264");
    g.throughput(Throughput::Bytes(m.p.len() as u64));
    g.bench_function("au_80k_mtu1400", |b| {
        b.iter(|| {
            ts = ts.wrapping_add(3000);
            let mut out = 0usize;
            for (p, marker) in &pl {
                let pkt = PacketIn {
                    payload: black_box(p),
                    timestamp: ts,
                    marker: *marker,
                    discont: false,
                };
                let _ = d.push(pkt, &mut sink, &mut |s: &mut Vec<u8>, _| {
                    out += s.len();
                    s.clear();
                });
            }
            black_box(out)
        })
    });
    g.finish();
}

// ---------------------------------------------------------------- elements

/// An element between two of our pads: buffers pushed synchronously on the
/// calling thread, output counted and dropped.
struct Rig {
    element: gst::Element,
    src: gst::Pad,
    sink: gst::Pad,
    out: Arc<AtomicU64>,
}

impl Rig {
    fn new(factory: &str, in_caps: &gst::Caps, downstream: &gst::Caps) -> Rig {
        let element = gst::ElementFactory::make(factory)
            .build()
            .unwrap_or_else(|e| panic!("{factory}: {e}"));
        if element.find_property("mtu").is_some() {
            element.set_property("mtu", MTU as u32);
        }
        let out = Arc::new(AtomicU64::new(0));
        let (o1, o2) = (out.clone(), out.clone());
        let downstream = downstream.clone();
        let src = gst::Pad::builder(gst::PadDirection::Src)
            .name("bench_src")
            .build();
        let sink = gst::Pad::builder(gst::PadDirection::Sink)
            .name("bench_sink")
            .chain_function(move |_, _, _buf| {
                o1.fetch_add(1, Ordering::Relaxed);
                Ok(gst::FlowSuccess::Ok)
            })
            .chain_list_function(move |_, _, list| {
                o2.fetch_add(list.len() as u64, Ordering::Relaxed);
                Ok(gst::FlowSuccess::Ok)
            })
            .event_function(|_, _, _| true)
            .query_function(move |pad, parent, query| match query.view_mut() {
                gst::QueryViewMut::Caps(q) => {
                    let caps = match q.filter() {
                        Some(f) => f.intersect(&downstream),
                        None => downstream.clone(),
                    };
                    q.set_result(&caps);
                    true
                }
                gst::QueryViewMut::AcceptCaps(q) => {
                    let ok = q.caps().can_intersect(&downstream);
                    q.set_result(ok);
                    true
                }
                _ => gst::Pad::query_default(pad, parent, query),
            })
            .build();
        let esink = element.static_pad("sink").unwrap();
        let esrc = element.static_pad("src").unwrap();
        src.set_active(true).unwrap();
        sink.set_active(true).unwrap();
        src.link(&esink).unwrap();
        esrc.link(&sink).unwrap();
        element.set_state(gst::State::Playing).unwrap();
        assert!(src.push_event(gst::event::StreamStart::new("bench")));
        assert!(src.push_event(gst::event::Caps::new(in_caps)));
        assert!(
            src.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
                gst::ClockTime,
            >::new()))
        );
        Rig {
            element,
            src,
            sink,
            out,
        }
    }

    fn push(&self, b: gst::Buffer) {
        self.src.push(b).expect("push");
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = self.element.set_state(gst::State::Null);
        let _ = self.src.set_active(false);
        let _ = self.sink.set_active(false);
    }
}

fn init_gst() {
    gst::init().unwrap();
    gstrsrtpfast::plugin_register_static().unwrap();
}

fn h264_caps() -> gst::Caps {
    gst::Caps::builder("video/x-h264")
        .field("stream-format", "byte-stream")
        .field("alignment", "au")
        .field("width", 1920i32)
        .field("height", 1080i32)
        .field("framerate", gst::Fraction::new(30, 1))
        .build()
}

fn rtp_caps() -> gst::Caps {
    gst::Caps::builder("application/x-rtp")
        .field("media", "video")
        .field("clock-rate", 90_000i32)
        .field("encoding-name", "H264")
        .field("payload", PT as i32)
        .build()
}

const FRAME_NS: u64 = 33_333_333;

fn au_buffer(data: &Arc<[u8]>, n: u64, delta: bool) -> gst::Buffer {
    let mut b = gst::Buffer::from_slice(data.clone());
    {
        let b = b.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_nseconds(n * FRAME_NS));
        b.set_dts(gst::ClockTime::from_nseconds(n * FRAME_NS));
        b.set_duration(gst::ClockTime::from_nseconds(FRAME_NS));
        if delta {
            b.set_flags(gst::BufferFlags::DELTA_UNIT);
        }
    }
    b
}

fn bench_pay_elements(c: &mut C) {
    init_gst();
    let m = media();
    let mut g = c.benchmark_group("element_h264pay");
    g.throughput(Throughput::Bytes(m.p.len() as u64));
    for factory in ["rtpfasth264pay", "rtph264pay"] {
        let rig = Rig::new(factory, &h264_caps(), &rtp_caps());
        rig.push(au_buffer(&m.idr, 0, false));
        assert!(rig.out.load(Ordering::Relaxed) > 0, "{factory}: no output");
        let n = Cell::new(1u64);
        g.bench_function(factory, |b| {
            b.iter_batched(
                || {
                    let i = n.get();
                    n.set(i + 1);
                    au_buffer(&m.p, i, true)
                },
                |buf| rig.push(buf),
                BatchSize::NumIterations(8),
            )
        });
    }
    g.finish();
}

fn bench_depay_elements(c: &mut C) {
    init_gst();
    let m = media();
    let idr = payloads(&m.idr);
    let p = payloads(&m.p);
    let out_caps = gst::Caps::builder("video/x-h264")
        .field("stream-format", "byte-stream")
        .field("alignment", "au")
        .build();
    let mut g = c.benchmark_group("element_h264depay");
    g.throughput(Throughput::Elements(p.len() as u64));
    for factory in ["rtpfasth264depay", "rtph264depay"] {
        let rig = Rig::new(factory, &rtp_caps(), &out_caps);
        let seq = Cell::new(0u16);
        let frame = Cell::new(0u32);
        let make = |pl: &[(Vec<u8>, bool)]| -> Vec<gst::Buffer> {
            let f = frame.get();
            frame.set(f + 1);
            pl.iter()
                .map(|(data, marker)| {
                    let s = seq.get();
                    seq.set(s.wrapping_add(1));
                    let mut b = gst::Buffer::from_mut_slice(rtp_packet(data, *marker, s, f * 3000));
                    b.get_mut()
                        .unwrap()
                        .set_pts(gst::ClockTime::from_nseconds(f as u64 * FRAME_NS));
                    b
                })
                .collect()
        };
        for b in make(&idr) {
            rig.push(b);
        }
        // The AU is output when the next one starts or on its marker.
        for b in make(&p) {
            rig.push(b);
        }
        assert!(rig.out.load(Ordering::Relaxed) > 0, "{factory}: no output");
        g.bench_function(factory, |b| {
            b.iter_batched(
                || make(&p),
                |bufs| {
                    for buf in bufs {
                        rig.push(buf);
                    }
                },
                BatchSize::NumIterations(8),
            )
        });
    }
    g.finish();
}

/// L16 / L24 payloaders on 20 ms of 48 kHz stereo per buffer: stock,
/// ours with big-endian input (packets are views of it) and ours with
/// little-endian input (swapped in one SIMD pass first; the bound is
/// 1.2x the big-endian cost).
fn bench_pcm_pay_elements(c: &mut C) {
    init_gst();
    for (name, bytes, be, le) in [
        ("l16", 2usize, "S16BE", "S16LE"),
        ("l24", 3, "S24BE", "S24LE"),
    ] {
        let frames = 960usize;
        let data: Arc<[u8]> = (0..frames * 2 * bytes)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut g = c.benchmark_group(format!("element_{name}pay"));
        g.throughput(Throughput::Bytes(data.len() as u64));
        let upper = name.to_uppercase();
        for (id, factory, format) in [
            (format!("rtp{upper}pay"), format!("rtp{upper}pay"), be),
            (
                format!("rtpfast{upper}pay"),
                format!("rtpfast{upper}pay"),
                be,
            ),
            (
                format!("rtpfast{upper}pay_le"),
                format!("rtpfast{upper}pay"),
                le,
            ),
        ] {
            let caps = gst::Caps::builder("audio/x-raw")
                .field("format", format)
                .field("layout", "interleaved")
                .field("rate", 48_000i32)
                .field("channels", 2i32)
                .build();
            let rig = Rig::new(&factory, &caps, &gst::Caps::new_any());
            let n = Cell::new(0u64);
            let next = || {
                let i = n.get();
                n.set(i + 1);
                // Owned memory, as a source pushes it (the LE input is
                // swapped in place then).
                let mut b = gst::Buffer::from_mut_slice(data.to_vec());
                b.get_mut()
                    .unwrap()
                    .set_pts(gst::ClockTime::from_nseconds(i * 20_000_000));
                b
            };
            rig.push(next());
            assert!(rig.out.load(Ordering::Relaxed) > 0, "{factory}: no output");
            g.bench_function(id, |b| {
                b.iter_batched(next, |buf| rig.push(buf), BatchSize::NumIterations(8))
            });
        }
        g.finish();
    }
}

fn config() -> C {
    Criterion::default()
        .with_measurement(ThreadCpu)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(20)
        .without_plots()
}

criterion_group! {
    name = core;
    config = config();
    targets = bench_rtp, bench_startcode, bench_byteswap, bench_packetizer, bench_depacketizer
}
criterion_group! {
    name = elements;
    config = config();
    targets = bench_pay_elements, bench_depay_elements, bench_pcm_pay_elements
}
criterion_main!(core, elements);
