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

/// Command line (clap). Option names and meanings are used by the Makefile,
/// perf/README.md and CI.
#[derive(clap::Parser, Debug)]
#[command(
    name = "perf_regression_detector",
    about = "Compare benchmark results against a baseline; fail on a significant slowdown",
    after_help = "Input: one JSON object per line as printed by the bench binaries with \
                  `--output-format json` (other lines are skipped), or a JSON array of them.\n\
                  Exit status: 0 ok, 1 regression, 2 usage or input error."
)]
struct Cli {
    /// Baseline results (default: perf/baseline.json, with --instructions
    /// perf/instructions.json).
    #[arg(long, value_name = "FILE")]
    baseline: Option<String>,
    /// Current results; '-' or absent: standard input.
    #[arg(long, value_name = "FILE")]
    current: Option<String>,
    /// Smallest change that counts, in percent (a trailing % is allowed).
    #[arg(long, value_name = "PCT", default_value = "10", value_parser = parse_threshold,
          allow_negative_numbers = true)]
    threshold: f64,
    /// Significance level of the test, in (0, 1).
    #[arg(long, value_name = "P", default_value = "0.01", value_parser = parse_alpha)]
    alpha: f64,
    /// Fewest samples per side for Mann-Whitney U; below that, confidence
    /// intervals are compared.
    #[arg(long, value_name = "N", default_value_t = 5)]
    min_samples: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// FILEs are `rtp_perf_compare --instructions --format json` output:
    /// compare ours' instructions per packet (callgrind); regressed = more
    /// than --threshold above the baseline.
    #[arg(long)]
    instructions: bool,
    /// Print the comparison, exit 0 whatever it says.
    #[arg(long)]
    report_only: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

/// Percent (`25` or `25%`) -> fraction.
fn parse_threshold(v: &str) -> Result<f64, String> {
    match v.trim_end_matches('%').parse::<f64>() {
        Ok(pct) if pct >= 0.0 && pct.is_finite() => Ok(pct / 100.0),
        _ => Err(format!("{v:?} is not a percentage >= 0")),
    }
}

fn parse_alpha(v: &str) -> Result<f64, String> {
    match v.parse::<f64>() {
        Ok(p) if p > 0.0 && p < 1.0 => Ok(p),
        _ => Err(format!("{v:?} is not a probability in (0, 1)")),
    }
}

#[derive(Debug)]
struct Args {
    baseline: String,
    current: Option<String>,
    options: Options,
    json: bool,
    instructions: bool,
    report_only: bool,
}

impl From<Cli> for Args {
    fn from(c: Cli) -> Args {
        let baseline = c.baseline.unwrap_or_else(|| {
            default_baseline(if c.instructions {
                "instructions.json"
            } else {
                "baseline.json"
            })
        });
        Args {
            baseline,
            current: c.current,
            options: Options {
                threshold: c.threshold,
                alpha: c.alpha,
                min_samples: c.min_samples,
            },
            json: c.format == Format::Json,
            instructions: c.instructions,
            report_only: c.report_only,
        }
    }
}

fn default_baseline(file: &str) -> String {
    let local = format!("perf/{file}");
    if std::path::Path::new(&local).exists() {
        return local;
    }
    format!("{}/perf/{file}", env!("CARGO_MANIFEST_DIR"))
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
    // Usage errors: clap's message naming the option, exit status 2.
    let args = Args::from(<Cli as clap::Parser>::parse());
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

    fn args(v: &[&str]) -> Result<Args, clap::Error> {
        let argv = std::iter::once("perf_regression_detector").chain(v.iter().copied());
        <Cli as clap::Parser>::try_parse_from(argv).map(Args::from)
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
        let e = args(&["--alpha", "2"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("--alpha"), "{e}");
        assert!(args(&["--alpha", "2"]).is_err());
        assert!(args(&["--threshold"]).is_err());
        assert!(args(&[]).unwrap().baseline.ends_with("perf/baseline.json"));
        let i = args(&["--instructions", "--report-only"]).unwrap();
        assert!(i.instructions && i.report_only);
        assert!(i.baseline.ends_with("perf/instructions.json"));
    }
}
