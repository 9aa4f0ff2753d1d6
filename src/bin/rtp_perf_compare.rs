//! `rtp_perf_compare`: stock GStreamer RTP (de)payloaders vs rsrtpfast's
//! drop-ins, side by side, in one process and one run.
//!
//! ```text
//! cargo run --release --bin rtp_perf_compare -- --baseline=c_implementation --current=rust_optimized
//! ```
//!
//! Rig (DESIGN.md "driven synchronously pad-to-pad"): no pipeline, no queues;
//! our src pad -> element -> our counting sink pad, pushes on the main thread.
//! Input buffers are built before the timed section; only the pushes are
//! timed with `CLOCK_THREAD_CPUTIME_ID`. Stock and ours (and, for
//! depayloaders, the floor `valve drop=true` and `identity`) run interleaved
//! over several rounds, alternating order.
//! With `--instructions`, each is also counted in instructions per packet
//! under valgrind callgrind (`instr.rs`): noise-free where the times are not.
//! Heap allocations are counted by a malloc interposer (`alloc_counter`,
//! included only in this binary, never in the plugin).

#[path = "../alloc_counter.rs"]
mod alloc_counter;
#[path = "rtp_perf_compare/chart.rs"]
mod chart;
#[path = "rtp_perf_compare/instr.rs"]
mod instr;
#[path = "rtp_perf_compare/media.rs"]
mod media;
#[path = "shared/number.rs"]
mod number;
#[path = "rtp_perf_compare/readme.rs"]
mod readme;
#[path = "rtp_perf_compare/report.rs"]
mod report;
#[path = "rtp_perf_compare/rig.rs"]
mod rig;
#[path = "rtp_perf_compare/stats.rs"]
mod stats;

use instr::InstrCount;
use media::{Media, MediaKind};
use rig::Input;
use std::collections::HashMap;
use std::sync::Arc;

/// One stock/ours element pair.
struct PairSpec {
    name: &'static str,
    depay: bool,
    media: MediaKind,
    stock: &'static str,
    fast: &'static str,
}

const fn pair(
    name: &'static str,
    depay: bool,
    media: MediaKind,
    stock: &'static str,
    fast: &'static str,
) -> PairSpec {
    PairSpec {
        name,
        depay,
        media,
        stock,
        fast,
    }
}

const PAIRS: &[PairSpec] = &[
    pair(
        "h264pay",
        false,
        MediaKind::H264,
        "rtph264pay",
        "rtpfasth264pay",
    ),
    pair(
        "h264depay",
        true,
        MediaKind::H264,
        "rtph264depay",
        "rtpfasth264depay",
    ),
    pair(
        "h265pay",
        false,
        MediaKind::H265,
        "rtph265pay",
        "rtpfasth265pay",
    ),
    pair(
        "h265depay",
        true,
        MediaKind::H265,
        "rtph265depay",
        "rtpfasth265depay",
    ),
    pair(
        "l16pay",
        false,
        MediaKind::L16,
        "rtpL16pay",
        "rtpfastL16pay",
    ),
    pair(
        "l16depay",
        true,
        MediaKind::L16,
        "rtpL16depay",
        "rtpfastL16depay",
    ),
    pair(
        "l24pay",
        false,
        MediaKind::L24,
        "rtpL24pay",
        "rtpfastL24pay",
    ),
    pair(
        "l24depay",
        true,
        MediaKind::L24,
        "rtpL24depay",
        "rtpfastL24depay",
    ),
    pair(
        "opuspay",
        false,
        MediaKind::Opus,
        "rtpopuspay",
        "rtpfastopuspay",
    ),
    pair(
        "opusdepay",
        true,
        MediaKind::Opus,
        "rtpopusdepay",
        "rtpfastopusdepay",
    ),
    pair(
        "mp2tpay",
        false,
        MediaKind::Mp2t,
        "rtpmp2tpay",
        "rtpfastmp2tpay",
    ),
    pair(
        "mp2tdepay",
        true,
        MediaKind::Mp2t,
        "rtpmp2tdepay",
        "rtpfastmp2tdepay",
    ),
    pair(
        "vrawpay",
        false,
        MediaKind::Vraw,
        "rtpvrawpay",
        "rtpfastvrawpay",
    ),
    pair(
        "vrawdepay",
        true,
        MediaKind::Vraw,
        "rtpvrawdepay",
        "rtpfastvrawdepay",
    ),
];

/// gst-plugins-rs `rsrtp` name for a stock element (`rtph264pay` -> `rtph264pay2`).
fn rsrtp_name(stock: &str) -> String {
    format!("{stock}2")
}

/// Whether a contender could be measured.
#[derive(Clone, Debug)]
pub enum Status {
    Ok,
    NotYet,
    NotInstalled,
    Error(String),
}

impl Status {
    pub fn word(&self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::NotYet => "not yet",
            Status::NotInstalled => "not installed",
            Status::Error(_) => "error",
        }
    }

    pub fn text(&self) -> String {
        match self {
            Status::Error(e) => format!("error: {e}"),
            s => s.word().to_string(),
        }
    }
}

/// Measurements of one element of a pair.
pub struct Contender {
    pub role: &'static str,
    pub element: String,
    pub status: Status,
    pub ns_per_packet: Vec<f64>,
    pub gbps_rounds: Vec<f64>,
    pub packets_per_round: u64,
    pub bytes_per_round: u64,
    pub pushes_per_round: u64,
    pub out_packets_per_round: u64,
    pub allocs_per_packet: f64,
    alloc_rounds: Vec<f64>,
    pub lat_p50: u64,
    pub lat_p99: u64,
    pub lat_pushes: u64,
    /// Resident bytes per extra stream of this element.
    pub resident: Option<f64>,
    /// Resident bytes per extra `identity` stream, measured right after it.
    pub resident_identity: Option<f64>,
    /// Instructions per packet (`--instructions`), or why not.
    pub instr: Option<Result<InstrCount, String>>,
}

impl Contender {
    fn new(role: &'static str, element: &str, status: Status) -> Self {
        Contender {
            role,
            element: element.to_string(),
            status,
            ns_per_packet: Vec::new(),
            gbps_rounds: Vec::new(),
            packets_per_round: 0,
            bytes_per_round: 0,
            pushes_per_round: 0,
            out_packets_per_round: 0,
            allocs_per_packet: 0.0,
            alloc_rounds: Vec::new(),
            lat_p50: 0,
            lat_p99: 0,
            lat_pushes: 0,
            resident: None,
            resident_identity: None,
            instr: None,
        }
    }

    fn ok(&self) -> bool {
        matches!(self.status, Status::Ok)
    }

    pub fn ns_mean(&self) -> f64 {
        stats::mean(&self.ns_per_packet)
    }

    pub fn ns_sd(&self) -> f64 {
        stats::stddev(&self.ns_per_packet)
    }

    pub fn packets_per_s(&self) -> f64 {
        let m = self.ns_mean();
        if m > 0.0 {
            1e9 / m
        } else {
            0.0
        }
    }

    pub fn gbps(&self) -> f64 {
        stats::mean(&self.gbps_rounds)
    }

    /// Resident bytes per extra stream above an identity stream's.
    pub fn resident_over_identity(&self) -> Option<f64> {
        Some(self.resident? - self.resident_identity?)
    }

    /// Instructions per packet, when counted.
    pub fn instr_per_packet(&self) -> Option<f64> {
        match &self.instr {
            Some(Ok(c)) => Some(c.per_packet),
            _ => None,
        }
    }
}

/// A ratio with its per-round values and 95% CI.
pub struct RatioCi {
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
    pub per_round: Vec<f64>,
}

fn ratio_ci(num: &Contender, den: &Contender) -> Option<RatioCi> {
    if !num.ok() || !den.ok() {
        return None;
    }
    let per_round: Vec<f64> = num
        .ns_per_packet
        .iter()
        .zip(&den.ns_per_packet)
        .filter(|(_, d)| **d > 0.0)
        .map(|(n, d)| n / d)
        .collect();
    if per_round.is_empty() {
        return None;
    }
    let (mean, lo, hi) = stats::mean_ci95(&per_round);
    Some(RatioCi {
        mean,
        lo,
        hi,
        per_round,
    })
}

/// Everything measured for one pair.
pub struct PairResult {
    pub name: &'static str,
    pub kind: &'static str,
    pub media: String,
    pub frames: usize,
    pub repeat: usize,
    pub rtp_caps: String,
    pub stock: Contender,
    pub ours: Contender,
    /// Depayloaders: `identity` (pushes every packet on again: NOT a floor).
    pub identity: Option<Contender>,
    /// Depayloaders: `valve drop=true` (one push in, nothing out), the least
    /// a depayloader fed one packet per push can cost.
    pub floor: Option<Contender>,
    pub ratio: Option<RatioCi>,
    pub ours_vs_floor: Option<RatioCi>,
    pub stock_vs_floor: Option<RatioCi>,
    pub error: Option<String>,
    /// Sanity findings, e.g. stock and ours produced different output counts.
    pub notes: Vec<String>,
}

/// Run-wide facts for the header.
pub struct RunInfo {
    pub cpu: String,
    pub cores: usize,
    /// `std::env::consts::ARCH`.
    pub arch: &'static str,
    /// SIMD level our elements run at (`simd=auto`: best, or `RSRTPFAST_SIMD`).
    pub simd: &'static str,
    pub date: String,
    pub command_line: String,
    pub gst_version: String,
    pub baseline: String,
    pub current: String,
    pub mtu: u32,
    pub rounds: usize,
    pub min_packets: usize,
    pub frames: usize,
    pub streams: usize,
    pub batch_bytes: usize,
    pub counter_active: bool,
    pub g_slice_effective: bool,
    /// `--instructions`: the valgrind version used.
    pub valgrind: Option<String>,
}

/// Command line (clap). Option names and meanings are part of the tool's
/// interface: the Makefile, README, .ci and tests use them.
#[derive(clap::Parser, Debug)]
#[command(
    name = "rtp_perf_compare",
    about = "Stock GStreamer RTP (de)payloaders vs rsrtpfast's drop-ins, side by side in one run",
    after_help = "pairs: h264pay h264depay h265pay h265depay l16pay l16depay l24pay l24depay\n       \
                  opuspay opusdepay mp2tpay mp2tdepay vrawpay vrawdepay"
)]
struct Opts {
    /// Stock elements to compare against.
    #[arg(long, value_name = "NAME", default_value = "c_implementation",
          value_parser = ["c_implementation", "rust_rsrtp"])]
    baseline: String,
    /// Our elements (the only choice).
    #[arg(long, value_name = "NAME", default_value = "rust_optimized",
          value_parser = ["rust_optimized"])]
    current: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Also write a bar chart; the extension picks the format (.svg or .png).
    #[arg(long, value_name = "FILE", value_parser = parse_plot_path)]
    plot: Option<String>,
    /// Payloader MTU.
    #[arg(long, value_name = "N", default_value_t = 1400)]
    mtu: u32,
    /// Interleaved rounds.
    #[arg(long, value_name = "N", default_value_t = 15,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    rounds: usize,
    /// Comma-separated pair names, e.g. h264pay,h264depay (see --list).
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_pair_name)]
    only: Option<Vec<String>>,
    /// Use at most N frames of each media (0 = all).
    #[arg(long, value_name = "N", default_value_t = 0)]
    frames: usize,
    /// Repeat the input until a round has >= N RTP packets.
    #[arg(long, value_name = "N", default_value_t = 30_000)]
    min_packets: usize,
    /// Instances for resident memory per stream, also reported over an
    /// identity instance fed the same way (0 = skip).
    #[arg(long, value_name = "N", default_value_t = 50)]
    streams: usize,
    /// Build input in batches of <= N bytes before each timed batch
    /// (0 = whole round up front, cache-cold).
    #[arg(long, value_name = "N", default_value_t = 256 * 1024)]
    batch_bytes: usize,
    /// Media cache directory (default <target>/rtp_perf_media).
    #[arg(long, value_name = "DIR")]
    media_dir: Option<String>,
    /// Also count instructions per packet of the push loop under valgrind
    /// callgrind: stock, ours and (depayloaders) the floor `valve drop=true`
    /// fed the same RTP packets; two child runs (input x1, x2), difference /
    /// packets (pay: RTP out, depay: RTP in). Use --frames to keep it short.
    #[arg(long)]
    instructions: bool,
    /// With --instructions, depayloaders get their RTP packets in buffer
    /// lists of N (as a batching UDP source pushes them) instead of one
    /// push per packet (0). Only the callgrind counts honour it.
    #[arg(long, value_name = "N", default_value_t = 0)]
    input_lists: usize,
    /// Ours = the wrapper bin (rtpfastpay / rtpfastdepay) holding our
    /// element, to measure what the wrapper costs over it.
    #[arg(long)]
    wrapped: bool,
    /// List pair names and exit.
    #[arg(long)]
    list: bool,
    /// Measure nothing: read a `--format json` document of an earlier run
    /// and only write --plot / --readme from it.
    #[arg(long, value_name = "FILE")]
    from_json: Option<String>,
    /// Rewrite the regions between `<!-- perf-report:begin NAME -->` and
    /// `<!-- perf-report:end NAME -->` in FILE (a README) from the results.
    #[arg(long, value_name = "FILE")]
    readme: Option<String>,
    /// Image path the README region links as the chart (default: --plot).
    #[arg(long, value_name = "PATH", requires = "readme")]
    readme_chart: Option<String>,
    /// The callgrind child of --instructions: PAIR:ROLE:REPS.
    #[arg(long, hide = true, value_name = "PAIR:ROLE:REPS", value_parser = parse_instr_child)]
    instr_child: Option<(String, String, usize)>,
    /// Depayloader input for the child (see `instr::write_rtp_file`).
    #[arg(long, hide = true, value_name = "FILE")]
    instr_rtp: Option<String>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

impl Opts {
    fn json(&self) -> bool {
        self.format == Format::Json
    }
}

fn parse_pair_name(s: &str) -> Result<String, String> {
    let s = s.trim();
    if PAIRS.iter().any(|p| p.name == s) {
        Ok(s.to_string())
    } else {
        Err(format!("unknown pair {s:?} (see --list)"))
    }
}

fn parse_plot_path(s: &str) -> Result<String, String> {
    chart::Kind::of_path(s)
        .map(|_| s.to_string())
        .ok_or_else(|| format!("{s:?}: the file name must end in .svg or .png"))
}

fn parse_instr_child(v: &str) -> Result<(String, String, usize), String> {
    let mut it = v.splitn(3, ':');
    match (it.next(), it.next(), it.next().and_then(|n| n.parse().ok())) {
        (Some(p), Some(r), Some(n)) if n > 0 => Ok((p.to_string(), r.to_string(), n)),
        _ => Err(format!("bad value {v} (PAIR:ROLE:REPS)")),
    }
}

fn cpu_info() -> (String, usize) {
    let s = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = s
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let procs = s.lines().filter(|l| l.starts_with("processor")).count();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(procs.max(1));
    (model, cores)
}

/// UTC date and time, ISO 8601 (RFC 3339), from the system clock.
fn utc_now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// RTP packets made by the stock payloader from a media, with their caps.
struct RtpInput {
    caps: gst::Caps,
    packets: Vec<Arc<Vec<u8>>>,
}

fn make_rtp(media: &Media, mtu: u32) -> Result<RtpInput, String> {
    let pay = media.kind.stock_payloader();
    let rig = rig::Rig::new(pay, &[("mtu", mtu)], &media.caps, true)?;
    for i in frame_inputs(media, 1) {
        rig.push(rig::build_buffer(&i))?;
    }
    rig.eos();
    let caps = rig
        .output_caps()
        .ok_or_else(|| format!("{pay}: no output caps"))?;
    let packets: Vec<Arc<Vec<u8>>> = rig
        .take_collected()
        .into_iter()
        .filter(|p| p.len() >= 12 && p[0] >> 6 == 2)
        .map(Arc::new)
        .collect();
    if packets.is_empty() {
        return Err(format!("{pay}: produced no RTP packets"));
    }
    Ok(RtpInput { caps, packets })
}

/// Payloader input: the media's frames, repeated with shifted timestamps.
fn frame_inputs(media: &Media, repeat: usize) -> Vec<Input> {
    let span = media.span_ns();
    let mut v = Vec::with_capacity(media.frames.len() * repeat);
    let data: Vec<Arc<Vec<u8>>> = media
        .frames
        .iter()
        .map(|f| Arc::new(f.data.clone()))
        .collect();
    for k in 0..repeat as u64 {
        for (f, d) in media.frames.iter().zip(&data) {
            v.push(Input {
                data: d.clone(),
                pts: f.pts.map(|p| p + k * span),
                dts: f.dts.map(|p| p + k * span),
                duration: f.duration,
                delta: f.delta,
                rtp_seq_ts: None,
            });
        }
    }
    v
}

/// Depayloader input: the RTP packets, repeated with continuing sequence
/// numbers and timestamps (and a PTS derived from the RTP timestamp).
fn packet_inputs(rtp: &RtpInput, repeat: usize) -> Vec<Input> {
    let clock_rate = rtp
        .caps
        .structure(0)
        .and_then(|s| s.get::<i32>("clock-rate").ok())
        .unwrap_or(90_000)
        .max(1) as u64;
    let seq = |p: &[u8]| u16::from_be_bytes([p[2], p[3]]);
    let ts = |p: &[u8]| u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
    let first = &rtp.packets[0];
    let (seq0, ts0) = (seq(first), ts(first));
    let mut steps: Vec<u32> = rtp
        .packets
        .windows(2)
        .map(|w| ts(&w[1]).wrapping_sub(ts(&w[0])))
        .filter(|d| *d != 0 && *d < 0x8000_0000)
        .collect();
    steps.sort_unstable();
    let step = steps.get(steps.len() / 2).copied().unwrap_or(3000);
    let last_ts = ts(rtp.packets.last().unwrap());
    let span = last_ts.wrapping_sub(ts0).wrapping_add(step);
    let n = rtp.packets.len();
    let mut v = Vec::with_capacity(n * repeat);
    for k in 0..repeat {
        for (i, p) in rtp.packets.iter().enumerate() {
            let s = seq0.wrapping_add((k * n + i) as u16);
            let t = ts(p).wrapping_add(span.wrapping_mul(k as u32));
            let rel = t.wrapping_sub(ts0) as u64;
            v.push(Input {
                data: p.clone(),
                pts: Some(rel * 1_000_000_000 / clock_rate),
                dts: None,
                duration: None,
                delta: false,
                rtp_seq_ts: Some((s, t)),
            });
        }
    }
    v
}

fn element_exists(name: &str) -> bool {
    gst::ElementFactory::find(name).is_some()
}

/// Our element for a pair, or with `--wrapped` the wrapper bin that will
/// hold it (chosen from the caps like any user's).
fn ours_element(spec: &PairSpec, opts: &Opts) -> String {
    match (opts.wrapped, spec.depay) {
        (false, _) => spec.fast.to_string(),
        (true, false) => "rtpfastpay".to_string(),
        (true, true) => "rtpfastdepay".to_string(),
    }
}

fn run_pair(
    spec: &PairSpec,
    opts: &Opts,
    media_cache: &mut HashMap<MediaKind, (Media, RtpInput)>,
    media_dir: &std::path::Path,
) -> PairResult {
    let stock_name = if opts.baseline == "rust_rsrtp" {
        rsrtp_name(spec.stock)
    } else {
        spec.stock.to_string()
    };
    let stock_status = if element_exists(&stock_name) {
        Status::Ok
    } else {
        Status::NotInstalled
    };
    let ours_name = ours_element(spec, opts);
    let ours_status = if element_exists(&ours_name) {
        Status::Ok
    } else {
        Status::NotYet
    };
    let mut res = PairResult {
        name: spec.name,
        kind: if spec.depay { "depay" } else { "pay" },
        media: spec.media.describe().to_string(),
        frames: 0,
        repeat: 0,
        rtp_caps: String::new(),
        stock: Contender::new("stock", &stock_name, stock_status),
        ours: Contender::new("ours", &ours_name, ours_status),
        identity: spec
            .depay
            .then(|| Contender::new("identity", "identity", Status::Ok)),
        floor: spec
            .depay
            .then(|| Contender::new("valve", "valve", Status::Ok)),
        ratio: None,
        ours_vs_floor: None,
        stock_vs_floor: None,
        error: None,
        notes: Vec::new(),
    };
    if let Err(e) = measure_pair(spec, opts, media_cache, media_dir, &mut res) {
        res.error = Some(e);
    }
    if res.stock.ok() && res.ours.ok() {
        let (s, o) = (&res.stock, &res.ours);
        let what = if spec.depay {
            "output buffers"
        } else {
            "RTP packets"
        };
        if s.out_packets_per_round != o.out_packets_per_round {
            res.notes.push(format!(
                "{what} per round differ: stock {} vs ours {}",
                s.out_packets_per_round, o.out_packets_per_round
            ));
        }
        if !spec.depay && s.bytes_per_round != o.bytes_per_round {
            res.notes.push(format!(
                "RTP bytes per round differ: stock {} vs ours {}",
                s.bytes_per_round, o.bytes_per_round
            ));
        }
    }
    if let (Some(Ok(s)), Some(Ok(o))) = (&res.stock.instr, &res.ours.instr) {
        if s.packets != o.packets {
            res.notes.push(format!(
                "instruction runs counted different packets: stock {:?} vs ours {:?}",
                s.packets, o.packets
            ));
        }
    }
    res.ratio = ratio_ci(&res.stock, &res.ours);
    if let Some(f) = &res.floor {
        res.ours_vs_floor = ratio_ci(&res.ours, f);
        res.stock_vs_floor = ratio_ci(&res.stock, f);
    }
    res
}

/// Element properties for a contender: the pair's for stock and ours,
/// `drop=true` for the valve floor, none for identity.
fn role_props<'a>(role: &str, pair_props: &'a [(&'a str, u32)]) -> &'a [(&'a str, u32)] {
    match role {
        "identity" => &[],
        "valve" => &[("drop", 1)],
        _ => pair_props,
    }
}

fn measure_pair(
    spec: &PairSpec,
    opts: &Opts,
    media_cache: &mut HashMap<MediaKind, (Media, RtpInput)>,
    media_dir: &std::path::Path,
    res: &mut PairResult,
) -> Result<(), String> {
    if let std::collections::hash_map::Entry::Vacant(e) = media_cache.entry(spec.media) {
        let mut m = media::load_or_generate(spec.media, media_dir)?;
        m.truncate(opts.frames);
        let rtp = make_rtp(&m, opts.mtu)?;
        e.insert((m, rtp));
    }
    let (media, rtp) = &media_cache[&spec.media];
    res.frames = media.frames.len();
    res.rtp_caps = rtp.caps.to_string();
    let repeat = opts.min_packets.div_ceil(rtp.packets.len()).max(1);
    res.repeat = repeat;
    let (inputs, caps, first) = if spec.depay {
        let inputs = packet_inputs(rtp, repeat);
        // One whole access unit (up to the first marker bit) for the RSS
        // probe: a stream that is idle between units, not one holding a
        // half-assembled keyframe.
        let n = inputs
            .iter()
            .position(|i| i.data[1] & 0x80 != 0)
            .map(|p| p + 1)
            .unwrap_or(1);
        let first = inputs[..n].to_vec();
        (inputs, rtp.caps.clone(), first)
    } else {
        let inputs = frame_inputs(media, repeat);
        let first = inputs[..1].to_vec();
        (inputs, media.caps.clone(), first)
    };
    let warm = (inputs.len() / 20).max(1);
    let props: Vec<(&str, u32)> = if spec.depay {
        Vec::new()
    } else {
        vec![("mtu", opts.mtu)]
    };

    let mut contenders: Vec<&mut Contender> = vec![&mut res.stock, &mut res.ours];
    if let Some(f) = res.floor.as_mut() {
        contenders.push(f);
    }
    if let Some(i) = res.identity.as_mut() {
        contenders.push(i);
    }
    let n = contenders.len();
    for round in 0..opts.rounds {
        for j in 0..n {
            // Alternate the order every round (A B V I, B V I A, ...).
            let c = &mut *contenders[(j + round) % n];
            if !c.ok() {
                continue;
            }
            let props = role_props(c.role, &props);
            match rig::timed_pass(&c.element, props, &caps, &inputs, warm) {
                Ok(r) => {
                    let (pk, by) = if spec.depay {
                        (r.in_pushes, r.in_bytes)
                    } else {
                        (r.out_packets, r.out_bytes)
                    };
                    let pk = pk.max(1);
                    c.ns_per_packet.push(r.cpu_ns as f64 / pk as f64);
                    c.gbps_rounds.push(by as f64 * 8.0 / r.cpu_ns.max(1) as f64);
                    c.alloc_rounds.push(r.allocs as f64 / pk as f64);
                    c.packets_per_round = pk;
                    c.bytes_per_round = by;
                    c.pushes_per_round = r.in_pushes;
                    c.out_packets_per_round = r.out_packets;
                }
                Err(e) => c.status = Status::Error(e),
            }
        }
    }
    for c in contenders.iter_mut() {
        if !c.ok() {
            continue;
        }
        c.allocs_per_packet = stats::mean(&c.alloc_rounds);
        let props = role_props(c.role, &props);
        match rig::latency_pass(&c.element, props, &caps, &inputs, warm) {
            Ok(lat) => {
                c.lat_p50 = stats::percentile(&lat, 50.0);
                c.lat_p99 = stats::percentile(&lat, 99.0);
                c.lat_pushes = lat.len() as u64;
            }
            Err(e) => c.status = Status::Error(e),
        }
    }
    for c in contenders.iter_mut() {
        // Resident memory: the elements compared, each with its identity baseline.
        if !c.ok() || opts.streams == 0 || !matches!(c.role, "stock" | "ours") {
            continue;
        }
        match rig::resident_per_stream(&c.element, &props, &caps, &first, opts.streams) {
            Ok(r) => {
                c.resident = Some(r.element);
                c.resident_identity = Some(r.identity);
            }
            Err(e) => c.status = Status::Error(e),
        }
    }
    if opts.instructions {
        let mut common = vec![
            format!("--mtu={}", opts.mtu),
            format!("--frames={}", opts.frames),
            format!("--media-dir={}", media_dir.display()),
            format!("--baseline={}", opts.baseline),
        ];
        if opts.wrapped {
            common.push("--wrapped".to_string());
        }
        if opts.input_lists > 0 {
            common.push(format!("--input-lists={}", opts.input_lists));
        }
        let rtp_file = std::env::temp_dir().join(format!(
            "rtp_perf_compare.{}.{}.rtp",
            std::process::id(),
            spec.name
        ));
        if spec.depay {
            instr::write_rtp_file(&rtp_file, &rtp.caps.to_string(), &rtp.packets)?;
            common.push(format!("--instr-rtp={}", rtp_file.display()));
        }
        for c in contenders.iter_mut() {
            if !c.ok() {
                continue;
            }
            eprintln!("  callgrind: {} {} ...", spec.name, c.element);
            c.instr = Some(instr::measure(spec.name, c.role, &common));
        }
        let _ = std::fs::remove_file(&rtp_file);
    }
    Ok(())
}

/// Hidden child mode of `--instructions`, run under callgrind: build the
/// element of `role` in `pair` and all input buffers (the media `reps`
/// times over), push them in the counted loop, print the packet count.
fn instr_child(opts: &Opts, pair: &str, role: &str, reps: usize) -> Result<u64, String> {
    let spec = PAIRS
        .iter()
        .find(|p| p.name == pair)
        .ok_or_else(|| format!("unknown pair {pair}"))?;
    let element = match role {
        "stock" if opts.baseline == "rust_rsrtp" => rsrtp_name(spec.stock),
        "stock" => spec.stock.to_string(),
        "ours" => ours_element(spec, opts),
        "valve" if spec.depay => "valve".to_string(),
        "identity" if spec.depay => "identity".to_string(),
        _ => return Err(format!("unknown role {role} for {pair}")),
    };
    let pair_props: Vec<(&str, u32)> = if spec.depay {
        Vec::new()
    } else {
        vec![("mtu", opts.mtu)]
    };
    let props = role_props(role, &pair_props);
    let (caps, inputs) = if spec.depay {
        let path = opts
            .instr_rtp
            .as_ref()
            .ok_or("depayloader child needs --instr-rtp")?;
        let (caps, packets) = instr::read_rtp_file(std::path::Path::new(path))?;
        let caps: gst::Caps = caps.parse().map_err(|e| format!("bad caps {caps}: {e}"))?;
        let rtp = RtpInput {
            caps,
            packets: packets.into_iter().map(Arc::new).collect(),
        };
        let inputs = packet_inputs(&rtp, reps);
        (rtp.caps, inputs)
    } else {
        let dir = opts
            .media_dir
            .as_ref()
            .map(std::path::PathBuf::from)
            .unwrap_or_else(media::default_cache_dir);
        let mut m = media::load_or_generate(spec.media, &dir)?;
        m.truncate(opts.frames);
        let inputs = frame_inputs(&m, reps);
        (m.caps, inputs)
    };
    let rig = rig::Rig::new(&element, props, &caps, false)?;
    let mut bufs: Vec<gst::Buffer> = inputs.iter().map(rig::build_buffer).collect();
    // Lists are built before the counted loop, as a source builds them.
    let lists: Vec<gst::BufferList> = if spec.depay && opts.input_lists > 0 {
        bufs.chunks(opts.input_lists)
            .map(|chunk| {
                let mut list = gst::BufferList::new_sized(chunk.len());
                let l = list.get_mut().unwrap();
                for b in chunk {
                    l.add(b.clone());
                }
                list
            })
            .collect()
    } else {
        Vec::new()
    };
    if !lists.is_empty() {
        // The lists hold the only references: writable, as a source's.
        bufs.clear();
    }
    rig.reset();
    instr::rtp_perf_instr_push_loop(&rig, bufs, lists)?;
    Ok(if spec.depay {
        inputs.len() as u64
    } else {
        rig.packets()
    })
}

/// Make sure GLib's slice allocator is off so GstBuffer/GstMemory
/// allocations reach malloc. Checked on this machine (GLib 2.74): GLib's
/// library constructor already initialises the slice allocator before main,
/// so setting the variable here is too late; `main` detects that (64
/// `gst::Buffer::new()` not counted) and re-executes the process with
/// G_SLICE=always-malloc in its environment from the start.
fn ensure_g_slice() {
    if std::env::var("G_SLICE").as_deref() != Ok("always-malloc") {
        std::env::set_var("G_SLICE", "always-malloc");
    }
}

/// Mallocs for 64 `gst::Buffer::new()`; ≥ 64 when slices go to malloc.
fn buffer_new_allocs() -> u64 {
    let a0 = alloc_counter::allocations();
    let v: Vec<gst::Buffer> = (0..64).map(|_| gst::Buffer::new()).collect();
    let a1 = alloc_counter::allocations();
    drop(v);
    a1 - a0
}

fn main() {
    ensure_g_slice();
    // Usage errors: clap's message naming the option, exit status 2.
    let opts = <Opts as clap::Parser>::parse();
    if opts.list {
        for p in PAIRS {
            println!("{:<10} {} -> {}", p.name, p.stock, p.fast);
        }
        return;
    }
    if let Some(path) = &opts.from_json {
        let doc = std::fs::read_to_string(path)
            .map_err(|e| format!("{path}: {e}"))
            .and_then(|t| readme::Doc::parse(&t).map_err(|e| format!("{path}: {e}")));
        match doc {
            Ok(doc) => write_outputs(&opts, &doc),
            Err(e) => {
                eprintln!("rtp_perf_compare: --from-json {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    if let Err(e) = gst::init() {
        eprintln!("rtp_perf_compare: gst::init failed: {e}");
        std::process::exit(1);
    }
    let counter_active = alloc_counter::is_active();
    let mut g_slice_effective = buffer_new_allocs() >= 64;
    if counter_active && !g_slice_effective && std::env::var_os("RTP_PERF_REEXEC").is_none() {
        // GLib read G_SLICE before main: start again with it in the environment.
        use std::os::unix::process::CommandExt;
        let exe = std::env::current_exe().expect("current_exe");
        let err = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("G_SLICE", "always-malloc")
            .env("RTP_PERF_REEXEC", "1")
            .exec();
        eprintln!("rtp_perf_compare: re-exec failed: {err}");
        g_slice_effective = false;
    }
    if let Err(e) = gstrsrtpfast::plugin_register_static() {
        eprintln!("rtp_perf_compare: registering rsrtpfast elements failed: {e}");
    }
    if let Some((pair, role, reps)) = &opts.instr_child {
        match instr_child(&opts, pair, role, *reps) {
            Ok(n) => {
                println!("{}{n}", instr::CHILD_LINE);
                return;
            }
            Err(e) => {
                eprintln!("rtp_perf_compare: --instr-child {pair}:{role}:{reps}: {e}");
                std::process::exit(1);
            }
        }
    }
    let valgrind = if opts.instructions {
        match instr::valgrind_version() {
            Ok(v) => Some(v),
            Err(e) => {
                eprintln!("rtp_perf_compare: {e}");
                std::process::exit(2);
            }
        }
    } else {
        None
    };

    if opts.baseline == "rust_rsrtp" {
        let any = PAIRS.iter().any(|p| element_exists(&rsrtp_name(p.stock)));
        if !any {
            let names: Vec<String> = PAIRS.iter().map(|p| rsrtp_name(p.stock)).collect();
            let msg = format!(
                "skipped: baseline rust_rsrtp needs the gst-plugins-rs rsrtp elements ({}), \
                 which are not installed ({})",
                names.join(", "),
                gst::version_string()
            );
            if opts.json() {
                print!(
                    "{}",
                    report::to_text(&serde_json::json!({
                        "tool": "rtp_perf_compare",
                        "status": "skipped",
                        "reason": msg,
                    }))
                );
            } else {
                println!("{msg}");
            }
            return;
        }
    }

    let (cpu, cores) = cpu_info();
    let info = RunInfo {
        cpu,
        cores,
        arch: std::env::consts::ARCH,
        simd: gstrsrtpfast::core::simd::SimdLevel::resolve(None).0.nick(),
        date: utc_now(),
        command_line: std::env::args().collect::<Vec<_>>().join(" "),
        gst_version: gst::version_string().to_string(),
        baseline: opts.baseline.clone(),
        current: opts.current.clone(),
        mtu: opts.mtu,
        rounds: opts.rounds,
        min_packets: opts.min_packets,
        frames: opts.frames,
        streams: opts.streams,
        batch_bytes: opts.batch_bytes,
        counter_active,
        g_slice_effective,
        valgrind,
    };
    rig::BATCH_BYTES.store(opts.batch_bytes, std::sync::atomic::Ordering::Relaxed);
    if !opts.json() {
        print!("{}", report::header(&info));
    }
    let media_dir = opts
        .media_dir
        .as_ref()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(media::default_cache_dir);
    let mut cache = HashMap::new();
    let mut results = Vec::new();
    for spec in PAIRS {
        if let Some(only) = &opts.only {
            if !only.iter().any(|n| n == spec.name) {
                continue;
            }
        }
        eprintln!("measuring {} ...", spec.name);
        let r = run_pair(spec, &opts, &mut cache, &media_dir);
        if !opts.json() {
            print!("{}", report::pair_text(&r));
        }
        results.push(r);
    }
    let doc = report::json(&info, &results);
    if opts.json() {
        print!("{}", report::to_text(&doc));
    } else {
        print!("{}", report::summary_text(&results));
    }
    if opts.plot.is_some() || opts.readme.is_some() {
        match readme::Doc::from_value(doc) {
            Ok(doc) => write_outputs(&opts, &doc),
            Err(e) => {
                eprintln!("rtp_perf_compare: reading back our own JSON: {e}");
                std::process::exit(1);
            }
        }
    }
}

/// `--plot` and `--readme` from a run's results (this run's or `--from-json`).
fn write_outputs(opts: &Opts, doc: &readme::Doc) {
    let fail = |what: &str, e: String| -> ! {
        eprintln!("rtp_perf_compare: {what}: {e}");
        std::process::exit(1);
    };
    if let Some(path) = &opts.plot {
        match chart::write(doc, std::path::Path::new(path)) {
            Ok(()) => eprintln!("wrote {path}"),
            Err(e) => fail(path, e),
        }
    }
    if let Some(path) = &opts.readme {
        let chart = opts.readme_chart.as_deref().or(opts.plot.as_deref());
        let updated = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| readme::update(&text, doc, chart));
        match updated.and_then(|t| std::fs::write(path, t).map_err(|e| e.to_string())) {
            Ok(()) => eprintln!("rewrote the perf-report regions of {path}"),
            Err(e) => fail(path, e),
        }
    }
}
