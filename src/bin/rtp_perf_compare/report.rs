//! Output: text tables and the JSON document (`serde_json::json!`: the
//! document is built as a `Value`, nothing here formats JSON text by hand;
//! `readme.rs` reads it back with serde derive). The chart is `chart.rs`.

use crate::{Contender, PairResult, RatioCi, RunInfo, Status};
use serde_json::{json, Value};
use std::fmt::Write as _;

// ---------------------------------------------------------------- JSON ----

/// A measured value, rounded to 4 decimals; NaN and infinities become `null`.
fn num(x: f64) -> Value {
    json!((x * 1e4).round() / 1e4)
}

fn nums(v: &[f64]) -> Value {
    v.iter().copied().map(num).collect()
}

/// Pretty-printed with a trailing newline.
pub fn to_text(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("a Value always serializes");
    s.push('\n');
    s
}

fn ratio_json(r: &Option<RatioCi>) -> Value {
    match r {
        None => Value::Null,
        Some(r) => json!({
            "mean": num(r.mean),
            "ci95": [num(r.lo), num(r.hi)],
            "per_round": nums(&r.per_round),
        }),
    }
}

fn contender_json(c: &Contender) -> Value {
    let mut o = json!({
        "role": c.role,
        "element": c.element,
        "status": c.status.word(),
    });
    match &c.status {
        Status::Ok => {
            let m = json!({
                "ns_per_packet": {
                    "mean": num(c.ns_mean()),
                    "stddev": num(c.ns_sd()),
                    "per_round": nums(&c.ns_per_packet),
                },
                "packets_per_round": c.packets_per_round,
                "bytes_per_round": c.bytes_per_round,
                "pushes_per_round": c.pushes_per_round,
                "output_buffers_per_round": c.out_packets_per_round,
                "packets_per_s": num(c.packets_per_s()),
                "gbit_per_s": num(c.gbps()),
                "push_latency_ns": {
                    "p50": c.lat_p50,
                    "p99": c.lat_p99,
                    "pushes": c.lat_pushes,
                },
                "allocs_per_packet": num(c.allocs_per_packet),
                "resident_bytes_per_stream": c.resident.map(num),
                "resident_identity_bytes_per_stream": c.resident_identity.map(num),
                "resident_kb_per_stream_over_identity":
                    c.resident_over_identity().map(|b| num(b / 1000.0)),
            });
            if let (Value::Object(o), Value::Object(m)) = (&mut o, m) {
                o.extend(m);
            }
        }
        Status::Error(e) => o["error"] = json!(e),
        _ => {}
    }
    match &c.instr {
        None => {}
        Some(Ok(i)) => {
            o["instructions_per_packet"] = num(i.per_packet);
            o["callgrind"] = json!({
                "instructions": i.ir,
                "packets": i.packets,
                "input_repeats": [1, 2],
            });
        }
        Some(Err(e)) => {
            o["instructions_per_packet"] = Value::Null;
            o["callgrind"] = json!({ "error": e });
        }
    }
    o
}

/// `a / b` when both are there and `b` > 0.
fn quotient(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// Instruction counts of a pair: (stock, ours, floor).
fn instr_counts(p: &PairResult) -> (Option<f64>, Option<f64>, Option<f64>) {
    (
        p.stock.instr_per_packet(),
        p.ours.instr_per_packet(),
        p.floor.as_ref().and_then(|f| f.instr_per_packet()),
    )
}

pub fn json(info: &RunInfo, pairs: &[PairResult]) -> Value {
    let pairs: Vec<Value> = pairs
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "kind": p.kind,
                "media": p.media,
                "input_frames": p.frames,
                "repeat": p.repeat,
                "rtp_caps": p.rtp_caps,
                "stock": contender_json(&p.stock),
                "ours": contender_json(&p.ours),
                "floor": p.floor.as_ref().map(contender_json),
                "identity": p.identity.as_ref().map(contender_json),
                "ratio_stock_over_ours": ratio_json(&p.ratio),
                "ours_over_floor": ratio_json(&p.ours_vs_floor),
                "stock_over_floor": ratio_json(&p.stock_vs_floor),
                "instructions_per_packet": instr_json(p),
                "error": p.error,
                "notes": p.notes,
            })
        })
        .collect();
    json!({
        "tool": "rtp_perf_compare",
        "schema_version": 2,
        "machine": {
            "cpu": info.cpu,
            "cores": info.cores,
            "arch": info.arch,
        },
        "date": info.date,
        "command_line": info.command_line,
        "gstreamer_version": info.gst_version,
        "alloc_counter": {
            "active": info.counter_active,
            "g_slice_always_malloc": info.g_slice_effective,
        },
        "config": {
            "baseline": info.baseline,
            "current": info.current,
            "simd": info.simd,
            "mtu": info.mtu,
            "rounds": info.rounds,
            "min_packets": info.min_packets,
            "frames": info.frames,
            "rss_streams": info.streams,
            "batch_bytes": info.batch_bytes,
            "timing": "thread CPU time (CLOCK_THREAD_CPUTIME_ID) of the pushes only; \
                       latency from a separate pass with CLOCK_MONOTONIC",
            "floor": "depayloaders: valve drop=true fed the same RTP packets (one push in, nothing out)",
            "instructions": info.valgrind.as_ref().map(|v| json!({
                "tool": v,
                "method": INSTR_METHOD,
            })),
        },
        "pairs": pairs,
    })
}

fn instr_json(p: &PairResult) -> Value {
    if p.stock.instr.is_none() && p.ours.instr.is_none() {
        return Value::Null;
    }
    let (s, o, f) = instr_counts(p);
    json!({
        "stock": s.map(num),
        "ours": o.map(num),
        "floor": f.map(num),
        // One push in, one push out: not a floor, the cost of passing each
        // packet on (what a one-buffer-per-packet depayloader must pay).
        "identity": p.identity.as_ref().and_then(|c| c.instr_per_packet()).map(num),
        "stock_over_ours": quotient(s, o).map(num),
        "ours_over_floor": quotient(o, f).map(num),
        "stock_over_floor": quotient(s, f).map(num),
    })
}

/// How `--instructions` counts (header and JSON).
const INSTR_METHOD: &str = "valgrind callgrind, push loop only (--toggle-collect); \
    per packet = (Ir(input x2) - Ir(input x1)) / (packets(x2) - packets(x1)); \
    packets: pay = RTP out, depay = RTP in";

// ---------------------------------------------------------------- text ----

use crate::number::group;

fn dur(ns: u64) -> String {
    if ns >= 1_000_000 {
        format!("{:.2} ms", ns as f64 / 1e6)
    } else if ns >= 10_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else {
        format!("{ns} ns")
    }
}

fn ratio_text(r: &Option<RatioCi>) -> String {
    match r {
        None => "n/a".into(),
        Some(r) if r.lo.is_finite() => {
            format!("{:.2}x  (95% CI {:.2}–{:.2})", r.mean, r.lo, r.hi)
        }
        Some(r) => format!("{:.2}x  (1 round: no CI)", r.mean),
    }
}

fn contender_row(out: &mut String, c: &Contender) {
    let label = format!("{:<8} {:<18}", c.role, c.element);
    match &c.status {
        Status::Ok => {
            let _ = writeln!(
                out,
                "  {label} {:>9.1} ±{:>6.1} {:>12} {:>7.2} {:>10} {:>10} {:>8.2} {:>12} {:>11}",
                c.ns_mean(),
                c.ns_sd(),
                group(c.packets_per_s()),
                c.gbps(),
                dur(c.lat_p50),
                dur(c.lat_p99),
                c.allocs_per_packet,
                c.resident.map(group).unwrap_or_else(|| "-".into()),
                c.resident_over_identity()
                    .map(|b| format!("{:+.1}", b / 1000.0))
                    .unwrap_or_else(|| "-".into()),
            );
        }
        s => {
            let _ = writeln!(out, "  {label} {}", s.text());
        }
    }
}

pub fn header(info: &RunInfo) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "rtp_perf_compare — stock vs rsrtpfast, synchronous pad-to-pad rig"
    );
    let _ = writeln!(
        out,
        "machine:   {} ({} cores, {}); ours at simd={}",
        info.cpu, info.cores, info.arch, info.simd
    );
    let _ = writeln!(out, "date:      {}", info.date);
    let _ = writeln!(out, "command:   {}", info.command_line);
    let _ = writeln!(out, "gstreamer: {}", info.gst_version);
    let _ = writeln!(
        out,
        "config:    baseline={} current={} mtu={} rounds={} (interleaved, alternating order) \
         min-packets/round={} rss-streams={}",
        info.baseline, info.current, info.mtu, info.rounds, info.min_packets, info.streams
    );
    let _ = writeln!(
        out,
        "malloc counter: {}; G_SLICE=always-malloc {}",
        if info.counter_active {
            "active"
        } else {
            "NOT ACTIVE"
        },
        if info.g_slice_effective {
            "in effect (GstBuffer allocations visible)"
        } else {
            "NOT in effect (slice allocations hidden)"
        }
    );
    let _ = writeln!(
        out,
        "ns/packet = thread CPU time of the pushes / RTP packets (pay: packets out, depay: packets in); \
         input built {} right before it is timed; \
         push latency = wall time per push (pay: per frame), separate pass",
        match info.batch_bytes {
            0 => "all at once per round (cache-cold)".to_string(),
            b => format!("in batches of <= {} KiB / {} buffers", b / 1024, crate::rig::BATCH_MAX),
        }
    );
    if let Some(v) = &info.valgrind {
        let _ = writeln!(out, "instructions: {v}; {INSTR_METHOD}");
    }
    let _ = writeln!(
        out,
        "depayloader floor = valve drop=true fed the same RTP packets (one push in, nothing out); \
         identity pushes every packet on again and is no floor"
    );
    out
}

pub fn pair_text(p: &PairResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n== {} [{}]  {} vs {}",
        p.name, p.kind, p.stock.element, p.ours.element
    );
    let _ = writeln!(
        out,
        "   input: {}; {} frames x{} repeat; {} RTP packets/round",
        p.media, p.frames, p.repeat, p.stock.packets_per_round
    );
    if let Some(e) = &p.error {
        let _ = writeln!(out, "   ERROR: {e}");
        return out;
    }
    let _ = writeln!(
        out,
        "  {:<8} {:<18} {:>17} {:>12} {:>7} {:>10} {:>10} {:>8} {:>12} {:>11}",
        "role",
        "element",
        "ns/packet ±sd",
        "packets/s",
        "Gbit/s",
        "p50 push",
        "p99 push",
        "allocs/p",
        "resident B/s",
        "KB/s >ident"
    );
    contender_row(&mut out, &p.stock);
    contender_row(&mut out, &p.ours);
    if let Some(f) = &p.floor {
        contender_row(&mut out, f);
    }
    if let Some(i) = &p.identity {
        contender_row(&mut out, i);
    }
    let _ = writeln!(out, "  ratio stock/ours:    {}", ratio_text(&p.ratio));
    for n in &p.notes {
        let _ = writeln!(out, "  NOTE: {n}");
    }
    if p.floor.is_some() {
        let _ = writeln!(
            out,
            "  ours/valve (floor):  {}   (target ≤ 1.30)",
            ratio_text(&p.ours_vs_floor)
        );
        let _ = writeln!(
            out,
            "  stock/valve (floor): {}",
            ratio_text(&p.stock_vs_floor)
        );
    }
    let mut cs = vec![&p.stock, &p.ours];
    cs.extend(p.floor.as_ref());
    for c in cs {
        match &c.instr {
            None => {}
            Some(Ok(i)) => {
                let _ = writeln!(
                    out,
                    "  instructions/packet {:<8} {:<18} {:>10}   (Ir {} / {} packets -> {} / {})",
                    c.role,
                    c.element,
                    group(i.per_packet),
                    i.ir[0],
                    i.packets[0],
                    i.ir[1],
                    i.packets[1]
                );
            }
            Some(Err(e)) => {
                let _ = writeln!(
                    out,
                    "  instructions/packet {:<8} {:<18} ERROR: {e}",
                    c.role, c.element
                );
            }
        }
    }
    out
}

pub fn summary_text(pairs: &[PairResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n== summary (ns/packet, thread CPU)");
    let _ = writeln!(
        out,
        "  {:<11} {:>10} {:>10} {:>10} {:>24} {:>11} {:>10} {:>10}",
        "pair",
        "stock",
        "ours",
        "valve",
        "stock/ours (95% CI)",
        "ours/valve",
        "alloc/p st",
        "alloc/p us"
    );
    for p in pairs {
        let ns = |c: &Contender| match c.status {
            Status::Ok => format!("{:.1}", c.ns_mean()),
            _ => c.status.word().to_string(),
        };
        let al = |c: &Contender| match c.status {
            Status::Ok => format!("{:.2}", c.allocs_per_packet),
            _ => "-".to_string(),
        };
        let ratio = match &p.ratio {
            Some(r) if r.lo.is_finite() => format!("{:.2}x ({:.2}–{:.2})", r.mean, r.lo, r.hi),
            Some(r) => format!("{:.2}x", r.mean),
            None => "-".into(),
        };
        let ri = match &p.ours_vs_floor {
            Some(r) => format!("{:.2}x", r.mean),
            None => "-".into(),
        };
        let _ = writeln!(
            out,
            "  {:<11} {:>10} {:>10} {:>10} {:>24} {:>11} {:>10} {:>10}",
            p.name,
            ns(&p.stock),
            ns(&p.ours),
            p.floor.as_ref().map(ns).unwrap_or_else(|| "-".into()),
            ratio,
            ri,
            al(&p.stock),
            al(&p.ours),
        );
    }
    if pairs
        .iter()
        .any(|p| p.stock.instr.is_some() || p.ours.instr.is_some())
    {
        out.push_str(&instr_summary_text(pairs));
    }
    if pairs
        .iter()
        .any(|p| p.stock.resident.is_some() || p.ours.resident.is_some())
    {
        out.push_str(&resident_summary_text(pairs));
    }
    out
}

/// Instructions per packet next to the time figures of the same run.
fn instr_summary_text(pairs: &[PairResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n== summary (instructions/packet, valgrind callgrind, push loop; ns/packet thread CPU, this run)"
    );
    let head = [
        "pair",
        "instr stock",
        "instr ours",
        "instr valve",
        "instr ident",
        "stock/ours",
        "ours/valve",
        "ns stock",
        "ns ours",
        "ns valve",
        "ns st/ours",
    ];
    let _ = writeln!(
        out,
        "  {:<11} {:>12} {:>12} {:>12} {:>12} {:>11} {:>11} {:>10} {:>10} {:>10} {:>11}",
        head[0],
        head[1],
        head[2],
        head[3],
        head[4],
        head[5],
        head[6],
        head[7],
        head[8],
        head[9],
        head[10]
    );
    let dash = || "-".to_string();
    for p in pairs {
        let (s, o, f) = instr_counts(p);
        let count = |c: &Contender, v: Option<f64>| match (&c.instr, v) {
            (_, Some(v)) => format!("{v:.0}"),
            (Some(Err(_)), _) => "error".into(),
            _ => c.status.word().to_string(),
        };
        let ratio = |r: Option<f64>| r.map(|r| format!("{r:.2}x")).unwrap_or_else(dash);
        let ns = |c: &Contender| match c.status {
            Status::Ok if !c.ns_per_packet.is_empty() => format!("{:.1}", c.ns_mean()),
            _ => dash(),
        };
        let ident = p.identity.as_ref().and_then(|c| c.instr_per_packet());
        let _ = writeln!(
            out,
            "  {:<11} {:>12} {:>12} {:>12} {:>12} {:>11} {:>11} {:>10} {:>10} {:>10} {:>11}",
            p.name,
            count(&p.stock, s),
            count(&p.ours, o),
            p.floor.as_ref().map(|c| count(c, f)).unwrap_or_else(dash),
            p.identity
                .as_ref()
                .map(|c| count(c, ident))
                .unwrap_or_else(dash),
            ratio(quotient(s, o)),
            ratio(quotient(o, f)),
            ns(&p.stock),
            ns(&p.ours),
            p.floor.as_ref().map(ns).unwrap_or_else(dash),
            p.ratio
                .as_ref()
                .map(|r| format!("{:.2}x", r.mean))
                .unwrap_or_else(dash),
        );
    }
    out
}

/// Resident memory per extra stream, and over an identity stream.
fn resident_summary_text(pairs: &[PairResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n== resident memory per extra stream (KB = 1000 bytes; target ≤ 1 KB over identity)"
    );
    let _ = writeln!(
        out,
        "  {:<11} {:<18} {:>10} {:>12} {:>14}",
        "pair", "element", "KB/stream", "identity KB", "KB over ident"
    );
    for p in pairs {
        for c in [&p.stock, &p.ours] {
            if let (Some(r), Some(i)) = (c.resident, c.resident_identity) {
                let _ = writeln!(
                    out,
                    "  {:<11} {:<18} {:>10.1} {:>12.1} {:>+14.1}",
                    p.name,
                    c.element,
                    r / 1000.0,
                    i / 1000.0,
                    (r - i) / 1000.0
                );
            }
        }
    }
    out
}
