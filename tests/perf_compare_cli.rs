//! Tests for the rtp_perf_compare tool and its malloc-counting interposer.

#[path = "../src/alloc_counter.rs"]
mod alloc_counter;

use std::process::Command;

/// The interposer is live in this test binary and sees GStreamer's
/// allocations (GstMemory + data of a sized buffer always go through malloc).
#[test]
fn counter_counts_gst_buffer_allocation() {
    gst::init().unwrap();
    assert!(alloc_counter::is_active(), "malloc interposer not active");
    let a0 = alloc_counter::allocations();
    let f0 = alloc_counter::frees();
    let b = gst::Buffer::with_size(4096).unwrap();
    let a1 = alloc_counter::allocations();
    assert!(a1 > a0, "gst::Buffer::with_size(4096) not counted");
    drop(b);
    assert!(
        alloc_counter::frees() > f0,
        "freeing the buffer not counted"
    );
}

/// Child half of `g_slice_always_malloc_makes_buffer_structs_visible`: runs
/// only when started by it, with G_SLICE=always-malloc in the environment
/// from process start (GLib may read it before main).
#[test]
fn child_buffer_new_counted() {
    if std::env::var_os("RTP_PERF_CHILD").is_none() {
        return;
    }
    gst::init().unwrap();
    let a0 = alloc_counter::allocations();
    let v: Vec<gst::Buffer> = (0..64).map(|_| gst::Buffer::new()).collect();
    let n = alloc_counter::allocations() - a0;
    drop(v);
    assert!(n >= 64, "64 gst::Buffer::new() -> only {n} mallocs");
}

#[test]
fn g_slice_always_malloc_makes_buffer_structs_visible() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_buffer_new_counted", "--nocapture"])
        .env("G_SLICE", "always-malloc")
        .env("RTP_PERF_CHILD", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
}

fn run_tool(args: &[&str]) -> (std::process::ExitStatus, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rtp_perf_compare"))
        .args(args)
        .env(
            "GST_REGISTRY",
            std::env::temp_dir().join("rtp_perf_compare_test_registry.bin"),
        )
        .output()
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn tiny_json_run_has_fields_and_stock_packets() {
    let (status, stdout, stderr) = run_tool(&[
        "--rounds",
        "1",
        "--only",
        "h264pay",
        "--format",
        "json",
        "--frames",
        "10",
        "--min-packets",
        "1",
        "--streams",
        "2",
    ]);
    assert!(status.success(), "tool failed: {stderr}");
    let v: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"));
    for k in [
        "machine",
        "date",
        "command_line",
        "gstreamer_version",
        "config",
        "pairs",
    ] {
        assert!(v.get(k).is_some(), "missing {k}");
    }
    assert_eq!(v["alloc_counter"]["active"], true);
    assert_eq!(v["alloc_counter"]["g_slice_always_malloc"], true);
    let pairs = v["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 1);
    let p = &pairs[0];
    assert_eq!(p["name"], "h264pay");
    assert_eq!(p["input_frames"], 10);
    let stock = &p["stock"];
    assert_eq!(stock["element"], "rtph264pay");
    assert_eq!(stock["status"], "ok", "{stock}");
    assert!(stock["packets_per_round"].as_u64().unwrap() > 0);
    assert!(stock["ns_per_packet"]["mean"].as_f64().unwrap() > 0.0);
    for k in [
        "packets_per_s",
        "gbit_per_s",
        "push_latency_ns",
        "allocs_per_packet",
        "resident_bytes_per_stream",
    ] {
        assert!(stock.get(k).is_some(), "stock lacks {k}");
    }
    assert!(stock["allocs_per_packet"].as_f64().unwrap() > 0.0);
    // Ours is either measured or explicitly "not yet", never missing.
    let ours = &p["ours"];
    assert_eq!(ours["element"], "rtpfasth264pay");
    let st = ours["status"].as_str().unwrap();
    assert!(st == "ok" || st == "not yet", "ours status {st}");
    if st == "ok" {
        assert!(p["ratio_stock_over_ours"]["mean"].as_f64().unwrap() > 0.0);
    }
}

#[test]
fn rsrtp_baseline_skips_cleanly_when_missing() {
    gst::init().unwrap();
    if gst::ElementFactory::find("rtph264pay2").is_some() {
        return; // gst-plugins-rs installed: nothing to check here
    }
    let (status, stdout, stderr) = run_tool(&["--baseline=rust_rsrtp"]);
    assert!(status.success(), "{stderr}");
    assert!(
        stdout.contains("skipped") && stdout.contains("not installed"),
        "{stdout}"
    );
}

#[test]
fn bad_option_is_an_error() {
    let (status, _, stderr) = run_tool(&["--no-such-option"]);
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("unknown option"));
}

/// `--instructions` under valgrind callgrind: positive instructions/packet
/// for stock, ours and (depayloader) the valve floor, and the printed ratios
/// are the quotients of the printed counts. Few frames: valgrind is ~50x
/// slower. valgrind is required (scripts/install-deps.sh installs it).
#[test]
fn instructions_per_packet_under_callgrind() {
    match Command::new("valgrind").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        other => panic!(
            "valgrind is required for rtp_perf_compare --instructions and this test \
             (scripts/install-deps.sh installs it; apt-get install valgrind): {other:?}"
        ),
    }
    let (status, stdout, stderr) = run_tool(&[
        "--instructions",
        "--only",
        "h264pay,h264depay",
        "--frames",
        "2",
        "--rounds",
        "1",
        "--min-packets",
        "1",
        "--streams",
        "0",
    ]);
    assert!(status.success(), "tool failed: {stderr}\n{stdout}");
    let table = stdout
        .split("== summary (instructions/packet")
        .nth(1)
        .unwrap_or_else(|| panic!("no instructions summary in:\n{stdout}"));
    let row = |pair: &str| -> Vec<String> {
        table
            .lines()
            .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
            .find(|w| w.first().map(String::as_str) == Some(pair))
            .unwrap_or_else(|| panic!("no {pair} row in:\n{table}"))
    };
    let count = |w: &[String], i: usize| -> f64 {
        let v: f64 = w[i]
            .parse()
            .unwrap_or_else(|_| panic!("column {i} not a count: {w:?}"));
        assert!(v > 0.0, "column {i} not positive: {w:?}");
        v
    };
    let ratio = |w: &[String], i: usize| -> f64 {
        w[i].strip_suffix('x')
            .and_then(|r| r.parse().ok())
            .unwrap_or_else(|| panic!("column {i} not a ratio: {w:?}"))
    };
    // Columns: pair, instr stock, instr ours, instr valve, instr identity,
    // stock/ours, ours/valve, ns stock, ns ours, ns valve, ns stock/ours.
    let close = |printed: f64, a: f64, b: f64| {
        assert!(
            (printed - a / b).abs() <= 0.006,
            "printed ratio {printed} != {a}/{b} = {}\n{table}",
            a / b
        )
    };
    let d = row("h264depay");
    let (s, o, f, i) = (count(&d, 1), count(&d, 2), count(&d, 3), count(&d, 4));
    // identity pushes every packet on: more than the floor, which pushes none.
    assert!(i > f, "identity {i} <= valve {f}: {d:?}");
    close(ratio(&d, 5), s, o);
    close(ratio(&d, 6), o, f);
    let p = row("h264pay");
    let (s, o) = (count(&p, 1), count(&p, 2));
    assert_eq!(p[3], "-", "payloaders have no floor: {p:?}");
    assert_eq!(p[4], "-", "payloaders have no identity: {p:?}");
    close(ratio(&p, 5), s, o);
}
