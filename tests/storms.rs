//! Hostile input storms for every depayloader, one table row per format.
//!
//! For each format a clean RTP stream is made with our own payloader from
//! generated media, then:
//! - a storm of mutated packets (bit flips, truncation, garbage payloads,
//!   mangled payload headers, trailing junk, duplicates, reordering, seqnum
//!   jumps and the 65535->0 wrap, timestamp wrap and backward jumps, ssrc
//!   and pt changes, zero-length buffers, 64 KiB packets, two-memory
//!   buffers) must not panic or fail the flow, every output stays under the
//!   caps-derived bound, and process RSS stops growing after the first
//!   round;
//! - the clean stream sent after the storm comes out whole (video: the same
//!   access units, parameter sets aside; audio / TS: the same bytes);
//! - the drops that can be counted exactly (invalid RTP, duplicates) are
//!   exactly what `stats` says;
//! - the warnings logged during the storm are rate-limited (far fewer log
//!   lines than dropped packets).
//!
//! Storms run one at a time (a lock): RSS and the log capture are process
//! wide.

mod common;
use common::Codec;
use gst::prelude::*;
use gstrsrtpfast::elements::base::nal_depay::MAX_AU_BYTES;
use gstrsrtpfast::elements::base::warn_limit::BURST;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;

/// Packets per storm round, and rounds (the first warms up RSS).
const STORM_PACKETS: usize = 6000;
const ROUNDS: usize = 6;
/// RSS growth allowed from the end of round 1 to the end of the last
/// round: a per-packet leak of a few bytes over 30,000 packets of up to
/// 64 KiB would exceed it.
const RSS_SLACK: u64 = 24 << 20;
/// Largest packet the storm sends (one 64 KiB buffer).
const MAX_PACKET: usize = 64 * 1024;

#[derive(Clone, Copy)]
enum Compare {
    /// Access units as NAL units, parameter sets aside (the depayloader
    /// sends sprop parameter sets in-band once per element).
    Nal(Codec),
    /// Byte for byte.
    Bytes,
}

#[derive(Clone, Copy)]
enum Bound {
    /// One output is at most one packet's payload.
    Packet,
    /// One output is at most one frame of the src caps.
    VideoFrame,
    /// One access unit is at most the depayloader's cap.
    AccessUnit,
}

struct Format {
    depay: &'static str,
    /// Pipeline ending in `appsink name=sink` that makes the clean RTP
    /// stream with our payloader.
    source: &'static str,
    /// Downstream caps for the depayloader (None: any).
    downstream: Option<&'static str>,
    compare: Compare,
    bound: Bound,
}

const FORMATS: &[Format] = &[
    Format {
        depay: "rtpfasth264depay",
        source: "videotestsrc num-buffers=30 pattern=ball ! \
                 video/x-raw,width=320,height=240,framerate=30/1,format=I420 ! \
                 x264enc tune=zerolatency key-int-max=10 bitrate=1000 speed-preset=ultrafast ! \
                 video/x-h264,stream-format=byte-stream,alignment=au ! \
                 rtpfasth264pay mtu=1200 ! appsink name=sink sync=false",
        downstream: Some("video/x-h264,stream-format=byte-stream,alignment=au"),
        compare: Compare::Nal(Codec::H264),
        bound: Bound::AccessUnit,
    },
    Format {
        depay: "rtpfasth265depay",
        source: "videotestsrc num-buffers=30 pattern=ball ! \
                 video/x-raw,width=320,height=240,framerate=30/1,format=I420 ! \
                 x265enc tune=zerolatency key-int-max=10 bitrate=1000 speed-preset=ultrafast ! \
                 video/x-h265,stream-format=byte-stream,alignment=au ! \
                 rtpfasth265pay mtu=1200 ! appsink name=sink sync=false",
        downstream: Some("video/x-h265,stream-format=byte-stream,alignment=au"),
        compare: Compare::Nal(Codec::H265),
        bound: Bound::AccessUnit,
    },
    Format {
        depay: "rtpfastL16depay",
        source: "audiotestsrc num-buffers=50 samplesperbuffer=480 ! \
                 audio/x-raw,format=S16BE,rate=48000,channels=2 ! \
                 rtpfastL16pay ! appsink name=sink sync=false",
        downstream: None,
        compare: Compare::Bytes,
        bound: Bound::Packet,
    },
    Format {
        depay: "rtpfastL24depay",
        source: "audiotestsrc num-buffers=50 samplesperbuffer=480 ! \
                 audio/x-raw,format=S24BE,rate=48000,channels=2 ! \
                 rtpfastL24pay ! appsink name=sink sync=false",
        downstream: None,
        compare: Compare::Bytes,
        bound: Bound::Packet,
    },
    Format {
        depay: "rtpfastopusdepay",
        source: "audiotestsrc num-buffers=50 ! audio/x-raw,rate=48000,channels=2 ! \
                 opusenc ! rtpfastopuspay ! appsink name=sink sync=false",
        downstream: None,
        compare: Compare::Bytes,
        bound: Bound::Packet,
    },
    Format {
        depay: "rtpfastmp2tdepay",
        source: "videotestsrc num-buffers=30 ! \
                 video/x-raw,width=160,height=120,framerate=30/1,format=I420 ! \
                 x264enc tune=zerolatency key-int-max=10 speed-preset=ultrafast ! \
                 mpegtsmux ! rtpfastmp2tpay ! appsink name=sink sync=false",
        downstream: None,
        compare: Compare::Bytes,
        bound: Bound::Packet,
    },
    Format {
        depay: "rtpfastvrawdepay",
        source: "videotestsrc num-buffers=6 pattern=ball ! \
                 video/x-raw,format=RGB,width=64,height=48,framerate=30/1 ! \
                 rtpfastvrawpay ! appsink name=sink sync=false",
        downstream: None,
        compare: Compare::Bytes,
        bound: Bound::VideoFrame,
    },
];

fn format(depay: &str) -> &'static Format {
    FORMATS.iter().find(|f| f.depay == depay).unwrap()
}

// ---- one storm at a time, log capture ----

static SERIAL: Mutex<()> = Mutex::new(());

/// (object name, message) of each warning logged by an rsrtpfast category.
type Logged = Arc<Mutex<Vec<(String, String)>>>;

static WARNINGS: LazyLock<Logged> = LazyLock::new(|| {
    let store = Arc::new(Mutex::new(Vec::new()));
    let s = store.clone();
    gst::log::set_active(true);
    gst::log::set_threshold_for_name("rtpfast*", gst::DebugLevel::Warning);
    // The limited warnings still reach stderr through the default logger:
    // what a user would see.
    gst::log::add_log_function(move |cat, level, _file, _func, _line, obj, msg| {
        if level == gst::DebugLevel::Warning && cat.name().starts_with("rtpfast") {
            let who = obj.map(|o| o.to_string()).unwrap_or_default();
            let text = msg.get().map(|m| m.to_string()).unwrap_or_default();
            s.lock().unwrap().push((who, text));
        }
    });
    store
});

fn warnings_of(element: &str) -> Vec<String> {
    WARNINGS
        .lock()
        .unwrap()
        .iter()
        .filter(|(who, _)| who == element || who.starts_with(&format!("{element}:")))
        .map(|(_, m)| m.clone())
        .collect()
}

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

// ---- RTP packets ----

#[derive(Clone)]
struct Packet(Vec<u8>);

impl Packet {
    fn seq(&self) -> u16 {
        u16::from_be_bytes([self.0[2], self.0[3]])
    }
    fn set_seq(&mut self, seq: u16) {
        self.0[2..4].copy_from_slice(&seq.to_be_bytes());
    }
    fn ts(&self) -> u32 {
        u32::from_be_bytes(self.0[4..8].try_into().unwrap())
    }
    fn set_ts(&mut self, ts: u32) {
        self.0[4..8].copy_from_slice(&ts.to_be_bytes());
    }
    fn set_ssrc(&mut self, ssrc: u32) {
        self.0[8..12].copy_from_slice(&ssrc.to_be_bytes());
    }
    fn set_pt(&mut self, pt: u8) {
        self.0[1] = (self.0[1] & 0x80) | (pt & 0x7f);
    }
    /// Where the payload starts (our payloaders write no CSRC/extension).
    fn payload_at(&self) -> usize {
        12 + 4 * (self.0[0] & 0x0f) as usize
    }
    fn buffer(&self) -> gst::Buffer {
        gst::Buffer::from_mut_slice(self.0.clone())
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// The clean stream of `f`, and the RTP caps.
fn clean_stream(f: &Format) -> (gst::Caps, Vec<Packet>) {
    let (caps, bufs) = common::run_collect(f.source, None);
    let packets: Vec<Packet> = bufs
        .iter()
        .map(|b| Packet(b.map_readable().unwrap().to_vec()))
        .collect();
    assert!(packets.len() >= 20, "{}: clean stream too short", f.depay);
    (caps.expect("rtp caps"), packets)
}

fn harness(f: &Format, caps: &gst::Caps) -> gst_check::Harness {
    let mut h = gst_check::Harness::new(f.depay);
    if let Some(c) = f.downstream {
        h.set_sink_caps_str(c);
    }
    h.set_src_caps(caps.clone());
    h
}

fn stat(h: &gst_check::Harness, field: &str) -> u64 {
    h.element()
        .unwrap()
        .property::<gst::Structure>("stats")
        .get::<u64>(field)
        .unwrap()
}

/// The largest output buffer allowed by the caps.
fn output_bound(f: &Format, h: &gst_check::Harness) -> usize {
    match f.bound {
        Bound::Packet => MAX_PACKET,
        Bound::AccessUnit => MAX_AU_BYTES + MAX_PACKET,
        Bound::VideoFrame => {
            let caps = h
                .element()
                .unwrap()
                .static_pad("src")
                .unwrap()
                .current_caps()
                .expect("src caps");
            gst_video::VideoInfo::from_caps(&caps).unwrap().size()
        }
    }
}

/// Push one buffer: never a flow error; drain and bound-check the output.
fn push(
    h: &mut gst_check::Harness,
    b: gst::Buffer,
    bound: usize,
    out: &mut Vec<gst::Buffer>,
    keep: bool,
) {
    assert_eq!(h.push(b), Ok(gst::FlowSuccess::Ok), "flow after bad input");
    while let Some(o) = h.try_pull() {
        assert!(o.size() <= bound, "output of {} bytes > {bound}", o.size());
        if keep {
            out.push(o);
        }
    }
}

/// The clean stream through a fresh element: the reference output.
fn reference(f: &Format, caps: &gst::Caps, clean: &[Packet]) -> Vec<gst::Buffer> {
    let mut h = harness(f, caps);
    let mut out = Vec::new();
    for p in clean {
        push(&mut h, p.buffer(), usize::MAX, &mut out, true);
    }
    h.push_event(gst::event::Eos::new());
    while let Some(o) = h.try_pull() {
        out.push(o);
    }
    assert!(!out.is_empty(), "{}: clean stream gave nothing", f.depay);
    out
}

/// What an output compares as.
fn comparable(f: &Format, bufs: &[gst::Buffer]) -> Vec<Vec<u8>> {
    match f.compare {
        Compare::Bytes => bufs
            .iter()
            .map(|b| b.map_readable().unwrap().to_vec())
            .collect(),
        Compare::Nal(codec) => bufs
            .iter()
            .map(|b| {
                common::annexb_nals(&b.map_readable().unwrap())
                    .into_iter()
                    .filter(|n| !codec.is_param(n))
                    .flatten()
                    .collect::<Vec<u8>>()
            })
            .filter(|au| !au.is_empty())
            .collect(),
    }
}

/// Counts of what a storm injected.
#[derive(Default, Debug)]
struct Injected {
    packets: usize,
    /// Not RTP at all (zero-length, shorter than a header): the base
    /// counts each as malformed.
    invalid_rtp: u64,
    big: usize,
}

/// One round of `STORM_PACKETS` hostile packets made from `clean`,
/// continuing from `seq` / `ts`.
fn storm(
    h: &mut gst_check::Harness,
    clean: &[Packet],
    rng: &mut Rng,
    seq: &mut u16,
    ts: &mut u32,
    bound: usize,
    inj: &mut Injected,
) {
    let ssrc = u32::from_be_bytes(clean[0].0[8..12].try_into().unwrap());
    let ts0 = clean[0].ts();
    let mut held: Option<gst::Buffer> = None;
    let mut sink = Vec::new();
    for i in 0..STORM_PACKETS {
        let base = &clean[i % clean.len()];
        let mut p = base.clone();
        *seq = seq.wrapping_add(1);
        p.set_seq(*seq);
        p.set_ts(ts.wrapping_add(base.ts().wrapping_sub(ts0)));
        p.set_ssrc(ssrc);
        let at = p.payload_at().min(p.0.len());
        let mut copies = 1;
        let mut reorder = false;
        let mut two_memories = false;
        match rng.below(16) {
            // Bit flips anywhere, header included.
            0 | 1 => {
                for _ in 0..=rng.below(8) {
                    let bit = rng.below(p.0.len() * 8);
                    p.0[bit / 8] ^= 1 << (bit % 8);
                }
            }
            // Truncation.
            2 => {
                let len = rng.below(p.0.len());
                p.0.truncate(len);
                if len < 12 {
                    inj.invalid_rtp += 1;
                }
            }
            // Garbage payload.
            3 => {
                p.0.truncate(at);
                let n = 1 + rng.below(1500);
                p.0.extend(rng.bytes(n));
            }
            // Mangled payload headers (FU/STAP/AP indicators, line headers).
            4 | 5 => {
                let n = (p.0.len() - at).min(1 + rng.below(12));
                let junk = rng.bytes(n);
                p.0[at..at + n].copy_from_slice(&junk);
            }
            // Trailing junk.
            6 => {
                let n = 1 + rng.below(300);
                p.0.extend(rng.bytes(n));
            }
            7 => copies = 2 + rng.below(3),
            8 => reorder = true,
            // Seqnum jump.
            9 => {
                *seq = seq.wrapping_add(rng.below(40_000) as u16);
                p.set_seq(*seq);
            }
            // Timestamp jump, mostly backwards, across the wrap too.
            10 => {
                *ts = ts.wrapping_sub(rng.next() as u32 % 3_000_000);
                p.set_ts(*ts);
            }
            11 => p.set_ssrc(rng.next() as u32),
            12 => p.set_pt(rng.below(128) as u8),
            13 => {
                p.0.clear();
                inj.invalid_rtp += 1;
            }
            // 64 KiB packet: the header, the first payload bytes, junk.
            14 => {
                let keep = (at + 2).min(p.0.len());
                p.0.truncate(keep);
                let n = MAX_PACKET - keep;
                p.0.extend(rng.bytes(n));
                inj.big += 1;
            }
            _ => two_memories = true,
        }
        let b = if two_memories && p.0.len() > 4 {
            let cut = rng.below(p.0.len());
            let mut b = gst::Buffer::from_mut_slice(p.0[..cut].to_vec());
            b.get_mut()
                .unwrap()
                .append_memory(gst::Memory::from_mut_slice(p.0[cut..].to_vec()));
            b
        } else {
            p.buffer()
        };
        inj.packets += 1;
        if reorder {
            held = Some(b);
            continue;
        }
        for _ in 0..copies {
            push(h, b.clone(), bound, &mut sink, false);
        }
        if let Some(late) = held.take() {
            push(h, late, bound, &mut sink, false);
        }
    }
    if let Some(late) = held.take() {
        push(h, late, bound, &mut sink, false);
    }
    // Time moves on a little between rounds, the clean ts pattern repeats.
    *ts = ts.wrapping_add(90_000);
}

/// The clean stream again, as its sender would continue after the storm:
/// seqnums and timestamps following on.
fn recovery(clean: &[Packet], seq: &mut u16, ts: &mut u32) -> Vec<Packet> {
    let ts0 = clean[0].ts();
    *ts = ts.wrapping_add(1_000_000);
    let out = clean
        .iter()
        .map(|p| {
            let mut p = p.clone();
            *seq = seq.wrapping_add(1);
            p.set_seq(*seq);
            p.set_ts(ts.wrapping_add(p.ts().wrapping_sub(ts0)));
            p
        })
        .collect();
    *ts = ts.wrapping_add(1_000_000);
    out
}

fn storm_recovers(depay: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    common::init();
    LazyLock::force(&WARNINGS);
    let f = format(depay);
    let (caps, clean) = clean_stream(f);
    let expect = comparable(f, &reference(f, &caps, &clean));

    let mut h = harness(f, &caps);
    let name = h.element().unwrap().name().to_string();
    // Prime with the clean stream (the element is streaming, caps known).
    let mut out = Vec::new();
    let mut seq = clean[0].seq().wrapping_sub(1);
    let mut ts = clean[0].ts();
    for p in recovery(&clean, &mut seq, &mut ts) {
        push(&mut h, p.buffer(), usize::MAX, &mut out, true);
    }
    let bound = output_bound(f, &h);
    // Start the storm just before the seqnum wrap and near the ts wrap.
    seq = 65_000;
    ts = u32::MAX - 200_000;
    let mut rng = Rng(0x5eed_0000_0000_0001 ^ depay.len() as u64);
    let mut inj = Injected::default();
    let malformed0 = stat(&h, "malformed");
    let dropped0 = stat(&h, "dropped");
    let warned0 = warnings_of(&name).len();
    let start = Instant::now();
    let mut rss = Vec::new();
    for _ in 0..ROUNDS {
        storm(&mut h, &clean, &mut rng, &mut seq, &mut ts, bound, &mut inj);
        rss.push(rss_bytes());
    }
    let secs = start.elapsed().as_secs_f64();
    let malformed = stat(&h, "malformed") - malformed0;
    let dropped = stat(&h, "dropped") - dropped0;
    let warnings = warnings_of(&name);
    let logged = warnings.len() - warned0;
    let suppressed: u64 = warnings[warned0..]
        .iter()
        .filter_map(|w| {
            let (_, tail) = w.rsplit_once(" (")?;
            tail.strip_suffix(" similar warnings suppressed)")?
                .parse::<u64>()
                .ok()
        })
        .sum();
    eprintln!(
        "{depay}: {} packets ({} of 64 KiB, {} not RTP) in {secs:.1} s: malformed {malformed}, \
         dropped {dropped}; warnings logged {logged}, suppressed {suppressed}; \
         RSS after rounds (MiB) {:?}",
        inj.packets,
        inj.big,
        inj.invalid_rtp,
        rss.iter().map(|r| r >> 20).collect::<Vec<_>>()
    );
    // Counted: at least every buffer that is not RTP at all.
    assert!(
        malformed >= inj.invalid_rtp,
        "malformed {malformed} < {} injected",
        inj.invalid_rtp
    );
    // Every malformed packet is dropped, except the TS packets whose cut-off
    // tail alone is (`trimmed`, rtpfastmp2tdepay).
    let trimmed = h
        .element()
        .unwrap()
        .property::<gst::Structure>("stats")
        .get::<u64>("trimmed")
        .unwrap_or(0);
    assert!(
        dropped + trimmed >= malformed,
        "dropped {dropped} < malformed {malformed}"
    );
    // Rate-limited: a burst, then about one a second (plus a handful of
    // one-off warnings that are not about drops).
    assert!(logged >= 1, "drops are logged");
    let limit = BURST as usize + secs.ceil() as usize + 5;
    assert!(
        logged <= limit,
        "{logged} warning lines in {secs:.1} s (limit {limit})"
    );
    assert!(
        (logged as u64) * 20 < dropped,
        "{logged} lines for {dropped} drops"
    );
    assert!(suppressed > 0);
    // Bounded: no growth after the first round beyond the slack.
    let growth = rss.last().unwrap().saturating_sub(rss[0]);
    assert!(
        growth <= RSS_SLACK,
        "RSS grew {} MiB over the storm rounds: {:?}",
        growth >> 20,
        rss
    );

    // Recovery: the clean stream comes out whole.
    let mut out = Vec::new();
    for p in recovery(&clean, &mut seq, &mut ts) {
        push(&mut h, p.buffer(), bound, &mut out, true);
    }
    h.push_event(gst::event::Eos::new());
    while let Some(o) = h.try_pull() {
        out.push(o);
    }
    let got = comparable(f, &out);
    // At most one unit the storm left half-done comes out first.
    assert!(
        got.len() >= expect.len() && got.len() <= expect.len() + 1,
        "{depay}: {} outputs after the storm, {} clean",
        got.len(),
        expect.len()
    );
    let tail = &got[got.len() - expect.len()..];
    for (i, (g, e)) in tail.iter().zip(&expect).enumerate() {
        assert!(
            g == e,
            "{depay}: output {i} after the storm differs from the clean run"
        );
    }
}

/// Invalid RTP and exact duplicates spliced into the clean stream: each is
/// counted exactly once, and the output is the clean output.
fn counted_drops_are_exact(depay: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    common::init();
    let f = format(depay);
    let (caps, clean) = clean_stream(f);
    let expect = comparable(f, &reference(f, &caps, &clean));
    let mut h = harness(f, &caps);
    let mut out = Vec::new();
    let invalid: [&[u8]; 4] = [
        &[],
        &[0x80, 96, 0, 1, 0],
        &[0x40, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x65], // version 1
        &[0x8f, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],       // CSRCs missing
    ];
    let (mut n_invalid, mut n_dup) = (0u64, 0u64);
    for (i, p) in clean.iter().enumerate() {
        push(&mut h, p.buffer(), usize::MAX, &mut out, true);
        if i % 3 == 1 {
            push(
                &mut h,
                gst::Buffer::from_slice(invalid[i % invalid.len()]),
                usize::MAX,
                &mut out,
                true,
            );
            n_invalid += 1;
        }
        if i % 4 == 2 {
            push(&mut h, p.buffer(), usize::MAX, &mut out, true);
            n_dup += 1;
        }
    }
    h.push_event(gst::event::Eos::new());
    while let Some(o) = h.try_pull() {
        out.push(o);
    }
    assert_eq!(stat(&h, "malformed"), n_invalid, "{depay}: malformed");
    assert_eq!(stat(&h, "dropped"), n_invalid + n_dup, "{depay}: dropped");
    assert!(comparable(f, &out) == expect, "{depay}: output differs");
}

macro_rules! per_format {
    ($($test:ident => $depay:literal,)*) => {
        mod storm {
            $(#[test] fn $test() { super::storm_recovers($depay) })*
        }
        mod exact_counts {
            $(#[test] fn $test() { super::counted_drops_are_exact($depay) })*
        }
    };
}

per_format! {
    h264 => "rtpfasth264depay",
    h265 => "rtpfasth265depay",
    l16 => "rtpfastL16depay",
    l24 => "rtpfastL24depay",
    opus => "rtpfastopusdepay",
    mp2t => "rtpfastmp2tdepay",
    vraw => "rtpfastvrawdepay",
}

/// Every row of the table has a test above, every depayloader a row.
#[test]
fn table_covers_every_depayloader() {
    common::init();
    let ours: Vec<String> = gst::ElementFactory::factories_with_type(
        gst::ElementFactoryType::DEPAYLOADER,
        gst::Rank::NONE,
    )
    .into_iter()
    .map(|f| f.name().to_string())
    .filter(|n| n.starts_with("rtpfast") && n != "rtpfastdepay")
    .collect();
    assert!(!ours.is_empty());
    for n in &ours {
        assert!(FORMATS.iter().any(|f| f.depay == n), "{n} has no storm row");
    }
}

/// A sender that never ends its access unit (same timestamp, no marker)
/// cannot make the H.264 depayloader hold more than `MAX_AU_BYTES`: the
/// unit is dropped and counted, and the next key unit comes out.
#[test]
fn unterminated_access_unit_is_capped() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    common::init();
    let f = format("rtpfasth264depay");
    let (caps, clean) = clean_stream(f);
    let expect = comparable(f, &reference(f, &caps, &clean));
    let mut h = harness(f, &caps);
    let bound = MAX_AU_BYTES + MAX_PACKET;
    let mut sink = Vec::new();
    let ssrc = u32::from_be_bytes(clean[0].0[8..12].try_into().unwrap());
    let mut seq = 100u16;
    let chunk = 60_000;
    let n = MAX_AU_BYTES / chunk + 20;
    for i in 0..n {
        // FU-A of an IDR slice: start, then middles, never an end.
        let mut v = vec![0x80, 96, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0];
        v[8..12].copy_from_slice(&ssrc.to_be_bytes());
        v.extend_from_slice(&[0x7c, if i == 0 { 0x85 } else { 0x05 }]);
        v.resize(v.len() + chunk, 0xab);
        let mut p = Packet(v);
        seq = seq.wrapping_add(1);
        p.set_seq(seq);
        push(&mut h, p.buffer(), bound, &mut sink, false);
    }
    let dropped = stat(&h, "dropped");
    assert!(dropped >= 1, "the oversized unit is counted");
    let mut ts = 0x2000_0000;
    let mut out = Vec::new();
    for p in recovery(&clean, &mut seq, &mut ts) {
        push(&mut h, p.buffer(), bound, &mut out, true);
    }
    h.push_event(gst::event::Eos::new());
    while let Some(o) = h.try_pull() {
        out.push(o);
    }
    let got = comparable(f, &out);
    assert!(got.len() <= expect.len() + 1 && got.len() >= expect.len());
    assert!(got[got.len() - expect.len()..] == expect[..]);
}
