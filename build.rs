use std::path::Path;

fn main() {
    gst_plugin_version_helper::info();
    // Without a rerun-if-changed line Cargo reruns this script, and so
    // rebuilds the plugin, whenever any file in the package changes: README,
    // docs/, meson's build/ directory. Every `make demo` after `make test`
    // rebuilt the plugin (issue 23). The version string only needs the
    // commit and whether the tree was dirty: watch git's HEAD, the branch
    // it names and the index (a later edit that leaves the index alone
    // keeps the previous dirty flag until the next commit or `git add`).
    let git = Path::new(".git");
    if git.is_dir() {
        let mut watch = vec![".git/HEAD".to_string(), ".git/index".to_string()];
        if let Ok(head) = std::fs::read_to_string(".git/HEAD") {
            if let Some(branch) = head.trim().strip_prefix("ref: ") {
                watch.push(format!(".git/{branch}"));
            }
        }
        watch.push(".git/packed-refs".into());
        // A path that does not exist would make Cargo rerun every time.
        for path in watch.iter().filter(|p| Path::new(p).exists()) {
            println!("cargo:rerun-if-changed={path}");
        }
    } else {
        // A worktree or a release tarball: the version is fixed per build.
        println!("cargo:rerun-if-changed=build.rs");
    }
}
