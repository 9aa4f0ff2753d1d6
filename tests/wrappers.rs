//! rtpfastpay / rtpfastdepay: for every native format and for VP8 (a stock
//! element wrapped), the wrapper's packets equal the stock payloader's and
//! its depayloaded output equals the stock depayloader's; the child chosen
//! and `native` are right; properties set before and after negotiation
//! reach the wire; a switch from H.264 to VP8 mid-stream swaps the child;
//! caps nothing can payload fail naming the media type. Autoplugging: our
//! depayloaders rank just above their stock twins, uridecodebin on an
//! rtsp:// URL plugs ours by default and stock under
//! GST_PLUGIN_FEATURE_RANK, decoding as many frames either way.

mod common;
#[path = "common/rtsp_server.rs"]
mod rtsp_server;
use common::*;
use gst::glib;
use gst::prelude::*;
use std::process::Command;
use std::sync::{Arc, Mutex};

/// Fixed so the stock element and the wrapper write the same headers.
const HEADER_PROPS: &str = "pt=96 ssrc=305419896 seqnum-offset=1000 timestamp-offset=5000";

struct Format {
    name: &'static str,
    stock_pay: &'static str,
    stock_depay: &'static str,
    native_pay: Option<&'static str>,
    native_depay: Option<&'static str>,
    /// Elementary stream source ending in `appsink name=sink`.
    source: &'static str,
    /// After a depayloader (fixes the output format where stock may pick).
    depay_caps: &'static str,
}

const FORMATS: [Format; 6] = [
    Format {
        name: "H.264",
        stock_pay: "rtph264pay",
        stock_depay: "rtph264depay",
        native_pay: Some("rtpfasth264pay"),
        native_depay: Some("rtpfasth264depay"),
        source: "videotestsrc num-buffers=20 pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1,format=I420 ! x264enc tune=zerolatency key-int-max=10 speed-preset=ultrafast ! video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=sink sync=false",
        depay_caps: "video/x-h264,stream-format=byte-stream,alignment=au",
    },
    Format {
        name: "H.265",
        stock_pay: "rtph265pay",
        stock_depay: "rtph265depay",
        native_pay: Some("rtpfasth265pay"),
        native_depay: Some("rtpfasth265depay"),
        source: "videotestsrc num-buffers=20 pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1,format=I420 ! x265enc tune=zerolatency key-int-max=10 speed-preset=ultrafast ! video/x-h265,stream-format=byte-stream,alignment=au ! appsink name=sink sync=false",
        depay_caps: "video/x-h265,stream-format=byte-stream,alignment=au",
    },
    Format {
        name: "L16",
        stock_pay: "rtpL16pay",
        stock_depay: "rtpL16depay",
        native_pay: Some("rtpfastL16pay"),
        native_depay: Some("rtpfastL16depay"),
        source: "audiotestsrc num-buffers=20 wave=white-noise samplesperbuffer=960 ! audio/x-raw,format=S16BE,rate=48000,channels=2,layout=interleaved ! appsink name=sink sync=false",
        depay_caps: "audio/x-raw",
    },
    Format {
        name: "L24",
        stock_pay: "rtpL24pay",
        stock_depay: "rtpL24depay",
        native_pay: Some("rtpfastL24pay"),
        native_depay: Some("rtpfastL24depay"),
        source: "audiotestsrc num-buffers=20 wave=white-noise samplesperbuffer=960 ! audio/x-raw,format=S24BE,rate=48000,channels=2,layout=interleaved ! appsink name=sink sync=false",
        depay_caps: "audio/x-raw",
    },
    Format {
        name: "Opus",
        stock_pay: "rtpopuspay",
        stock_depay: "rtpopusdepay",
        native_pay: Some("rtpfastopuspay"),
        native_depay: Some("rtpfastopusdepay"),
        source: "audiotestsrc num-buffers=30 wave=sine ! audio/x-raw,rate=48000,channels=2 ! opusenc ! appsink name=sink sync=false",
        depay_caps: "audio/x-opus",
    },
    Format {
        name: "VP8",
        stock_pay: "rtpvp8pay",
        stock_depay: "rtpvp8depay",
        native_pay: None,
        native_depay: None,
        source: "videotestsrc num-buffers=20 pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! vp8enc deadline=1 keyframe-max-dist=10 ! appsink name=sink sync=false",
        depay_caps: "video/x-vp8",
    },
];

fn format(name: &str) -> &'static Format {
    FORMATS.iter().find(|f| f.name == name).unwrap()
}

/// Encoded media for a format: caps and buffers.
fn media(f: &Format) -> (gst::Caps, Vec<gst::Buffer>) {
    init();
    let (caps, bufs) = run_collect(f.source, None);
    assert!(!bufs.is_empty(), "{}: encoder produced nothing", f.name);
    (caps.unwrap(), bufs)
}

/// Run `appsrc name=src ! {middle} ! appsink name=sink` over `input`; the
/// pipeline is returned (stopped) so the elements can still be read.
fn run(
    middle: &str,
    caps: &gst::Caps,
    input: &[gst::Buffer],
) -> (gst::Pipeline, Option<gst::Caps>, Vec<gst::Buffer>) {
    let desc =
        format!("appsrc name=src ! {middle} ! appsink name=sink sync=false emit-signals=false");
    let pipeline = play(&desc, Some((caps, input)));
    let sink = common::app_sink(&pipeline);
    let mut out = Vec::new();
    let mut out_caps = None;
    while let Ok(sample) = sink.pull_sample() {
        out_caps = sample.caps_owned().or(out_caps);
        if let Some(list) = sample.buffer_list() {
            out.extend(list.iter_owned());
        } else if let Some(b) = sample.buffer_owned() {
            out.push(b);
        }
    }
    if let Some(msg) = pipeline
        .bus()
        .unwrap()
        .pop_filtered(&[gst::MessageType::Error])
    {
        if let gst::MessageView::Error(e) = msg.view() {
            panic!("`{desc}` failed: {} ({:?})", e.error(), e.debug());
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    (pipeline, out_caps, out)
}

fn bytes(bufs: &[gst::Buffer]) -> Vec<Vec<u8>> {
    bufs.iter()
        .map(|b| b.map_readable().unwrap().to_vec())
        .collect()
}

fn concat(bufs: &[gst::Buffer]) -> Vec<u8> {
    bytes(bufs).concat()
}

fn wrapper(pipeline: &gst::Pipeline, name: &str) -> gst::Element {
    pipeline.by_name(name).unwrap()
}

fn check_identity(w: &gst::Element, expected: &str, native: bool) {
    assert_eq!(
        w.property::<Option<String>>("active-element").as_deref(),
        Some(expected)
    );
    assert_eq!(
        w.property::<bool>("native"),
        native,
        "native for {expected}"
    );
    let stats = w.property::<gst::Structure>("stats");
    assert_eq!(stats.get::<&str>("active-element").unwrap(), expected);
    assert_eq!(stats.get::<bool>("native").unwrap(), native);
}

/// The wrapper holds our element when there is one (else the stock one),
/// says so, counts `packets` in its stats and carries the child's stats.
fn check_wrapper(w: &gst::Element, native: Option<&str>, stock: &str, packets: usize, what: &str) {
    check_identity(w, native.unwrap_or(stock), native.is_some());
    let stats = w.property::<gst::Structure>("stats");
    assert_eq!(
        stats.get::<u64>("packets").unwrap(),
        packets as u64,
        "{what}: packets"
    );
    child_stats_carried(w, &stats);
}

fn only_child(w: &gst::Element) -> gst::Element {
    let children = w.downcast_ref::<gst::Bin>().unwrap().children();
    assert_eq!(children.len(), 1);
    children[0].clone()
}

/// Every field of the child's own stats is in the wrapper's.
fn child_stats_carried(w: &gst::Element, stats: &gst::StructureRef) {
    let child = only_child(w);
    if child.find_property("stats").is_none() {
        return;
    }
    let inner = child.property::<gst::Structure>("stats");
    assert!(inner.n_fields() > 0);
    for (field, _) in inner.iter() {
        assert!(
            stats.has_field(field),
            "{field} of {} missing: {stats}",
            child.name()
        );
    }
}

/// Payloader side: the wrapper's packets are the stock payloader's, byte
/// for byte; depayloader side: on the stock packets the wrapper outputs
/// what the stock depayloader does.
fn round_trip(name: &str) {
    let f = format(name);
    let (caps, frames) = media(f);

    let (_, stock_caps, stock_packets) =
        run(&format!("{} {HEADER_PROPS}", f.stock_pay), &caps, &frames);
    let (p, wrap_caps, wrap_packets) =
        run(&format!("rtpfastpay name=w {HEADER_PROPS}"), &caps, &frames);
    assert!(!stock_packets.is_empty());
    assert_eq!(
        bytes(&wrap_packets),
        bytes(&stock_packets),
        "{name}: rtpfastpay packets differ from {}",
        f.stock_pay
    );
    let w = wrapper(&p, "w");
    check_wrapper(
        &w,
        f.native_pay,
        f.stock_pay,
        wrap_packets.len(),
        &format!("{name}: the wrapper's stats"),
    );
    // What gst-rtsp-server reads from a payloader, the child's.
    let child = only_child(&w);
    for prop in ["seqnum", "timestamp"] {
        assert_eq!(
            w.property::<u32>(prop),
            child.property::<u32>(prop),
            "{name}: {prop}"
        );
    }
    let s = stock_caps.unwrap();
    let wc = wrap_caps.unwrap();
    assert_eq!(
        s.structure(0)
            .unwrap()
            .get::<&str>("encoding-name")
            .unwrap(),
        wc.structure(0)
            .unwrap()
            .get::<&str>("encoding-name")
            .unwrap()
    );

    let (_, _, stock_out) = run(
        &format!("{} ! {}", f.stock_depay, f.depay_caps),
        &s,
        &stock_packets,
    );
    let (d, _, wrap_out) = run(
        &format!("rtpfastdepay name=w ! {}", f.depay_caps),
        &s,
        &stock_packets,
    );
    assert!(!stock_out.is_empty());
    assert_eq!(
        concat(&wrap_out),
        concat(&stock_out),
        "{name}: rtpfastdepay output differs from {}",
        f.stock_depay
    );
    let w = wrapper(&d, "w");
    check_wrapper(
        &w,
        f.native_depay,
        f.stock_depay,
        stock_packets.len(),
        &format!("{name}: the depay wrapper's stats"),
    );
}

#[test]
fn h264_round_trip_equals_stock() {
    round_trip("H.264");
}

#[test]
fn h265_round_trip_equals_stock() {
    round_trip("H.265");
}

#[test]
fn l16_round_trip_equals_stock() {
    round_trip("L16");
}

#[test]
fn l24_round_trip_equals_stock() {
    round_trip("L24");
}

#[test]
fn opus_round_trip_equals_stock() {
    round_trip("Opus");
}

#[test]
fn vp8_round_trip_through_wrapped_stock_equals_stock() {
    round_trip("VP8");
}

struct Rtp {
    pt: u8,
    seq: u16,
    ssrc: u32,
    len: usize,
}

fn rtp(packets: &[gst::Buffer]) -> Vec<Rtp> {
    packets
        .iter()
        .map(|b| {
            let m = b.map_readable().unwrap();
            Rtp {
                pt: m[1] & 0x7f,
                seq: u16::from_be_bytes([m[2], m[3]]),
                ssrc: u32::from_be_bytes([m[8], m[9], m[10], m[11]]),
                len: m.len(),
            }
        })
        .collect()
}

fn assert_on_wire(packets: &[gst::Buffer], mtu: usize, pt: u8, ssrc: u32, seq0: u16, what: &str) {
    let p = rtp(packets);
    assert!(p.len() > 1, "{what}: packets");
    assert_eq!(p[0].seq, seq0, "{what}: first seqnum");
    for (i, q) in p.iter().enumerate() {
        assert!(
            q.len <= mtu,
            "{what}: packet {i} of {} bytes over mtu {mtu}",
            q.len
        );
        assert_eq!(q.pt, pt, "{what}: pt");
        assert_eq!(q.ssrc, ssrc, "{what}: ssrc");
    }
    // The MTU is what splits the stream: some packet is near it.
    assert!(
        p.iter().any(|q| q.len > mtu - 100),
        "{what}: no packet near the mtu {mtu}"
    );
}

/// Set on the wrapper before caps: in the launch line; after: on the
/// wrapper once it holds its child (the child sees them at once), then on
/// the wire when the pipeline runs again with that child.
fn properties_forwarded(name: &str) {
    let f = format(name);
    let (caps, frames) = media(f);
    let (_, _, before) = run(
        "rtpfastpay name=w mtu=400 pt=100 ssrc=3735928559 seqnum-offset=4242",
        &caps,
        &frames,
    );
    assert_on_wire(
        &before,
        400,
        100,
        0xdeadbeef,
        4242,
        &format!("{name}, set before caps"),
    );

    let (p, _, _) = run("rtpfastpay name=w", &caps, &frames);
    let w = wrapper(&p, "w");
    let child_name = format!("{}0", w.property::<String>("active-element"));
    w.set_property("mtu", 500u32);
    w.set_property("pt", 101u32);
    w.set_property("ssrc", 0x01020304u32);
    w.set_property("seqnum-offset", 777i32);
    let child = w
        .dynamic_cast_ref::<gst::ChildProxy>()
        .unwrap()
        .child_by_name(&child_name)
        .unwrap();
    assert_eq!(child.property::<u32>("mtu"), 500);
    assert_eq!(child.property::<u32>("pt"), 101);
    assert_eq!(w.property::<u32>("mtu"), 500, "read back through the child");
    let src = common::app_src(&p);
    let sink = common::app_sink(&p);
    p.set_state(gst::State::Playing).unwrap();
    for b in &frames {
        src.push_buffer(b.clone()).unwrap();
    }
    src.end_of_stream().unwrap();
    let mut after = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        if let Some(list) = sample.buffer_list() {
            after.extend(list.iter_owned());
        } else if let Some(b) = sample.buffer_owned() {
            after.push(b);
        }
    }
    p.set_state(gst::State::Null).unwrap();
    assert_eq!(
        w.property::<String>("active-element"),
        child_name.trim_end_matches('0'),
        "same child"
    );
    assert_on_wire(
        &after,
        500,
        101,
        0x01020304,
        777,
        &format!("{name}, set after caps"),
    );
}

#[test]
fn properties_reach_the_native_child() {
    properties_forwarded("H.264");
}

#[test]
fn properties_reach_a_stock_child() {
    properties_forwarded("VP8");
}

/// `child::property` in a launch line (set when the child appears, as
/// gst-launch does) and GstChildProxy from code reach the child.
#[test]
fn child_proxy_reaches_the_child() {
    let f = format("H.264");
    let (caps, frames) = media(f);
    let (p, _, _) = run(
        "rtpfastpay name=w rtpfasth264pay0::aggregate-mode=max-stap",
        &caps,
        &frames,
    );
    let w = wrapper(&p, "w");
    let proxy = w.dynamic_cast_ref::<gst::ChildProxy>().unwrap();
    let nick = |v: glib::Value| {
        glib::EnumValue::from_value(&v)
            .unwrap()
            .1
            .nick()
            .to_string()
    };
    assert_eq!(
        nick(proxy.child_property("rtpfasth264pay0::aggregate-mode")),
        "max-stap"
    );
    // The wrapper's own aggregate-mode reads the child's.
    assert_eq!(nick(w.property_value("aggregate-mode")), "max-stap");
    proxy.set_child_property("rtpfasth264pay0::config-interval", -1i32);
    let child = proxy.child_by_name("rtpfasth264pay0").unwrap();
    assert_eq!(child.property::<i32>("config-interval"), -1);
    // And set through the wrapper by nick, onto the child's enum type.
    w.set_property_from_str("aggregate-mode", "zero-latency");
    assert_eq!(
        nick(proxy.child_property("rtpfasth264pay0::aggregate-mode")),
        "zero-latency"
    );
}

/// A value no payloader has fails where it is set, as on the stock
/// payloaders: gst-launch reports it instead of running with the default.
#[test]
fn bad_aggregate_mode_fails_like_stock() {
    common::init();
    for line in [
        "fakesrc ! rtph264pay aggregate-mode=bogus ! fakesink",
        "fakesrc ! rtpfastpay aggregate-mode=bogus ! fakesink",
    ] {
        let err = gst::parse::launch(line).expect_err(line);
        let msg = err.to_string();
        assert!(
            msg.contains("aggregate-mode") && msg.contains("bogus"),
            "{line}: {msg}"
        );
    }
    // Every nick of the stock H.264 payloader's enum is a wrapper value.
    let w = gst::ElementFactory::make("rtpfastpay").build().unwrap();
    for nick in ["none", "zero-latency", "max-stap"] {
        w.set_property_from_str("aggregate-mode", nick);
        let v = w.property_value("aggregate-mode");
        assert_eq!(glib::EnumValue::from_value(&v).unwrap().1.nick(), nick);
    }
}

/// H.264 then VP8 through one appsrc: the caps change swaps the child and
/// both halves come out, without an error.
#[test]
fn mid_stream_switch_h264_to_vp8_swaps_the_child() {
    let (h264_caps, h264) = media(format("H.264"));
    let (vp8_caps, vp8) = media(format("VP8"));
    let (pipeline, src) = common::launch_with_src(
        "appsrc name=src format=time ! rtpfastpay name=w ! appsink name=sink sync=false",
    );
    let sink = common::app_sink(&pipeline);
    let w = pipeline.by_name("w").unwrap();
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let seen = seen.clone();
        w.connect_notify(Some("active-element"), move |w, _| {
            if let Some(e) = w.property::<Option<String>>("active-element") {
                seen.lock().unwrap().push(e);
            }
        });
    }
    pipeline.set_state(gst::State::Playing).unwrap();
    src.set_caps(Some(&h264_caps));
    for b in &h264 {
        src.push_buffer(b.clone()).unwrap();
    }
    src.set_caps(Some(&vp8_caps));
    let last_pts = h264.last().unwrap().pts().unwrap();
    for b in &vp8 {
        let mut b = b.copy();
        let pts = b.pts().unwrap() + last_pts + gst::ClockTime::from_mseconds(33);
        b.get_mut().unwrap().set_pts(pts);
        src.push_buffer(b).unwrap();
    }
    src.end_of_stream().unwrap();
    let mut by_encoding = std::collections::BTreeMap::<String, usize>::new();
    while let Ok(sample) = sink.pull_sample() {
        let enc = sample
            .caps()
            .unwrap()
            .structure(0)
            .unwrap()
            .get::<String>("encoding-name")
            .unwrap();
        let n = sample.buffer_list().map_or(1, |l| l.len());
        *by_encoding.entry(enc).or_default() += n;
    }
    let error = pipeline
        .bus()
        .unwrap()
        .pop_filtered(&[gst::MessageType::Error]);
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(error.is_none(), "error: {error:?}");
    assert!(
        by_encoding.get("H264").copied().unwrap_or(0) > 0,
        "{by_encoding:?}"
    );
    assert!(
        by_encoding.get("VP8").copied().unwrap_or(0) > 0,
        "{by_encoding:?}"
    );
    assert_eq!(
        *seen.lock().unwrap(),
        ["rtpfasth264pay", "rtpvp8pay"],
        "children in turn"
    );
    assert!(!w.property::<bool>("native"));
    let children: Vec<String> = w
        .downcast_ref::<gst::Bin>()
        .unwrap()
        .children()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    assert_eq!(children, ["rtpvp8pay0"], "the old child is gone");
}

/// The depayloader side of the same switch, on the stock payloaders' RTP.
#[test]
fn mid_stream_switch_on_the_depay_side() {
    let h = format("H.264");
    let v = format("VP8");
    let (hc, hf) = media(h);
    let (vc, vf) = media(v);
    let (_, h_rtp_caps, h_rtp) = run(&format!("{} {HEADER_PROPS}", h.stock_pay), &hc, &hf);
    let (_, v_rtp_caps, v_rtp) = run(&format!("{} {HEADER_PROPS}", v.stock_pay), &vc, &vf);
    let (pipeline, src) = common::launch_with_src(
        "appsrc name=src format=time ! rtpfastdepay name=w ! appsink name=sink sync=false",
    );
    let sink = common::app_sink(&pipeline);
    pipeline.set_state(gst::State::Playing).unwrap();
    src.set_caps(h_rtp_caps.as_ref());
    for b in &h_rtp {
        src.push_buffer(b.clone()).unwrap();
    }
    src.set_caps(v_rtp_caps.as_ref());
    for b in &v_rtp {
        src.push_buffer(b.clone()).unwrap();
    }
    src.end_of_stream().unwrap();
    let mut media_types = std::collections::BTreeMap::<String, usize>::new();
    while let Ok(sample) = sink.pull_sample() {
        let name = sample
            .caps()
            .unwrap()
            .structure(0)
            .unwrap()
            .name()
            .to_string();
        *media_types.entry(name).or_default() += 1;
    }
    let error = pipeline
        .bus()
        .unwrap()
        .pop_filtered(&[gst::MessageType::Error]);
    let w = pipeline.by_name("w").unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(error.is_none(), "error: {error:?}");
    assert!(
        media_types.get("video/x-h264").copied().unwrap_or(0) > 0,
        "{media_types:?}"
    );
    assert!(
        media_types.get("video/x-vp8").copied().unwrap_or(0) > 0,
        "{media_types:?}"
    );
    assert_eq!(w.property::<String>("active-element"), "rtpvp8depay");
}

fn not_negotiated(desc: &str, caps: &str, named: &str) {
    init();
    let caps: gst::Caps = caps.parse().unwrap();
    let buf = gst::Buffer::from_slice(vec![0x80u8; 64]);
    let pipeline = play(desc, Some((&caps, &[buf])));
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Error])
        .expect("an error");
    pipeline.set_state(gst::State::Null).unwrap();
    let gst::MessageView::Error(e) = msg.view() else {
        unreachable!()
    };
    assert!(
        e.error().matches(gst::CoreError::Negotiation),
        "{:?}",
        e.error()
    );
    let text = format!("{} {:?}", e.error(), e.debug());
    assert!(text.contains(named), "`{text}` does not name {named}");
    assert!(text.contains("not-negotiated"), "`{text}`");
}

#[test]
fn nothing_can_payload_is_not_negotiated_naming_the_media_type() {
    not_negotiated(
        "appsrc name=src ! rtpfastpay ! fakesink",
        "video/x-nothing-pays-this",
        "video/x-nothing-pays-this",
    );
}

#[test]
fn nothing_can_depayload_is_not_negotiated_naming_the_encoding() {
    not_negotiated(
        "appsrc name=src ! rtpfastdepay ! fakesink",
        "application/x-rtp,media=video,encoding-name=NOTHING-DEPAYS-THIS,clock-rate=90000,payload=96",
        "NOTHING-DEPAYS-THIS",
    );
}

#[test]
fn allocation_query_around_a_stock_child_offers_our_pool() {
    let (caps, frames) = media(format("VP8"));
    let (p, _, _) = run("rtpfastpay name=w", &caps, &frames);
    let w = wrapper(&p, "w");
    assert!(!w.property::<bool>("native"));
    p.set_state(gst::State::Paused).unwrap();
    let mut q = gst::query::Allocation::new(Some(&caps), true);
    assert!(w.static_pad("sink").unwrap().query(&mut q));
    let pools: Vec<Option<&str>> = q
        .allocation_pools()
        .map(|(pool, _, _, _)| pool.as_ref().map(|p| p.type_().name()))
        .collect();
    assert!(
        pools.contains(&Some("GstRtpFastBufferPool")),
        "pools offered: {pools:?}"
    );
    p.set_state(gst::State::Null).unwrap();
}

// ---- autoplugging ----

#[test]
fn native_depayloaders_rank_just_above_stock_and_wrappers_never_autoplug() {
    init();
    let ours: Vec<gst::ElementFactory> = gst::ElementFactory::factories_with_type(
        gst::ElementFactoryType::DEPAYLOADER,
        gst::Rank::NONE,
    )
    .into_iter()
    .filter(|f| f.name().starts_with("rtpfast") && f.name() != "rtpfastdepay")
    .collect();
    assert!(ours.len() >= 5, "our depayloaders: {}", ours.len());
    for f in ours {
        let stock = f.name().replacen("rtpfast", "rtp", 1);
        let Some(twin) = gst::ElementFactory::find(&stock) else {
            continue;
        };
        assert_eq!(f.rank(), twin.rank() + 1, "{} vs {stock}", f.name());
    }
    for w in ["rtpfastpay", "rtpfastdepay"] {
        assert_eq!(
            gst::ElementFactory::find(w).unwrap().rank(),
            gst::Rank::NONE
        );
    }
}

const CHILD_ENV: &str = "RSRTPFAST_WRAPPERS_RTSP_CHILD";

/// In a child process (so GST_PLUGIN_FEATURE_RANK can differ): serve a
/// finite H.264 stream over RTSP, play it with uridecodebin, print the
/// depayloader plugged and the frames decoded.
#[test]
fn rtsp_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    // The plugin loaded from GST_PLUGIN_PATH like an installed one:
    // GStreamer applies GST_PLUGIN_FEATURE_RANK to plugins it loads, not to
    // one registered statically after gst::init.
    gst::init().unwrap();
    let depay = gst::ElementFactory::find("rtpfasth264depay").expect("plugin loaded");
    println!("rank of rtpfasth264depay: {:?}", depay.rank());
    let server = rtsp_server::start(
        "( videotestsrc num-buffers=60 pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 ! rtph264pay name=pay0 pt=96 config-interval=-1 )",
    );
    let pipeline = gst::parse::launch(&format!(
        "uridecodebin name=d uri={} ! appsink name=sink sync=false caps=video/x-raw",
        server.url
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    // Interleaved TCP: no datagram lost to a busy machine, so both runs
    // decode every frame.
    pipeline
        .by_name("d")
        .unwrap()
        .connect("source-setup", false, |args| {
            let source = args[1].get::<gst::Element>().unwrap();
            if source.find_property("protocols").is_some() {
                source.set_property_from_str("protocols", "tcp");
            }
            None
        });
    let depays = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let depays = depays.clone();
        pipeline
            .by_name("d")
            .unwrap()
            .downcast::<gst::Bin>()
            .unwrap()
            .connect_deep_element_added(move |_, _, e| {
                if let Some(f) = e.factory() {
                    if f.metadata(gst::ELEMENT_METADATA_KLASS)
                        .is_some_and(|k| k.contains("Depayloader"))
                    {
                        depays.lock().unwrap().push(f.name().to_string());
                    }
                }
            });
    }
    let sink = common::app_sink(&pipeline);
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut frames = 0;
    // EOS comes from the server's BYE once its 60 frames are sent.
    while let Some(_s) = sink.try_pull_sample(gst::ClockTime::from_seconds(10)) {
        frames += 1;
    }
    pipeline.set_state(gst::State::Null).unwrap();
    drop(server);
    println!(
        "RESULT depay={} frames={frames}",
        depays.lock().unwrap().join(",")
    );
}

fn rtsp_run(rank_env: Option<&str>) -> (String, u32) {
    // The cdylib cargo built beside this test, alone in a directory (deps/
    // holds other shared objects GStreamer would try to load).
    let exe = std::env::current_exe().unwrap();
    let so = exe.parent().unwrap().join("libgstrsrtpfast.so");
    let dir =
        std::env::temp_dir().join(format!("rsrtpfast-wrappers-plugin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&so, dir.join("libgstrsrtpfast.so")).unwrap();
    let registry = dir.join(format!("registry-{}.bin", rank_env.is_some()));
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", "rtsp_child", "--nocapture"])
        .env(CHILD_ENV, "1")
        .env("GST_PLUGIN_PATH", &dir)
        .env("GST_REGISTRY", &registry);
    match rank_env {
        Some(v) => cmd.env("GST_PLUGIN_FEATURE_RANK", v),
        None => cmd.env_remove("GST_PLUGIN_FEATURE_RANK"),
    };
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| {
            panic!(
                "child printed no result: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .to_string();
    let mut depay = String::new();
    let mut frames = 0;
    for kv in line.split(' ') {
        if let Some(v) = kv.strip_prefix("depay=") {
            depay = v.to_string();
        } else if let Some(v) = kv.strip_prefix("frames=") {
            frames = v.parse().unwrap();
        }
    }
    (depay, frames)
}

#[test]
fn uridecodebin_on_rtsp_plugs_ours_by_default_and_stock_when_opted_out() {
    let (ours, ours_frames) = rtsp_run(None);
    let (stock, stock_frames) = rtsp_run(Some("rtpfasth264depay:none"));
    eprintln!("default: {ours}, {ours_frames} frames; opted out: {stock}, {stock_frames} frames");
    assert_eq!(ours, "rtpfasth264depay");
    assert_eq!(stock, "rtph264depay");
    assert!(ours_frames > 30, "frames decoded with ours: {ours_frames}");
    assert_eq!(ours_frames, stock_frames, "frames decoded, ours vs stock");
}

/// gst-rtsp-server serving `rtpfastpay name=pay0`: rtspsrc receives and
/// decodes frames (the server finds the payloader's pt, mtu, seqnum and
/// stats on the wrapper).
#[test]
fn rtsp_server_serves_through_the_wrapper() {
    init();
    let server = rtsp_server::start(
        "( videotestsrc num-buffers=30 pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 ! rtpfastpay name=pay0 pt=96 )",
    );
    let pipeline = gst::parse::launch(&format!(
        "rtspsrc location={} protocols=tcp latency=0 ! rtph264depay ! avdec_h264 ! appsink name=sink sync=false",
        server.url
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = common::app_sink(&pipeline);
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut frames = 0;
    while sink
        .try_pull_sample(gst::ClockTime::from_seconds(10))
        .is_some()
    {
        frames += 1;
    }
    let error = pipeline
        .bus()
        .unwrap()
        .pop_filtered(&[gst::MessageType::Error]);
    pipeline.set_state(gst::State::Null).unwrap();
    drop(server);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(frames, 30, "frames decoded");
}

/// Data with no caps before it: a not-negotiated error from the wrapper
/// (it has no element to give the buffer to), not a silent not-linked.
#[test]
fn buffer_before_caps_is_not_negotiated() {
    init();
    for w in ["rtpfastpay", "rtpfastdepay"] {
        let (pipeline, src) =
            common::launch_with_src(&format!("appsrc name=src format=time ! {w} ! fakesink"));
        pipeline.set_state(gst::State::Playing).unwrap();
        src.push_buffer(gst::Buffer::from_slice(vec![0x80u8; 64]))
            .unwrap();
        let msg = pipeline
            .bus()
            .unwrap()
            .timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Error])
            .expect("an error");
        pipeline.set_state(gst::State::Null).unwrap();
        let gst::MessageView::Error(e) = msg.view() else {
            unreachable!()
        };
        assert!(
            e.error().matches(gst::CoreError::Negotiation),
            "{w}: {:?}",
            e.error()
        );
        assert!(
            format!("{:?}", e.debug()).contains("before any caps"),
            "{w}: {:?}",
            e.debug()
        );
    }
}

/// `stats-interval` around a stock child: the wrapper posts its own stats
/// (which element is inside, the packets it counted) as `rtpfast-stats`.
#[test]
fn stats_interval_around_a_stock_child_posts_the_wrappers_stats() {
    let (caps, input) = media(format("VP8"));
    let desc =
        "appsrc name=src ! rtpfastpay name=w stats-interval=1 ! appsink name=sink sync=false";
    let pipeline = play(desc, Some((&caps, &input)));
    let sink = common::app_sink(&pipeline);
    while sink.pull_sample().is_ok() {}
    let w = wrapper(&pipeline, "w");
    let bus = pipeline.bus().unwrap();
    let posted: Vec<gst::Structure> =
        std::iter::from_fn(|| bus.pop_filtered(&[gst::MessageType::Element]))
            .filter(|m| m.src() == Some(w.upcast_ref::<gst::Object>()))
            .filter_map(|m| m.structure().map(|s| s.to_owned()))
            .filter(|s| s.name() == "rtpfast-stats")
            .collect();
    pipeline.set_state(gst::State::Null).unwrap();
    let first = posted.first().expect("the wrapper posted its stats");
    assert_eq!(first.get::<&str>("active-element").unwrap(), "rtpvp8pay");
    assert!(!first.get::<bool>("native").unwrap());
    let last = posted.last().unwrap();
    assert!(last.get::<u64>("packets").unwrap() > 0, "{last}");
}
