//! `make demo` (examples/loopback.rs), short: runs the real example code in a
//! child process (this test binary started again with
//! `LOOPBACK_CHILD_ARGS`, as tests/monitor_example.rs does, so no nested
//! cargo build) and checks its table: one block per format, every row there
//! with numbers in both columns, frames sent = frames decoded and the same
//! for stock and ours, and a clap usage error for a bad argument.

#[allow(dead_code)]
#[path = "../examples/loopback.rs"]
mod loopback;

use std::process::Command;

const CHILD_ENV: &str = "LOOPBACK_CHILD_ARGS";

/// Runs the example with the arguments in `LOOPBACK_CHILD_ARGS` (one per
/// line) when started by the tests below; otherwise does nothing.
#[test]
fn loopback_child() {
    let Ok(args) = std::env::var(CHILD_ENV) else {
        return;
    };
    let argv = std::iter::once("loopback".to_string()).chain(args.lines().map(String::from));
    std::process::exit(loopback::run_cli(argv));
}

fn run_example(args: &[&str]) -> std::process::Output {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "loopback_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, args.join("\n"))
        // Set from the start, so the child's GLib sends slices to malloc.
        .env("G_SLICE", "always-malloc")
        .env(
            "GST_REGISTRY",
            std::env::temp_dir().join("rsrtpfast-demo-test-registry.bin"),
        )
        .output()
        .expect("start the child")
}

/// The numbers of the row `label` of the table block that starts with
/// `title`: (stock, ours).
fn row(out: &str, title: &str, label: &str) -> (f64, f64) {
    let block = out
        .split("\n\n")
        .find(|b| b.trim_start().starts_with(title))
        .unwrap_or_else(|| panic!("no block {title:?} in:\n{out}"));
    let line = block
        .lines()
        .find(|l| l.trim_start().starts_with(label))
        .unwrap_or_else(|| panic!("no row {label:?} in:\n{block}"));
    let nums: Vec<f64> = line
        .trim_start()
        .strip_prefix(label)
        .unwrap()
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(nums.len() >= 2, "row {label:?} has no two numbers: {line}");
    (nums[0], nums[1])
}

#[test]
fn short_run_prints_a_matching_table() {
    let out = run_example(&["--frames", "20", "--audio-frames", "40", "--rounds", "2"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("per thread, G_SLICE=always-malloc"),
        "{stdout}"
    );
    assert!(!stdout.contains("NOT ACTIVE"), "{stdout}");
    // The medians of 2 rounds, with the spread.
    assert_eq!(
        stdout.matches("2 rounds, CPU ns/packet min-max").count(),
        3,
        "{stdout}"
    );
    // L16 counts audio frames: 40 buffers of 960.
    for (title, sent) in [("H.264", 20.0), ("Opus", 40.0), ("L16", 40.0 * 960.0)] {
        let header = stdout
            .split("\n\n")
            .find(|b| b.trim_start().starts_with(title))
            .and_then(|b| b.lines().nth(1))
            .unwrap_or_else(|| panic!("no {title} table:\n{stdout}"));
        assert!(header.contains("stock rtp") && header.contains("ours rtpfast"));
        assert!(header.contains("stock/ours"));
        // opusenc flushes one more frame at EOS than it was given.
        let (s, o) = row(&stdout, title, "frames sent");
        assert_eq!(s, o, "{title}: stock and ours sent the same frames");
        let extra = if title == "Opus" { 1.0 } else { 0.0 };
        assert!(
            s >= sent && s <= sent + extra,
            "{title}: sent {s} of {sent}"
        );
        let (ds, d_o) = row(&stdout, title, "frames decoded");
        assert_eq!((ds, d_o), (s, o), "{title}: every frame sent was decoded");
        let (ps, po) = row(&stdout, title, "RTP packets sent");
        let (rs, ro) = row(&stdout, title, "RTP packets received");
        assert!(ps > 0.0 && po > 0.0, "{title}: packets {ps} {po}");
        assert_eq!((rs, ro), (ps, po), "{title}: every packet arrived");
        for label in [
            "pay CPU ns/packet",
            "depay CPU ns/packet",
            "pay allocs/packet",
            "depay allocs/packet",
        ] {
            let (s, o) = row(&stdout, title, label);
            assert!(s > 0.0, "{title} {label}: stock measured nothing");
            assert!(o >= 0.0, "{title} {label}");
        }
        let (s, o) = row(&stdout, title, "pay CPU ns/packet");
        assert!(o > 0.0 && s > 0.0, "{title}: pay CPU {s} {o}");
    }
}

#[test]
fn bad_argument_is_a_usage_error() {
    let out = run_example(&["--formats", "vp9"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown format"));
    let out = run_example(&["--frames", "many"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--frames"));
}
