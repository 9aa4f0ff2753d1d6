//! Loopback demo, stock vs ours: the same sender -> UDP 127.0.0.1 ->
//! receiver (decoding) runs once with the stock payloader/depayloader
//! (gst-plugins-good) and once with ours, for H.264 video, Opus and L16 audio,
//! then prints a side-by-side table of what was measured.
//!
//! cargo run --release --example loopback [-- --frames 300 --audio-frames 1500 --rounds 3]
//!
//! How the elements are measured, in the real pipelines (no synthetic rig):
//! a GStreamer tracer brackets every call of the element's chain function
//! (`pad-chain-pre`/`-post` on its sink pad) on the streaming thread it runs
//! in, and subtracts the time spent downstream of it (`pad-push-pre`/`-post`
//! on its src pad). Inside the bracket it reads the thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`, as rtp_perf_compare does) and the thread's
//! heap allocation count (the malloc interposer of rtp_perf_compare and the
//! tests, `src/alloc_counter.rs`, with `G_SLICE=always-malloc` so GLib's slice
//! allocator cannot hide GstBuffer/GstMemory allocations). The cost of the
//! clock reads themselves is measured at start-up and subtracted.
//!
//! The sender waits before each frame until the receiver's depayloader has
//! taken every packet sent so far, so the socket never overflows and the same
//! frames arrive in both runs. Exits non-zero if stock and ours disagree on
//! frames sent or decoded.

#[path = "../src/alloc_counter.rs"]
mod alloc_counter;

use clap::Parser;
use gst::prelude::*;
use gst::subclass::prelude::ObjectSubclassIsExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(about = "Loopback sender -> UDP -> receiver, stock elements vs rsrtpfast, side by side")]
struct Args {
    /// H.264 frames to send (1280x720).
    #[arg(long, default_value_t = 300)]
    frames: u32,
    /// Audio buffers (20 ms) to send, for Opus and L16.
    #[arg(long, default_value_t = 1500)]
    audio_frames: u32,
    /// Runs of each side, stock and ours alternating (which goes first
    /// alternates too); the table shows each figure's median, and the
    /// CPU's spread below it. One short run moved the audio ratios by 2x.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=50))]
    rounds: u32,
    /// Formats to run, comma separated: h264, opus, l16.
    #[arg(long, value_delimiter = ',', default_value = "h264,opus,l16")]
    formats: Vec<String>,
}

/// Thread CPU time in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`).
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and the clock id a constant
    // Linux supports; clock_gettime writes only into `ts`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// What a bracket around two back-to-back clock reads measures: the cost one
/// bracket adds to what it measures (the tail of one read plus the head of
/// the next). The median of many tries, on this thread.
fn clock_read_cost_ns() -> u64 {
    let mut d: Vec<u64> = (0..20_001)
        .map(|_| {
            let a = thread_cpu_ns();
            let b = thread_cpu_ns();
            b - a
        })
        .collect();
    d.sort_unstable();
    d[d.len() / 2]
}

/// Counters of one element under measurement.
#[derive(Default)]
pub struct Meter {
    sink: usize,
    src: usize,
    /// Buffers that entered the sink pad (packets for a depayloader, frames
    /// for a payloader).
    buffers_in: AtomicU64,
    /// Their bytes (raw audio is counted in audio frames, not buffers).
    bytes_in: AtomicU64,
    /// Buffers the element pushed (in lists or alone).
    buffers_out: AtomicU64,
    cpu_ns: AtomicU64,
    allocs: AtomicU64,
    /// Clock-read pairs inside the brackets (one per chain call plus one per
    /// push made during it), for subtracting their cost.
    clock_pairs: AtomicU64,
}

impl Meter {
    fn for_element(element: &gst::Element) -> Arc<Meter> {
        let pad = |name| element.static_pad(name).expect("element has static pads");
        Arc::new(Meter {
            sink: pad("sink").as_ptr() as usize,
            src: pad("src").as_ptr() as usize,
            ..Default::default()
        })
    }
    fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// A chain call being measured on this thread.
struct Open {
    meter: Arc<Meter>,
    cpu0: u64,
    allocs0: u64,
    push_cpu0: u64,
    push_allocs0: u64,
    excluded_cpu: u64,
    excluded_allocs: u64,
    pushes: u64,
}

thread_local! {
    static OPEN: std::cell::RefCell<Option<Open>> = const { std::cell::RefCell::new(None) };
}

mod tracer {
    use super::{alloc_counter, thread_cpu_ns, Meter, Open, OPEN};
    use gst::glib;
    use gst::prelude::*;
    use gst::subclass::prelude::*;
    use std::sync::atomic::Ordering;
    use std::sync::{Arc, RwLock};

    #[derive(Default)]
    pub struct ElementMeterTracer {
        pub meters: RwLock<Vec<Arc<Meter>>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for ElementMeterTracer {
        const NAME: &'static str = "RsRtpFastDemoMeterTracer";
        type Type = super::ElementMeterTracerObj;
        type ParentType = gst::Tracer;
    }

    impl ObjectImpl for ElementMeterTracer {
        fn constructed(&self) {
            self.parent_constructed();
            use gst::subclass::prelude::TracerHook::*;
            for hook in [
                PadChainPre,
                PadChainPost,
                PadChainListPre,
                PadChainListPost,
                PadPushPre,
                PadPushPost,
                PadPushListPre,
                PadPushListPost,
            ] {
                self.register_hook(hook);
            }
        }
    }
    impl GstObjectImpl for ElementMeterTracer {}

    impl ElementMeterTracer {
        fn by_sink(&self, pad: &gst::Pad) -> Option<Arc<Meter>> {
            let p = pad.as_ptr() as usize;
            let m = self.meters.read().ok()?;
            m.iter().find(|m| m.sink == p).cloned()
        }
        fn by_src(&self, pad: &gst::Pad) -> Option<Arc<Meter>> {
            let p = pad.as_ptr() as usize;
            let m = self.meters.read().ok()?;
            m.iter().find(|m| m.src == p).cloned()
        }
        fn chain_pre(&self, pad: &gst::Pad, n: u64, bytes: u64) {
            let Some(meter) = self.by_sink(pad) else {
                return;
            };
            meter.buffers_in.fetch_add(n, Ordering::Relaxed);
            meter.bytes_in.fetch_add(bytes, Ordering::Relaxed);
            OPEN.with(|o| {
                let mut o = o.borrow_mut();
                if o.is_none() {
                    let allocs0 = alloc_counter::thread_allocations();
                    *o = Some(Open {
                        meter,
                        cpu0: 0,
                        allocs0,
                        push_cpu0: 0,
                        push_allocs0: 0,
                        excluded_cpu: 0,
                        excluded_allocs: 0,
                        pushes: 0,
                    });
                    // Last thing before the element runs.
                    if let Some(open) = o.as_mut() {
                        open.cpu0 = thread_cpu_ns();
                    }
                }
            });
        }
        fn chain_post(&self, pad: &gst::Pad) {
            // First thing after the element returns.
            let cpu1 = thread_cpu_ns();
            let allocs1 = alloc_counter::thread_allocations();
            let p = pad.as_ptr() as usize;
            OPEN.with(|o| {
                let mut o = o.borrow_mut();
                if o.as_ref().is_some_and(|open| open.meter.sink == p) {
                    let open = o.take().expect("checked above");
                    let m = &open.meter;
                    let cpu = (cpu1 - open.cpu0).saturating_sub(open.excluded_cpu);
                    let allocs = (allocs1 - open.allocs0).saturating_sub(open.excluded_allocs);
                    m.cpu_ns.fetch_add(cpu, Ordering::Relaxed);
                    m.allocs.fetch_add(allocs, Ordering::Relaxed);
                    m.clock_pairs.fetch_add(1 + open.pushes, Ordering::Relaxed);
                }
            });
        }
        fn push_pre(&self, pad: &gst::Pad, n: u64) {
            // First thing when the element hands data downstream.
            let cpu = thread_cpu_ns();
            let allocs = alloc_counter::thread_allocations();
            let Some(meter) = self.by_src(pad) else {
                return;
            };
            meter.buffers_out.fetch_add(n, Ordering::Relaxed);
            OPEN.with(|o| {
                if let Some(open) = o.borrow_mut().as_mut() {
                    if Arc::ptr_eq(&open.meter, &meter) {
                        open.push_cpu0 = cpu;
                        open.push_allocs0 = allocs;
                    }
                }
            });
        }
        fn push_post(&self, pad: &gst::Pad) {
            let p = pad.as_ptr() as usize;
            OPEN.with(|o| {
                if let Some(open) = o.borrow_mut().as_mut() {
                    if open.meter.src == p {
                        open.excluded_allocs +=
                            alloc_counter::thread_allocations() - open.push_allocs0;
                        open.pushes += 1;
                        // Last thing before the element continues.
                        open.excluded_cpu += thread_cpu_ns() - open.push_cpu0;
                    }
                }
            });
        }
    }

    impl TracerImpl for ElementMeterTracer {
        fn pad_chain_pre(&self, _ts: u64, pad: &gst::Pad, buffer: &gst::Buffer) {
            self.chain_pre(pad, 1, buffer.size() as u64);
        }
        fn pad_chain_list_pre(&self, _ts: u64, pad: &gst::Pad, list: &gst::BufferList) {
            let bytes = list.iter().map(|b| b.size() as u64).sum();
            self.chain_pre(pad, list.len() as u64, bytes);
        }
        fn pad_chain_post(
            &self,
            _ts: u64,
            pad: &gst::Pad,
            _r: Result<gst::FlowSuccess, gst::FlowError>,
        ) {
            self.chain_post(pad);
        }
        fn pad_chain_list_post(
            &self,
            _ts: u64,
            pad: &gst::Pad,
            _r: Result<gst::FlowSuccess, gst::FlowError>,
        ) {
            self.chain_post(pad);
        }
        fn pad_push_pre(&self, _ts: u64, pad: &gst::Pad, _buffer: &gst::Buffer) {
            self.push_pre(pad, 1);
        }
        fn pad_push_list_pre(&self, _ts: u64, pad: &gst::Pad, list: &gst::BufferList) {
            self.push_pre(pad, list.len() as u64);
        }
        fn pad_push_post(
            &self,
            _ts: u64,
            pad: &gst::Pad,
            _r: Result<gst::FlowSuccess, gst::FlowError>,
        ) {
            self.push_post(pad);
        }
        fn pad_push_list_post(
            &self,
            _ts: u64,
            pad: &gst::Pad,
            _r: Result<gst::FlowSuccess, gst::FlowError>,
        ) {
            self.push_post(pad);
        }
    }
}

gst::glib::wrapper! {
    pub struct ElementMeterTracerObj(ObjectSubclass<tracer::ElementMeterTracer>)
        @extends gst::Tracer, gst::Object;
}

/// What "frames" means for a format.
#[derive(Clone, Copy)]
enum Unit {
    /// Encoded frames: buffers into the payloader, buffers out of the decoder.
    Buffers,
    /// Raw audio frames (one sample per channel) of this many bytes.
    AudioFrames(u64),
}

/// One format of the demo: pipelines with `{pay}`, `{depay}` and `{port}`
/// placeholders.
struct Format {
    title: String,
    unit: Unit,
    stock: (&'static str, &'static str),
    ours: (&'static str, &'static str),
    sender: String,
    receiver: String,
}

fn formats(args: &Args) -> Result<Vec<Format>, String> {
    let mut v = Vec::new();
    for f in &args.formats {
        match f.trim().to_ascii_lowercase().as_str() {
            "h264" => v.push(Format {
                title: format!(
                    "H.264 1280x720 zone-plate x264enc (constant quantizer: the same bytes every run), {} frames",
                    args.frames
                ),
                unit: Unit::Buffers,
                stock: ("rtph264pay", "rtph264depay"),
                ours: ("rtpfasth264pay", "rtpfasth264depay"),
                sender: format!(
                    "videotestsrc num-buffers={} pattern=zone-plate kx2=20 ky2=20 kt=1 \
                     ! video/x-raw,width=1280,height=720,framerate=30/1 \
                     ! x264enc tune=zerolatency speed-preset=ultrafast pass=quant quantizer=35 key-int-max=30 \
                     ! video/x-h264,stream-format=byte-stream,alignment=au \
                     ! {{pay}} name=pay config-interval=1 pt=96 mtu=1400 \
                     ! udpsink host=127.0.0.1 port={{port}} sync=false async=false",
                    args.frames
                ),
                receiver: "udpsrc address=127.0.0.1 port={port} buffer-size=4194304 \
                     caps=\"application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload=96\" \
                     ! {depay} name=depay ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=0 \
                     ! avdec_h264 ! fakesink name=sink sync=false"
                    .into(),
            }),
            "opus" => v.push(Format {
                title: format!("Opus 48 kHz stereo opusenc, {} frames of 20 ms", args.audio_frames),
                unit: Unit::Buffers,
                stock: ("rtpopuspay", "rtpopusdepay"),
                ours: ("rtpfastopuspay", "rtpfastopusdepay"),
                sender: format!(
                    "audiotestsrc num-buffers={} samplesperbuffer=960 wave=sine \
                     ! audio/x-raw,rate=48000,channels=2 ! opusenc frame-size=20 \
                     ! {{pay}} name=pay pt=96 \
                     ! udpsink host=127.0.0.1 port={{port}} sync=false async=false",
                    args.audio_frames
                ),
                receiver: "udpsrc address=127.0.0.1 port={port} buffer-size=4194304 \
                     caps=\"application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload=96\" \
                     ! {depay} name=depay ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=0 \
                     ! opusdec ! fakesink name=sink sync=false"
                    .into(),
            }),
            "l16" => v.push(Format {
                title: format!(
                    "L16 48 kHz stereo, {} buffers of 20 ms (frames: audio frames, one sample per channel)",
                    args.audio_frames
                ),
                unit: Unit::AudioFrames(4),
                stock: ("rtpL16pay", "rtpL16depay"),
                ours: ("rtpfastL16pay", "rtpfastL16depay"),
                sender: format!(
                    "audiotestsrc num-buffers={} samplesperbuffer=960 wave=sine \
                     ! audio/x-raw,format=S16BE,layout=interleaved,rate=48000,channels=2 \
                     ! {{pay}} name=pay pt=96 \
                     ! udpsink host=127.0.0.1 port={{port}} sync=false async=false",
                    args.audio_frames
                ),
                receiver: "udpsrc address=127.0.0.1 port={port} buffer-size=4194304 \
                     caps=\"application/x-rtp,media=audio,encoding-name=L16,clock-rate=48000,channels=2,payload=96\" \
                     ! {depay} name=depay ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=0 \
                     ! audioconvert ! fakesink name=sink sync=false"
                    .into(),
            }),
            other => return Err(format!("unknown format {other:?} (h264, opus, l16)")),
        }
    }
    Ok(v)
}

/// What one loopback run measured.
struct RunResult {
    frames_sent: u64,
    frames_decoded: u64,
    packets_sent: u64,
    packets_received: u64,
    pay_ns: f64,
    depay_ns: f64,
    pay_allocs: f64,
    depay_allocs: f64,
    wall: Duration,
}

fn free_udp_port() -> Result<u16, String> {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(s.local_addr().map_err(|e| e.to_string())?.port())
}

fn launch(desc: &str) -> Result<gst::Pipeline, String> {
    gst::parse::launch(desc)
        .map_err(|e| format!("{e}: {desc}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_string())
}

fn wait_eos(p: &gst::Pipeline, who: &str, timeout: gst::ClockTime) -> Result<(), String> {
    let bus = p.bus().expect("pipeline has a bus");
    for msg in bus.iter_timed(timeout) {
        match msg.view() {
            gst::MessageView::Eos(..) => return Ok(()),
            gst::MessageView::Error(e) => {
                return Err(format!("{who}: {} ({:?})", e.error(), e.debug()))
            }
            _ => {}
        }
    }
    Err(format!("{who}: no EOS within {timeout}"))
}

fn run_once(
    tracer: &ElementMeterTracerObj,
    f: &Format,
    (pay, depay): (&str, &str),
    clock_cost: u64,
) -> Result<RunResult, String> {
    let port = free_udp_port()?.to_string();
    let fill = |s: &str| {
        s.replace("{pay}", pay)
            .replace("{depay}", depay)
            .replace("{port}", &port)
    };
    let receiver = launch(&fill(&f.receiver))?;
    let sender = launch(&fill(&f.sender))?;
    let pay_el = sender.by_name("pay").expect("named pay");
    let depay_el = receiver.by_name("depay").expect("named depay");
    let pay_m = Meter::for_element(&pay_el);
    let depay_m = Meter::for_element(&depay_el);
    {
        let mut m = tracer.imp().meters.write().unwrap();
        m.clear();
        m.push(pay_m.clone());
        m.push(depay_m.clone());
    }

    let decoded = Arc::new(AtomicU64::new(0));
    let decoded_bytes = Arc::new(AtomicU64::new(0));
    let (counter, byte_counter) = (decoded.clone(), decoded_bytes.clone());
    receiver
        .by_name("sink")
        .expect("named sink")
        .static_pad("sink")
        .expect("sink pad")
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            counter.fetch_add(1, Ordering::Relaxed);
            if let Some(b) = info.buffer() {
                byte_counter.fetch_add(b.size() as u64, Ordering::Relaxed);
            }
            gst::PadProbeReturn::Ok
        });
    // Flow control, upstream of the payloader (outside its bracket): before
    // each frame, wait until the receiver took every packet sent so far.
    let (pm, dm) = (pay_m.clone(), depay_m.clone());
    pay_el
        .static_pad("sink")
        .and_then(|p| p.peer())
        .expect("payloader linked")
        .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
            let until = Instant::now() + Duration::from_secs(2);
            while Meter::get(&dm.buffers_in) < Meter::get(&pm.buffers_out) && Instant::now() < until
            {
                std::thread::sleep(Duration::from_micros(50));
            }
            gst::PadProbeReturn::Ok
        });

    receiver
        .set_state(gst::State::Playing)
        .map_err(|e| format!("receiver: {e}"))?;
    let start = Instant::now();
    sender
        .set_state(gst::State::Playing)
        .map_err(|e| format!("sender: {e}"))?;
    let sent = wait_eos(&sender, "sender", gst::ClockTime::from_seconds(60));
    // Let the receiver take the last packets, then drain it (the decoder may
    // hold frames until EOS).
    let until = Instant::now() + Duration::from_secs(2);
    while Meter::get(&depay_m.buffers_in) < Meter::get(&pay_m.buffers_out) && Instant::now() < until
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    receiver.send_event(gst::event::Eos::new());
    let received = wait_eos(&receiver, "receiver", gst::ClockTime::from_seconds(10));
    let wall = start.elapsed();
    let _ = sender.set_state(gst::State::Null);
    let _ = receiver.set_state(gst::State::Null);
    tracer.imp().meters.write().unwrap().clear();
    sent?;
    received?;

    let per = |m: &Meter, total: &AtomicU64, per: u64, clock: bool| {
        let mut v = Meter::get(total) as f64;
        if clock {
            v -= (Meter::get(&m.clock_pairs) * clock_cost) as f64;
        }
        v.max(0.0) / per.max(1) as f64
    };
    let packets_sent = Meter::get(&pay_m.buffers_out);
    let packets_received = Meter::get(&depay_m.buffers_in);
    let (frames_sent, frames_decoded) = match f.unit {
        Unit::Buffers => (
            Meter::get(&pay_m.buffers_in),
            decoded.load(Ordering::Relaxed),
        ),
        Unit::AudioFrames(size) => (
            Meter::get(&pay_m.bytes_in) / size,
            decoded_bytes.load(Ordering::Relaxed) / size,
        ),
    };
    Ok(RunResult {
        frames_sent,
        frames_decoded,
        packets_sent,
        packets_received,
        pay_ns: per(&pay_m, &pay_m.cpu_ns, packets_sent, true),
        depay_ns: per(&depay_m, &depay_m.cpu_ns, packets_received, true),
        pay_allocs: per(&pay_m, &pay_m.allocs, packets_sent, false),
        depay_allocs: per(&depay_m, &depay_m.allocs, packets_received, false),
        wall,
    })
}

/// Each figure's median over the runs (counts from the first run: every
/// run is checked to agree on them).
fn median_run(runs: &[RunResult]) -> RunResult {
    let median = |get: fn(&RunResult) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(get).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let mut walls: Vec<Duration> = runs.iter().map(|r| r.wall).collect();
    walls.sort();
    let first = &runs[0];
    RunResult {
        frames_sent: first.frames_sent,
        frames_decoded: first.frames_decoded,
        packets_sent: first.packets_sent,
        packets_received: first.packets_received,
        pay_ns: median(|r| r.pay_ns),
        depay_ns: median(|r| r.depay_ns),
        pay_allocs: median(|r| r.pay_allocs),
        depay_allocs: median(|r| r.depay_allocs),
        wall: walls[walls.len() / 2],
    }
}

fn ratio(stock: f64, ours: f64) -> String {
    if ours > 0.0 {
        format!("{:.2}x", stock / ours)
    } else if stock > 0.0 {
        "ours 0".into()
    } else {
        "both 0".into()
    }
}

fn same(a: u64, b: u64) -> &'static str {
    if a == b {
        "same"
    } else {
        "DIFFER"
    }
}

/// Print one format's table; false if stock and ours disagree on frames.
fn print_table(f: &Format, stock: &RunResult, ours: &RunResult) -> bool {
    let sname = format!(
        "stock {}/{}",
        f.stock.0,
        f.stock.1.trim_start_matches("rtp")
    );
    let oname = format!(
        "ours {}/{}",
        f.ours.0,
        f.ours.1.trim_start_matches("rtpfast")
    );
    println!("{}", f.title);
    println!(
        "  {:<22} {:>26} {:>30} {:>11}",
        "", sname, oname, "stock/ours"
    );
    let row_n = |label: &str, a: u64, b: u64, r: String| {
        println!("  {label:<22} {a:>26} {b:>30} {r:>11}");
    };
    let row_f = |label: &str, a: f64, b: f64, prec: usize| {
        println!(
            "  {label:<22} {a:>26.prec$} {b:>30.prec$} {:>11}",
            ratio(a, b)
        );
    };
    row_n(
        "frames sent",
        stock.frames_sent,
        ours.frames_sent,
        same(stock.frames_sent, ours.frames_sent).into(),
    );
    row_n(
        "frames decoded",
        stock.frames_decoded,
        ours.frames_decoded,
        same(stock.frames_decoded, ours.frames_decoded).into(),
    );
    row_n(
        "RTP packets sent",
        stock.packets_sent,
        ours.packets_sent,
        same(stock.packets_sent, ours.packets_sent).into(),
    );
    row_n(
        "RTP packets received",
        stock.packets_received,
        ours.packets_received,
        same(stock.packets_received, ours.packets_received).into(),
    );
    row_f("pay CPU ns/packet", stock.pay_ns, ours.pay_ns, 0);
    row_f("depay CPU ns/packet", stock.depay_ns, ours.depay_ns, 0);
    row_f("pay allocs/packet", stock.pay_allocs, ours.pay_allocs, 3);
    row_f(
        "depay allocs/packet",
        stock.depay_allocs,
        ours.depay_allocs,
        3,
    );
    println!(
        "  {:<22} {:>26} {:>30}",
        "run time",
        format!("{:.2?}", stock.wall),
        format!("{:.2?}", ours.wall)
    );
    stock.frames_sent == ours.frames_sent && stock.frames_decoded == ours.frames_decoded
}

/// GLib reads G_SLICE in a library constructor, before main: start again
/// with it in the environment so GstBuffer/GstMemory allocations reach malloc
/// and are counted.
fn ensure_g_slice() {
    const GUARD: &str = "RSRTPFAST_LOOPBACK_REEXEC";
    if std::env::var("G_SLICE").as_deref() == Ok("always-malloc")
        || std::env::var_os(GUARD).is_some()
    {
        return;
    }
    use std::os::unix::process::CommandExt;
    if let Ok(exe) = std::env::current_exe() {
        let err = std::process::Command::new(exe)
            .args(std::env::args_os().skip(1))
            .env("G_SLICE", "always-malloc")
            .env(GUARD, "1")
            .exec();
        eprintln!("loopback: re-exec with G_SLICE=always-malloc failed: {err}");
    }
}

fn main() {
    ensure_g_slice();
    std::process::exit(run_cli(std::env::args_os()));
}

/// Parse `argv` (program name first) and run the demo; the exit code: 0 ok,
/// 1 stock and ours disagree on frames, 2 usage or pipeline error.
pub fn run_cli<I, T>(argv: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args = match Args::try_parse_from(argv) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    match run(&args) {
        Ok(true) => 0,
        Ok(false) => {
            eprintln!("loopback: stock and ours disagree on frames sent/decoded");
            1
        }
        Err(e) => {
            eprintln!("loopback: {e}");
            2
        }
    }
}

fn run(args: &Args) -> Result<bool, String> {
    gst::init().map_err(|e| e.to_string())?;
    gstrsrtpfast::plugin_register_static().map_err(|e| e.to_string())?;
    let formats = formats(args)?;
    let tracer: ElementMeterTracerObj = gst::glib::Object::new();
    let clock_cost = clock_read_cost_ns();
    let counting = alloc_counter::is_active();
    println!(
        "rsrtpfast loopback demo: sender -> RTP over UDP 127.0.0.1 -> receiver, stock vs ours ({})",
        gst::version_string()
    );
    println!(
        "  CPU: thread CPU time inside the element's chain calls, downstream excluded, per RTP packet; \
         clock read cost {clock_cost} ns per bracket subtracted"
    );
    println!(
        "  heap allocations: malloc interposer, per thread{}, G_SLICE={}",
        if counting { "" } else { " (NOT ACTIVE)" },
        std::env::var("G_SLICE").unwrap_or_else(|_| "unset".into())
    );
    let mut all_same = true;
    for f in &formats {
        println!();
        let (mut stock_runs, mut ours_runs) = (Vec::new(), Vec::new());
        for round in 0..args.rounds {
            if round % 2 == 0 {
                stock_runs.push(run_once(&tracer, f, f.stock, clock_cost)?);
                ours_runs.push(run_once(&tracer, f, f.ours, clock_cost)?);
            } else {
                ours_runs.push(run_once(&tracer, f, f.ours, clock_cost)?);
                stock_runs.push(run_once(&tracer, f, f.stock, clock_cost)?);
            }
        }
        let (stock, ours) = (median_run(&stock_runs), median_run(&ours_runs));
        all_same &= print_table(f, &stock, &ours);
        // Every round must agree on what was sent and decoded.
        all_same &= stock_runs.iter().chain(&ours_runs).all(|r| {
            r.frames_decoded == stock.frames_decoded && r.frames_sent == stock.frames_sent
        });
        if args.rounds > 1 {
            let spread = |runs: &[RunResult], get: fn(&RunResult) -> f64| {
                let v: Vec<f64> = runs.iter().map(get).collect();
                let min = v.iter().cloned().fold(f64::INFINITY, f64::min);
                let max = v.iter().cloned().fold(0.0, f64::max);
                format!("{min:.0}-{max:.0}")
            };
            println!(
                "  {} rounds, CPU ns/packet min-max: pay stock {} ours {}; depay stock {} ours {}",
                args.rounds,
                spread(&stock_runs, |r| r.pay_ns),
                spread(&ours_runs, |r| r.pay_ns),
                spread(&stock_runs, |r| r.depay_ns),
                spread(&ours_runs, |r| r.depay_ns),
            );
        }
    }
    Ok(all_same)
}
