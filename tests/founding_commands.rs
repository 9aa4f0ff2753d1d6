//! The founding document's commands, run as written (criterion runs shortened
//! with `--sample-size 10 --warm-up-time 0.1 --measurement-time 0.1`, the
//! compare tool limited to H.264 with few frames), so they stay true:
//!
//!     cargo bench --features="performance" -- --output-format json | tee perf_results.json
//!     cargo run --bin rtp_perf_compare -- --baseline=c_implementation --current=rust_optimized
//!     valgrind --tool=massif cargo test performance::buffer_pool --release
//!     heaptrack cargo bench buffer_pool_performance
//!     cargo test h264::pay::performance
//!     cargo test h265::pay::performance
//!
//! Each runs a nested `cargo` in this package with the usual target directory
//! (cargo does not hold the build lock while tests run), so after the first
//! run only what changed is rebuilt. The first run builds every target in
//! release (`cargo test --release` builds them all) and in the dev profile
//! without features: several minutes on a 2-core machine; later runs with
//! nothing to rebuild take about a minute. valgrind and heaptrack must be
//! installed (`make deps` installs both): without one, its test fails.
//! Measured here (2 shared cores, other builds running): 36 min for the
//! first run (release and dev builds of every target); the commands
//! themselves, once built, take a few minutes (the criterion suite is most
//! of it).
//!
//! The commands run one at a time (a lock), since each one builds or
//! measures on all cores. The `--release` one is `#[ignore]`d (its build is
//! the 36 minutes); `make founding-commands` runs all six.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const SHORT_CRITERION: &str = "--sample-size 10 --warm-up-time 0.1 --measurement-time 0.1";

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rsrtpfast-founding-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Run `script` with bash (`pipefail`, like a careful shell) in the package
/// directory; panics with both outputs when it fails.
fn sh(script: &str) -> Output {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let out = Command::new("bash")
        .args(["-o", "pipefail", "-c", script])
        .current_dir(manifest_dir())
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "`{script}` failed: {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        tail(&String::from_utf8_lossy(&out.stderr), 60)
    );
    out
}

fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

fn tool_present(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `cmd` run under `tool` as `prefix cmd`. A missing tool fails the test
/// (`make deps` installs it): the command is the tool's, not cargo's alone.
fn sh_under(tool: &str, prefix: &str, cmd: &str) -> Output {
    assert!(
        tool_present(tool),
        "{tool} is not installed (make deps installs it): cannot run `{prefix} {cmd}`"
    );
    sh(&format!("{prefix} {cmd}"))
}

/// Test names libtest reported as passed (`test <name> ... ok`).
fn passed_tests(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test ")?.strip_suffix(" ... ok"))
        .map(String::from)
        .collect()
}

#[test]
fn cargo_bench_json_tee() {
    let dir = scratch("bench");
    let file = dir.join("perf_results.json");
    let out = sh(&format!(
        "cargo bench --features=\"performance\" -- --output-format json {SHORT_CRITERION} | tee {}",
        file.display()
    ));
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        written,
        String::from_utf8_lossy(&out.stdout),
        "tee wrote stdout"
    );
    let mut ids = Vec::new();
    for line in written.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
        assert_eq!(v["schema"], "rsrtpfast-bench/1", "{line}");
        assert!(v["mean"]["estimate"].as_f64().is_some_and(|m| m > 0.0));
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    assert!(
        ids.iter()
            .any(|i| i.starts_with("buffer_pool_performance/")),
        "pool bench ran: {ids:?}"
    );
    assert!(ids.iter().any(|i| i.starts_with("rtp/")), "rtp_suite ran");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn rtp_perf_compare_c_vs_rust() {
    let out = sh(
        "cargo run --bin rtp_perf_compare -- --baseline=c_implementation --current=rust_optimized \
         --only h264pay,h264depay --frames 5 --rounds 1 --min-packets 200",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for element in [
        "rtph264pay",
        "rtpfasth264pay",
        "rtph264depay",
        "rtpfasth264depay",
    ] {
        assert!(text.contains(element), "{element} missing from:\n{text}");
    }
}

/// Ignored in `cargo test` (so in CI): `cargo test --release` builds every
/// test target in the release profile with thin LTO, ~20-30 minutes on 2
/// cores on top of the rest. `make founding-commands` runs it with the others.
#[test]
#[ignore = "builds every test target in release (~20-30 min): make founding-commands"]
fn massif_cargo_test_buffer_pool_release() {
    let dir = scratch("massif");
    let cmd = "cargo test performance::buffer_pool --release";
    let out = sh_under(
        "valgrind",
        &format!(
            "valgrind --tool=massif --massif-out-file={}/massif.out.%p",
            dir.display()
        ),
        cmd,
    );
    let passed = passed_tests(&String::from_utf8_lossy(&out.stdout));
    let pool: Vec<_> = passed
        .iter()
        .filter(|t| t.starts_with("performance::buffer_pool::"))
        .collect();
    assert!(
        pool.len() >= 3,
        "performance::buffer_pool selected {pool:?} (all passed: {passed:?})"
    );
    // No check on massif's profile: with rustup, `cargo` is a proxy that
    // execs the toolchain's cargo, and valgrind (no --trace-children) stops
    // at that exec, so the command as written profiles no Rust code and
    // writes no file. What it does do, and what is checked, is select and
    // run the pool's fast-path tests.
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn heaptrack_cargo_bench_buffer_pool_performance() {
    let dir = scratch("heaptrack");
    let cmd = format!("cargo bench buffer_pool_performance -- {SHORT_CRITERION}");
    let out = sh_under(
        "heaptrack",
        &format!("heaptrack -o {}/heaptrack.cargo", dir.display()),
        &cmd,
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Criterion's report starts each benchmark with its id (group/function/
    // parameter) at the start of a line; nothing else it or heaptrack prints
    // there has a '/' in its first word.
    let ran: Vec<&str> = all
        .lines()
        .filter(|l| !l.starts_with(char::is_whitespace))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.contains('/') && !w.starts_with('/') && !w.ends_with(':'))
        .collect();
    assert!(
        !ran.is_empty()
            && ran
                .iter()
                .all(|id| id.starts_with("buffer_pool_performance/")),
        "benchmarks run: {ran:?}\n{}",
        tail(&all, 40)
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn nal_pay_performance(format: &str) {
    let out = sh(&format!("cargo test {format}::pay::performance"));
    let passed = passed_tests(&String::from_utf8_lossy(&out.stdout));
    let prefix = format!("elements::{format}::pay::performance::");
    let selected: Vec<_> = passed.iter().filter(|t| t.starts_with(&prefix)).collect();
    assert!(selected.len() >= 3, "{format}: {passed:?}");
}

#[test]
fn cargo_test_h264_pay_performance() {
    nal_pay_performance("h264");
}

#[test]
fn cargo_test_h265_pay_performance() {
    nal_pay_performance("h265");
}
