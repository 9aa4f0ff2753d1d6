//! `--instructions`: compare instructions per packet (valgrind callgrind,
//! from `rtp_perf_compare --instructions --format json`) with a baseline.
//!
//! Times only compare on the same box, and CI may run on a new one; an
//! instruction count is the same for the same binary, input and SIMD level
//! whatever else the machine is doing, so this is the check CI can gate on.
//! There is no noise to test against: a pair regressed when ours needs more
//! than `threshold` more instructions per packet than in the baseline. The
//! stock element's count is shown for context and never judged (it is not
//! our code).

use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Counts of one pair (instructions per packet).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairCounts {
    pub ours: f64,
    pub stock: Option<f64>,
    pub floor: Option<f64>,
}

/// One `rtp_perf_compare --format json` document.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Run {
    pub arch: Option<String>,
    pub simd: Option<String>,
    pub gstreamer: Option<String>,
    pub mtu: Option<u64>,
    pub frames: Option<u64>,
    pub pairs: BTreeMap<String, PairCounts>,
}

/// Parse a document; pairs without a count for ours are left out.
pub fn load(text: &str) -> Result<Run, String> {
    let doc: Value =
        serde_json::from_str(text).map_err(|e| format!("not rtp_perf_compare JSON: {e}"))?;
    if doc.get("tool").and_then(Value::as_str) != Some("rtp_perf_compare") {
        return Err("not rtp_perf_compare JSON (no \"tool\": \"rtp_perf_compare\")".into());
    }
    let text_of = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let mut run = Run {
        arch: text_of(doc.pointer("/machine/arch")),
        simd: text_of(doc.pointer("/config/simd")),
        gstreamer: text_of(doc.get("gstreamer_version")),
        mtu: doc.pointer("/config/mtu").and_then(Value::as_u64),
        frames: doc.pointer("/config/frames").and_then(Value::as_u64),
        pairs: BTreeMap::new(),
    };
    for p in doc
        .get("pairs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(name), Some(ipp)) = (
            p.get("name").and_then(Value::as_str),
            p.get("instructions_per_packet"),
        ) else {
            continue;
        };
        let count = |k: &str| ipp.get(k).and_then(Value::as_f64).filter(|x| *x > 0.0);
        if let Some(ours) = count("ours") {
            run.pairs.insert(
                name.to_string(),
                PairCounts {
                    ours,
                    stock: count("stock"),
                    floor: count("floor"),
                },
            );
        }
    }
    Ok(run)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Regressed,
    Improved,
    Unchanged,
    Missing,
    New,
}

impl Verdict {
    fn label(self) -> &'static str {
        match self {
            Verdict::Regressed => "REGRESSED",
            Verdict::Improved => "improved",
            Verdict::Unchanged => "unchanged",
            Verdict::Missing => "missing",
            Verdict::New => "new",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub pair: String,
    pub verdict: Verdict,
    pub baseline: Option<PairCounts>,
    pub current: Option<PairCounts>,
    /// current / baseline - 1, for ours.
    pub change: Option<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub rows: Vec<Row>,
    pub threshold: f64,
    /// Differences of setup that change counts without a code change.
    pub warnings: Vec<String>,
}

impl Report {
    pub fn failed(&self) -> bool {
        self.rows.iter().any(|r| r.verdict == Verdict::Regressed)
    }
}

/// Runs whose counts cannot be compared at all (a different CPU family or
/// SIMD level runs different code): why, or None when they can.
pub fn incomparable(baseline: &Run, current: &Run) -> Option<String> {
    for (what, b, c) in [
        ("architecture", &baseline.arch, &current.arch),
        ("SIMD level", &baseline.simd, &current.simd),
    ] {
        if b != c {
            return Some(format!(
                "{what} differs: baseline {}, current {} (the instruction baseline is only \
                 comparable at the same {what}; see perf/README.md)",
                b.as_deref().unwrap_or("unknown"),
                c.as_deref().unwrap_or("unknown")
            ));
        }
    }
    None
}

pub fn compare(baseline: &Run, current: &Run, threshold: f64) -> Report {
    let mut warnings = Vec::new();
    if baseline.gstreamer != current.gstreamer {
        warnings.push(format!(
            "GStreamer differs (baseline {:?}, current {:?}): its share of the counts moves too",
            baseline.gstreamer, current.gstreamer
        ));
    }
    if (baseline.mtu, baseline.frames) != (current.mtu, current.frames) {
        warnings.push(format!(
            "input differs (baseline mtu {:?} frames {:?}, current mtu {:?} frames {:?})",
            baseline.mtu, baseline.frames, current.mtu, current.frames
        ));
    }
    let names: std::collections::BTreeSet<&String> =
        baseline.pairs.keys().chain(current.pairs.keys()).collect();
    let rows = names
        .into_iter()
        .map(|name| {
            let b = baseline.pairs.get(name).copied();
            let c = current.pairs.get(name).copied();
            let (verdict, change) = match (b, c) {
                (Some(b), Some(c)) => {
                    let change = c.ours / b.ours - 1.0;
                    let v = if change > threshold {
                        Verdict::Regressed
                    } else if change < -threshold {
                        Verdict::Improved
                    } else {
                        Verdict::Unchanged
                    };
                    (v, Some(change))
                }
                (Some(_), None) => (Verdict::Missing, None),
                _ => (Verdict::New, None),
            };
            Row {
                pair: name.clone(),
                verdict,
                baseline: b,
                current: c,
                change,
            }
        })
        .collect();
    Report {
        rows,
        threshold,
        warnings,
    }
}

#[path = "../shared/number.rs"]
mod number;

fn count(x: Option<f64>) -> String {
    x.map(number::group).unwrap_or_else(|| "-".into())
}

pub fn text(report: &Report) -> String {
    let mut out = String::new();
    for w in &report.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    for r in &report.rows {
        let ours = |c: Option<PairCounts>| count(c.map(|c| c.ours));
        let change = r
            .change
            .map(|c| format!("{:+.1}%", c * 100.0))
            .unwrap_or_else(|| "-".into());
        let ctx = r.current.or(r.baseline);
        let stock_ratio = ctx
            .and_then(|c| c.stock.map(|s| format!("{:.2}x", s / c.ours)))
            .unwrap_or_else(|| "-".into());
        out.push_str(&format!(
            "{:<10} {:<12} ours {:>8} -> {:>8} {:>8}   stock {:>8} ({} ours)  floor {:>8}\n",
            r.verdict.label(),
            r.pair,
            ours(r.baseline),
            ours(r.current),
            change,
            count(ctx.and_then(|c| c.stock)),
            stock_ratio,
            count(ctx.and_then(|c| c.floor)),
        ));
    }
    let n = |v: Verdict| report.rows.iter().filter(|r| r.verdict == v).count();
    out.push_str(&format!(
        "summary: {} regressed, {} improved, {} unchanged, {} missing, {} new \
         (instructions per packet, threshold {:.0}%) => {}\n",
        n(Verdict::Regressed),
        n(Verdict::Improved),
        n(Verdict::Unchanged),
        n(Verdict::Missing),
        n(Verdict::New),
        report.threshold * 100.0,
        if report.failed() { "FAIL" } else { "OK" }
    ));
    out
}

pub fn to_json(report: &Report) -> Value {
    let counts = |c: Option<PairCounts>| {
        c.map(|c| json!({"ours": c.ours, "stock": c.stock, "floor": c.floor}))
    };
    json!({
        "metric": "instructions_per_packet",
        "threshold": report.threshold,
        "warnings": report.warnings,
        "failed": report.failed(),
        "pairs": report.rows.iter().map(|r| json!({
            "pair": r.pair,
            "verdict": r.verdict.label(),
            "change": r.change,
            "baseline": counts(r.baseline),
            "current": counts(r.current),
        })).collect::<Vec<_>>(),
    })
}
