//! Output: text tables, JSON (hand-written, no serde in the binary) and a
//! plain hand-written SVG bar chart.

use crate::{Contender, PairResult, RatioCi, RunInfo, Status};
use std::fmt::Write as _;

// ---------------------------------------------------------------- JSON ----

/// Minimal JSON value.
pub enum J {
    Null,
    Bool(bool),
    Num(f64),
    Int(u64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(&'static str, J)>),
}

impl J {
    pub fn s(v: impl Into<String>) -> J {
        J::Str(v.into())
    }

    pub fn write(&self, out: &mut String, indent: usize) {
        let pad = |out: &mut String, n: usize| {
            for _ in 0..n {
                out.push_str("  ");
            }
        };
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Num(x) if x.is_finite() => {
                let _ = write!(out, "{}", (x * 1e4).round() / 1e4);
            }
            J::Num(_) => out.push_str("null"),
            J::Int(i) => {
                let _ = write!(out, "{i}");
            }
            J::Str(s) => escape(out, s),
            J::Arr(v) => {
                if v.iter().all(|x| matches!(x, J::Num(_) | J::Int(_))) {
                    out.push('[');
                    for (i, x) in v.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        x.write(out, indent);
                    }
                    out.push(']');
                    return;
                }
                out.push_str("[\n");
                for (i, x) in v.iter().enumerate() {
                    pad(out, indent + 1);
                    x.write(out, indent + 1);
                    out.push_str(if i + 1 < v.len() { ",\n" } else { "\n" });
                }
                pad(out, indent);
                out.push(']');
            }
            J::Obj(v) => {
                out.push_str("{\n");
                for (i, (k, x)) in v.iter().enumerate() {
                    pad(out, indent + 1);
                    escape(out, k);
                    out.push_str(": ");
                    x.write(out, indent + 1);
                    out.push_str(if i + 1 < v.len() { ",\n" } else { "\n" });
                }
                pad(out, indent);
                out.push('}');
            }
        }
    }
}

fn escape(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn ratio_json(r: &Option<RatioCi>) -> J {
    match r {
        None => J::Null,
        Some(r) => J::Obj(vec![
            ("mean", J::Num(r.mean)),
            ("ci95", J::Arr(vec![J::Num(r.lo), J::Num(r.hi)])),
            (
                "per_round",
                J::Arr(r.per_round.iter().map(|x| J::Num(*x)).collect()),
            ),
        ]),
    }
}

fn contender_json(c: &Contender) -> J {
    let mut o = vec![
        ("role", J::s(c.role)),
        ("element", J::s(c.element.clone())),
        ("status", J::s(c.status.word())),
    ];
    match &c.status {
        Status::Ok => {
            o.push((
                "ns_per_packet",
                J::Obj(vec![
                    ("mean", J::Num(c.ns_mean())),
                    ("stddev", J::Num(c.ns_sd())),
                    (
                        "per_round",
                        J::Arr(c.ns_per_packet.iter().map(|x| J::Num(*x)).collect()),
                    ),
                ]),
            ));
            o.push(("packets_per_round", J::Int(c.packets_per_round)));
            o.push(("bytes_per_round", J::Int(c.bytes_per_round)));
            o.push(("pushes_per_round", J::Int(c.pushes_per_round)));
            o.push(("output_buffers_per_round", J::Int(c.out_packets_per_round)));
            o.push(("packets_per_s", J::Num(c.packets_per_s())));
            o.push(("gbit_per_s", J::Num(c.gbps())));
            o.push((
                "push_latency_ns",
                J::Obj(vec![
                    ("p50", J::Int(c.lat_p50)),
                    ("p99", J::Int(c.lat_p99)),
                    ("pushes", J::Int(c.lat_pushes)),
                ]),
            ));
            o.push(("allocs_per_packet", J::Num(c.allocs_per_packet)));
            o.push((
                "resident_bytes_per_stream",
                c.resident.map(J::Num).unwrap_or(J::Null),
            ));
        }
        Status::Error(e) => o.push(("error", J::s(e.clone()))),
        _ => {}
    }
    J::Obj(o)
}

pub fn json(info: &RunInfo, pairs: &[PairResult]) -> String {
    let root = J::Obj(vec![
        ("tool", J::s("rtp_perf_compare")),
        ("schema_version", J::Int(1)),
        (
            "machine",
            J::Obj(vec![
                ("cpu", J::s(info.cpu.clone())),
                ("cores", J::Int(info.cores as u64)),
            ]),
        ),
        ("date", J::s(info.date.clone())),
        ("command_line", J::s(info.command_line.clone())),
        ("gstreamer_version", J::s(info.gst_version.clone())),
        (
            "alloc_counter",
            J::Obj(vec![
                ("active", J::Bool(info.counter_active)),
                ("g_slice_always_malloc", J::Bool(info.g_slice_effective)),
            ]),
        ),
        (
            "config",
            J::Obj(vec![
                ("baseline", J::s(info.baseline.clone())),
                ("current", J::s(info.current.clone())),
                ("mtu", J::Int(info.mtu as u64)),
                ("rounds", J::Int(info.rounds as u64)),
                ("min_packets", J::Int(info.min_packets as u64)),
                ("frames", J::Int(info.frames as u64)),
                ("rss_streams", J::Int(info.streams as u64)),
                ("batch_bytes", J::Int(info.batch_bytes as u64)),
                (
                    "timing",
                    J::s(
                        "thread CPU time (CLOCK_THREAD_CPUTIME_ID) of the pushes only; \
                          latency from a separate pass with CLOCK_MONOTONIC",
                    ),
                ),
            ]),
        ),
        (
            "pairs",
            J::Arr(
                pairs
                    .iter()
                    .map(|p| {
                        J::Obj(vec![
                            ("name", J::s(p.name)),
                            ("kind", J::s(p.kind)),
                            ("media", J::s(p.media.clone())),
                            ("input_frames", J::Int(p.frames as u64)),
                            ("repeat", J::Int(p.repeat as u64)),
                            ("rtp_caps", J::s(p.rtp_caps.clone())),
                            ("stock", contender_json(&p.stock)),
                            ("ours", contender_json(&p.ours)),
                            (
                                "identity",
                                p.identity.as_ref().map(contender_json).unwrap_or(J::Null),
                            ),
                            ("ratio_stock_over_ours", ratio_json(&p.ratio)),
                            ("ours_over_identity", ratio_json(&p.ours_vs_identity)),
                            ("stock_over_identity", ratio_json(&p.stock_vs_identity)),
                            ("error", p.error.clone().map(J::Str).unwrap_or(J::Null)),
                            (
                                "notes",
                                J::Arr(p.notes.iter().map(|n| J::s(n.clone())).collect()),
                            ),
                        ])
                    })
                    .collect(),
            ),
        ),
    ]);
    let mut s = String::new();
    root.write(&mut s, 0);
    s.push('\n');
    s
}

// ---------------------------------------------------------------- text ----

fn group(x: f64) -> String {
    let v = x.round() as i64;
    let s = v.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0 {
        format!("-{out}")
    } else {
        out
    }
}

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
                "  {label} {:>9.1} ±{:>6.1} {:>12} {:>7.2} {:>10} {:>10} {:>8.2} {:>12}",
                c.ns_mean(),
                c.ns_sd(),
                group(c.packets_per_s()),
                c.gbps(),
                dur(c.lat_p50),
                dur(c.lat_p99),
                c.allocs_per_packet,
                c.resident.map(group).unwrap_or_else(|| "-".into()),
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
    let _ = writeln!(out, "machine:   {} ({} cores)", info.cpu, info.cores);
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
        "  {:<8} {:<18} {:>17} {:>12} {:>7} {:>10} {:>10} {:>8} {:>12}",
        "role",
        "element",
        "ns/packet ±sd",
        "packets/s",
        "Gbit/s",
        "p50 push",
        "p99 push",
        "allocs/p",
        "resident B/s"
    );
    contender_row(&mut out, &p.stock);
    contender_row(&mut out, &p.ours);
    if let Some(i) = &p.identity {
        contender_row(&mut out, i);
    }
    let _ = writeln!(out, "  ratio stock/ours:    {}", ratio_text(&p.ratio));
    for n in &p.notes {
        let _ = writeln!(out, "  NOTE: {n}");
    }
    if p.identity.is_some() {
        let _ = writeln!(
            out,
            "  ours/identity:       {}   (target ≤ 1.20)",
            ratio_text(&p.ours_vs_identity)
        );
        let _ = writeln!(
            out,
            "  stock/identity:      {}",
            ratio_text(&p.stock_vs_identity)
        );
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
        "identity",
        "stock/ours (95% CI)",
        "ours/ident",
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
        let ri = match &p.ours_vs_identity {
            Some(r) => format!("{:.2}x", r.mean),
            None => "-".into(),
        };
        let _ = writeln!(
            out,
            "  {:<11} {:>10} {:>10} {:>10} {:>24} {:>11} {:>10} {:>10}",
            p.name,
            ns(&p.stock),
            ns(&p.ours),
            p.identity.as_ref().map(ns).unwrap_or_else(|| "-".into()),
            ratio,
            ri,
            al(&p.stock),
            al(&p.ours),
        );
    }
    out
}

// ----------------------------------------------------------------- SVG ----

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Horizontal grouped bar chart of ns/packet per pair.
pub fn svg(info: &RunInfo, pairs: &[PairResult]) -> String {
    const W: f64 = 900.0;
    const LEFT: f64 = 190.0;
    const RIGHT: f64 = 110.0;
    const BAR: f64 = 14.0;
    const GAP: f64 = 12.0;
    let colors = [
        ("stock", "#d9534f"),
        ("ours", "#2e86de"),
        ("identity", "#9e9e9e"),
    ];
    let rows: Vec<(&PairResult, Vec<&Contender>)> = pairs
        .iter()
        .map(|p| {
            let mut v = vec![&p.stock, &p.ours];
            if let Some(i) = &p.identity {
                v.push(i);
            }
            (p, v)
        })
        .collect();
    let max = rows
        .iter()
        .flat_map(|(_, v)| v.iter())
        .filter(|c| matches!(c.status, Status::Ok))
        .map(|c| c.ns_mean())
        .fold(1.0f64, f64::max);
    let top = 70.0;
    let height = top
        + rows
            .iter()
            .map(|(_, v)| v.len() as f64 * BAR + GAP)
            .sum::<f64>()
        + 40.0;
    let scale = (W - LEFT - RIGHT) / max;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" viewBox="0 0 {W} {height}" font-family="sans-serif" font-size="11">"##
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="white"/>"##);
    let _ = writeln!(
        s,
        r##"<text x="10" y="20" font-size="15" font-weight="bold">RTP ns/packet (thread CPU, lower is better), MTU {}</text>"##,
        info.mtu
    );
    let _ = writeln!(
        s,
        r##"<text x="10" y="38" fill="#555">{} · {} · {}</text>"##,
        xml(&info.cpu),
        xml(&info.date),
        xml(&info.gst_version)
    );
    for (i, (name, color)) in colors.iter().enumerate() {
        let x = 10.0 + i as f64 * 110.0;
        let _ = writeln!(
            s,
            r##"<rect x="{x}" y="48" width="12" height="12" fill="{color}"/><text x="{}" y="58">{name}</text>"##,
            x + 16.0
        );
    }
    let mut y = top;
    for (p, v) in &rows {
        let _ = writeln!(
            s,
            r##"<text x="10" y="{}" font-weight="bold">{}</text>"##,
            y + BAR,
            xml(p.name)
        );
        if let Some(r) = &p.ratio {
            let _ = writeln!(
                s,
                r##"<text x="10" y="{}" fill="#333">{:.2}x faster</text>"##,
                y + 2.0 * BAR,
                r.mean
            );
        }
        for c in v {
            let color = colors
                .iter()
                .find(|(n, _)| *n == c.role)
                .map(|(_, c)| *c)
                .unwrap_or("#000");
            let _ = writeln!(
                s,
                r##"<text x="{}" y="{}" text-anchor="end" fill="#333">{}</text>"##,
                LEFT - 6.0,
                y + BAR - 3.0,
                xml(&c.element)
            );
            match c.status {
                Status::Ok => {
                    let w = (c.ns_mean() * scale).max(1.0);
                    let _ = writeln!(
                        s,
                        r##"<rect x="{LEFT}" y="{}" width="{w:.1}" height="{}" fill="{color}"/><text x="{:.1}" y="{}">{:.0} ns</text>"##,
                        y + 1.0,
                        BAR - 2.0,
                        LEFT + w + 4.0,
                        y + BAR - 3.0,
                        c.ns_mean()
                    );
                }
                _ => {
                    let _ = writeln!(
                        s,
                        r##"<text x="{}" y="{}" fill="#999" font-style="italic">{}</text>"##,
                        LEFT + 4.0,
                        y + BAR - 3.0,
                        c.status.word()
                    );
                }
            }
            y += BAR;
        }
        y += GAP;
    }
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{top}" x2="{LEFT}" y2="{}" stroke="#000"/>"##,
        y - GAP
    );
    s.push_str("</svg>\n");
    s
}
