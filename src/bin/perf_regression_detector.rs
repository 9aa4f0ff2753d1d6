//! Compare criterion results (the JSON lines of
//! `cargo bench --features performance -- --output-format json`) against a
//! baseline and fail when a benchmark got slower beyond noise.
//!
//!     cargo bench --features="performance" -- --output-format json | cargo run --bin perf_regression_detector
//!     perf_regression_detector --baseline perf/baseline.json --current perf_results.json
//!
//! A benchmark is *regressed* when its typical time (median of the raw
//! per-iteration samples) grew by more than `--threshold` percent AND the
//! growth is significant: one-sided Mann–Whitney U p < `--alpha` when both
//! files carry samples, otherwise disjoint confidence intervals (criterion's
//! median CI, else mean CI). Improvements are judged the same way in the
//! other direction. Missing and new benchmarks are listed, never a failure.
//!
//! With `--instructions`, both files are `rtp_perf_compare --instructions
//! --format json` documents instead, and ours' instructions per packet are
//! compared (`instr.rs`): deterministic, so this is what CI gates on.
//! `--report-only` prints the comparison and exits 0 (CI's timing run: a
//! baseline of times from another machine says nothing).
//!
//! Exit status: 0 no regression, 1 at least one regression, 2 bad usage or
//! unreadable/empty input.

#[path = "perf_regression_detector/compare.rs"]
mod compare;
#[path = "perf_regression_detector/instr.rs"]
mod instr;
#[path = "perf_regression_detector/stats.rs"]
mod stats;

use compare::Options;
use std::io::Read;
use std::process::ExitCode;

const USAGE: &str = "\
usage: perf_regression_detector [--baseline FILE] [--current FILE|-]
                                [--threshold PCT] [--alpha P] [--min-samples N]
                                [--format text|json] [--instructions] [--report-only]

  --baseline FILE   baseline results (default: perf/baseline.json,
                    with --instructions perf/instructions.json)
  --current FILE    current results; '-' or absent: standard input
  --threshold PCT   smallest change that counts, in percent (default 10)
  --alpha P         significance level of the test (default 0.01)
  --min-samples N   fewest samples per side for Mann-Whitney U (default 5);
                    below that, confidence intervals are compared
  --format F        text (default) or json
  --instructions    FILEs are `rtp_perf_compare --instructions --format json`
                    output: compare ours' instructions per packet (callgrind);
                    regressed = more than --threshold above the baseline
  --report-only     print the comparison, exit 0 whatever it says

Input: one JSON object per line as printed by the bench binaries with
`--output-format json` (other lines are skipped), or a JSON array of them.
Exit status: 0 ok, 1 regression, 2 usage or input error.";

struct Args {
    baseline: String,
    current: Option<String>,
    options: Options,
    json: bool,
    instructions: bool,
    report_only: bool,
}

fn default_baseline(file: &str) -> String {
    let local = format!("perf/{file}");
    if std::path::Path::new(&local).exists() {
        return local;
    }
    format!("{}/perf/{file}", env!("CARGO_MANIFEST_DIR"))
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        baseline: String::new(),
        current: None,
        options: Options::default(),
        json: false,
        instructions: false,
        report_only: false,
    };
    while let Some(arg) = it.next() {
        let (key, inline) = match arg.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match key.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--baseline" => a.baseline = value("--baseline")?,
            "--current" => a.current = Some(value("--current")?),
            "--threshold" => {
                let v = value("--threshold")?;
                let pct: f64 = v
                    .trim_end_matches('%')
                    .parse()
                    .map_err(|_| format!("bad --threshold {v}"))?;
                if pct.is_nan() || pct < 0.0 {
                    return Err(format!("bad --threshold {v}"));
                }
                a.options.threshold = pct / 100.0;
            }
            "--alpha" => {
                let v = value("--alpha")?;
                a.options.alpha = v
                    .parse()
                    .ok()
                    .filter(|p: &f64| *p > 0.0 && *p < 1.0)
                    .ok_or_else(|| format!("bad --alpha {v}"))?;
            }
            "--min-samples" => {
                let v = value("--min-samples")?;
                a.options.min_samples = v.parse().map_err(|_| format!("bad --min-samples {v}"))?;
            }
            "--instructions" => a.instructions = true,
            "--report-only" => a.report_only = true,
            "--format" => match value("--format")?.as_str() {
                "json" => a.json = true,
                "text" => a.json = false,
                f => return Err(format!("unknown --format {f}")),
            },
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.baseline.is_empty() {
        a.baseline = default_baseline(if a.instructions {
            "instructions.json"
        } else {
            "baseline.json"
        });
    }
    Ok(a)
}

fn read_input(path: Option<&str>) -> Result<String, String> {
    match path {
        None | Some("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| format!("stdin: {e}"))?;
            Ok(s)
        }
        Some(p) => std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}")),
    }
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("perf_regression_detector: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.instructions {
        return instructions_main(&args);
    }
    let load = |p: Option<&str>, what: &str| -> Result<compare::Results, String> {
        let r = compare::load(&read_input(p)?);
        if r.benches.is_empty() {
            return Err(format!(
                "{what} ({}): no benchmark results found",
                p.unwrap_or("stdin")
            ));
        }
        for id in &r.duplicates {
            eprintln!("perf_regression_detector: {what}: {id} appears more than once; the last one counts");
        }
        Ok(r)
    };
    let (baseline, current) = match load_both(&args, load) {
        Ok(both) => both,
        Err(code) => return code,
    };
    let report = compare::compare(&baseline, &current, &args.options);
    if args.json {
        println!("{}", compare::to_json(&report));
    } else {
        eprintln!(
            "baseline: {} ({} benchmarks), current: {} ({} benchmarks)",
            args.baseline,
            baseline.benches.len(),
            args.current.as_deref().unwrap_or("stdin"),
            current.benches.len()
        );
        print!("{}", compare::text(&report));
    }
    verdict_exit(report.failed(), &args)
}

/// Baseline and current through `load`, or exit status 2 with the reason.
fn load_both<T>(
    args: &Args,
    load: impl Fn(Option<&str>, &str) -> Result<T, String>,
) -> Result<(T, T), ExitCode> {
    match (
        load(Some(&args.baseline), "baseline"),
        load(args.current.as_deref(), "current"),
    ) {
        (Ok(b), Ok(c)) => Ok((b, c)),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("perf_regression_detector: {e}");
            Err(ExitCode::from(2))
        }
    }
}

fn verdict_exit(failed: bool, args: &Args) -> ExitCode {
    if failed && args.report_only {
        eprintln!("perf_regression_detector: --report-only: not failing");
    }
    if failed && !args.report_only {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `--instructions`: instructions per packet against the baseline.
fn instructions_main(args: &Args) -> ExitCode {
    let load = |p: Option<&str>, what: &str| -> Result<instr::Run, String> {
        let run = instr::load(&read_input(p)?)
            .map_err(|e| format!("{what} ({}): {e}", p.unwrap_or("stdin")))?;
        if run.pairs.is_empty() {
            return Err(format!(
                "{what} ({}): no instruction counts (run rtp_perf_compare with --instructions)",
                p.unwrap_or("stdin")
            ));
        }
        Ok(run)
    };
    let (baseline, current) = match load_both(args, load) {
        Ok(both) => both,
        Err(code) => return code,
    };
    if baseline.arch != current.arch {
        // Another CPU family runs other code: nothing to compare with.
        println!(
            "SKIPPED: {}",
            instr::incomparable(&baseline, &current).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    if let Some(why) = instr::incomparable(&baseline, &current) {
        eprintln!("perf_regression_detector: {why}");
        return ExitCode::from(2);
    }
    let report = instr::compare(&baseline, &current, args.options.threshold);
    if args.json {
        println!("{}", instr::to_json(&report));
    } else {
        eprintln!(
            "baseline: {} ({} pairs), current: {} ({} pairs), simd={}",
            args.baseline,
            baseline.pairs.len(),
            args.current.as_deref().unwrap_or("stdin"),
            current.pairs.len(),
            current.simd.as_deref().unwrap_or("unknown"),
        );
        print!("{}", instr::text(&report));
    }
    verdict_exit(report.failed(), args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Result<Args, String> {
        parse_args(v.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_options() {
        let a = args(&[
            "--baseline",
            "b.json",
            "--current=c.json",
            "--threshold",
            "25%",
            "--alpha=0.05",
            "--format",
            "json",
        ])
        .unwrap();
        assert_eq!(a.baseline, "b.json");
        assert_eq!(a.current.as_deref(), Some("c.json"));
        assert!((a.options.threshold - 0.25).abs() < 1e-12);
        assert_eq!(a.options.alpha, 0.05);
        assert!(a.json);
        assert!(args(&["--bogus"]).is_err());
        assert!(args(&["--alpha", "2"]).is_err());
        assert!(args(&["--threshold"]).is_err());
        assert!(args(&[]).unwrap().baseline.ends_with("perf/baseline.json"));
        let i = args(&["--instructions", "--report-only"]).unwrap();
        assert!(i.instructions && i.report_only);
        assert!(i.baseline.ends_with("perf/instructions.json"));
    }
}
