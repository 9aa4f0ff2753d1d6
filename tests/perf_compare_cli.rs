//! Tests for the rtp_perf_compare tool and its malloc-counting interposer.

#[path = "../src/alloc_counter.rs"]
mod alloc_counter;
#[allow(dead_code)]
#[path = "../src/bin/shared/number.rs"]
mod number;
#[allow(dead_code)]
#[path = "../src/bin/rtp_perf_compare/readme.rs"]
mod readme;

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
    // Ours is built with the tool: always measured ("not yet" is what
    // the tool says when our plugin failed to register).
    let ours = &p["ours"];
    assert_eq!(ours["element"], "rtpfasth264pay");
    assert_eq!(ours["status"], "ok", "{ours}");
    assert!(p["ratio_stock_over_ours"]["mean"].as_f64().unwrap() > 0.0);
}

/// Without gst-plugins-rs the rsrtp baseline is skipped and says why; with
/// it, it is measured.
#[test]
fn rsrtp_baseline_skips_cleanly_when_missing() {
    gst::init().unwrap();
    let installed = gst::ElementFactory::find("rtph264pay2").is_some();
    let (status, stdout, stderr) = run_tool(&["--baseline=rust_rsrtp"]);
    assert!(status.success(), "{stderr}");
    let skipped = stdout.contains("skipped") && stdout.contains("not installed");
    assert_eq!(
        skipped, !installed,
        "gst-plugins-rs installed: {installed}\n{stdout}"
    );
}

/// Usage errors are clap's: exit status 2 and a message naming the option.
#[test]
fn usage_errors_exit_2_naming_the_option() {
    let cases: &[(&[&str], &str)] = &[
        (&["--no-such-option"], "--no-such-option"),
        (&["--rounds", "abc"], "--rounds"),
        (&["--rounds", "0"], "--rounds"),
        (&["--mtu=-1"], "--mtu"),
        (&["--format", "xml"], "--format"),
        (&["--baseline", "nope"], "--baseline"),
        (&["--current", "nope"], "--current"),
        (&["--only", "h264pay,nosuchpair"], "--only"),
        (&["--plot", "chart.jpg"], "--plot"),
        (&["--frames"], "--frames"),
        (&["--readme-chart", "x.svg"], "--readme"),
    ];
    for (args, opt) in cases {
        let (status, stdout, stderr) = run_tool(args);
        assert_eq!(status.code(), Some(2), "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains(opt),
            "{args:?}: error does not name {opt}: {stderr}"
        );
    }
}

#[test]
fn help_and_list() {
    let (status, stdout, _) = run_tool(&["--help"]);
    assert_eq!(status.code(), Some(0));
    for opt in [
        "--baseline",
        "--current",
        "--format",
        "--plot",
        "--mtu",
        "--rounds",
        "--only",
        "--frames",
        "--min-packets",
        "--streams",
        "--instructions",
        "--batch-bytes",
        "--media-dir",
        "--wrapped",
        "--input-lists",
        "--list",
        "--from-json",
        "--readme",
    ] {
        assert!(stdout.contains(opt), "--help lacks {opt}:\n{stdout}");
    }
    assert!(!stdout.contains("--instr-child"), "hidden option shown");
    let (status, stdout, _) = run_tool(&["--list"]);
    assert_eq!(status.code(), Some(0));
    assert_eq!(stdout.lines().count(), 14, "{stdout}");
    assert!(stdout.contains("h264depay") && stdout.contains("rtpfasth264depay"));
}

/// The README generator rewrites what is between the marker lines of each
/// region, byte for byte nothing else.
#[test]
fn readme_regions_replaced_exactly() {
    let text = "# Title\n\nkept before\n<!-- perf-report:begin table -->\nold table\n| 1 | 2 |\n\
                <!-- perf-report:end table -->\nkept between\r\n\n<!-- perf-report:begin resident -->\n\
                <!-- perf-report:end resident -->\nkept after, no newline";
    let out = readme::replace_regions(text, |name| Ok(format!("NEW {name}\nline 2"))).unwrap();
    assert_eq!(
        out,
        "# Title\n\nkept before\n<!-- perf-report:begin table -->\nNEW table\nline 2\n\
         <!-- perf-report:end table -->\nkept between\r\n\n<!-- perf-report:begin resident -->\n\
         NEW resident\nline 2\n<!-- perf-report:end resident -->\nkept after, no newline"
    );
    // Regenerating is idempotent.
    let again = readme::replace_regions(&out, |name| Ok(format!("NEW {name}\nline 2"))).unwrap();
    assert_eq!(again, out);
    let fails = |t: &str| readme::replace_regions(t, |_| Ok(String::new())).unwrap_err();
    assert!(fails("no markers\n").contains("no "));
    assert!(fails("<!-- perf-report:begin a -->\nx\n").contains("\"a\""));
    assert!(fails("<!-- perf-report:end a -->\n").contains("not open"));
    assert!(fails(
        "<!-- perf-report:begin a -->\n<!-- perf-report:begin b -->\n<!-- perf-report:end b -->\n"
    )
    .contains("inside"));
    assert!(fails(
        "<!-- perf-report:begin a -->\n<!-- perf-report:end a -->\n\
         <!-- perf-report:begin a -->\n<!-- perf-report:end a -->\n"
    )
    .contains("twice"));
}

fn tmp_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("perf_compare_cli.{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A short real run as JSON with an SVG chart, then the PNG chart and the
/// README regions from that JSON (`--from-json`): the SVG parses as XML
/// with the labels, the PNG decodes with the bar colours, and the README
/// table carries the document's numbers.
#[test]
fn plot_svg_png_and_readme_from_json() {
    let dir = tmp_dir();
    let svg = dir.join("chart.svg");
    let png = dir.join("chart.png");
    let json = dir.join("run.json");
    let (status, stdout, stderr) = run_tool(&[
        "--rounds",
        "2",
        "--only",
        "h264pay,h264depay",
        "--format",
        "json",
        "--frames",
        "5",
        "--min-packets",
        "1",
        "--streams",
        "0",
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert!(status.success(), "tool failed: {stderr}");
    std::fs::write(&json, &stdout).unwrap();

    let text = std::fs::read_to_string(&svg).unwrap();
    let xml = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("SVG not XML: {e}"));
    assert_eq!(xml.root_element().tag_name().name(), "svg");
    let texts: Vec<String> = xml
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or("").trim().to_string())
        .collect();
    for label in ["h264pay", "h264depay", "ns / packet"] {
        assert!(
            texts.iter().any(|t| t == label),
            "no {label:?} label in {texts:?}"
        );
    }
    assert!(texts.iter().any(|t| t.starts_with("stock (")), "{texts:?}");
    assert!(
        texts.iter().any(|t| t.starts_with("floor: valve")),
        "{texts:?}"
    );
    // The stock/ours ratio of each pair is printed on its bar.
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for p in doc["pairs"].as_array().unwrap() {
        let stock = p["stock"]["ns_per_packet"]["mean"].as_f64().unwrap();
        let ours = p["ours"]["ns_per_packet"]["mean"].as_f64().unwrap();
        let want = format!("{:.2}x", stock / ours);
        assert!(
            texts.contains(&want),
            "no ratio {want} on {}: {texts:?}",
            p["name"]
        );
    }
    let bars = xml
        .descendants()
        .filter(|n| n.has_tag_name("rect") && n.attribute("fill") == Some("#2E86DE"))
        .count();
    assert!(bars >= 2, "ours bars: {bars}");

    let readme_path = dir.join("README.md");
    std::fs::write(
        &readme_path,
        "intro\n<!-- perf-report:begin table -->\nstale\n<!-- perf-report:end table -->\n\
         middle\n<!-- perf-report:begin resident -->\n<!-- perf-report:end resident -->\nend\n",
    )
    .unwrap();
    let (status, _, stderr) = run_tool(&[
        "--from-json",
        json.to_str().unwrap(),
        "--plot",
        png.to_str().unwrap(),
        "--readme",
        readme_path.to_str().unwrap(),
        "--readme-chart",
        "docs/perf.svg",
    ]);
    assert!(status.success(), "--from-json failed: {stderr}");

    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG magic");
    let decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1400, 720));
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(3).collect();
    for (name, rgb) in [("stock", [0xd9, 0x53, 0x4f]), ("ours", [0x2e, 0x86, 0xde])] {
        let n = pixels.iter().filter(|p| **p == rgb).count();
        assert!(n > 500, "{name} bars: {n} pixels of {rgb:?}");
    }
    // Text was rasterised: dark pixels (labels) exist.
    assert!(pixels.iter().filter(|p| p.iter().all(|c| *c < 60)).count() > 500);

    let readme_text = std::fs::read_to_string(&readme_path).unwrap();
    assert!(readme_text.starts_with("intro\n<!-- perf-report:begin table -->\n"));
    assert!(readme_text.ends_with("<!-- perf-report:end resident -->\nend\n"));
    assert!(!readme_text.contains("stale"));
    assert!(readme_text.contains("\nmiddle\n"));
    assert!(readme_text.contains("![rtp_perf_compare chart](docs/perf.svg)"));
    for p in doc["pairs"].as_array().unwrap() {
        let ns = |c: &str| format!("{:.1}", p[c]["ns_per_packet"]["mean"].as_f64().unwrap());
        let row = readme_text
            .lines()
            .find(|l| l.starts_with(&format!("| {} |", p["name"].as_str().unwrap())))
            .unwrap_or_else(|| panic!("no row for {} in\n{readme_text}", p["name"]));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(cells[8], ns("stock"), "{row}");
        assert_eq!(cells[9], ns("ours"), "{row}");
    }
    let _ = std::fs::remove_dir_all(&dir);
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

/// `--input-lists`: the same RTP packets pushed as lists cost our 1:1
/// depayloader fewer instructions per packet than one push each (the list
/// path does the per-call work once per list and pushes one output list).
/// Instruction counts, not times: the same on every run of a build.
#[test]
fn input_lists_cost_fewer_instructions_per_packet() {
    match Command::new("valgrind").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        other => panic!("valgrind is required (apt-get install valgrind): {other:?}"),
    }
    let ours = |lists: Option<&str>| -> f64 {
        let mut args = vec![
            "--instructions",
            "--only",
            "l16depay",
            "--frames",
            "10",
            "--rounds",
            "1",
            "--min-packets",
            "1",
            "--streams",
            "0",
            "--format",
            "json",
        ];
        if let Some(n) = lists {
            args.extend(["--input-lists", n]);
        }
        let (status, stdout, stderr) = run_tool(&args);
        assert!(status.success(), "tool failed: {stderr}\n{stdout}");
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let c = &v["pairs"][0]["ours"]["callgrind"];
        let ir = |k: usize| c["instructions"][k].as_f64().unwrap();
        let p = |k: usize| c["packets"][k].as_f64().unwrap();
        (ir(1) - ir(0)) / (p(1) - p(0))
    };
    let one_by_one = ours(None);
    let in_lists = ours(Some("16"));
    assert!(
        in_lists > 0.0 && in_lists < one_by_one,
        "lists of 16: {in_lists} instructions per packet, one by one: {one_by_one}"
    );
}
