//! `make demo` twice, or after `make test`, must not rebuild the plugin
//! (issue 23): the plugin build and the example build resolve the same
//! features, and the build script does not rerun on every file change.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// `cargo tree` features per package, for the given edge kinds.
fn features(edges: &str) -> BTreeMap<String, BTreeSet<String>> {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-e",
            edges,
            "--prefix",
            "none",
            "--no-dedupe",
        ])
        .args(["-f", "{p} [{f}]"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let Some((pkg, rest)) = line.split_once(" [") else {
            continue;
        };
        let id = pkg.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        let feats = rest
            .trim_end_matches(']')
            .split(',')
            .filter(|f| !f.is_empty());
        map.entry(id).or_default().extend(feats.map(String::from));
    }
    map
}

#[test]
fn plugin_and_example_builds_resolve_the_same_features() {
    let plugin = features("normal,build");
    let with_dev = features("normal,build,dev");
    let differ: Vec<String> = plugin
        .iter()
        .filter(|(pkg, f)| with_dev.get(*pkg) != Some(f))
        .map(|(pkg, f)| format!("{pkg}: {:?}", with_dev.get(pkg).map(|d| d - f)))
        .collect();
    assert!(
        differ.is_empty(),
        "the dev-dependencies turn on features the plugin build lacks (each build would \
         rebuild the plugin the other built); add them to Cargo.toml's shared list: {differ:#?}"
    );
    assert!(plugin.len() > 50, "{} packages", plugin.len());
}

#[test]
fn build_script_reruns_only_on_git_changes() {
    // OUT_DIR is <build dir>/out; Cargo keeps the script's output beside it.
    let output = std::path::Path::new(env!("OUT_DIR")).with_file_name("output");
    let text = std::fs::read_to_string(&output).expect("build script output");
    let watched: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("cargo:rerun-if-changed="))
        .collect();
    assert!(
        !watched.is_empty(),
        "no rerun-if-changed: any file change reruns it\n{text}"
    );
    assert!(
        watched
            .iter()
            .all(|p| p.starts_with(".git/") || *p == "build.rs"),
        "{watched:?}"
    );
}
