//! `--output-format json` for every criterion bench binary that says
//! `mod common;`.
//!
//! Criterion 0.8's CLI only knows `--output-format criterion|bencher`, so
//! `cargo bench --features performance -- --output-format json` would make
//! every bench binary exit with a usage error. A constructor that runs before
//! `main` (an `.init_array` entry, Linux/ELF) looks for the flag; when it is
//! there it re-runs this same binary without it, with the child's stdout
//! (criterion's human report) sent to our stderr, then reads criterion's own
//! statistics (`<criterion dir>/<id>/new/{benchmark,estimates,sample}.json`)
//! of every benchmark that run wrote, prints one JSON object per benchmark
//! per line (NDJSON) on stdout and exits with the child's status. Without
//! the flag it returns at once and `criterion_main!` runs as usual.
//!
//! The criterion directory is found as criterion finds it: `$CRITERION_HOME`,
//! else `$CARGO_TARGET_DIR/criterion`, else the target directory from
//! `cargo metadata` (cargo sets `$CARGO` for bench binaries), else
//! `target/criterion`.
//!
//! One line looks like (sample arrays shortened):
//! `{"schema":"rsrtpfast-bench/1","id":"rtp/write_header/64","unit":"ns",
//! "mean":{"estimate":51.2,"lower":50.9,"upper":51.6,"standard_error":0.17,
//! "confidence_level":0.95},"median":{...},"std_dev":..,"median_abs_dev":..,
//! "sample_count":10,"iterations":5500,"sample_ns":[51.0,...],...}`
//! All times are nanoseconds per iteration (per `b.iter` call), in whatever
//! clock the bench binary's `Criterion` measures (`rtp_suite`: thread CPU
//! time; `pool`: wall clock).
#![allow(dead_code)]

use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

pub const SCHEMA: &str = "rsrtpfast-bench/1";

#[used]
#[link_section = ".init_array"]
static JSON_OUTPUT_HOOK: extern "C" fn() = json_output_hook;

extern "C" fn json_output_hook() {
    // std's own argv capture is also an .init_array entry with no ordering
    // guarantee against this one, so read the command line from /proc.
    let Ok(raw) = std::fs::read("/proc/self/cmdline") else {
        return;
    };
    let args: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let Some(rest) = strip_json_flag(&args[1.min(args.len())..]) else {
        return;
    };
    std::process::exit(run_json(&rest));
}

/// The arguments without `--output-format json` / `--output-format=json`,
/// or None when the flag is not there.
pub fn strip_json_flag(args: &[String]) -> Option<Vec<String>> {
    let mut out = Vec::with_capacity(args.len());
    let mut found = false;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--output-format" && args.get(i + 1).map(String::as_str) == Some("json") {
            found = true;
            i += 2;
            continue;
        }
        if a == "--output-format=json" {
            found = true;
            i += 1;
            continue;
        }
        out.push(a.clone());
        i += 1;
    }
    found.then_some(out)
}

fn run_json(args: &[String]) -> i32 {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("bench json: cannot find own executable: {e}");
            return 2;
        }
    };
    let start = SystemTime::now();
    let stderr = match std::io::stderr().as_fd().try_clone_to_owned() {
        Ok(fd) => Stdio::from(fd),
        Err(_) => Stdio::inherit(),
    };
    let status = Command::new(&exe).args(args).stdout(stderr).status();
    let code = match status {
        Ok(s) => s.code().unwrap_or(1),
        Err(e) => {
            eprintln!("bench json: cannot run {}: {e}", exe.display());
            return 2;
        }
    };
    let binary = exe
        .file_stem()
        .and_then(|s| s.to_str())
        .map(|s| {
            s.rsplit_once('-')
                .map_or(s, |(name, _hash)| name)
                .to_string()
        })
        .unwrap_or_default();
    let dir = criterion_dir();
    let mut lines = collect(&dir, start, &binary);
    lines.sort_by_key(|l| l.0);
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for (_, v) in &lines {
        let _ = writeln!(out, "{v}");
    }
    let _ = out.flush();
    if lines.is_empty() && code == 0 && args.iter().any(|a| a == "--bench") {
        eprintln!(
            "bench json: {binary}: no criterion results newer than this run under {}",
            dir.display()
        );
    }
    code
}

use std::os::fd::AsFd;

/// Where criterion writes `<id>/new/*.json` (same order of lookups as
/// criterion 0.8).
pub fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(t).join("criterion");
    }
    if let Some(cargo) = std::env::var_os("CARGO") {
        if let Ok(o) = Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .stderr(Stdio::null())
            .output()
        {
            if let Ok(v) = serde_json::from_slice::<Value>(&o.stdout) {
                if let Some(t) = v.get("target_directory").and_then(Value::as_str) {
                    return PathBuf::from(t).join("criterion");
                }
            }
        }
    }
    PathBuf::from("target/criterion")
}

fn read_json(p: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(p).ok()?).ok()
}

/// Every `new/` result written since `since`, as (write time, JSON line).
fn collect(dir: &Path, since: SystemTime, binary: &str) -> Vec<(SystemTime, Value)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if !p.is_dir() {
                continue;
            }
            if p.file_name().is_some_and(|n| n == "new") {
                let est = p.join("estimates.json");
                let Some(t) = std::fs::metadata(&est).and_then(|m| m.modified()).ok() else {
                    continue;
                };
                if t < since {
                    continue;
                }
                if let Some(v) = record(&p, binary) {
                    out.push((t, v));
                }
            } else if p.file_name().is_some_and(|n| n != "report" && n != "base") {
                stack.push(p);
            }
        }
    }
    out
}

fn interval(est: &Value, key: &str) -> Value {
    let e = &est[key];
    if e.is_null() {
        return Value::Null;
    }
    json!({
        "estimate": e["point_estimate"],
        "lower": e["confidence_interval"]["lower_bound"],
        "upper": e["confidence_interval"]["upper_bound"],
        "standard_error": e["standard_error"],
        "confidence_level": e["confidence_interval"]["confidence_level"],
    })
}

/// One benchmark's line from criterion's files in `new_dir`.
pub fn record(new_dir: &Path, binary: &str) -> Option<Value> {
    let bench = read_json(&new_dir.join("benchmark.json"))?;
    let est = read_json(&new_dir.join("estimates.json"))?;
    let sample = read_json(&new_dir.join("sample.json"))?;
    let iters: Vec<f64> = sample["iters"]
        .as_array()?
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    let times: Vec<f64> = sample["times"]
        .as_array()?
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    let per_iter: Vec<Value> = iters
        .iter()
        .zip(&times)
        .filter(|(n, _)| **n > 0.0)
        .map(|(n, t)| json!((t / n * 1000.0).round() / 1000.0))
        .collect();
    let mut m = Map::new();
    m.insert("schema".into(), json!(SCHEMA));
    m.insert("id".into(), bench["full_id"].clone());
    m.insert("group".into(), bench["group_id"].clone());
    m.insert("function".into(), bench["function_id"].clone());
    m.insert("value".into(), bench["value_str"].clone());
    m.insert("bench_binary".into(), json!(binary));
    m.insert("unit".into(), json!("ns"));
    m.insert("mean".into(), interval(&est, "mean"));
    m.insert("median".into(), interval(&est, "median"));
    m.insert("slope".into(), interval(&est, "slope"));
    m.insert("std_dev".into(), est["std_dev"]["point_estimate"].clone());
    m.insert(
        "median_abs_dev".into(),
        est["median_abs_dev"]["point_estimate"].clone(),
    );
    m.insert("sample_count".into(), json!(per_iter.len()));
    m.insert("iterations".into(), json!(iters.iter().sum::<f64>() as u64));
    m.insert("sampling_mode".into(), sample["sampling_mode"].clone());
    m.insert("throughput".into(), bench["throughput"].clone());
    m.insert("sample_ns".into(), Value::Array(per_iter));
    Some(Value::Object(m))
}
