//! The regression detector without running any benchmark: its comparison
//! logic on synthetic results, and the binary end to end on files, stdin and
//! the committed `perf/baseline.json`.

#[allow(dead_code)]
#[path = "../src/bin/perf_regression_detector/compare.rs"]
mod compare;
#[allow(dead_code)]
#[path = "../src/bin/perf_regression_detector/instr.rs"]
mod instr;
#[allow(dead_code)]
#[path = "../src/bin/perf_regression_detector/stats.rs"]
mod stats;

use compare::{Options, Verdict};
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// xorshift in [-1, 1).
struct Jitter(u64);
impl Jitter {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// One result line as the bench binaries print it.
fn line(id: &str, samples: &[f64]) -> Value {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let med = s[s.len() / 2];
    let mean = s.iter().sum::<f64>() / s.len() as f64;
    json!({
        "schema": "rsrtpfast-bench/1",
        "id": id,
        "unit": "ns",
        "mean": {"estimate": mean, "lower": mean * 0.99, "upper": mean * 1.01},
        "median": {"estimate": med, "lower": s[1], "upper": s[s.len() - 2]},
        "sample_count": s.len(),
        "sample_ns": samples,
    })
}

const IDS: [(&str, f64); 5] = [
    ("rtp/write_header/64", 37.0),
    ("startcode_au_80k/avx2", 950.0),
    ("packetizer_h264/au_80k_mtu1400", 133.0),
    ("element_h264pay/rtpfasth264pay", 30_000.0),
    ("element_h264depay/rtpfasth264depay", 16_500.0),
];

/// A results file: every benchmark with `n` samples of ±`noise` jitter,
/// scaled by `scale(id)`.
fn results(n: usize, noise: f64, seed: u64, scale: impl Fn(&str) -> f64) -> String {
    let mut j = Jitter(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    IDS.iter()
        .map(|(id, ns)| {
            let s: Vec<f64> = (0..n)
                .map(|_| ns * scale(id) * (1.0 + noise * j.next()))
                .collect();
            line(id, &s).to_string() + "\n"
        })
        .collect()
}

fn compare_text(base: &str, cur: &str) -> compare::Report {
    compare::compare(
        &compare::load(base),
        &compare::load(cur),
        &Options::default(),
    )
}

#[test]
fn injected_25_percent_slowdown_is_flagged() {
    let base = results(10, 0.03, 1, |_| 1.0);
    let cur = results(10, 0.03, 2, |id| {
        if id == "packetizer_h264/au_80k_mtu1400" {
            1.25
        } else {
            1.0
        }
    });
    let r = compare_text(&base, &cur);
    assert!(r.failed());
    let bad: Vec<_> = r
        .comparisons
        .iter()
        .filter(|c| c.verdict == Verdict::Regressed)
        .collect();
    assert_eq!(bad.len(), 1, "{r:?}");
    assert_eq!(bad[0].id, "packetizer_h264/au_80k_mtu1400");
    assert!((bad[0].change - 0.25).abs() < 0.05);
    match bad[0].evidence {
        compare::Evidence::MannWhitney { p, .. } => assert!(p < 0.001, "p={p}"),
        e => panic!("expected Mann-Whitney, got {e:?}"),
    }
}

#[test]
fn identical_inputs_pass() {
    let base = results(10, 0.03, 7, |_| 1.0);
    let r = compare_text(&base, &base);
    assert!(!r.failed());
    assert_eq!(r.count(Verdict::Unchanged), IDS.len());
    assert!(r.comparisons.iter().all(|c| c.change == 0.0));
}

#[test]
fn noise_level_jitter_passes() {
    // ±3% random jitter and a systematic ±3% shift, over many seeds and
    // sample counts: never a regression (nor an improvement).
    for seed in 0..40u64 {
        for n in [10, 20, 100] {
            let shift = if seed % 2 == 0 { 1.03 } else { 0.97 };
            let base = results(n, 0.03, seed, |_| 1.0);
            let cur = results(n, 0.03, seed + 1000, |_| shift);
            let r = compare_text(&base, &cur);
            assert!(!r.failed(), "seed {seed} n {n}: {}", compare::text(&r));
            assert_eq!(r.count(Verdict::Improved), 0);
        }
    }
}

#[test]
fn improvement_is_listed_not_failed() {
    let base = results(10, 0.02, 3, |_| 1.0);
    let cur = results(
        10,
        0.02,
        4,
        |id| if id.starts_with("rtp/") { 0.6 } else { 1.0 },
    );
    let r = compare_text(&base, &cur);
    assert!(!r.failed());
    assert_eq!(r.count(Verdict::Improved), 1);
    assert!(compare::text(&r).contains("improved   rtp/write_header/64"));
}

#[test]
fn missing_and_new_benchmarks_are_reported_not_failures() {
    let base = results(10, 0.03, 5, |_| 1.0);
    let mut cur: String = base
        .lines()
        .filter(|l| !l.contains("startcode_au_80k/avx2"))
        .map(|l| format!("{l}\n"))
        .collect();
    cur += &(line("brand/new", &[1.0; 10]).to_string() + "\n");
    let r = compare_text(&base, &cur);
    assert!(!r.failed());
    assert_eq!(r.missing, vec!["startcode_au_80k/avx2".to_string()]);
    assert_eq!(r.new, vec!["brand/new".to_string()]);
    let t = compare::text(&r);
    assert!(t.contains("missing    startcode_au_80k/avx2"), "{t}");
    assert!(t.contains("new        brand/new"), "{t}");
}

#[test]
fn without_samples_the_intervals_decide() {
    let strip = |text: &str| -> String {
        text.lines()
            .map(|l| {
                let mut v: Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("sample_ns");
                format!("{v}\n")
            })
            .collect()
    };
    let base = strip(&results(10, 0.01, 8, |_| 1.0));
    let slow = strip(&results(10, 0.01, 9, |id| {
        if id.starts_with("element_h264pay") {
            1.3
        } else {
            1.0
        }
    }));
    let r = compare_text(&base, &slow);
    assert!(r.failed());
    let c = r
        .comparisons
        .iter()
        .find(|c| c.verdict == Verdict::Regressed)
        .unwrap();
    assert_eq!(c.id, "element_h264pay/rtpfasth264pay");
    assert!(matches!(
        c.evidence,
        compare::Evidence::Intervals { disjoint: true, .. }
    ));
}

// ------------------------------------------------------------ the binary

fn tmp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("perf_regression_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn run(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_perf_regression_detector"));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        let mut i = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            i.write_all(s.as_bytes()).unwrap();
        }
    }
    let o = child.wait_with_output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn binary_exit_codes_and_output() {
    let base = tmp("base.json", &results(10, 0.03, 11, |_| 1.0));
    let same = tmp("same.json", &results(10, 0.03, 12, |_| 1.0));
    let slow = tmp(
        "slow.json",
        &results(
            10,
            0.03,
            13,
            |id| if id.contains("depay") { 1.25 } else { 1.0 },
        ),
    );
    let b = base.to_str().unwrap();
    let (code, out, _) = run(
        &["--baseline", b, "--current", same.to_str().unwrap()],
        None,
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("0 regressed") && out.contains("=> OK"),
        "{out}"
    );

    let (code, out, _) = run(
        &["--baseline", b, "--current", slow.to_str().unwrap()],
        None,
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.lines().any(
            |l| l.starts_with("REGRESSED  element_h264depay/rtpfasth264depay")
                && l.contains("+2")
                && l.contains("p=")
        ),
        "{out}"
    );
    // A wider tolerance lets the same 25% through.
    let (code, _, _) = run(
        &[
            "--baseline",
            b,
            "--current",
            slow.to_str().unwrap(),
            "--threshold",
            "30",
        ],
        None,
    );
    assert_eq!(code, 0);

    // Standard input, with non-JSON chatter around the lines (as cargo bench
    // may print), and --format json.
    let piped = format!(
        "running 0 tests\n{}\ntest result: ok.\n",
        std::fs::read_to_string(&slow).unwrap()
    );
    let (code, out, _) = run(&["--baseline", b, "--format", "json"], Some(&piped));
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["regressed"].as_f64(), Some(1.0));
    assert_eq!(v["failed"], json!(true));
    let c = &v["comparisons"][0];
    assert_eq!(c["id"], "element_h264depay/rtpfasth264depay");
    assert_eq!(c["verdict"], "regressed");
    assert_eq!(c["test"], "mann-whitney-u");
    assert!(c["p_value"].as_f64().unwrap() < 0.01);
    assert!((c["change_pct"].as_f64().unwrap() - 25.0).abs() < 5.0);

    // Usage and input errors: exit 2, the message naming the option.
    let (code, _, err) = run(&["--bogus"], None);
    assert_eq!(code, 2);
    assert!(err.contains("--bogus"), "{err}");
    for (bad, opt) in [
        (&["--alpha", "2"][..], "--alpha"),
        (&["--threshold", "-5"][..], "--threshold"),
        (&["--min-samples", "x"][..], "--min-samples"),
        (&["--format", "xml"][..], "--format"),
        (&["--baseline"][..], "--baseline"),
    ] {
        let (code, _, err) = run(bad, None);
        assert_eq!(code, 2, "{bad:?}: {err}");
        assert!(
            err.contains(opt),
            "{bad:?}: error does not name {opt}: {err}"
        );
    }
    let (code, out, _) = run(&["--help"], None);
    assert_eq!(code, 0);
    for opt in [
        "--baseline",
        "--current",
        "--threshold",
        "--alpha",
        "--instructions",
        "--report-only",
    ] {
        assert!(out.contains(opt), "--help lacks {opt}: {out}");
    }
    let empty = tmp("empty.json", "nothing here\n");
    assert_eq!(
        run(
            &["--baseline", b, "--current", empty.to_str().unwrap()],
            None
        )
        .0,
        2
    );
    assert_eq!(
        run(&["--baseline", "/nonexistent.json", "--current", b], None).0,
        2
    );
}

/// The committed baseline (real criterion output of `make perf-baseline`):
/// itself passes; with one benchmark made 25% slower it fails on that one.
#[test]
fn committed_baseline_against_itself_and_with_a_slowdown() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/perf/baseline.json");
    let text = std::fs::read_to_string(path).expect("perf/baseline.json");
    let (code, out, _) = run(&["--baseline", path, "--current", path], None);
    assert_eq!(code, 0, "{out}");

    let mut victim = String::new();
    let slowed: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            if i == 0 {
                victim = v["id"].as_str().unwrap().to_string();
                let s: Vec<f64> = v["sample_ns"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap() * 1.25)
                    .collect();
                v["sample_ns"] = json!(s);
                for k in ["mean", "median"] {
                    for f in ["estimate", "lower", "upper"] {
                        let x = v[k][f].as_f64().unwrap();
                        v[k][f] = json!(x * 1.25);
                    }
                }
            }
            format!("{v}\n")
        })
        .collect();
    let cur = tmp("baseline_slowed.json", &slowed);
    let (code, out, _) = run(
        &[
            "--baseline",
            path,
            "--current",
            cur.to_str().unwrap(),
            "--threshold",
            "20",
        ],
        None,
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with(&format!("REGRESSED  {victim} ")) && l.contains("+25.0%")),
        "{out}"
    );
    assert!(out.contains("1 regressed"), "{out}");
}

// --- `--instructions`: rtp_perf_compare JSON, instructions per packet -------

/// A `rtp_perf_compare --format json` document with the given counts
/// (pair, ours, stock).
fn perf_doc(simd: &str, arch: &str, pairs: &[(&str, f64, f64)]) -> String {
    json!({
        "tool": "rtp_perf_compare",
        "gstreamer_version": "GStreamer 1.22.0",
        "machine": {"cpu": "test", "cores": 2, "arch": arch},
        "config": {"simd": simd, "mtu": 1400, "frames": 30},
        "pairs": pairs.iter().map(|(name, ours, stock)| json!({
            "name": name,
            "instructions_per_packet": {"ours": ours, "stock": stock, "floor": null},
        })).chain(std::iter::once(json!({
            // A pair measured without --instructions: no counts, left out.
            "name": "opuspay", "instructions_per_packet": null,
        }))).collect::<Vec<_>>(),
    })
    .to_string()
}

#[test]
fn instructions_regression_is_flagged_by_threshold() {
    let base = instr::load(&perf_doc(
        "sse2",
        "x86_64",
        &[("h264pay", 2000.0, 12000.0), ("h264depay", 2500.0, 7200.0)],
    ))
    .unwrap();
    assert_eq!(base.pairs.len(), 2, "pairs without counts are left out");
    // Identical: nothing flagged.
    let same = instr::compare(&base, &base.clone(), 0.10);
    assert!(!same.failed());
    assert!(same
        .rows
        .iter()
        .all(|r| r.verdict == instr::Verdict::Unchanged && r.change == Some(0.0)));
    // +15% on one pair fails, -20% on the other is an improvement; the stock
    // count moving (not our code) is never judged.
    let cur = instr::load(&perf_doc(
        "sse2",
        "x86_64",
        &[("h264pay", 2300.0, 20000.0), ("h264depay", 2000.0, 7200.0)],
    ))
    .unwrap();
    let r = instr::compare(&base, &cur, 0.10);
    assert!(r.failed());
    let verdict = |p: &str| r.rows.iter().find(|r| r.pair == p).unwrap().verdict;
    assert_eq!(verdict("h264pay"), instr::Verdict::Regressed);
    assert_eq!(verdict("h264depay"), instr::Verdict::Improved);
    assert!(instr::text(&r).contains("REGRESSED  h264pay"));
    // Within the threshold passes.
    let small = instr::load(&perf_doc("sse2", "x86_64", &[("h264pay", 2150.0, 1.0)])).unwrap();
    let r = instr::compare(&base, &small, 0.10);
    assert!(!r.failed());
    assert_eq!(
        r.rows
            .iter()
            .find(|r| r.pair == "h264depay")
            .unwrap()
            .verdict,
        instr::Verdict::Missing
    );
}

#[test]
fn instructions_binary_gates_and_refuses_other_simd_levels() {
    let base = tmp(
        "ibase.json",
        &perf_doc("sse2", "x86_64", &[("h264pay", 2000.0, 12000.0)]),
    );
    let slow = tmp(
        "islow.json",
        &perf_doc("sse2", "x86_64", &[("h264pay", 2400.0, 12000.0)]),
    );
    let avx = tmp(
        "iavx.json",
        &perf_doc("avx2", "x86_64", &[("h264pay", 1500.0, 12000.0)]),
    );
    let arm = tmp(
        "iarm.json",
        &perf_doc("neon", "aarch64", &[("h264pay", 1500.0, 12000.0)]),
    );
    let b = base.to_str().unwrap();
    let go = |cur: &PathBuf, extra: &[&str]| {
        let mut a = vec!["--instructions", "--baseline", b, "--current"];
        a.push(cur.to_str().unwrap());
        a.extend_from_slice(extra);
        run(&a, None)
    };
    let (code, out, _) = go(&base, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("=> OK"), "{out}");
    let (code, out, _) = go(&slow, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("+20.0%"), "{out}");
    let (code, _, _) = go(&slow, &["--threshold", "25"]);
    assert_eq!(code, 0);
    let (code, out, err) = go(&slow, &["--report-only"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("REGRESSED") && err.contains("report-only"),
        "{err}"
    );
    // Another SIMD level runs other code: a usage error, not a verdict.
    let (code, _, err) = go(&avx, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("SIMD level differs"), "{err}");
    // Another architecture: skipped, said so.
    let (code, out, _) = go(&arm, &[]);
    assert_eq!(code, 0);
    assert!(out.starts_with("SKIPPED"), "{out}");
    // Criterion output is not an instruction document.
    let crit = tmp("icrit.json", &results(3, 0.0, 1, |_| 1.0));
    let (code, _, err) = go(&crit, &[]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn committed_instruction_baseline_loads() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/perf/instructions.json"
    ))
    .unwrap();
    let run = instr::load(&text).unwrap();
    assert!(run.pairs.contains_key("h264pay") && run.pairs.contains_key("h264depay"));
    assert!(run.simd.is_some() && run.arch.is_some());
}
