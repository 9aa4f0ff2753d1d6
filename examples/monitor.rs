//! Live statistics monitor: runs a pipeline and prints the `stats` of every
//! rsrtpfast element (factory name `rtpfast…`) once a second, optionally
//! serving the same numbers to Prometheus.
//!
//! ```text
//! cargo run --release --example monitor -- [--pipeline "DESC"] [--seconds N] [--prometheus PORT] [--poll]
//! ```
//!
//! - default pipeline: live `videotestsrc ! x264enc ! rtpfasth264pay name=pay0
//!   ! rtpfasth264depay name=depay0 ! fakesink`, all in-process;
//! - elements with a `stats-interval` property get it set to 1000 ms and the
//!   `rtpfast-stats` element messages they post on the bus are printed;
//!   elements without it (or silent for more than 2.5 s, e.g. no data
//!   flowing, since they post only while processing) are polled through
//!   their `stats` property once a second. `--poll` polls everything;
//! - `--prometheus PORT` serves `GET /metrics` (text exposition format 0.0.4)
//!   on 127.0.0.1:PORT from one plain `std::net` thread; PORT 0 picks a free
//!   port, printed on the first line (`prometheus: http://127.0.0.1:P/metrics`);
//! - `--seconds N` stops after N seconds (else at EOS or error).

use gst::prelude::*;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// In-process H.264 pay -> depay loop, live at 30 fps so it costs little CPU.
pub const DEFAULT_PIPELINE: &str = "videotestsrc is-live=true pattern=ball \
     ! video/x-raw,width=640,height=360,framerate=30/1 \
     ! x264enc tune=zerolatency speed-preset=ultrafast bitrate=2000 key-int-max=30 \
     ! rtpfasth264pay name=pay0 config-interval=1 pt=96 \
     ! rtpfasth264depay name=depay0 ! fakesink sync=false";

/// Name of the bus message structure the elements post (`stats-interval`).
pub const STATS_MESSAGE: &str = "rtpfast-stats";

/// A bus-mode element that has posted nothing for this long is polled.
const STALE_AFTER: Duration = Duration::from_millis(2500);

/// Command line (clap).
#[derive(clap::Parser, Clone, Debug, PartialEq)]
#[command(
    name = "monitor",
    about = "Run a pipeline and print the stats of every rsrtpfast element once a second"
)]
pub struct Options {
    /// gst-launch style description (default: H.264 pay -> depay loop).
    #[arg(long, value_name = "DESC", default_value = DEFAULT_PIPELINE, hide_default_value = true)]
    pub pipeline: String,
    /// Stop after N seconds (default: run until EOS or error).
    #[arg(long, value_name = "N", value_parser = parse_seconds)]
    pub seconds: Option<f64>,
    /// Serve /metrics on 127.0.0.1:PORT (0 = any free port).
    #[arg(long, value_name = "PORT")]
    pub prometheus: Option<u16>,
    /// Poll `stats` every second even where stats-interval exists.
    #[arg(long)]
    pub poll: bool,
}

fn parse_seconds(v: &str) -> Result<f64, String> {
    match v.parse::<f64>() {
        Ok(s) if s > 0.0 && s.is_finite() => Ok(s),
        Ok(_) => Err(format!("must be > 0: {v}")),
        Err(_) => Err(format!("not a number: {v}")),
    }
}

/// Options from command-line arguments (without argv[0]); the error is
/// clap's message (usage, or the help text for --help).
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Options, String> {
    let argv = std::iter::once("monitor".to_string()).chain(args);
    <Options as clap::Parser>::try_parse_from(argv).map_err(|e| e.to_string())
}

/// Where a sample came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Source {
    /// An `rtpfast-stats` bus message.
    Bus,
    /// Reading the `stats` property.
    #[default]
    Poll,
}

/// The numbers shown for one element.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sample {
    pub element: String,
    pub factory: String,
    pub packets: u64,
    pub bytes: u64,
    pub dropped: u64,
    pub malformed: u64,
    pub simd_level: String,
    pub p50_ns: u64,
    pub p99_ns: u64,
    /// Packets per second since the previous sample of this element.
    pub packets_per_s: f64,
    pub source: Source,
}

/// An unsigned field whatever integer type the element used for it.
fn field_u64(s: &gst::StructureRef, name: &str) -> u64 {
    if let Ok(v) = s.get::<u64>(name) {
        return v;
    }
    if let Ok(v) = s.get::<u32>(name) {
        return v.into();
    }
    if let Ok(v) = s.get::<i64>(name) {
        return v.max(0) as u64;
    }
    if let Ok(v) = s.get::<i32>(name) {
        return v.max(0) as u64;
    }
    0
}

impl Sample {
    /// Read a `stats` structure (property value or bus message).
    pub fn from_structure(
        element: &str,
        factory: &str,
        s: &gst::StructureRef,
        source: Source,
    ) -> Sample {
        Sample {
            element: element.to_string(),
            factory: factory.to_string(),
            packets: field_u64(s, "packets"),
            bytes: field_u64(s, "bytes"),
            dropped: field_u64(s, "dropped"),
            malformed: field_u64(s, "malformed"),
            simd_level: s
                .get::<String>("simd-level")
                .unwrap_or_else(|_| "unknown".to_string()),
            p50_ns: field_u64(s, "processing-ns-p50"),
            p99_ns: field_u64(s, "processing-ns-p99"),
            packets_per_s: 0.0,
            source,
        }
    }

    /// One line of the console output.
    pub fn line(&self, elapsed: Duration) -> String {
        format!(
            "[{:7.1}s] {:<12} {:<18} {:<4} packets={} bytes={} dropped={} malformed={} simd={} \
             p50={}ns p99={}ns rate={:.1} pkt/s",
            elapsed.as_secs_f64(),
            self.element,
            self.factory,
            match self.source {
                Source::Bus => "bus",
                Source::Poll => "poll",
            },
            self.packets,
            self.bytes,
            self.dropped,
            self.malformed,
            self.simd_level,
            self.p50_ns,
            self.p99_ns,
            self.packets_per_s
        )
    }
}

/// Escape a label value for the text exposition format.
fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Format a float the way Prometheus parses it.
fn prom_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

/// The samples in Prometheus text exposition format (version 0.0.4): one
/// HELP and TYPE line per metric family, then one line per element.
pub fn render_prometheus(samples: &[Sample]) -> String {
    type Get = fn(&Sample) -> String;
    let families: [(&str, &str, &str, Get); 8] = [
        (
            "rsrtpfast_packets_total",
            "counter",
            "RTP packets handled by the element.",
            |s| s.packets.to_string(),
        ),
        (
            "rsrtpfast_bytes_total",
            "counter",
            "RTP bytes handled by the element.",
            |s| s.bytes.to_string(),
        ),
        (
            "rsrtpfast_dropped_total",
            "counter",
            "Packets or units dropped by the element.",
            |s| s.dropped.to_string(),
        ),
        (
            "rsrtpfast_malformed_total",
            "counter",
            "Malformed packets seen by the element.",
            |s| s.malformed.to_string(),
        ),
        (
            "rsrtpfast_processing_ns_p50",
            "gauge",
            "Median processing time per packet in ns (recent window).",
            |s| s.p50_ns.to_string(),
        ),
        (
            "rsrtpfast_processing_ns_p99",
            "gauge",
            "99th percentile processing time per packet in ns (recent window).",
            |s| s.p99_ns.to_string(),
        ),
        (
            "rsrtpfast_packets_per_second",
            "gauge",
            "Packets per second since the previous sample.",
            |s| prom_f64(s.packets_per_s),
        ),
        (
            "rsrtpfast_simd_level_info",
            "gauge",
            "SIMD level in use (label level), always 1.",
            |_| "1".to_string(),
        ),
    ];
    let mut out = String::new();
    for (name, kind, help, get) in families {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for s in samples {
            let mut labels = format!(
                "element=\"{}\",factory=\"{}\"",
                escape_label(&s.element),
                escape_label(&s.factory)
            );
            if name == "rsrtpfast_simd_level_info" {
                labels.push_str(&format!(",level=\"{}\"", escape_label(&s.simd_level)));
            }
            out.push_str(&format!("{name}{{{labels}}} {}\n", get(s)));
        }
    }
    out
}

/// Latest sample per element name, shared with the HTTP thread.
pub type Shared = Arc<Mutex<BTreeMap<String, Sample>>>;

fn snapshot(shared: &Shared) -> Vec<Sample> {
    shared
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .cloned()
        .collect()
}

/// Answer one HTTP request: `/metrics` or 404.
fn serve_one(mut stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Drain the headers (up to the blank line).
    let mut header = String::new();
    while reader.read_line(&mut header)? > 0 {
        if header == "\r\n" || header == "\n" {
            break;
        }
        header.clear();
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, ctype, body) = if (method == "GET" || method == "HEAD") && path == "/metrics" {
        (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            render_prometheus(&snapshot(shared)),
        )
    } else {
        (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found; try /metrics\n".to_string(),
        )
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    if method != "HEAD" {
        stream.write_all(body.as_bytes())?;
    }
    stream.flush()
}

/// Bind 127.0.0.1:port and serve from a background thread; returns the port.
pub fn start_prometheus(port: u16, shared: Shared) -> std::io::Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    let port = listener.local_addr()?.port();
    std::thread::Builder::new()
        .name("prometheus".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Err(e) = serve_one(stream, &shared) {
                    eprintln!("monitor: /metrics request: {e}");
                }
            }
        })?;
    Ok(port)
}

/// One watched rsrtpfast element.
struct Watched {
    element: gst::Element,
    factory: String,
    /// Has `stats-interval`, set to 1000 ms: its bus messages are printed.
    bus: bool,
    last_update: Option<Instant>,
    last_packets: u64,
}

/// Every element whose factory name starts with `rtpfast`, in nested bins too.
pub fn rtpfast_elements(pipeline: &gst::Bin) -> Vec<gst::Element> {
    let mut v: Vec<gst::Element> = pipeline
        .iterate_recurse()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.factory().is_some_and(|f| f.name().starts_with("rtpfast")))
        .collect();
    v.sort_by_key(|e| e.name());
    v
}

fn factory_name(e: &gst::Element) -> String {
    e.factory()
        .map(|f| f.name().to_string())
        .unwrap_or_default()
}

struct Monitor {
    start: Instant,
    watched: BTreeMap<String, Watched>,
    shared: Shared,
}

impl Monitor {
    /// Record a sample (rate since the previous one), publish and print it.
    fn record(&mut self, name: &str, s: &gst::StructureRef, source: Source) {
        let now = Instant::now();
        let Some(w) = self.watched.get_mut(name) else {
            return;
        };
        let mut sample = Sample::from_structure(name, &w.factory, s, source);
        if let Some(t) = w.last_update {
            let dt = now.duration_since(t).as_secs_f64();
            if dt > 0.0 {
                sample.packets_per_s = sample.packets.saturating_sub(w.last_packets) as f64 / dt;
            }
        }
        w.last_update = Some(now);
        w.last_packets = sample.packets;
        // Publish before printing: whoever reads the line (a test, a
        // person) may scrape /metrics at once and must find this sample.
        let line = sample.line(now.duration_since(self.start));
        self.shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name.to_string(), sample);
        println!("{line}");
    }

    /// The once-a-second tick: poll the elements that do not post (or have
    /// gone quiet).
    fn poll(&mut self) {
        let now = Instant::now();
        let due: Vec<(String, gst::Element)> = self
            .watched
            .iter()
            .filter(|(_, w)| {
                !w.bus
                    || w.last_update
                        .is_none_or(|t| now.duration_since(t) >= STALE_AFTER)
                        && now.duration_since(self.start) >= STALE_AFTER
            })
            .map(|(n, w)| (n.clone(), w.element.clone()))
            .collect();
        for (name, element) in due {
            if let Ok(Some(s)) = element
                .property_value("stats")
                .get::<Option<gst::Structure>>()
            {
                self.record(&name, &s, Source::Poll);
            }
        }
    }
}

/// Run the monitor with these command-line arguments (without argv[0]).
pub fn run<I: IntoIterator<Item = String>>(args: I) -> Result<(), Box<dyn std::error::Error>> {
    run_with(parse_args(args)?)
}

/// Run the monitor with parsed options.
pub fn run_with(opts: Options) -> Result<(), Box<dyn std::error::Error>> {
    gst::init()?;
    gstrsrtpfast::plugin_register_static()?;

    let element = gst::parse::launch(&opts.pipeline)
        .map_err(|e| format!("pipeline {:?}: {e}", opts.pipeline))?;
    let pipeline = match element.downcast::<gst::Pipeline>() {
        Ok(p) => p,
        Err(element) => {
            let p = gst::Pipeline::new();
            p.add(&element)?;
            p
        }
    };

    let shared: Shared = Arc::default();
    if let Some(port) = opts.prometheus {
        let port = start_prometheus(port, shared.clone())
            .map_err(|e| format!("--prometheus {port}: {e}"))?;
        println!("prometheus: http://127.0.0.1:{port}/metrics");
    }

    let mut watched = BTreeMap::new();
    for e in rtpfast_elements(pipeline.upcast_ref()) {
        let bus = !opts.poll && e.find_property("stats-interval").is_some();
        if bus {
            e.set_property("stats-interval", 1000u32);
        }
        let factory = factory_name(&e);
        println!(
            "watching {} ({factory}) by {}",
            e.name(),
            if bus {
                "rtpfast-stats bus messages (stats-interval=1000)"
            } else {
                "polling stats every second"
            }
        );
        watched.insert(
            e.name().to_string(),
            Watched {
                element: e,
                factory,
                bus,
                last_update: None,
                last_packets: 0,
            },
        );
    }
    if watched.is_empty() {
        println!("no rsrtpfast (rtpfast*) elements in the pipeline; nothing to show");
    }
    let mut mon = Monitor {
        start: Instant::now(),
        watched,
        shared,
    };

    let bus = pipeline.bus().ok_or("pipeline without a bus")?;
    pipeline.set_state(gst::State::Playing)?;
    let deadline = opts.seconds.map(|s| mon.start + Duration::from_secs_f64(s));
    let mut next_tick = mon.start + Duration::from_secs(1);
    let mut result: Result<(), Box<dyn std::error::Error>> = Ok(());
    loop {
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            break;
        }
        let until = deadline.map_or(next_tick, |d| d.min(next_tick));
        let wait = until.saturating_duration_since(now);
        if let Some(msg) = bus.timed_pop(gst::ClockTime::from_nseconds(wait.as_nanos() as u64)) {
            match msg.view() {
                gst::MessageView::Eos(..) => {
                    println!("end of stream");
                    mon.poll();
                    break;
                }
                gst::MessageView::Error(e) => {
                    result = Err(format!(
                        "error from {}: {} ({:?})",
                        e.src()
                            .map(|s| s.path_string().to_string())
                            .unwrap_or_default(),
                        e.error(),
                        e.debug()
                    )
                    .into());
                    break;
                }
                gst::MessageView::Element(m) => {
                    if let (Some(s), Some(src)) = (m.structure(), m.src()) {
                        if s.name() == STATS_MESSAGE {
                            let name = src.name().to_string();
                            if mon.watched.get(&name).is_some_and(|w| w.bus) {
                                mon.record(&name, s, Source::Bus);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        if Instant::now() >= next_tick {
            mon.poll();
            next_tick += Duration::from_secs(1);
        }
    }
    pipeline.set_state(gst::State::Null)?;
    result
}

fn main() {
    // Usage errors: clap's message naming the option, exit status 2.
    let opts = <Options as clap::Parser>::parse();
    if let Err(e) = run_with(opts) {
        eprintln!("monitor: {e}");
        std::process::exit(1);
    }
}
