//! Tests that need a network of their own (multicast routes, ICE host
//! addresses) run inside a network namespace they create: the outer test
//! re-runs this test binary, filtered to an `#[ignore]`d inner test, under
//! `unshare -n` (root). Nothing they send leaves that namespace.

use std::process::Command;

/// Set for the inner test by [`run_inner`].
const INNER_ENV: &str = "RSRTPFAST_NETNS_INNER";

/// Run the ignored test `inner` of this binary in a new network namespace
/// and fail if it fails. Not root: a failure, unless `RSRTPFAST_SKIP_NETNS=1`
/// says to skip (then false).
pub fn run_inner(inner: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        if std::env::var("RSRTPFAST_SKIP_NETNS").as_deref() == Ok("1") {
            eprintln!("{inner} skipped (RSRTPFAST_SKIP_NETNS=1)");
            return false;
        }
        panic!("{inner} needs root for `unshare -n` (set RSRTPFAST_SKIP_NETNS=1 to skip it)");
    }
    let out = Command::new("unshare")
        .arg("-n")
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            inner,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INNER_ENV, "1")
        .output()
        .expect("running unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{inner} failed in its namespace:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    true
}

/// First line of an inner test: it runs only through [`run_inner`].
pub fn assert_inside() {
    assert_eq!(
        std::env::var(INNER_ENV).as_deref(),
        Ok("1"),
        "run only through its outer test, inside a network namespace"
    );
}

/// `ip ARGS`, which must succeed.
pub fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().expect("ip");
    assert!(st.success(), "ip {args:?}");
}
