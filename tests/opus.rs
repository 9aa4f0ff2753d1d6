//! rtpfastopuspay / rtpfastopusdepay against rtpopuspay / rtpopusdepay
//! (GStreamer 1.22): the same packets and caps on the wire, both ways
//! interop, the same sink CAPS query answers and output caps, bad input
//! dropped and counted, and no allocation per packet in steady state.

#[path = "../src/alloc_counter.rs"]
mod alloc_counter;
mod common;
#[path = "../src/bin/rtp_perf_compare/rig.rs"]
#[allow(dead_code)]
mod rig;

use common::*;
use gst::glib;
use gst::prelude::*;

/// Opus packets from opusenc, with their caps.
fn opusenc(channels: u32, extra: &str, wave: &str, buffers: u32) -> (gst::Caps, Vec<gst::Buffer>) {
    let desc = format!(
        "audiotestsrc num-buffers={buffers} samplesperbuffer=960 wave={wave} ! \
         audio/x-raw,rate=48000,channels={channels} ! opusenc {extra} ! appsink name=sink sync=false"
    );
    let (caps, bufs) = run_collect(&desc, None);
    (caps.expect("opusenc caps"), bufs)
}

/// Stereo 48 kHz Opus caps (family 0), for hand-made frames.
fn stereo_caps() -> gst::Caps {
    init();
    gst::Caps::builder("audio/x-opus")
        .field("channel-mapping-family", 0)
        .field("channels", 2)
        .field("rate", 48000)
        .build()
}

/// Hand-made Opus-like packets of the given sizes, 20 ms apart.
fn hand_made(sizes: &[usize]) -> Vec<gst::Buffer> {
    sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let data: Vec<u8> = (0..n).map(|k| (k * 7 + i) as u8).collect();
            let mut b = gst::Buffer::from_mut_slice(data);
            let bm = b.get_mut().unwrap();
            bm.set_pts(gst::ClockTime::from_mseconds(20 * i as u64));
            bm.set_duration(gst::ClockTime::from_mseconds(20));
            b
        })
        .collect()
}

fn bytes(b: &gst::Buffer) -> Vec<u8> {
    b.map_readable().unwrap().to_vec()
}

/// Run `caps`/`input` through `pay` (fixed numbering) into an appsink with
/// `downstream` caps; the packets and the negotiated caps.
fn pay_through(
    pay: &str,
    props: &str,
    downstream: &str,
    caps: &gst::Caps,
    input: &[gst::Buffer],
) -> (gst::Caps, Vec<gst::Buffer>) {
    let desc = format!(
        "appsrc name=src ! {pay} pt=101 ssrc=305419896 seqnum-offset=65530 \
         timestamp-offset=4294967000 {props} ! {downstream} ! appsink name=sink sync=false"
    );
    let (out_caps, packets) = run_collect(&desc, Some((caps, input)));
    (out_caps.expect("payloader caps"), packets)
}

fn assert_same_packets(what: &str, stock: &[gst::Buffer], ours: &[gst::Buffer]) {
    assert_eq!(stock.len(), ours.len(), "{what}: packet count");
    for (i, (a, b)) in stock.iter().zip(ours).enumerate() {
        assert_eq!(bytes(a), bytes(b), "{what}: packet {i}");
        assert_eq!(a.pts(), b.pts(), "{what}: packet {i} pts");
        assert_eq!(a.duration(), b.duration(), "{what}: packet {i} duration");
        assert_eq!(meta_names(a), meta_names(b), "{what}: packet {i} metas");
        let marker = |b: &gst::Buffer| b.flags().contains(gst::BufferFlags::MARKER);
        assert_eq!(marker(a), marker(b), "{what}: packet {i} MARKER flag");
    }
}

/// The metas on a buffer, by API type name (custom metas by their name).
fn meta_names(b: &gst::BufferRef) -> Vec<String> {
    let mut v: Vec<String> = b
        .iter_meta::<gst::Meta>()
        .map(|m| {
            if let Some(c) = m.try_as_custom_meta() {
                c.structure().name().to_string()
            } else {
                m.api().name().to_string()
            }
        })
        .collect();
    v.sort();
    v
}

/// `buffers` with metas of each kind the stock elements treat differently:
/// untagged (kept), tagged audio only (kept), video, audio+video (dropped).
fn with_metas(buffers: &[gst::Buffer]) -> Vec<gst::Buffer> {
    static REGISTER: std::sync::Once = std::sync::Once::new();
    REGISTER.call_once(|| {
        gst::meta::CustomMeta::register("OpusTestAudio", &["audio"]);
        gst::meta::CustomMeta::register("OpusTestVideo", &["video"]);
        gst::meta::CustomMeta::register("OpusTestAv", &["audio", "video"]);
    });
    buffers
        .iter()
        .map(|b| {
            let mut b = b.copy();
            let bm = b.get_mut().unwrap();
            gst::ReferenceTimestampMeta::add(
                bm,
                &gst::Caps::new_empty_simple("timestamp/x-test"),
                gst::ClockTime::from_seconds(7),
                None,
            );
            for name in ["OpusTestAudio", "OpusTestVideo", "OpusTestAv"] {
                gst::meta::CustomMeta::add(bm, name).unwrap();
            }
            b
        })
        .collect()
}

#[test]
fn audio_metas_pass_as_with_stock() {
    let (caps, frames) = opusenc(2, "", "ticks", 10);
    let frames = with_metas(&frames);
    pay_differential("metas", &caps, &frames, "application/x-rtp");
    let (_, ours) = pay_through("rtpfastopuspay", "", "application/x-rtp", &caps, &frames);
    let names = meta_names(&ours[1]);
    assert!(
        names.contains(&"OpusTestAudio".to_string())
            && names.contains(&"GstReferenceTimestampMetaAPI".to_string())
            && !names
                .iter()
                .any(|n| n == "OpusTestVideo" || n == "OpusTestAv"),
        "{names:?}"
    );
    // Depayloaders: the metas of the RTP packets.
    let rtp_caps: gst::Caps =
        "application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=96"
            .parse()
            .unwrap();
    let packets = with_metas(
        &(1..5)
            .map(|i| rtp_packet(i, i as u32 * 960, &[0xfc, 1, 2]))
            .collect::<Vec<_>>(),
    );
    let depay = |e: &str| {
        let desc = format!("appsrc name=src ! {e} ! appsink name=sink sync=false");
        run_collect(&desc, Some((&rtp_caps, &packets))).1
    };
    let (stock, ours) = (depay("rtpopusdepay"), depay("rtpfastopusdepay"));
    assert_eq!(stock.len(), 4);
    assert_eq!(ours.len(), 4);
    for (a, b) in stock.iter().zip(&ours) {
        assert_eq!(meta_names(a), meta_names(b));
    }
    assert_eq!(
        meta_names(&ours[0]),
        names
            .iter()
            .filter(|n| !n.contains("Clipping"))
            .cloned()
            .collect::<Vec<_>>()
    );
}

fn pay_differential(what: &str, caps: &gst::Caps, input: &[gst::Buffer], downstream: &str) {
    for props in ["dtx=false", "dtx=true"] {
        let (stock_caps, stock) = pay_through("rtpopuspay", props, downstream, caps, input);
        let (our_caps, ours) = pay_through("rtpfastopuspay", props, downstream, caps, input);
        assert!(!stock.is_empty(), "{what} {props}: stock sent nothing");
        assert_same_packets(&format!("{what} {props}"), &stock, &ours);
        assert!(
            stock_caps == our_caps,
            "{what} {props}: caps\n stock {stock_caps}\n ours  {our_caps}"
        );
    }
}

#[test]
fn pay_same_packets_and_caps_as_stock_on_opusenc_output() {
    for channels in [1, 2] {
        let (caps, frames) = opusenc(channels, "", "ticks", 60);
        pay_differential(
            &format!("{channels} ch"),
            &caps,
            &frames,
            "application/x-rtp",
        );
    }
    // opusenc's own DTX on silence: 1-2 byte frames among real ones.
    let (caps, mut frames) = opusenc(2, "dtx=true bitrate=16000", "silence", 80);
    let (_, talk) = opusenc(2, "bitrate=16000", "sine", 20);
    frames.extend(talk);
    assert!(
        frames.iter().any(|f| f.size() <= 2),
        "opusenc dtx made no DTX frame"
    );
    pay_differential("opusenc dtx", &caps, &frames, "application/x-rtp");
}

#[test]
fn pay_same_packets_with_hand_made_dtx_frames() {
    let caps = stereo_caps();
    // Real-sized frames, DTX frames of 1 and 2 bytes, an empty buffer, a
    // 3-byte frame (not DTX), a spurt starting right after start.
    let mut frames = hand_made(&[1, 80, 120, 1, 2, 2, 90, 3, 0, 100, 2, 1, 70, 70]);
    pay_differential("hand-made", &caps, &frames, "application/x-rtp");
    // Input in two memories (no single memory to view): the same packets.
    for f in frames.iter_mut().filter(|f| f.size() > 10) {
        let data = bytes(f);
        let mut two = gst::Buffer::new();
        let tm = two.get_mut().unwrap();
        tm.append_memory(gst::Memory::from_slice(data[..5].to_vec()));
        tm.append_memory(gst::Memory::from_slice(data[5..].to_vec()));
        tm.set_pts(f.pts());
        tm.set_duration(f.duration());
        *f = two;
    }
    pay_differential("two memories", &caps, &frames, "application/x-rtp");
    // The marker bit is what DTX is about: first packet, and after a gap.
    let (_, ours) = pay_through(
        "rtpfastopuspay",
        "dtx=true",
        "application/x-rtp",
        &caps,
        &frames,
    );
    let markers: Vec<bool> = ours.iter().map(|p| bytes(p)[1] & 0x80 != 0).collect();
    assert_eq!(
        markers,
        [true, false, true, false, true, true, false],
        "markers with dtx"
    );
}

/// Frames, READY, PLAYING, the frames again: (marker, seqnum) of every
/// packet of both runs.
fn ready_restart(pay: &str, caps: &gst::Caps, frames: &[gst::Buffer]) -> Vec<Vec<(bool, u16)>> {
    let desc = format!(
        "appsrc name=src format=time ! {pay} dtx=true seqnum-offset=100 timestamp-offset=0 \
         ssrc=4660 ! appsink name=sink sync=false"
    );
    let (pipeline, src) = launch_with_src(&desc);
    src.set_caps(Some(caps));
    let sink = app_sink(&pipeline);
    let mut runs = Vec::new();
    for _ in 0..2 {
        pipeline.set_state(gst::State::Playing).unwrap();
        for f in frames {
            src.push_buffer(f.clone()).unwrap();
        }
        // No EOS (appsink would stay EOS after READY): the run is over when
        // nothing more comes.
        let mut run = Vec::new();
        while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_mseconds(500)) {
            let b = sample.buffer().unwrap();
            let d = bytes(&b.to_owned());
            run.push((d[1] & 0x80 != 0, u16::from_be_bytes([d[2], d[3]])));
        }
        runs.push(run);
        pipeline.set_state(gst::State::Ready).unwrap();
    }
    pipeline.set_state(gst::State::Null).unwrap();
    runs
}

/// A new stream after READY starts a talk spurt (marker) and seqnums at the
/// offset again, as with stock: the format's `start` hook, which the base
/// calls on READY→PAUSED (formats do not override GstElement's vfuncs).
#[test]
fn pay_restart_after_ready_as_stock() {
    let caps = stereo_caps();
    // Ends in the middle of a spurt: without a restart the next stream's
    // first packet would carry no marker.
    let frames = hand_made(&[80, 120, 1, 90, 100, 70]);
    let stock = ready_restart("rtpopuspay", &caps, &frames);
    let ours = ready_restart("rtpfastopuspay", &caps, &frames);
    assert_eq!(
        stock[1].first(),
        Some(&(true, 100)),
        "stock after READY: {stock:?}"
    );
    assert_eq!(ours, stock);
}

#[test]
fn pay_multiopus_and_draft_names_as_stock() {
    // channel-mapping-family 1 with 6 channels (5.1) -> MULTIOPUS.
    let desc = "audiotestsrc num-buffers=20 samplesperbuffer=960 ! \
         audio/x-raw,rate=48000,channels=6,channel-mask=(bitmask)0x3f ! \
         opusenc ! appsink name=sink sync=false";
    let (caps, frames) = run_collect(desc, None);
    let caps = caps.unwrap();
    pay_differential("multiopus", &caps, &frames, "application/x-rtp");
    let (out, _) = pay_through("rtpfastopuspay", "", "application/x-rtp", &caps, &frames);
    let s = out.structure(0).unwrap();
    assert_eq!(s.get::<&str>("encoding-name").unwrap(), "MULTIOPUS");
    assert_eq!(s.get::<&str>("encoding-params").unwrap(), "6");
    // Downstream that only takes the draft name: stock checks it with
    // gst_value_can_intersect, which only compares the value types, so it
    // still says OPUS and fails to negotiate; so do we (same call).
    let draft = "application/x-rtp,encoding-name=X-GST-OPUS-DRAFT-SPITTKA-00";
    for pay in ["rtpopuspay", "rtpfastopuspay"] {
        assert!(
            !negotiates(&format!(
                "audiotestsrc num-buffers=3 ! opusenc ! {pay} ! {draft} ! fakesink"
            )),
            "{pay} negotiated with a draft-only downstream"
        );
    }
}

/// Whether `desc` runs to EOS without an error.
fn negotiates(desc: &str) -> bool {
    init();
    let pipeline = gst::parse::launch(desc).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(20),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("pipeline neither ended nor failed");
    pipeline.set_state(gst::State::Null).unwrap();
    matches!(msg.view(), gst::MessageView::Eos(_))
}

// ---- interop ----

/// Opus packets through `pay ! depay`: the depayloader's output buffers
/// and caps.
fn round_trip(
    pay: &str,
    depay: &str,
    caps: &gst::Caps,
    input: &[gst::Buffer],
) -> (gst::Caps, Vec<gst::Buffer>) {
    let desc = format!("appsrc name=src ! {pay} ! {depay} ! appsink name=sink sync=false");
    let (caps, out) = run_collect(&desc, Some((caps, input)));
    (caps.expect("depayloader caps"), out)
}

#[test]
fn interop_both_ways_mono_stereo_multiopus() {
    let multi = "audiotestsrc num-buffers=30 samplesperbuffer=960 ! \
         audio/x-raw,rate=48000,channels=6,channel-mask=(bitmask)0x3f ! \
         opusenc ! appsink name=sink sync=false";
    let (mcaps, mframes) = run_collect(multi, None);
    let inputs = [
        ("mono", opusenc(1, "", "ticks", 50)),
        ("stereo", opusenc(2, "", "ticks", 50)),
        ("stereo 16k", opusenc(2, "bandwidth=wideband", "sine", 50)),
        ("5.1", (mcaps.unwrap(), mframes)),
    ];
    for (what, (caps, frames)) in &inputs {
        let want: Vec<Vec<u8>> = frames.iter().map(bytes).collect();
        let (stock_caps, stock) = round_trip("rtpopuspay", "rtpopusdepay", caps, frames);
        for (pay, depay) in [
            ("rtpfastopuspay", "rtpopusdepay"),
            ("rtpopuspay", "rtpfastopusdepay"),
            ("rtpfastopuspay", "rtpfastopusdepay"),
        ] {
            let (out_caps, out) = round_trip(pay, depay, caps, frames);
            let got: Vec<Vec<u8>> = out.iter().map(bytes).collect();
            assert!(got == want, "{what}: {pay} -> {depay}: payloads differ");
            assert!(
                out_caps == stock_caps,
                "{what}: {pay} -> {depay}: caps\n {out_caps}\n stock {stock_caps}"
            );
            for (i, (a, b)) in out.iter().zip(&stock).enumerate() {
                assert_eq!(a.pts(), b.pts(), "{what}: {pay} -> {depay}: pts of {i}");
            }
        }
    }
}

#[test]
fn depay_output_is_a_view_of_the_input() {
    init();
    let mut h = gst_check::Harness::new("rtpfastopusdepay");
    h.set_src_caps_str(
        "application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=96",
    );
    let packet = rtp_packet(1, 0, &[0xfc, 1, 2, 3, 4, 5]);
    let ptr = packet.map_readable().unwrap().as_ptr() as usize;
    let out = h.push_and_pull(packet).unwrap();
    assert_eq!(bytes(&out), [0xfc, 1, 2, 3, 4, 5]);
    assert_eq!(out.n_memory(), 1);
    let out_ptr = out.map_readable().unwrap().as_ptr() as usize;
    assert_eq!(out_ptr, ptr + 12, "payload was copied");
    // A packet in two memories (header, payload) comes out whole too.
    let whole = rtp_packet(2, 960, &[0xfc, 9, 8, 7]);
    let data = bytes(&whole);
    let mut split = gst::Buffer::new();
    {
        let sm = split.get_mut().unwrap();
        sm.append_memory(gst::Memory::from_slice(data[..13].to_vec()));
        sm.append_memory(gst::Memory::from_slice(data[13..].to_vec()));
    }
    let out = h.push_and_pull(split).unwrap();
    assert_eq!(bytes(&out), [0xfc, 9, 8, 7]);
}

// ---- caps ----

/// The payloader's sink pad answer to a CAPS query, with `downstream` caps
/// after it (and an optional query filter).
fn sink_query(pay: &str, downstream: &str, filter: Option<&str>) -> gst::Caps {
    init();
    let pay = gst::ElementFactory::make(pay).build().unwrap();
    let capsfilter = gst::ElementFactory::make("capsfilter")
        .property("caps", downstream.parse::<gst::Caps>().unwrap())
        .build()
        .unwrap();
    // Linked without a caps check: downstream may refuse everything.
    pay.static_pad("src")
        .unwrap()
        .link_full(
            &capsfilter.static_pad("sink").unwrap(),
            gst::PadLinkCheck::empty(),
        )
        .unwrap();
    let filter = filter.map(|f| f.parse::<gst::Caps>().unwrap());
    pay.static_pad("sink").unwrap().query_caps(filter.as_ref())
}

#[test]
fn sink_caps_query_answers_as_stock() {
    let cases = [
        ("application/x-rtp", None),
        ("application/x-rtp,stereo=(string)0", None),
        ("application/x-rtp,stereo=(string)1", None),
        ("application/x-rtp,stereo=(string)2", None),
        (
            "application/x-rtp,encoding-name=OPUS,stereo=(string)0",
            None,
        ),
        ("application/x-rtp,encoding-name=MULTIOPUS", None),
        (
            "application/x-rtp,encoding-name=X-GST-OPUS-DRAFT-SPITTKA-00",
            None,
        ),
        ("application/x-rtp,encoding-name=H264", None),
        ("application/x-rtp,clock-rate=8000", None),
        (
            "application/x-rtp,stereo=(string)0",
            Some("audio/x-opus,channels=2;audio/x-opus"),
        ),
        (
            "application/x-rtp",
            Some("audio/x-opus,channel-mapping-family=1"),
        ),
    ];
    // The answers differ with downstream (so the comparison means something).
    let first = |d: &str| {
        sink_query("rtpfastopuspay", d, None)
            .structure(0)
            .map(|s| s.to_owned())
    };
    let mono = first("application/x-rtp,stereo=(string)0").unwrap();
    assert_eq!(mono.get::<i32>("channels").unwrap(), 1);
    let multi = first("application/x-rtp,encoding-name=MULTIOPUS").unwrap();
    assert_eq!(multi.get::<i32>("channel-mapping-family").unwrap(), 1);
    assert!(first("application/x-rtp,encoding-name=H264").is_none());
    for (downstream, filter) in cases {
        let stock = sink_query("rtpopuspay", downstream, filter);
        let ours = sink_query("rtpfastopuspay", downstream, filter);
        // Same structures in the same order (the first is what an encoder
        // fixates to).
        assert_eq!(
            stock.to_string(),
            ours.to_string(),
            "downstream {downstream} filter {filter:?}"
        );
    }
}

/// opusenc in front of the payloader picks the channels downstream's
/// `stereo` asks for, as in front of the stock payloader.
#[test]
fn encoder_negotiates_channels_from_downstream_stereo() {
    for stereo in ["0", "1"] {
        let caps_of = |pay: &str| {
            let desc = format!(
                "audiotestsrc num-buffers=3 ! opusenc ! {pay} ! \
                 application/x-rtp,stereo=(string){stereo} ! appsink name=sink sync=false"
            );
            run_collect(&desc, None).0.unwrap()
        };
        let stock = caps_of("rtpopuspay");
        let ours = caps_of("rtpfastopuspay");
        let st = |c: &gst::Caps, f: &str| {
            c.structure(0)
                .unwrap()
                .get::<&str>(f)
                .map(str::to_owned)
                .ok()
        };
        let want = if stereo == "1" { "1" } else { "0" };
        assert_eq!(st(&stock, "sprop-stereo").as_deref(), Some(want));
        assert_eq!(st(&ours, "sprop-stereo").as_deref(), Some(want));
    }
}

/// Output caps (or refusal) of a depayloader for RTP `caps`.
fn depay_caps(depay: &str, caps: &str) -> Option<gst::Caps> {
    init();
    let mut h = gst_check::Harness::new(depay);
    h.set_src_caps_str(caps);
    let _ = h.push(rtp_packet(1, 0, &[0xfc, 0xff, 0xfe]));
    h.element()
        .unwrap()
        .static_pad("src")
        .unwrap()
        .current_caps()
}

#[test]
fn depay_output_caps_as_stock() {
    let base = "application/x-rtp,media=audio,clock-rate=48000,payload=96";
    let multi = "encoding-name=MULTIOPUS,encoding-params=(string)6,num_streams=(string)4,\
                 coupled_streams=(string)2,channel_mapping=(string)\"0,4,1,2,3,5\"";
    let cases = [
        "encoding-name=OPUS".to_owned(),
        "encoding-name=OPUS,sprop-stereo=(string)0".to_owned(),
        "encoding-name=OPUS,sprop-stereo=(string)1".to_owned(),
        "encoding-name=OPUS,sprop-stereo=(string)maybe".to_owned(),
        "encoding-name=OPUS,sprop-maxcapturerate=(string)16000".to_owned(),
        "encoding-name=OPUS,sprop-maxcapturerate=(string)16k".to_owned(),
        "encoding-name=X-GST-OPUS-DRAFT-SPITTKA-00,sprop-stereo=(string)0".to_owned(),
        multi.to_owned(),
        format!("{multi},sprop-maxcapturerate=(string)24000"),
        multi.replace("num_streams=(string)4", "num_streams=(string)7"),
        multi.replace("coupled_streams=(string)2", "coupled_streams=(string)5"),
        multi.replace("0,4,1,2,3,5", "0,4,1,2,3,9"),
        multi.replace("encoding-params=(string)6", "encoding-params=(string)300"),
        multi.replace(",num_streams=(string)4", ""),
        multi.replace("channel_mapping=(string)", "channel_mapping=(int)3,x="),
    ];
    for case in cases {
        let caps = format!("{base},{case}");
        let stock = depay_caps("rtpopusdepay", &caps);
        let ours = depay_caps("rtpfastopusdepay", &caps);
        match (&stock, &ours) {
            (Some(a), Some(b)) => assert!(a == b, "{caps}:\n stock {a}\n ours  {b}"),
            (None, None) => {}
            _ => panic!("{caps}: stock {stock:?} ours {ours:?}"),
        }
    }
}

#[test]
fn depay_refuses_wrong_caps_naming_the_field() {
    init();
    let logged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = logged.clone();
    gst::log::add_log_function(move |cat, _level, _file, _func, _line, _obj, msg| {
        if cat.name() == "rtpfastopusdepay" {
            if let Some(m) = msg.get() {
                sink.lock().unwrap().push(m.to_string());
            }
        }
    });
    gst::log::set_active(true);
    // By name: also applies to the category when it is made later.
    gst::log::set_threshold_for_name("rtpfastopusdepay", gst::DebugLevel::Warning);
    for (caps, field) in [
        (
            "application/x-rtp,media=audio,clock-rate=48000,encoding-name=MULTIOPUS,payload=96",
            "encoding-params",
        ),
        (
            "application/x-rtp,media=audio,clock-rate=48000,encoding-name=MULTIOPUS,payload=96,\
             encoding-params=(string)6,num_streams=(string)4,coupled_streams=(string)2,\
             channel_mapping=(string)\"0,1,2,3,4,x\"",
            "channel_mapping",
        ),
        // Refused by the template check already (clock-rate is fixed there).
        (
            "application/x-rtp,media=audio,clock-rate=8000,encoding-name=OPUS,payload=96",
            "",
        ),
    ] {
        logged.lock().unwrap().clear();
        let element = gst::ElementFactory::make("rtpfastopusdepay")
            .build()
            .unwrap();
        element.set_state(gst::State::Paused).unwrap();
        let pad = element.static_pad("sink").unwrap();
        pad.send_event(gst::event::StreamStart::new("s"));
        let accepted = pad.send_event(gst::event::Caps::new(&caps.parse().unwrap()));
        element.set_state(gst::State::Null).unwrap();
        assert!(!accepted, "{caps} accepted");
        if !field.is_empty() {
            let logged = logged.lock().unwrap();
            assert!(
                logged
                    .iter()
                    .any(|m| m.contains("not-negotiated") && m.contains(field)),
                "{caps}: no not-negotiated message naming {field}: {logged:?}"
            );
        }
    }
}

// ---- bad input ----

fn rtp_packet(seq: u16, ts: u32, payload: &[u8]) -> gst::Buffer {
    let mut v = vec![0x80, 96];
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&ts.to_be_bytes());
    v.extend_from_slice(&0x1234u32.to_be_bytes());
    v.extend_from_slice(payload);
    let mut b = gst::Buffer::from_mut_slice(v);
    b.get_mut()
        .unwrap()
        .set_pts(gst::ClockTime::from_mseconds(seq as u64 * 20));
    b
}

fn stat(h: &gst_check::Harness, field: &str) -> u64 {
    h.element()
        .unwrap()
        .property::<gst::Structure>("stats")
        .get::<u64>(field)
        .unwrap()
}

#[test]
fn depay_drops_and_counts_bad_packets_and_keeps_streaming() {
    init();
    let mut h = gst_check::Harness::new("rtpfastopusdepay");
    h.set_src_caps_str(
        "application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=96",
    );
    let mut seq = 0u16;
    let good = |h: &mut gst_check::Harness, seq: &mut u16| {
        *seq += 1;
        let payload = [0xfc, *seq as u8, 7, 7];
        let out = h
            .push_and_pull(rtp_packet(*seq, *seq as u32 * 960, &payload))
            .unwrap();
        assert_eq!(bytes(&out), payload);
    };
    good(&mut h, &mut seq);
    // An RTP packet without payload: a 0-byte buffer, as stock (opusdec
    // conceals a lost frame for it), not a malformed packet.
    seq += 1;
    let out = h.push_and_pull(rtp_packet(seq, 0, &[])).unwrap();
    assert_eq!(out.size(), 0);
    assert_eq!(stat(&h, "malformed"), 0);
    assert_eq!(stat(&h, "empty-payloads"), 1);
    good(&mut h, &mut seq);
    // Random bytes (some valid RTP by chance: those pass through).
    let mut x = 0x2545f491u32;
    let mut malformed = 0;
    for _ in 0..300 {
        let len = (x % 60) as usize;
        let p: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let is_rtp = len >= 12 && p[0] >> 6 == 2;
        if !is_rtp {
            malformed += 1;
        }
        assert!(h.push(gst::Buffer::from_mut_slice(p)).is_ok());
        while h.try_pull().is_some() {}
    }
    assert!(stat(&h, "malformed") >= malformed);
    assert!(stat(&h, "dropped") >= malformed);
    // The stream goes on (a packet the random ones did not make "old").
    seq = seq.wrapping_add(30000);
    good(&mut h, &mut seq);
}

// ---- steady state ----

/// Allocations per packet of `factory` over 10,000+ packets after a
/// warm-up, in a process started with G_SLICE=always-malloc.
fn allocs_per_packet(factory: &str, caps: &gst::Caps, input: &[gst::Buffer]) -> f64 {
    let rig = rig::Rig::new(factory, &[("pt", 96), ("mtu", 1400)], caps, false).unwrap();
    let (warm, counted) = input.split_at(input.len() / 5);
    for b in warm {
        rig.push(b.copy_deep().unwrap()).unwrap();
    }
    let counted: Vec<_> = counted.iter().map(|b| b.copy_deep().unwrap()).collect();
    let n = counted.len() as f64;
    let a0 = alloc_counter::allocations();
    for b in counted {
        rig.push(b).unwrap();
    }
    (alloc_counter::allocations() - a0) as f64 / n
}

#[test]
fn child_opus_allocs() {
    if std::env::var_os("OPUS_ALLOCS_CHILD").is_none() {
        return;
    }
    init();
    assert!(alloc_counter::is_active(), "malloc interposer not active");
    let (caps, frames) = opusenc(2, "bitrate=128000", "ticks", 100);
    let input: Vec<gst::Buffer> = (0..130).flat_map(|_| frames.iter().cloned()).collect();
    // RTP input for the depayloaders, from our payloader.
    let collector = rig::Rig::new("rtpfastopuspay", &[("pt", 96)], &caps, true).unwrap();
    for b in &input {
        collector.push(b.copy_deep().unwrap()).unwrap();
    }
    let rtp_caps = collector.output_caps().unwrap();
    let rtp: Vec<gst::Buffer> = collector
        .take_collected()
        .into_iter()
        .map(gst::Buffer::from_mut_slice)
        .collect();
    drop(collector);
    let depay = allocs_per_packet("rtpfastopusdepay", &rtp_caps, &rtp);
    let stock_depay = allocs_per_packet("rtpopusdepay", &rtp_caps, &rtp);
    let pay = allocs_per_packet("rtpfastopuspay", &caps, &input);
    let stock_pay = allocs_per_packet("rtpopuspay", &caps, &input);
    println!(
        "allocations per packet: rtpfastopuspay {pay:.4} rtpfastopusdepay {depay:.4} \
         rtpopuspay {stock_pay:.4} rtpopusdepay {stock_depay:.4}"
    );
    // The counter sees GStreamer's allocations (the copies the rig pushes
    // are made before counting)...
    assert!(stock_depay >= 1.0, "stock depayloader: {stock_depay}");
    assert!(stock_pay >= 1.0, "stock payloader: {stock_pay}");
    // ...and ours make (almost) none.
    assert!(
        depay <= 0.05,
        "rtpfastopusdepay: {depay} allocations per packet"
    );
    assert!(pay <= 0.05, "rtpfastopuspay: {pay} allocations per packet");
}

#[test]
fn opus_elements_allocate_nothing_per_packet_in_steady_state() {
    common::run_allocation_child("child_opus_allocs", "OPUS_ALLOCS_CHILD");
}

// ---- properties ----

/// Name, type, default, range and user-visible flags of every property.
fn property_table(factory: &str) -> std::collections::BTreeMap<String, String> {
    init();
    let e = gst::ElementFactory::make(factory).build().unwrap();
    let flags = [
        (glib::ParamFlags::READABLE, "r"),
        (glib::ParamFlags::WRITABLE, "w"),
        (glib::ParamFlags::CONSTRUCT_ONLY, "construct-only"),
        (gst::PARAM_FLAG_CONTROLLABLE, "controllable"),
        (gst::PARAM_FLAG_MUTABLE_READY, "mutable-ready"),
        (gst::PARAM_FLAG_MUTABLE_PAUSED, "mutable-paused"),
        (gst::PARAM_FLAG_MUTABLE_PLAYING, "mutable-playing"),
    ];
    e.list_properties()
        .iter()
        .map(|p| {
            let f: Vec<_> = flags
                .iter()
                .filter(|(bit, _)| p.flags().contains(*bit))
                .map(|(_, n)| *n)
                .collect();
            let range = if let Some(s) = p.downcast_ref::<glib::ParamSpecUInt>() {
                format!("[{}, {}]", s.minimum(), s.maximum())
            } else if let Some(s) = p.downcast_ref::<glib::ParamSpecInt>() {
                format!("[{}, {}]", s.minimum(), s.maximum())
            } else if let Some(s) = p.downcast_ref::<glib::ParamSpecInt64>() {
                format!("[{}, {}]", s.minimum(), s.maximum())
            } else {
                String::new()
            };
            let default = p
                .default_value()
                .serialize()
                .map(|s| s.to_string())
                .unwrap_or_default();
            let desc = format!(
                "{} {} default {default} {range}",
                p.value_type().name(),
                f.join("|")
            );
            (p.name().to_string(), desc)
        })
        .collect()
}

#[test]
fn properties_match_stock() {
    for (stock, ours) in [
        ("rtpopuspay", "rtpfastopuspay"),
        ("rtpopusdepay", "rtpfastopusdepay"),
    ] {
        let s = property_table(stock);
        let o = property_table(ours);
        assert!(s.contains_key("stats") && s.contains_key("source-info"));
        for (name, desc) in &s {
            if name == "name" || name == "parent" {
                continue;
            }
            assert_eq!(Some(desc), o.get(name), "{ours} property {name}");
        }
        for extra in ["simd", "stats-interval", "pool-max-bytes"] {
            assert!(o.contains_key(extra), "{ours} lacks {extra}");
        }
    }
    assert!(property_table("rtpfastopuspay").contains_key("dtx"));
}
