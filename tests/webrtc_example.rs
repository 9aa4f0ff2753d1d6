//! examples/webrtc.rs end to end in one process: webrtcbin sending what
//! rtpfasth264pay makes, ICE + DTLS-SRTP, a second webrtcbin receiving into
//! rtpfasth264depay and a decoder.
//!
//! ICE gathers the host's addresses, not loopback, so the run happens in a
//! network namespace the test creates (`unshare -n`, root) with one veth
//! address: no packet leaves it. Not root: a failure, unless
//! RSRTPFAST_SKIP_NETNS=1 says to skip.

#[allow(dead_code)]
#[path = "../examples/webrtc.rs"]
mod example;

#[path = "common/netns.rs"]
mod netns;

use clap::Parser;

#[test]
fn webrtcbin_to_webrtcbin_decodes_every_frame_with_a_browser_sdp() {
    netns::run_inner("webrtc_inner");
}

/// Run by the test above inside its own network namespace.
#[test]
#[ignore = "run inside a network namespace by webrtcbin_to_webrtcbin_decodes_every_frame_with_a_browser_sdp"]
fn webrtc_inner() {
    netns::assert_inside();
    // One address for ICE's host candidates (libnice skips loopback).
    netns::ip(&["link", "set", "lo", "up"]);
    netns::ip(&[
        "link", "add", "rtpw0", "type", "veth", "peer", "name", "rtpw1",
    ]);
    netns::ip(&["addr", "add", "10.99.0.1/24", "dev", "rtpw0"]);
    netns::ip(&["link", "set", "rtpw1", "up"]);
    netns::ip(&["link", "set", "rtpw0", "up"]);
    let opts = example::Opts::parse_from([
        "webrtc",
        "--frames",
        "30",
        "--timeout",
        "60",
        "--width",
        "320",
        "--height",
        "240",
    ]);
    let outcome = example::run(&opts).expect("webrtc example runs");
    assert_eq!(outcome.decoded, 30, "{outcome:?}");
    assert_eq!(outcome.depayloader, "rtpfasth264depay");
    let sdp = &outcome.offer_sdp;
    // What a browser matches the stream by: H.264 at 90 kHz, packetization
    // mode 1 and a constrained-baseline profile-level-id (42c0xx / 42e0xx).
    assert!(sdp.contains("a=rtpmap:96 H264/90000"), "{sdp}");
    assert!(sdp.contains("packetization-mode=1"), "{sdp}");
    let plid = sdp
        .split("profile-level-id=")
        .nth(1)
        .map(|r| &r[..6])
        .unwrap_or_else(|| panic!("no profile-level-id: {sdp}"));
    assert!(
        plid == "42c01e" || plid.starts_with("42e0") || plid.starts_with("42c0"),
        "{plid}"
    );
}
