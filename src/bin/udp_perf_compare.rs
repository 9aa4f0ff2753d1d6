//! `udp_perf_compare`: the whole packet path over loopback, stock against
//! ours, in whole-process CPU per packet (issue 22).
//!
//! ```text
//! cargo run --release --bin udp_perf_compare -- --formats vraw,mp2t,h264
//! ```
//!
//! * **Receive**: this process sends RTP (made by the stock payloader from
//!   the cached test media of `rtp_perf_compare`) at the format's real rate,
//!   paced in 1 ms slots, to a child process running
//!   `udpsrc ! rtpvrawdepay ! fakesink` or
//!   `rtpfastudpsrc ! rtpfastvrawdepay ! fakesink`. The child reports
//!   `getrusage(RUSAGE_SELF)` user and sys time from its first packet to its
//!   last, its heap allocations over the same span, and how many packets it
//!   got: loss is what the sender sent and it did not count.
//! * **Send**: a child process runs `appsrc ! rtpvrawpay ! udpsink` or
//!   `appsrc ! rtpfastvrawpay ! rtpfastudpsink` in real time (sink
//!   `sync=true`), and reports the same figures from its first input buffer
//!   to EOS; this process drains and counts the datagrams.
//!
//! Each side is its own process, so each is measured alone, syscalls
//! included (the performance model in DESIGN.md: I/O work is judged on
//! whole-process CPU). Over loopback the kernel's delivery work (the
//! receiver's softirq) mostly runs in the *sender's* context, so a receive
//! figure is the receiving process's own work: its syscalls, copies and
//! userspace.

#[path = "../alloc_counter.rs"]
mod alloc_counter;
// Shared with rtp_perf_compare; this tool uses part of them.
#[allow(dead_code)]
#[path = "rtp_perf_compare/instr.rs"]
mod instr;
#[allow(dead_code)]
#[path = "rtp_perf_compare/media.rs"]
mod media;
#[allow(dead_code)]
#[path = "rtp_perf_compare/rig.rs"]
mod rig;

use clap::Parser;
use gst::prelude::*;
use media::{Media, MediaKind};
use std::io::{BufRead, Write};
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser, Debug, Clone)]
#[command(about = "Stock vs rsrtpfast UDP send/receive pipelines: whole-process CPU per packet")]
struct Opts {
    /// Formats: vraw (1080p60 UYVP), mp2t (7x188-byte payloads), h264 (1080p30).
    #[arg(long, value_delimiter = ',', default_value = "vraw,mp2t,h264")]
    formats: Vec<String>,
    /// Directions: recv, send.
    #[arg(long, value_delimiter = ',', default_value = "recv,send")]
    directions: Vec<String>,
    /// Seconds of traffic per measurement.
    #[arg(long, default_value_t = 4.0)]
    seconds: f64,
    /// Multiply each format's real rate by this.
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Receive: the sender uses UDP GSO (a NIC with GRO delivers the same
    /// runs); off sends one datagram per message.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    sender_gso: bool,
    /// Receive: also find the highest rate (x real rate, in steps) each
    /// pipeline takes without loss.
    #[arg(long)]
    find_max: bool,
    /// Which pipelines: stock, ours.
    #[arg(long, value_delimiter = ',', default_value = "stock,ours")]
    impls: Vec<String>,
    /// Receive: also count the receiving process's userspace instructions
    /// per packet under valgrind callgrind, at `--instr-rate` packets/s
    /// (runs with N and 2N packets; the difference over N, so start-up
    /// cancels).
    #[arg(long)]
    instructions: bool,
    #[arg(long, default_value_t = 2000.0)]
    instr_rate: f64,
    #[arg(long, default_value_t = 4000)]
    instr_packets: u64,
    /// Write the results as JSON here.
    #[arg(long)]
    json: Option<String>,
    /// Internal: run as the measured child ("recv" or "send").
    #[arg(long, hide = true)]
    child: Option<String>,
    #[arg(long, hide = true, default_value = "")]
    pipeline: String,
    #[arg(long, hide = true, default_value_t = 0)]
    frames: u64,
    #[arg(long, hide = true, default_value_t = 0)]
    fps: u64,
}

/// One format under test.
struct Format {
    name: &'static str,
    kind: MediaKind,
    stock_pay: &'static str,
    fast_pay: &'static str,
    stock_depay: &'static str,
    fast_depay: &'static str,
    /// Real rate: frames (payloader input buffers) per second.
    fps: u64,
    /// Receive side: packets per second at the real rate (None: from the
    /// media, `packets per frame x fps`).
    packets_per_sec: Option<f64>,
}

const FORMATS: &[Format] = &[
    Format {
        name: "vraw",
        kind: MediaKind::Vraw,
        stock_pay: "rtpvrawpay",
        fast_pay: "rtpfastvrawpay",
        stock_depay: "rtpvrawdepay",
        fast_depay: "rtpfastvrawdepay",
        fps: 60,
        packets_per_sec: None,
    },
    Format {
        name: "mp2t",
        kind: MediaKind::Mp2t,
        stock_pay: "rtpmp2tpay",
        fast_pay: "rtpfastmp2tpay",
        stock_depay: "rtpmp2tdepay",
        fast_depay: "rtpfastmp2tdepay",
        // 40 Mbit/s of 1,316-byte payloads (7 TS packets).
        fps: 0,
        packets_per_sec: Some(40e6 / 8.0 / 1316.0),
    },
    Format {
        name: "h264",
        kind: MediaKind::H264,
        stock_pay: "rtph264pay",
        fast_pay: "rtpfasth264pay",
        stock_depay: "rtph264depay",
        fast_depay: "rtpfasth264depay",
        fps: 30,
        packets_per_sec: None,
    },
];

/// What a child measured.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
struct ChildResult {
    packets: u64,
    frames: u64,
    user_us: f64,
    sys_us: f64,
    wall_s: f64,
    allocs: u64,
}

fn rusage_us() -> (f64, f64) {
    // SAFETY: getrusage writes only into the zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid `who` constant and a valid, writable pointer.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(rc, 0, "getrusage failed");
    let us = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    (us(ru.ru_utime), us(ru.ru_stime))
}

#[derive(Clone, Copy)]
struct Snapshot {
    user_us: f64,
    sys_us: f64,
    allocs: u64,
    at: Instant,
}

fn snapshot() -> Snapshot {
    let (user_us, sys_us) = rusage_us();
    Snapshot {
        user_us,
        sys_us,
        allocs: alloc_counter::allocations(),
        at: Instant::now(),
    }
}

fn result_between(a: Snapshot, b: Snapshot, packets: u64, frames: u64) -> ChildResult {
    ChildResult {
        packets,
        frames,
        user_us: b.user_us - a.user_us,
        sys_us: b.sys_us - a.sys_us,
        wall_s: b.at.duration_since(a.at).as_secs_f64(),
        allocs: b.allocs - a.allocs,
    }
}

fn count_probe(pad: &gst::Pad, count: Arc<AtomicU64>, first: Option<Arc<Mutex<Option<Snapshot>>>>) {
    pad.add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
        move |_, info| {
            let n = match &info.data {
                Some(gst::PadProbeData::Buffer(_)) => 1,
                Some(gst::PadProbeData::BufferList(l)) => l.len() as u64,
                _ => 0,
            };
            if count.fetch_add(n, Ordering::Relaxed) == 0 {
                if let Some(first) = &first {
                    first.lock().unwrap().get_or_insert_with(snapshot);
                }
            }
            gst::PadProbeReturn::Ok
        },
    );
}

fn launch(desc: &str) -> Result<gst::Pipeline, String> {
    gst::parse::launch(desc)
        .map_err(|e| format!("{desc}: {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_string())
}

/// The measured receiver: `--pipeline` with elements named `depay` and
/// `sink`. Prints `READY`, then counts until a line on stdin, then waits
/// for the count to settle and prints `RESULT <json>`.
fn child_recv(opts: &Opts) -> Result<(), String> {
    let pipeline = launch(&opts.pipeline)?;
    let depay = pipeline.by_name("depay").ok_or("no element named depay")?;
    let sink = pipeline.by_name("sink").ok_or("no element named sink")?;
    let packets = Arc::new(AtomicU64::new(0));
    let frames = Arc::new(AtomicU64::new(0));
    let first = Arc::new(Mutex::new(None));
    count_probe(
        &depay.static_pad("sink").unwrap(),
        packets.clone(),
        Some(first.clone()),
    );
    count_probe(&sink.static_pad("sink").unwrap(), frames.clone(), None);
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("PLAYING: {e}"))?;
    let _ = pipeline.state(gst::ClockTime::from_seconds(5));
    println!("READY");
    std::io::stdout().flush().ok();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).ok();
    // The backlog drains: wait until the count stops moving (bounded).
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = packets.load(Ordering::Relaxed);
    let mut end = snapshot();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(150));
        let now = packets.load(Ordering::Relaxed);
        if now == last {
            break;
        }
        last = now;
        end = snapshot();
    }
    if let Some(msg) = pipeline
        .bus()
        .and_then(|b| b.pop_filtered(&[gst::MessageType::Error]))
    {
        return Err(format!("{msg:?}"));
    }
    let start = first.lock().unwrap().ok_or("no packet arrived")?;
    let r = result_between(
        start,
        end,
        packets.load(Ordering::Relaxed),
        frames.load(Ordering::Relaxed),
    );
    let _ = pipeline.set_state(gst::State::Null);
    println!("RESULT {}", serde_json::to_string(&r).unwrap());
    Ok(())
}

/// The measured sender: `--pipeline` starting with `appsrc name=src`; pushes
/// `--frames` buffers of the media in real time and reports from the first
/// push to EOS.
fn child_send(opts: &Opts, format: &Format) -> Result<(), String> {
    let media = media::load_or_generate(format.kind, &media::default_cache_dir())?;
    let pipeline = launch(&opts.pipeline)?;
    let src = pipeline.by_name("src").ok_or("no element named src")?;
    let pay = pipeline.by_name("pay").ok_or("no element named pay")?;
    let packets = Arc::new(AtomicU64::new(0));
    count_probe(&pay.static_pad("src").unwrap(), packets.clone(), None);
    let mut caps = media.caps.clone();
    if format.kind == MediaKind::Vraw {
        caps.make_mut()
            .set("framerate", gst::Fraction::new(opts.fps as i32, 1));
    }
    // appsrc through its properties and action signals (gstreamer-app is
    // only a dev-dependency): live, in time, blocking when one buffer is queued.
    src.set_property("caps", &caps);
    src.set_property_from_str("format", "time");
    src.set_property("is-live", true);
    src.set_property("block", true);
    src.set_property("max-bytes", 1u64);
    // Input units: frames for video; for MPEG-TS, 16 packets' worth of TS
    // per buffer (one 1,316-byte buffer each would measure appsrc).
    let units: Vec<gst::Buffer> = if format.kind == MediaKind::Mp2t {
        let all: Vec<u8> = media.frames.iter().flat_map(|f| f.data.clone()).collect();
        all.chunks(1316 * 16)
            .filter(|c| c.len() % 188 == 0)
            .map(|c| gst::Buffer::from_slice(c.to_vec()))
            .collect()
    } else {
        media
            .frames
            .iter()
            .map(|f| {
                let mut b = gst::Buffer::from_slice(f.data.clone());
                if f.delta {
                    b.get_mut().unwrap().set_flags(gst::BufferFlags::DELTA_UNIT);
                }
                b
            })
            .collect()
    };
    let unit_dur = gst::ClockTime::SECOND / opts.fps.max(1);
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("PLAYING: {e}"))?;
    let start = snapshot();
    for i in 0..opts.frames {
        // A shallow copy: new metadata, the same memory.
        let mut b = units[(i as usize) % units.len()].copy();
        {
            let b = b.get_mut().unwrap();
            b.set_pts(unit_dur * i);
            b.set_dts(unit_dur * i);
            b.set_duration(unit_dur);
        }
        if src.emit_by_name::<gst::FlowReturn>("push-buffer", &[&b]) != gst::FlowReturn::Ok {
            return Err("push refused".into());
        }
    }
    let _ = src.emit_by_name::<gst::FlowReturn>("end-of-stream", &[]);
    let bus = pipeline.bus().unwrap();
    let timeout = gst::ClockTime::from_seconds(opts.frames / opts.fps.max(1) + 20);
    match bus.timed_pop_filtered(timeout, &[gst::MessageType::Eos, gst::MessageType::Error]) {
        Some(m) if m.type_() == gst::MessageType::Eos => {}
        other => return Err(format!("no EOS: {other:?}")),
    }
    let end = snapshot();
    let r = result_between(start, end, packets.load(Ordering::Relaxed), opts.frames);
    let _ = pipeline.set_state(gst::State::Null);
    println!("RESULT {}", serde_json::to_string(&r).unwrap());
    Ok(())
}

fn spawn_child(
    role: &str,
    format: &Format,
    pipeline: &str,
    frames: u64,
    fps: u64,
) -> std::process::Child {
    spawn_child_under(None, role, format, pipeline, frames, fps)
}

/// The child, optionally under callgrind writing its profile to `callgrind`.
fn spawn_child_under(
    callgrind: Option<&std::path::Path>,
    role: &str,
    format: &Format,
    pipeline: &str,
    frames: u64,
    fps: u64,
) -> std::process::Child {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = match callgrind {
        Some(out) => {
            let mut c = Command::new("valgrind");
            c.arg("--tool=callgrind")
                .arg(format!("--callgrind-out-file={}", out.display()))
                .arg("--quiet")
                .arg(&exe);
            c
        }
        None => Command::new(&exe),
    };
    cmd.args([
        "--child",
        role,
        "--formats",
        format.name,
        "--pipeline",
        pipeline,
        "--frames",
        &frames.to_string(),
        "--fps",
        &fps.to_string(),
    ])
    // From the start (GLib reads it once, early): every slice
    // allocation a malloc the counter sees.
    .env("G_SLICE", "always-malloc")
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .spawn()
    .expect("spawn child")
}

fn read_line_with(child: &mut std::process::Child, prefix: &str) -> Result<String, String> {
    let out = child.stdout.as_mut().unwrap();
    let mut reader = std::io::BufReader::new(out);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Err(format!("child ended before {prefix}"));
        }
        if let Some(rest) = line.strip_prefix(prefix) {
            return Ok(rest.trim().to_string());
        }
    }
}

/// RTP packets of one pass over the media, and the RTP-time span of it.
struct Packets {
    caps: gst::Caps,
    packets: Vec<Vec<u8>>,
    /// RTP clock ticks one pass covers (to keep timestamps rising on loops).
    span: u32,
    frames_per_pass: u64,
}

fn make_packets(format: &Format, media: &Media) -> Result<Packets, String> {
    let rig = rig::Rig::new(format.stock_pay, &[("mtu", 1400)], &media.caps, true)?;
    let unit = gst::ClockTime::SECOND.nseconds() / format.fps.max(30);
    for (i, f) in media.frames.iter().enumerate() {
        let mut b = gst::Buffer::from_slice(f.data.clone());
        {
            let b = b.get_mut().unwrap();
            // Vraw: the media's frames at this format's frame rate.
            let pts = if format.kind == MediaKind::Vraw {
                Some(i as u64 * unit)
            } else {
                f.pts
            };
            b.set_pts(pts.map(gst::ClockTime::from_nseconds));
            b.set_dts(f.dts.map(gst::ClockTime::from_nseconds));
            if f.delta {
                b.set_flags(gst::BufferFlags::DELTA_UNIT);
            }
        }
        rig.push(b)?;
    }
    rig.eos();
    let caps = rig.output_caps().ok_or("no caps")?;
    let packets: Vec<Vec<u8>> = rig
        .take_collected()
        .into_iter()
        .filter(|p| p.len() >= 12 && p[0] >> 6 == 2)
        .collect();
    let ts = |p: &Vec<u8>| u32::from_be_bytes([p[4], p[5], p[6], p[7]]);
    let first = ts(packets.first().ok_or("no packets")?);
    let last = ts(packets.last().unwrap());
    let mut distinct: Vec<u32> = packets.iter().map(ts).collect();
    distinct.dedup();
    let step = last.wrapping_sub(first) / (distinct.len() as u32 - 1).max(1);
    Ok(Packets {
        caps,
        packets,
        span: last.wrapping_sub(first).wrapping_add(step),
        frames_per_pass: distinct.len() as u64,
    })
}

/// Send `total` packets to 127.0.0.1:`port` at `rate` packets/s in 1 ms
/// slots, with the plugin's own batched sender (`io::send`: one sendmmsg a
/// slot, equal-size runs as one UDP GSO message, or one datagram a message
/// with `gso` off). Returns the datagrams the kernel took.
fn send_paced(port: u16, p: &Packets, total: u64, rate: f64, gso: bool) -> Result<u64, String> {
    use std::os::fd::AsRawFd;
    let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let mut sender = gstrsrtpfast::io::send::Sender::new();
    sender.set_gso(gso);
    let dest = sender.add_dest(std::net::SocketAddr::from(([127, 0, 0, 1], port)), 0);
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let started = Instant::now();
    let (mut due_sent, mut sent) = (0u64, 0u64);
    let mut seq: u16 = 0;
    let mut scratch: Vec<Vec<u8>> = Vec::new();
    while due_sent < total {
        let due = ((started.elapsed().as_secs_f64() * rate) as u64 + 1).min(total);
        if due <= due_sent {
            std::thread::sleep(Duration::from_micros(200));
            continue;
        }
        // This slot's packets, with continuing seqnums and timestamps.
        scratch.clear();
        for k in due_sent..due {
            let i = (k % p.packets.len() as u64) as usize;
            let pass = (k / p.packets.len() as u64) as u32;
            let mut d = p.packets[i].clone();
            d[2..4].copy_from_slice(&seq.to_be_bytes());
            let t = u32::from_be_bytes([d[4], d[5], d[6], d[7]])
                .wrapping_add(pass.wrapping_mul(p.span));
            d[4..8].copy_from_slice(&t.to_be_bytes());
            seq = seq.wrapping_add(1);
            scratch.push(d);
        }
        let mut batch = sender.batch();
        for d in &scratch {
            batch.push(dest, d);
        }
        sent += batch.send(&[sock.as_raw_fd()], &cancel).sent as u64;
        due_sent = due;
    }
    Ok(sent)
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

#[derive(Clone, Debug, serde::Serialize)]
struct Row {
    format: String,
    direction: String,
    implementation: String,
    pipeline: String,
    rate_pps: f64,
    sent: u64,
    received: u64,
    lost: u64,
    user_us_per_packet: f64,
    sys_us_per_packet: f64,
    cpu_us_per_packet: f64,
    allocs_per_packet: f64,
    frames: u64,
    /// Receive, with --instructions: userspace instructions per packet.
    instructions_per_packet: Option<f64>,
}

fn row(
    format: &Format,
    dir: &str,
    imp: &str,
    pipeline: &str,
    rate: f64,
    sent: u64,
    r: &ChildResult,
) -> Row {
    let n = r.packets.max(1) as f64;
    Row {
        format: format.name.into(),
        direction: dir.into(),
        implementation: imp.into(),
        pipeline: pipeline.into(),
        rate_pps: rate,
        sent,
        received: r.packets,
        lost: sent.saturating_sub(r.packets),
        user_us_per_packet: r.user_us / n,
        sys_us_per_packet: r.sys_us / n,
        cpu_us_per_packet: (r.user_us + r.sys_us) / n,
        allocs_per_packet: r.allocs as f64 / n,
        frames: r.frames,
        instructions_per_packet: None,
    }
}

fn recv_pipeline(format: &Format, imp: &str, port: u16, caps: &gst::Caps) -> String {
    let (src, depay) = if imp == "stock" {
        ("udpsrc", format.stock_depay)
    } else {
        ("rtpfastudpsrc", format.fast_depay)
    };
    // The largest socket buffer this machine allows an unprivileged
    // process (net.core.rmem_max), the same for both.
    format!(
        "{src} port={port} address=127.0.0.1 buffer-size=4194304 caps=\"{}\" ! {depay} name=depay ! fakesink name=sink sync=false async=false",
        caps.to_string().replace('"', "\\\"")
    )
}

fn measure_recv(
    opts: &Opts,
    format: &Format,
    p: &Packets,
    imp: &str,
    rate_scale: f64,
) -> Result<Row, String> {
    let pps = format
        .packets_per_sec
        .unwrap_or(p.packets.len() as f64 / p.frames_per_pass as f64 * format.fps as f64)
        * rate_scale;
    let port = free_port();
    let pipeline = recv_pipeline(format, imp, port, &p.caps);
    let mut child = spawn_child("recv", format, &pipeline, 0, 0);
    read_line_with(&mut child, "READY")?;

    let total = (pps * opts.seconds) as u64;
    let sent = send_paced(port, p, total, pps, opts.sender_gso)?;
    std::thread::sleep(Duration::from_millis(300));
    writeln!(child.stdin.as_mut().unwrap(), "STOP").ok();
    let res = read_line_with(&mut child, "RESULT ");
    let _ = child.wait();
    let r: ChildResult = serde_json::from_str(&res?).map_err(|e| e.to_string())?;
    Ok(row(format, "recv", imp, &pipeline, pps, sent, &r))
}

/// Userspace instructions per received packet of the receiving process
/// (callgrind), at `opts.instr_rate`: runs with N and 2N packets, the
/// difference over N (start-up, negotiation and shutdown cancel out).
fn instr_recv(opts: &Opts, format: &Format, p: &Packets, imp: &str) -> Result<f64, String> {
    let mut counts = Vec::new();
    for n in [opts.instr_packets, 2 * opts.instr_packets] {
        let port = free_port();
        let pipeline = recv_pipeline(format, imp, port, &p.caps);
        let out = std::env::temp_dir().join(format!(
            "udp_perf_compare.{}.{}.{imp}.{n}.callgrind",
            std::process::id(),
            format.name
        ));
        let mut child = spawn_child_under(Some(&out), "recv", format, &pipeline, 0, 0);
        read_line_with(&mut child, "READY")?;

        send_paced(port, p, n, opts.instr_rate, opts.sender_gso)?;
        std::thread::sleep(Duration::from_millis(1000));
        writeln!(child.stdin.as_mut().unwrap(), "STOP").ok();
        let res = read_line_with(&mut child, "RESULT ");
        let _ = child.wait();
        let r: ChildResult = serde_json::from_str(&res?).map_err(|e| e.to_string())?;
        if r.packets != n {
            return Err(format!(
                "under callgrind {imp} received {} of {n}: lower --instr-rate",
                r.packets
            ));
        }
        let text = std::fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        let _ = std::fs::remove_file(&out);
        counts.push(instr::parse_callgrind_total(&text).ok_or("no callgrind total")?);
    }
    Ok((counts[1] as f64 - counts[0] as f64) / opts.instr_packets as f64)
}

fn measure_send(opts: &Opts, format: &Format, imp: &str) -> Result<Row, String> {
    let port = free_port();
    let drain = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)
        .map_err(|e| e.to_string())?;
    // SO_RCVBUFFORCE where allowed (root), else the capped SO_RCVBUF.
    let _ = drain.set_recv_buffer_size(16 << 20);
    drain
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())
        .map_err(|e| e.to_string())?;
    let drain: UdpSocket = drain.into();
    drain
        .set_read_timeout(Some(Duration::from_millis(200)))
        .ok();
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let t = {
        let received = received.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !stop.load(Ordering::Relaxed) {
                if drain.recv(&mut buf).is_ok() {
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let (pay, sink) = if imp == "stock" {
        (format.stock_pay, "udpsink")
    } else {
        (format.fast_pay, "rtpfastudpsink")
    };
    let fps = if format.fps == 0 {
        // MPEG-TS: 16 x 1,316 bytes per input buffer at 40 Mbit/s.
        (40e6_f64 / 8.0 / (1316.0 * 16.0)).round() as u64
    } else {
        format.fps
    };
    let fps = ((fps as f64) * opts.rate).max(1.0) as u64;
    let frames = (fps as f64 * opts.seconds) as u64;
    let pipeline = format!(
        "appsrc name=src ! {pay} name=pay mtu=1400 ! {sink} host=127.0.0.1 port={port} sync=true"
    );
    let mut child = spawn_child("send", format, &pipeline, frames, fps);
    let res = read_line_with(&mut child, "RESULT ");
    let _ = child.wait();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let _ = t.join();
    let r: ChildResult = serde_json::from_str(&res?).map_err(|e| e.to_string())?;
    let mut row = row(
        format,
        "send",
        imp,
        &pipeline,
        r.packets as f64 / r.wall_s.max(1e-9),
        r.packets,
        &r,
    );
    row.received = received.load(Ordering::Relaxed);
    row.lost = r.packets.saturating_sub(row.received);
    Ok(row)
}

fn main() {
    let opts = Opts::parse();
    gst::init().expect("gst::init");
    gstrsrtpfast::plugin_register_static().expect("register rsrtpfast");
    if let Some(role) = opts.child.clone() {
        let format = FORMATS
            .iter()
            .find(|f| opts.formats.first().is_some_and(|n| n == f.name))
            .expect("child format");
        let r = match role.as_str() {
            "recv" => child_recv(&opts),
            _ => child_send(&opts, format),
        };
        if let Err(e) = r {
            eprintln!("udp_perf_compare child: {e}");
            std::process::exit(1);
        }
        return;
    }
    let mut rows = Vec::new();
    for name in &opts.formats {
        let Some(format) = FORMATS.iter().find(|f| f.name == name) else {
            eprintln!("unknown format {name}");
            std::process::exit(2);
        };
        if opts.directions.iter().any(|d| d == "recv") {
            let media = media::load_or_generate(format.kind, &media::default_cache_dir())
                .unwrap_or_else(|e| panic!("{}: {e}", format.name));
            let p = make_packets(format, &media).unwrap_or_else(|e| panic!("{e}"));
            for imp in &opts.impls {
                match measure_recv(&opts, format, &p, imp, opts.rate) {
                    Ok(mut r) => {
                        if opts.instructions {
                            match instr_recv(&opts, format, &p, imp) {
                                Ok(i) => r.instructions_per_packet = Some(i),
                                Err(e) => eprintln!("{} recv {imp} instructions: {e}", format.name),
                            }
                        }
                        print_row(&r);
                        rows.push(r);
                    }
                    Err(e) => eprintln!("{} recv {imp}: {e}", format.name),
                }
                if opts.find_max {
                    for step in [0.5, 1.0, 1.5, 2.0, 3.0, 4.0] {
                        match measure_recv(&opts, format, &p, imp, step) {
                            Ok(r) => {
                                let lost = r.lost;
                                print_row(&r);
                                rows.push(r);
                                if lost > 0 {
                                    break;
                                }
                            }
                            Err(e) => {
                                eprintln!("{} recv {imp} x{step}: {e}", format.name);
                                break;
                            }
                        }
                    }
                }
            }
        }
        if opts.directions.iter().any(|d| d == "send") {
            for imp in &opts.impls {
                match measure_send(&opts, format, imp) {
                    Ok(r) => {
                        print_row(&r);
                        rows.push(r);
                    }
                    Err(e) => eprintln!("{} send {imp}: {e}", format.name),
                }
            }
        }
    }
    print_ratios(&rows);
    if let Some(path) = &opts.json {
        std::fs::write(path, serde_json::to_string_pretty(&rows).unwrap()).expect("write json");
    }
}

fn print_row(r: &Row) {
    if let Some(i) = r.instructions_per_packet {
        println!(
            "{:5} {:4} {:5} userspace instructions/packet under callgrind: {:.0}",
            r.format, r.direction, r.implementation, i
        );
    }
    println!(
        "{:5} {:4} {:5} {:>9.0} pkt/s sent {:>8} got {:>8} lost {:>6}  user {:.3} + sys {:.3} = {:.3} us/pkt  allocs/pkt {:.2}",
        r.format,
        r.direction,
        r.implementation,
        r.rate_pps,
        r.sent,
        r.received,
        r.lost,
        r.user_us_per_packet,
        r.sys_us_per_packet,
        r.cpu_us_per_packet,
        r.allocs_per_packet
    );
}

fn print_ratios(rows: &[Row]) {
    println!("\n| format | direction | stock CPU us/pkt (user+sys) | ours | stock/ours | allocs/pkt stock / ours | lost stock / ours |");
    println!("|---|---|---|---|---|---|---|");
    for s in rows.iter().filter(|r| r.implementation == "stock") {
        let Some(o) = rows.iter().find(|r| {
            r.implementation == "ours"
                && r.format == s.format
                && r.direction == s.direction
                && (r.direction == "send" || (r.rate_pps - s.rate_pps).abs() < 1.0)
        }) else {
            continue;
        };
        println!(
            "| {} | {} @ {:.0} pkt/s | {:.3} ({:.3}+{:.3}) | {:.3} ({:.3}+{:.3}) | **{:.2}x** | {:.2} / {:.2} | {} / {} |",
            s.format,
            s.direction,
            s.rate_pps,
            s.cpu_us_per_packet,
            s.user_us_per_packet,
            s.sys_us_per_packet,
            o.cpu_us_per_packet,
            o.user_us_per_packet,
            o.sys_us_per_packet,
            s.cpu_us_per_packet / o.cpu_us_per_packet.max(1e-9),
            s.allocs_per_packet,
            o.allocs_per_packet,
            s.lost,
            o.lost
        );
    }
}
