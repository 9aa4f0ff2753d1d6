//! Loading benchmark results and deciding, per benchmark, whether the
//! current run is slower, faster or the same as the baseline.

use super::stats;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A point estimate with its confidence interval (ns).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    pub estimate: f64,
    pub lower: f64,
    pub upper: f64,
}

/// One benchmark of a results file.
#[derive(Clone, Debug, PartialEq)]
pub struct Bench {
    pub id: String,
    pub mean: Option<Estimate>,
    pub median: Option<Estimate>,
    /// Per-iteration times of every sample (ns), when the file has them.
    pub samples: Vec<f64>,
}

impl Bench {
    /// Typical time: median of the raw samples, else criterion's median,
    /// else its mean.
    pub fn typical(&self) -> Option<f64> {
        stats::median(&self.samples)
            .or(self.median.map(|m| m.estimate))
            .or(self.mean.map(|m| m.estimate))
    }
    /// Interval used when there are no samples: the median's, else the mean's.
    fn interval(&self) -> Option<Estimate> {
        self.median.or(self.mean)
    }
}

fn estimate(v: Option<&Value>) -> Option<Estimate> {
    let v = v?;
    let e = v.get("estimate")?.as_f64()?;
    Some(Estimate {
        estimate: e,
        lower: v.get("lower").and_then(Value::as_f64).unwrap_or(e),
        upper: v.get("upper").and_then(Value::as_f64).unwrap_or(e),
    })
}

fn bench_from(v: &Value) -> Option<Bench> {
    let id = v.get("id")?.as_str()?.to_string();
    let samples = v
        .get("sample_ns")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_f64)
                .filter(|x| x.is_finite())
                .collect()
        })
        .unwrap_or_default();
    let b = Bench {
        id,
        mean: estimate(v.get("mean")),
        median: estimate(v.get("median")),
        samples,
    };
    b.typical().map(|_| b)
}

/// Results parsed from a file or stdin, plus what was skipped.
#[derive(Debug, Default)]
pub struct Results {
    pub benches: BTreeMap<String, Bench>,
    /// Lines that were not JSON (e.g. libtest chatter) or had no usable data.
    pub skipped: usize,
    /// Ids seen more than once (the last one wins).
    pub duplicates: Vec<String>,
}

/// Accepts the bench binaries' output (one JSON object per line, other lines
/// skipped), a JSON array of such objects, or `{"benchmarks": [...]}`.
pub fn load(text: &str) -> Results {
    let mut r = Results::default();
    let add = |r: &mut Results, v: &Value| match bench_from(v) {
        Some(b) => {
            if r.benches.contains_key(&b.id) {
                r.duplicates.push(b.id.clone());
            }
            r.benches.insert(b.id.clone(), b);
        }
        None => r.skipped += 1,
    };
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') || trimmed.starts_with("{\"benchmarks\"") {
        if let Ok(doc) = serde_json::from_str::<Value>(text) {
            let items = match &doc {
                Value::Array(a) => Some(a),
                d => d.get("benchmarks").and_then(Value::as_array),
            };
            for v in items.into_iter().flatten() {
                add(&mut r, v);
            }
            return r;
        }
    }
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(v @ Value::Object(_)) => add(&mut r, &v),
            _ => r.skipped += 1,
        }
    }
    r
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Options {
    /// Relative change (0.10 = 10%) below which a difference is ignored.
    pub threshold: f64,
    /// Significance level of the test.
    pub alpha: f64,
    /// Fewest samples per side for the Mann–Whitney test.
    pub min_samples: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threshold: 0.10,
            alpha: 0.01,
            min_samples: 5,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Regressed,
    Improved,
    Unchanged,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Regressed => "regressed",
            Verdict::Improved => "improved",
            Verdict::Unchanged => "unchanged",
        }
    }
}

/// How the difference was judged.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Evidence {
    /// Mann–Whitney U on the raw samples: one-sided p-value in the direction
    /// of the change.
    MannWhitney {
        p: f64,
        n_baseline: usize,
        n_current: usize,
        exact: bool,
    },
    /// No samples on one side: the confidence intervals must not overlap.
    Intervals {
        baseline: Estimate,
        current: Estimate,
        disjoint: bool,
    },
    /// Nothing to test with (estimates without intervals).
    None,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub id: String,
    pub baseline_ns: f64,
    pub current_ns: f64,
    /// current / baseline - 1.
    pub change: f64,
    pub evidence: Evidence,
    pub significant: bool,
    pub verdict: Verdict,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    pub comparisons: Vec<Comparison>,
    /// In the baseline, not in the current run.
    pub missing: Vec<String>,
    /// In the current run, not in the baseline.
    pub new: Vec<String>,
    pub options: Option<Options>,
}

impl Report {
    pub fn count(&self, v: Verdict) -> usize {
        self.comparisons.iter().filter(|c| c.verdict == v).count()
    }
    /// Fails only on regressions; missing/new benchmarks are reported only.
    pub fn failed(&self) -> bool {
        self.count(Verdict::Regressed) > 0
    }
}

pub fn compare_one(base: &Bench, cur: &Bench, o: &Options) -> Option<Comparison> {
    let b = base.typical()?;
    let c = cur.typical()?;
    if b.is_nan() || b <= 0.0 || !c.is_finite() {
        return None;
    }
    let change = c / b - 1.0;
    let slower = change > 0.0;
    let (evidence, significant) =
        if base.samples.len() >= o.min_samples && cur.samples.len() >= o.min_samples {
            let mw = stats::mann_whitney(&base.samples, &cur.samples)?;
            let p = if slower { mw.p_slower } else { mw.p_faster };
            (
                Evidence::MannWhitney {
                    p,
                    n_baseline: base.samples.len(),
                    n_current: cur.samples.len(),
                    exact: mw.exact,
                },
                p < o.alpha,
            )
        } else {
            match (base.interval(), cur.interval()) {
                (Some(bi), Some(ci)) => {
                    let disjoint = if slower {
                        ci.lower > bi.upper
                    } else {
                        ci.upper < bi.lower
                    };
                    (
                        Evidence::Intervals {
                            baseline: bi,
                            current: ci,
                            disjoint,
                        },
                        disjoint,
                    )
                }
                _ => (Evidence::None, false),
            }
        };
    let verdict = if significant && change > o.threshold {
        Verdict::Regressed
    } else if significant && change < -o.threshold {
        Verdict::Improved
    } else {
        Verdict::Unchanged
    };
    Some(Comparison {
        id: cur.id.clone(),
        baseline_ns: b,
        current_ns: c,
        change,
        evidence,
        significant,
        verdict,
    })
}

pub fn compare(baseline: &Results, current: &Results, o: &Options) -> Report {
    let mut r = Report {
        options: Some(*o),
        ..Report::default()
    };
    for (id, cur) in &current.benches {
        match baseline.benches.get(id) {
            Some(base) => match compare_one(base, cur, o) {
                Some(c) => r.comparisons.push(c),
                None => r.new.push(id.clone()),
            },
            None => r.new.push(id.clone()),
        }
    }
    r.missing = baseline
        .benches
        .keys()
        .filter(|id| !current.benches.contains_key(*id))
        .cloned()
        .collect();
    // Regressions first, worst first; then improvements; then the rest.
    r.comparisons.sort_by(|a, b| {
        a.verdict.cmp(&b.verdict).then(
            b.change
                .abs()
                .total_cmp(&a.change.abs())
                .then(a.id.cmp(&b.id)),
        )
    });
    r
}

// ------------------------------------------------------------------ output

pub fn fmt_ns(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.3} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.3} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.3} µs", ns / 1e3)
    } else {
        format!("{ns:.2} ns")
    }
}

fn fmt_p(p: f64) -> String {
    if p < 1e-3 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
    }
}

fn evidence_text(c: &Comparison) -> String {
    match c.evidence {
        Evidence::MannWhitney {
            p,
            n_baseline,
            n_current,
            exact,
        } => format!(
            "p={} (Mann-Whitney U, n={}/{}{})",
            fmt_p(p),
            n_baseline,
            n_current,
            if exact { ", exact" } else { "" }
        ),
        Evidence::Intervals {
            baseline,
            current,
            disjoint,
        } => format!(
            "CI {}..{} vs {}..{} ({})",
            fmt_ns(baseline.lower),
            fmt_ns(baseline.upper),
            fmt_ns(current.lower),
            fmt_ns(current.upper),
            if disjoint { "disjoint" } else { "overlap" }
        ),
        Evidence::None => "no interval or samples".into(),
    }
}

pub fn text(r: &Report) -> String {
    use std::fmt::Write;
    let o = r.options.unwrap_or_default();
    let mut s = String::new();
    let width = r
        .comparisons
        .iter()
        .map(|c| c.id.len())
        .max()
        .unwrap_or(10)
        .max(10);
    for c in &r.comparisons {
        let tag = match c.verdict {
            Verdict::Regressed => "REGRESSED",
            Verdict::Improved => "improved ",
            Verdict::Unchanged => "unchanged",
        };
        let why = match c.verdict {
            Verdict::Unchanged if !c.significant => "  (not significant)",
            Verdict::Unchanged => "  (within threshold)",
            _ => "",
        };
        let _ = writeln!(
            s,
            "{tag}  {:<width$}  {:>+7.1}%  {:>11} -> {:>11}  {}{why}",
            c.id,
            c.change * 100.0,
            fmt_ns(c.baseline_ns),
            fmt_ns(c.current_ns),
            evidence_text(c),
        );
    }
    for id in &r.missing {
        let _ = writeln!(
            s,
            "missing    {id}  (in baseline, not in this run; not a failure)"
        );
    }
    for id in &r.new {
        let _ = writeln!(s, "new        {id}  (not in baseline; not a failure)");
    }
    let _ = writeln!(
        s,
        "summary: {} regressed, {} improved, {} unchanged, {} missing, {} new \
         (threshold {:.0}%, p<{}) => {}",
        r.count(Verdict::Regressed),
        r.count(Verdict::Improved),
        r.count(Verdict::Unchanged),
        r.missing.len(),
        r.new.len(),
        o.threshold * 100.0,
        o.alpha,
        if r.failed() { "FAIL" } else { "OK" }
    );
    s
}

pub fn to_json(r: &Report) -> Value {
    let o = r.options.unwrap_or_default();
    let est = |e: Estimate| {
        json!({
            "estimate": e.estimate,
            "lower": e.lower,
            "upper": e.upper,
        })
    };
    let comps: Vec<Value> = r
        .comparisons
        .iter()
        .map(|c| {
            let mut v = json!({
                "id": c.id,
                "verdict": c.verdict.name(),
                "baseline_ns": c.baseline_ns,
                "current_ns": c.current_ns,
                "change_pct": c.change * 100.0,
                "significant": c.significant,
            });
            let extra = match c.evidence {
                Evidence::MannWhitney {
                    p,
                    n_baseline,
                    n_current,
                    exact,
                } => json!({
                    "test": "mann-whitney-u",
                    "p_value": p,
                    "n_baseline": n_baseline,
                    "n_current": n_current,
                    "exact": exact,
                }),
                Evidence::Intervals {
                    baseline, current, ..
                } => json!({
                    "test": "confidence-intervals",
                    "baseline_ci": est(baseline),
                    "current_ci": est(current),
                }),
                Evidence::None => json!({ "test": null }),
            };
            if let (Value::Object(m), Value::Object(x)) = (&mut v, extra) {
                m.extend(x);
            }
            v
        })
        .collect();
    json!({
        "comparisons": comps,
        "missing": r.missing,
        "new": r.new,
        "threshold_pct": o.threshold * 100.0,
        "alpha": o.alpha,
        "regressed": r.count(Verdict::Regressed),
        "improved": r.count(Verdict::Improved),
        "unchanged": r.count(Verdict::Unchanged),
        "failed": r.failed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bench(id: &str, samples: Vec<f64>) -> Bench {
        Bench {
            id: id.into(),
            mean: None,
            median: None,
            samples,
        }
    }

    /// Deterministic jitter in [-amp, +amp].
    fn noisy(n: usize, center: f64, amp: f64, seed: u64) -> Vec<f64> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let u = (x >> 11) as f64 / (1u64 << 53) as f64;
                center * (1.0 + amp * (2.0 * u - 1.0))
            })
            .collect()
    }

    #[test]
    fn slowdown_of_25_percent_is_flagged() {
        let o = Options::default();
        let b = bench("x", noisy(20, 1000.0, 0.03, 1));
        let c = bench("x", noisy(20, 1250.0, 0.03, 2));
        let r = compare_one(&b, &c, &o).unwrap();
        assert_eq!(r.verdict, Verdict::Regressed, "{r:?}");
        assert!((r.change - 0.25).abs() < 0.05);
    }

    #[test]
    fn jitter_of_3_percent_passes() {
        let o = Options::default();
        for seed in 0..50 {
            let b = bench("x", noisy(20, 1000.0, 0.03, seed));
            let c = bench("x", noisy(20, 1000.0, 0.03, seed + 1000));
            let r = compare_one(&b, &c, &o).unwrap();
            assert_eq!(r.verdict, Verdict::Unchanged, "seed {seed}: {r:?}");
        }
    }

    #[test]
    fn large_but_noisy_difference_is_not_significant() {
        // Two samples each: no MW test, intervals overlap.
        let mk = |e, l, u| Bench {
            id: "x".into(),
            mean: None,
            median: Some(Estimate {
                estimate: e,
                lower: l,
                upper: u,
            }),
            samples: vec![],
        };
        let o = Options::default();
        let r = compare_one(&mk(100.0, 80.0, 130.0), &mk(120.0, 90.0, 150.0), &o).unwrap();
        assert_eq!(r.verdict, Verdict::Unchanged);
        let r = compare_one(&mk(100.0, 98.0, 102.0), &mk(130.0, 128.0, 133.0), &o).unwrap();
        assert_eq!(r.verdict, Verdict::Regressed);
        let r = compare_one(&mk(100.0, 98.0, 102.0), &mk(70.0, 69.0, 71.0), &o).unwrap();
        assert_eq!(r.verdict, Verdict::Improved);
    }

    #[test]
    fn loads_ndjson_with_chatter() {
        let text = "running 0 tests\n\
            {\"id\":\"a/b\",\"median\":{\"estimate\":5,\"lower\":4,\"upper\":6},\"sample_ns\":[5,5.1]}\n\
            not json\n\
            {\"id\":\"c\",\"mean\":{\"estimate\":7}}\n";
        let r = load(text);
        assert_eq!(r.benches.len(), 2);
        assert_eq!(r.skipped, 2);
        assert_eq!(r.benches["a/b"].samples, vec![5.0, 5.1]);
        assert_eq!(r.benches["c"].typical(), Some(7.0));
        let arr = load("[{\"id\":\"q\",\"mean\":{\"estimate\":1}}]");
        assert_eq!(arr.benches.len(), 1);
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let r = load(
            "{\"id\":\"a\",\"mean\":{\"estimate\":1}} x\n\
            [1,\n\
            {\"id\":\"b\",\"mean\":{\"estimate\":2}}\n",
        );
        assert_eq!(r.benches.keys().collect::<Vec<_>>(), ["b"]);
        assert_eq!(r.skipped, 2);
        let doc = load("{\"benchmarks\": [{\"id\":\"q\",\"mean\":{\"estimate\":1}}]}");
        assert_eq!(doc.benches.len(), 1);
    }
}
