//! Tests for `examples/monitor.rs`: the Prometheus formatting and argument
//! parsing directly (the example is included as a module), and one end-to-end
//! run of the real example code in a child process (this test binary started
//! again with `MONITOR_CHILD_ARGS`), scraping `/metrics` over a plain
//! `TcpStream` while the default pipeline runs. Running the child as this
//! test binary avoids locating or building `target/<profile>/examples/monitor`
//! (and a nested `cargo` waiting on the build directory lock).

#[allow(dead_code)]
#[path = "../examples/monitor.rs"]
mod monitor;

use monitor::{render_prometheus, Sample, Source};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn sample(element: &str, packets: u64) -> Sample {
    Sample {
        element: element.into(),
        factory: "rtpfasth264pay".into(),
        packets,
        bytes: packets * 1000,
        dropped: 1,
        malformed: 2,
        simd_level: "avx2".into(),
        p50_ns: 300,
        p99_ns: 900,
        packets_per_s: 12.5,
        source: Source::Bus,
    }
}

/// Checks the text exposition format: every sample line belongs to a family
/// announced by HELP and TYPE just before, names and labels are well formed,
/// values parse as numbers. Returns (name, labels, value) per sample line.
fn check_exposition(text: &str) -> Vec<(String, String, f64)> {
    let mut samples = Vec::new();
    let mut help: Option<String> = None;
    let mut typed: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap().to_string();
            assert!(rest.len() > name.len() + 1, "HELP without text: {line}");
            help = Some(name);
            typed = None;
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut p = rest.split(' ');
            let name = p.next().unwrap();
            let kind = p.next().unwrap();
            assert_eq!(help.as_deref(), Some(name), "TYPE without HELP: {line}");
            assert!(["counter", "gauge"].contains(&kind), "type {kind}");
            typed = Some(name.to_string());
        } else {
            let (name, rest) = line.split_once('{').expect(line);
            let (labels, value) = rest.rsplit_once("} ").expect(line);
            assert_eq!(
                typed.as_deref(),
                Some(name),
                "sample before its TYPE: {line}"
            );
            assert!(name.starts_with("rsrtpfast_"));
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
            assert!(labels.starts_with("element=\""), "{line}");
            for l in labels.split("\",") {
                let (k, v) = l.split_once("=\"").expect(line);
                assert!(k.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
                assert!(!v.trim_end_matches('"').contains('\n'));
            }
            if name.ends_with("_total") {
                value.parse::<u64>().expect(line);
            }
            let v: f64 = value.parse().expect(line);
            samples.push((name.to_string(), labels.to_string(), v));
        }
    }
    samples
}

#[test]
fn prometheus_format() {
    let text = render_prometheus(&[sample("pay0", 42), sample("depay0", 7)]);
    let lines = check_exposition(&text);
    assert!(text.ends_with('\n'));
    assert!(text.contains("# TYPE rsrtpfast_packets_total counter\n"));
    assert!(
        text.contains("rsrtpfast_packets_total{element=\"pay0\",factory=\"rtpfasth264pay\"} 42\n")
    );
    assert!(text
        .contains("rsrtpfast_bytes_total{element=\"depay0\",factory=\"rtpfasth264pay\"} 7000\n"));
    assert!(text.contains(
        "rsrtpfast_processing_ns_p99{element=\"pay0\",factory=\"rtpfasth264pay\"} 900\n"
    ));
    assert!(text.contains(
        "rsrtpfast_packets_per_second{element=\"pay0\",factory=\"rtpfasth264pay\"} 12.5\n"
    ));
    assert!(text.contains(
        "rsrtpfast_simd_level_info{element=\"pay0\",factory=\"rtpfasth264pay\",level=\"avx2\"} 1\n"
    ));
    // 8 families x 2 elements.
    assert_eq!(lines.len(), 16);
    assert_eq!(text.matches("# HELP ").count(), 8);
}

#[test]
fn prometheus_escapes_labels_and_handles_no_elements() {
    let text = render_prometheus(&[sample("we\"ird\\na\nme", 1)]);
    assert!(text.contains("element=\"we\\\"ird\\\\na\\nme\""), "{text}");
    assert_eq!(text.lines().count(), 8 * 3);
    let empty = render_prometheus(&[]);
    check_exposition(&empty);
    assert_eq!(empty.lines().count(), 8 * 2);
}

#[test]
fn sample_from_stats_structure() {
    gst::init().unwrap();
    let s = gst::Structure::builder("rtpfast-stats")
        .field("packets", 10u64)
        .field("bytes", 12000u64)
        .field("dropped", 3u64)
        .field("malformed", 4u64)
        .field("simd-level", "sse2")
        .field("processing-ns-p50", 250u32)
        .field("processing-ns-p99", 800u32)
        .build();
    let got = Sample::from_structure("d", "rtpfasth265depay", &s, Source::Poll);
    assert_eq!(
        (got.packets, got.bytes, got.dropped, got.malformed),
        (10, 12000, 3, 4)
    );
    assert_eq!((got.p50_ns, got.p99_ns), (250, 800));
    assert_eq!(got.simd_level, "sse2");
    assert!(got.line(Duration::from_secs(1)).contains("packets=10 "));
}

#[test]
fn parse_args_defaults_and_errors() {
    let a = |v: &[&str]| monitor::parse_args(v.iter().map(|s| s.to_string()));
    let d = a(&[]).unwrap();
    assert_eq!(d.pipeline, monitor::DEFAULT_PIPELINE);
    assert_eq!((d.seconds, d.prometheus, d.poll), (None, None, false));
    let o = a(&[
        "--pipeline",
        "fakesrc ! fakesink",
        "--seconds=2.5",
        "--prometheus",
        "9100",
        "--poll",
    ])
    .unwrap();
    assert_eq!(o.pipeline, "fakesrc ! fakesink");
    assert_eq!(
        (o.seconds, o.prometheus, o.poll),
        (Some(2.5), Some(9100), true)
    );
    assert!(a(&["--seconds", "0"]).is_err());
    assert!(a(&["--prometheus", "70000"]).is_err());
    assert!(a(&["--bogus"]).is_err());
    assert!(a(&["--pipeline"]).is_err());
}

/// Child half of `end_to_end_metrics`: runs the example's `run` with the
/// arguments in MONITOR_CHILD_ARGS (newline separated); a no-op otherwise.
#[test]
fn monitor_child() {
    let Ok(args) = std::env::var("MONITOR_CHILD_ARGS") else {
        return;
    };
    let args: Vec<String> = args.lines().map(str::to_string).collect();
    if let Err(e) = monitor::run(args) {
        panic!("monitor failed: {e}");
    }
}

fn http_get(port: u16, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("connect 127.0.0.1:{port}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").expect("no header end");
    (head.to_string(), body.to_string())
}

#[test]
fn end_to_end_metrics() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "monitor_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("MONITOR_CHILD_ARGS", "--seconds\n5\n--prometheus\n0")
        .env(
            "GST_REGISTRY",
            std::env::temp_dir().join("rsrtpfast-monitor-test-registry.bin"),
        )
        .env_remove("GST_PLUGIN_PATH")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });

    // The first line names the port; wait for a stats line with packets > 0
    // from both elements, then scrape.
    let started = Instant::now();
    let mut port = None;
    let mut seen = Vec::new();
    let mut live = std::collections::BTreeSet::new();
    while started.elapsed() < Duration::from_secs(20) && (port.is_none() || live.len() < 2) {
        let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) else {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            continue;
        };
        // (The harness may print "test monitor_child ... " before it.)
        const URL: &str = "prometheus: http://127.0.0.1:";
        if let Some(at) = line.find(URL) {
            let rest = line[at + URL.len()..].trim_end_matches("/metrics");
            port = Some(rest.parse::<u16>().unwrap());
        }
        if line.contains(" bus ") && !line.contains(" packets=0 ") {
            for name in ["pay0", "depay0"] {
                if line.contains(&format!("] {name} ")) {
                    live.insert(name);
                }
            }
        }
        seen.push(line);
    }
    let port = port.unwrap_or_else(|| panic!("no prometheus line in {seen:#?}"));
    assert_eq!(
        live.len(),
        2,
        "no live stats from pay0 and depay0: {seen:#?}"
    );

    assert!(
        child.try_wait().unwrap().is_none(),
        "monitor exited before the scrape: {seen:#?}"
    );
    let (head, body) = http_get(port, "/metrics");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    let samples = check_exposition(&body);
    for el in ["pay0", "depay0"] {
        let packets = samples
            .iter()
            .find(|(n, l, _)| n == "rsrtpfast_packets_total" && l.contains(&format!("\"{el}\"")))
            .unwrap_or_else(|| panic!("no packets_total for {el}:\n{body}"));
        assert!(packets.2 > 0.0, "{el} packets = 0:\n{body}");
        assert!(packets.1.contains("factory=\"rtpfasth264"), "{body}");
    }
    let (head404, _) = http_get(port, "/nope");
    assert!(head404.starts_with("HTTP/1.1 404"), "{head404}");

    let status = child.wait().unwrap();
    reader.join().unwrap();
    seen.extend(rx.try_iter());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "child failed: {err}\n{seen:#?}");
    assert!(
        seen.iter()
            .any(|l| l.starts_with("watching pay0 (rtpfasth264pay) by rtpfast-stats")),
        "{seen:#?}"
    );
    let stat_lines = seen.iter().filter(|l| l.contains(" packets=")).count();
    assert!(stat_lines >= 3, "{seen:#?}");
    assert!(
        seen.iter()
            .any(|l| l.contains(" simd=") && l.contains(" p99=") && l.contains(" pkt/s")),
        "{seen:#?}"
    );
}

/// `--poll` (the fallback for elements without `stats-interval`): stats are
/// read from the property once a second.
#[test]
fn end_to_end_polling() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "monitor_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("MONITOR_CHILD_ARGS", "--poll\n--seconds\n2.5")
        .env(
            "GST_REGISTRY",
            std::env::temp_dir().join("rsrtpfast-monitor-test-registry.bin"),
        )
        .env_remove("GST_PLUGIN_PATH")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("watching pay0 (rtpfasth264pay) by polling"),
        "{stdout}"
    );
    for el in ["pay0", "depay0"] {
        assert!(
            stdout.lines().any(|l| l.contains(&format!("] {el} "))
                && l.contains(" poll ")
                && !l.contains(" packets=0 ")),
            "no polled stats with packets for {el}:\n{stdout}"
        );
    }
    assert!(!stdout.contains(" bus "), "{stdout}");
}
