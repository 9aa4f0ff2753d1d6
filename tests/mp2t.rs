//! rtpfastmp2tpay / rtpfastmp2tdepay against the stock rtpmp2tpay /
//! rtpmp2tdepay (GStreamer 1.22):
//! - payloader: the same TS input (x264 + mpegtsmux with 7 TS packets per
//!   buffer, AAC + mpegtsmux as it aligns by default, hand-made TS in odd
//!   buffer sizes, non-multiples of 188 and empty buffers included) at MTU
//!   400/1400/9000 gives byte-identical RTP packets with the same PTS, DTS,
//!   duration and flags, and the same caps; after the stock packets ours
//!   carry only the whole TS packets stock keeps queued at EOS;
//! - interop both ways and ours->ours: TS bytes out == TS bytes in;
//! - depayloader: output buffers equal to stock's for the same RTP packets,
//!   with `skip-first-bytes` and with malformed payloads (which we drop and
//!   count where stock pushes an empty buffer), the stream going on;
//! - properties equal to stock's;
//! - heap allocations per packet in steady state (child process with
//!   G_SLICE=always-malloc, as tests/steady_state_allocs.rs).

#[path = "../src/alloc_counter.rs"]
mod alloc_counter;
mod common;
#[path = "../src/bin/rtp_perf_compare/rig.rs"]
#[allow(dead_code)]
mod rig;

use gst::prelude::*;

const TS: usize = 188;
const SSRC: u32 = 0x1234_5678;

fn ts_caps() -> gst::Caps {
    "video/mpegts,systemstream=(boolean)true,packetsize=(int)188"
        .parse()
        .unwrap()
}

fn rtp_caps() -> gst::Caps {
    "application/x-rtp,media=video,clock-rate=90000,encoding-name=MP2T,payload=33"
        .parse()
        .unwrap()
}

/// TS from a real muxer: its caps and buffers.
fn muxed(desc: &str) -> (gst::Caps, Vec<gst::Buffer>) {
    let (caps, bufs) = common::run_collect(&format!("{desc} ! appsink name=sink sync=false"), None);
    assert!(bufs.len() > 10, "muxer produced {} buffers", bufs.len());
    (caps.expect("muxer caps"), bufs)
}

fn video_ts_align7() -> (gst::Caps, Vec<gst::Buffer>) {
    muxed(
        "videotestsrc num-buffers=45 pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 \
         ! x264enc tune=zerolatency key-int-max=15 bitrate=1500 speed-preset=ultrafast \
         ! h264parse ! mpegtsmux alignment=7",
    )
}

fn audio_ts_default() -> (gst::Caps, Vec<gst::Buffer>) {
    muxed("audiotestsrc num-buffers=60 ! avenc_aac ! aacparse ! mpegtsmux")
}

/// `n` TS-like packets (sync byte, a PID, a counter) cut into buffers of
/// odd sizes: single and partial TS packets, bursts, empty buffers, some
/// without PTS or duration, some of two memories.
fn hand_made(n: usize) -> (gst::Caps, Vec<gst::Buffer>) {
    let mut data = Vec::with_capacity(n * TS);
    for i in 0..n {
        data.extend_from_slice(&[0x47, 0x01, 0x00, 0x10 | (i % 16) as u8]);
        data.extend((4..TS).map(|j| (i * 7 + j) as u8));
    }
    let sizes = [
        TS,
        1,
        187,
        2 * TS,
        1000,
        7 * TS,
        5000,
        0,
        3 * TS + 17,
        TS,
        TS,
        100,
        2000,
        9000,
        375,
        376,
        TS - 1,
        20 * TS,
    ];
    let mut bufs = Vec::new();
    let mut at = 0;
    let mut k = 0;
    while at < data.len() {
        let len = sizes[k % sizes.len()].min(data.len() - at);
        let chunk = &data[at..at + len];
        let mut b = if k % 6 == 5 && len >= 2 {
            // Two memories (what an adapter upstream may hand out).
            let mut b = gst::Buffer::new();
            let bm = b.get_mut().unwrap();
            bm.append_memory(gst::Memory::from_slice(chunk[..len / 2].to_vec()));
            bm.append_memory(gst::Memory::from_slice(chunk[len / 2..].to_vec()));
            b
        } else {
            gst::Buffer::from_slice(chunk.to_vec())
        };
        let bm = b.get_mut().unwrap();
        if k % 5 != 3 {
            bm.set_pts(gst::ClockTime::from_mseconds(10 * k as u64));
        }
        if k % 4 != 1 {
            bm.set_duration(gst::ClockTime::from_mseconds(10));
        }
        bufs.push(b);
        at += len;
        k += 1;
    }
    (ts_caps(), bufs)
}

fn bytes(b: &gst::BufferRef) -> Vec<u8> {
    b.map_readable().unwrap().to_vec()
}

fn concat(bufs: &[gst::Buffer]) -> Vec<u8> {
    bufs.iter().flat_map(|b| bytes(b)).collect()
}

/// What must match between stock's output buffers and ours.
fn describe(b: &gst::BufferRef) -> String {
    let mut metas: Vec<String> = b
        .iter_meta::<gst::Meta>()
        .map(|m| m.api().name().to_string())
        .collect();
    metas.sort();
    let reference: Vec<_> = b
        .iter_meta::<gst::ReferenceTimestampMeta>()
        .map(|m| m.timestamp())
        .collect();
    format!(
        "pts {:?} dts {:?} dur {:?} flags {:?} size {} metas {metas:?} {reference:?}",
        b.pts(),
        b.dts(),
        b.duration(),
        b.flags() - gst::BufferFlags::TAG_MEMORY,
        b.size()
    )
}

/// `buffers` with an untagged meta (a reference timestamp of the buffer's
/// index, so which input a packet's metas came from shows) and a tagged
/// one (stock drops it).
fn with_metas(buffers: &[gst::Buffer]) -> Vec<gst::Buffer> {
    static REGISTER: std::sync::Once = std::sync::Once::new();
    REGISTER.call_once(|| {
        gst::meta::CustomMeta::register("Mp2tTestVideo", &["video"]);
    });
    buffers
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut b = b.copy();
            let bm = b.get_mut().unwrap();
            gst::ReferenceTimestampMeta::add(
                bm,
                &gst::Caps::new_empty_simple("timestamp/x-test"),
                gst::ClockTime::from_seconds(i as u64),
                None,
            );
            gst::meta::CustomMeta::add(bm, "Mp2tTestVideo").unwrap();
            b
        })
        .collect()
}

fn assert_same_buffers(what: &str, stock: &[gst::Buffer], ours: &[gst::Buffer]) {
    assert_eq!(stock.len(), ours.len(), "{what}: buffer count");
    for (i, (s, o)) in stock.iter().zip(ours).enumerate() {
        assert_eq!(describe(s), describe(o), "{what}: buffer {i} metadata");
        assert!(bytes(s) == bytes(o), "{what}: buffer {i} bytes differ");
    }
}

fn payload(packet: &gst::BufferRef) -> Vec<u8> {
    let data = bytes(packet);
    assert!(data.len() >= 12 && data[0] >> 6 == 2, "not RTP");
    assert_eq!(data[0] & 0x3f, 0, "no padding, extension or CSRC expected");
    data[12..].to_vec()
}

fn pay(
    factory: &str,
    input: &(gst::Caps, Vec<gst::Buffer>),
    props: &str,
) -> (Option<gst::Caps>, Vec<gst::Buffer>) {
    let desc = format!(
        "appsrc name=src ! {factory} ssrc={SSRC} seqnum-offset=1000 timestamp-offset=12345 {props} \
         ! appsink name=sink sync=false"
    );
    common::run_collect(&desc, Some((&input.0, &input.1)))
}

fn depay(
    factory: &str,
    caps: &gst::Caps,
    packets: &[gst::Buffer],
    props: &str,
) -> (Option<gst::Caps>, Vec<gst::Buffer>) {
    let desc = format!("appsrc name=src ! {factory} {props} ! appsink name=sink sync=false");
    common::run_collect(&desc, Some((caps, packets)))
}

/// Whole TS packets of the input, in order (what can be sent).
fn whole_ts(input: &[gst::Buffer]) -> Vec<u8> {
    let mut all = concat(input);
    all.truncate(all.len() / TS * TS);
    all
}

/// Stock and ours on the same input: stock's packets, then ours has only
/// the whole TS packets stock still held at EOS; returns ours.
fn compare_pay(what: &str, input: &(gst::Caps, Vec<gst::Buffer>), props: &str) -> Vec<gst::Buffer> {
    let (stock_caps, stock) = pay("rtpmp2tpay", input, props);
    let (ours_caps, ours) = pay("rtpfastmp2tpay", input, props);
    assert!(stock_caps.is_some(), "{what}: no caps");
    assert_eq!(stock_caps, ours_caps, "{what}: caps");
    assert!(!stock.is_empty(), "{what}: stock made no packets");
    assert!(
        ours.len() >= stock.len(),
        "{what}: fewer packets than stock"
    );
    assert_same_buffers(what, &stock, &ours[..stock.len()]);
    let sent: Vec<u8> = ours.iter().flat_map(|p| payload(p)).collect();
    assert!(
        sent == whole_ts(&input.1),
        "{what}: TS bytes sent != whole TS packets in"
    );
    for p in &ours[stock.len()..] {
        assert!(
            payload(p).len().is_multiple_of(TS),
            "{what}: EOS packet not whole TS"
        );
    }
    ours
}

#[test]
fn payloader_matches_stock_on_muxed_and_hand_made_ts() {
    common::init();
    let inputs = [
        ("x264+mpegtsmux alignment=7", video_ts_align7()),
        ("aac+mpegtsmux", audio_ts_default()),
        ("hand-made odd sizes", hand_made(600)),
    ];
    for (name, input) in &inputs {
        for mtu in [400, 1400, 9000] {
            let what = format!("{name} mtu={mtu}");
            let ours = compare_pay(&what, input, &format!("mtu={mtu} pt=96"));
            // Whole TS packets, within the MTU.
            for p in &ours {
                assert!(p.size() <= mtu, "{what}: {} > mtu", p.size());
            }
        }
    }
    // Packets that span inputs, and sizes that are not whole TS packets,
    // really occurred in the hand-made case.
    let sizes: Vec<usize> = inputs[2].1 .1.iter().map(|b| b.size()).collect();
    assert!(sizes.iter().any(|s| s % TS != 0) && sizes.contains(&0));
}

#[test]
fn payloader_default_pt_is_33_and_max_ptime_like_stock() {
    common::init();
    let input = hand_made(300);
    let ours = compare_pay("default pt", &input, "");
    assert_eq!(bytes(&ours[0])[1] & 0x7f, 33);
    let e = gst::ElementFactory::make("rtpfastmp2tpay").build().unwrap();
    assert_eq!(e.property::<u32>("pt"), 33);
    // max-ptime cuts packets by the summed durations (stock's quirks
    // included: the first input of a packet counted twice).
    compare_pay("max-ptime 25ms", &input, "max-ptime=25000000");
    compare_pay(
        "max-ptime 45ms mtu 9000",
        &input,
        "max-ptime=45000000 mtu=9000",
    );
}

#[test]
fn metas_pass_as_with_stock() {
    common::init();
    let (caps, bufs) = hand_made(400);
    let input = (caps, with_metas(&bufs));
    for mtu in [400, 1400] {
        let ours = compare_pay(&format!("metas mtu={mtu}"), &input, &format!("mtu={mtu}"));
        assert!(ours
            .iter()
            .all(|p| p.meta::<gst::ReferenceTimestampMeta>().is_some()));
    }
    let packets: Vec<gst::Buffer> = (0..20u16)
        .map(|i| rtp_packet(i, i as u32 * 100, &ts_bytes(1 + i as usize % 7, 0)))
        .collect();
    let packets = with_metas(&packets);
    let (_, stock) = depay("rtpmp2tdepay", &rtp_caps(), &packets, "");
    let (_, ours) = depay("rtpfastmp2tdepay", &rtp_caps(), &packets, "");
    assert_same_buffers("depay metas", &stock, &ours);
    assert!(ours[3].meta::<gst::ReferenceTimestampMeta>().is_some());
}

#[test]
fn payloader_sends_what_stock_keeps_at_eos() {
    common::init();
    // Three single TS packets and a partial one: stock sends nothing.
    let (caps, all) = hand_made(3);
    let mut input: Vec<gst::Buffer> = all.clone();
    input.push(gst::Buffer::from_slice(vec![0x47u8; 50]));
    let (_, stock) = pay("rtpmp2tpay", &(caps.clone(), input.clone()), "");
    let (_, ours) = pay("rtpfastmp2tpay", &(caps, input.clone()), "");
    assert!(stock.is_empty(), "stock sent {} packets", stock.len());
    assert_eq!(ours.len(), 1);
    assert!(payload(&ours[0]) == whole_ts(&input));
}

#[test]
fn interop_both_ways_ts_bytes_survive() {
    common::init();
    for (name, input) in [("video", video_ts_align7()), ("hand-made", hand_made(400))] {
        let sent = whole_ts(&input.1);
        for mtu in [400, 1400] {
            let props = format!("mtu={mtu}");
            // ours -> stock, ours -> ours
            let (rtp_caps, ours_rtp) = pay("rtpfastmp2tpay", &input, &props);
            let rtp_caps = rtp_caps.unwrap();
            for depayloader in ["rtpmp2tdepay", "rtpfastmp2tdepay"] {
                let (caps, out) = depay(depayloader, &rtp_caps, &ours_rtp, "");
                assert_eq!(caps.unwrap(), ts_caps());
                assert!(
                    concat(&out) == sent,
                    "{name} mtu {mtu}: rtpfastmp2tpay -> {depayloader} lost or changed bytes"
                );
            }
            // stock -> ours: what stock sent (it keeps a tail at EOS).
            let (rtp_caps, stock_rtp) = pay("rtpmp2tpay", &input, &props);
            let rtp_caps = rtp_caps.unwrap();
            let (_, out) = depay("rtpfastmp2tdepay", &rtp_caps, &stock_rtp, "");
            let got = concat(&out);
            assert!(
                !got.is_empty() && sent.starts_with(&got),
                "{name}: stock -> ours"
            );
            let (_, stock_out) = depay("rtpmp2tdepay", &rtp_caps, &stock_rtp, "");
            assert_same_buffers(&format!("{name} stock pay -> depay"), &stock_out, &out);
        }
    }
}

/// Stock's output without its empty buffers, a DISCONT they carried moved
/// to the next buffer (where ours puts it: we drop those packets).
fn without_empty(stock: Vec<gst::Buffer>) -> Vec<gst::Buffer> {
    let mut out = Vec::new();
    let mut discont = false;
    for mut b in stock {
        if b.size() == 0 {
            discont |= b.flags().contains(gst::BufferFlags::DISCONT);
            continue;
        }
        if std::mem::take(&mut discont) {
            b.make_mut().set_flags(gst::BufferFlags::DISCONT);
        }
        out.push(b);
    }
    out
}

/// An RTP packet by hand (version 2, pt 33).
fn rtp_packet(seq: u16, ts: u32, payload: &[u8]) -> gst::Buffer {
    let mut v = vec![0x80, 33];
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&ts.to_be_bytes());
    v.extend_from_slice(&SSRC.to_be_bytes());
    v.extend_from_slice(payload);
    let mut b = gst::Buffer::from_mut_slice(v);
    b.get_mut()
        .unwrap()
        .set_pts(gst::ClockTime::from_mseconds(seq as u64));
    b
}

fn ts_bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n * TS)
        .map(|i| if i % TS == 0 { 0x47 } else { (i as u8) ^ seed })
        .collect()
}

#[test]
fn depayloader_skip_first_bytes_like_stock() {
    common::init();
    // A 4-byte prefix before the TS packets (what skip-first-bytes is for).
    let packets: Vec<gst::Buffer> = (0..40u16)
        .map(|i| {
            let mut p = vec![0xAA, 0xBB, 0xCC, i as u8];
            p.extend(ts_bytes(1 + i as usize % 7, i as u8));
            rtp_packet(i, i as u32 * 3000, &p)
        })
        .collect();
    for props in [
        "skip-first-bytes=4",
        "skip-first-bytes=0",
        "skip-first-bytes=190",
    ] {
        let (sc, stock) = depay("rtpmp2tdepay", &rtp_caps(), &packets, props);
        let (oc, ours) = depay("rtpfastmp2tdepay", &rtp_caps(), &packets, props);
        assert_eq!(sc, oc, "{props}: caps");
        // Stock pushes empty buffers where less than a TS packet is left;
        // we drop those.
        let stock = without_empty(stock);
        assert!(!stock.is_empty());
        assert_same_buffers(props, &stock, &ours);
    }
    let e = gst::ElementFactory::make("rtpfastmp2tdepay")
        .build()
        .unwrap();
    e.set_property("skip-first-bytes", 7u32);
    assert_eq!(e.property::<u32>("skip-first-bytes"), 7);
}

#[test]
fn depayloader_malformed_input_like_stock_without_empty_buffers() {
    common::init();
    let mut rng = 0x9e37_79b9u32;
    let mut random = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 17;
                rng ^= rng << 5;
                rng as u8
            })
            .collect()
    };
    let mut packets = Vec::new();
    let seq = std::cell::Cell::new(0u16);
    let push = |packets: &mut Vec<gst::Buffer>, payload: Vec<u8>| {
        let n = seq.get();
        packets.push(rtp_packet(n, n as u32 * 100, &payload));
        seq.set(n + 1);
    };
    push(&mut packets, ts_bytes(7, 1));
    push(&mut packets, Vec::new()); // empty
    push(&mut packets, random(100)); // less than a TS packet
    let mut trimmed = ts_bytes(2, 2);
    trimmed.extend(random(50));
    push(&mut packets, trimmed); // a partial TS packet at the end
    push(&mut packets, random(3 * TS)); // no sync bytes: stock passes it
    push(&mut packets, random(TS - 1));
    push(&mut packets, ts_bytes(1, 3));
    // Not RTP at all (too short), then a valid packet.
    packets.push(gst::Buffer::from_slice(vec![0x80u8, 33, 0]));
    push(&mut packets, ts_bytes(3, 4));
    // Flags on the input (DISCONT, MARKER) pass on as stock's sub-buffers.
    let mut flagged = rtp_packet(seq.get(), 0, &ts_bytes(2, 5));
    flagged
        .get_mut()
        .unwrap()
        .set_flags(gst::BufferFlags::DISCONT | gst::BufferFlags::MARKER);
    packets.push(flagged);
    seq.set(seq.get() + 1);
    push(&mut packets, ts_bytes(7, 6));

    let (_, stock) = depay("rtpmp2tdepay", &rtp_caps(), &packets, "");
    let stock_empty = stock.iter().filter(|b| b.size() == 0).count();
    assert!(
        stock_empty >= 2,
        "stock pushes empty buffers for short payloads"
    );
    let stock = without_empty(stock);
    let (_, ours) = depay("rtpfastmp2tdepay", &rtp_caps(), &packets, "");
    assert_same_buffers("malformed", &stock, &ours);
    assert!(
        ours.last().is_some_and(|b| bytes(b) == ts_bytes(7, 6)),
        "stream went on"
    );

    // The counts, on an element we keep.
    let pipeline = common::play(
        "appsrc name=src ! rtpfastmp2tdepay name=d ! fakesink sync=false",
        Some((&rtp_caps(), &packets)),
    );
    let bus = pipeline.bus().unwrap();
    let mut warnings = 0;
    loop {
        let msg = bus
            .timed_pop_filtered(
                gst::ClockTime::from_seconds(10),
                &[
                    gst::MessageType::Eos,
                    gst::MessageType::Error,
                    gst::MessageType::Warning,
                ],
            )
            .expect("EOS within 10 s");
        match msg.view() {
            gst::MessageView::Warning(_) => warnings += 1,
            gst::MessageView::Eos(_) => break,
            other => panic!("{other:?}"),
        }
    }
    let stats = pipeline
        .by_name("d")
        .unwrap()
        .property::<gst::Structure>("stats");
    // Dropped here: the empty payload and the two short ones; the base
    // drops the 3-byte non-RTP buffer. Trimmed: one.
    assert_eq!(stats.get::<u64>("trimmed").unwrap(), 1, "{stats}");
    assert_eq!(stats.get::<u64>("dropped").unwrap(), 4, "{stats}");
    assert_eq!(stats.get::<u64>("malformed").unwrap(), 5, "{stats}");
    pipeline.set_state(gst::State::Null).unwrap();
    // One bus warning for the empty packet (stock posts one per packet).
    assert_eq!(warnings, 1);
}

#[test]
fn depayloader_matches_stock_on_stock_rtp() {
    common::init();
    let input = hand_made(500);
    for mtu in [400, 1400, 9000] {
        let (caps, rtp) = pay("rtpmp2tpay", &input, &format!("mtu={mtu}"));
        let caps = caps.unwrap();
        // Every third packet in two memories (header apart, as some
        // senders build them).
        let rtp: Vec<gst::Buffer> = rtp
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let data = bytes(p);
                let mut b = gst::Buffer::new();
                {
                    let bm = b.get_mut().unwrap();
                    if i % 3 == 0 {
                        bm.append_memory(gst::Memory::from_slice(data[..12].to_vec()));
                        bm.append_memory(gst::Memory::from_slice(data[12..].to_vec()));
                    } else {
                        bm.append_memory(gst::Memory::from_slice(data));
                    }
                    bm.set_pts(p.pts());
                }
                b
            })
            .collect();
        let (sc, stock) = depay("rtpmp2tdepay", &caps, &rtp, "");
        let (oc, ours) = depay("rtpfastmp2tdepay", &caps, &rtp, "");
        assert_eq!(sc, oc);
        assert_same_buffers(&format!("depay mtu={mtu}"), &stock, &ours);
    }
}

fn describe_props(e: &gst::Element) -> std::collections::BTreeMap<String, String> {
    e.list_properties()
        .iter()
        .map(|p| {
            (
                p.name().to_string(),
                format!(
                    "{} {:?} {:?}",
                    p.value_type().name(),
                    p.flags() & observable_flags(),
                    if p.value_type() == gst::Structure::static_type() {
                        None
                    } else {
                        p.default_value().serialize().ok()
                    }
                ),
            )
        })
        .collect()
}

fn observable_flags() -> gst::glib::ParamFlags {
    use gst::glib::ParamFlags as F;
    F::READABLE
        | F::WRITABLE
        | F::CONSTRUCT
        | F::CONSTRUCT_ONLY
        | F::DEPRECATED
        | gst::PARAM_FLAG_CONTROLLABLE
        | gst::PARAM_FLAG_MUTABLE_READY
        | gst::PARAM_FLAG_MUTABLE_PAUSED
        | gst::PARAM_FLAG_MUTABLE_PLAYING
}

#[test]
fn properties_like_stock() {
    common::init();
    for (stock, ours) in [
        ("rtpmp2tpay", "rtpfastmp2tpay"),
        ("rtpmp2tdepay", "rtpfastmp2tdepay"),
    ] {
        let s = describe_props(&gst::ElementFactory::make(stock).build().unwrap());
        let o = describe_props(&gst::ElementFactory::make(ours).build().unwrap());
        for (name, d) in &s {
            if name == "name" || name == "parent" {
                continue;
            }
            assert_eq!(Some(d), o.get(name), "{ours}: property {name}");
        }
        for extra in ["simd", "stats-interval", "pool-max-bytes"] {
            assert!(o.contains_key(extra), "{ours} lacks {extra}");
        }
    }
    // Templates: stock's, structure for structure.
    for (stock, ours) in [
        ("rtpmp2tpay", "rtpfastmp2tpay"),
        ("rtpmp2tdepay", "rtpfastmp2tdepay"),
    ] {
        let s = gst::ElementFactory::find(stock).unwrap();
        let o = gst::ElementFactory::find(ours).unwrap();
        for dir in ["sink", "src"] {
            let caps = |f: &gst::ElementFactory| {
                f.static_pad_templates()
                    .iter()
                    .find(|t| t.name_template() == dir)
                    .unwrap()
                    .caps()
            };
            assert!(caps(&s) == caps(&o), "{ours} {dir} template");
        }
    }
}

// ---- heap allocations per packet, in a child process ----

const WARM: usize = 3_000;
const COUNTED: usize = 10_000;

fn fresh(data: &[u8], i: usize) -> gst::Buffer {
    let mut b = gst::Buffer::from_mut_slice(data.to_vec());
    b.get_mut()
        .unwrap()
        .set_pts(gst::ClockTime::from_useconds(i as u64 * 1000));
    b
}

/// Allocations per output packet of `factory` fed `inputs` (the first
/// WARM uncounted).
fn allocs(factory: &str, caps: &gst::Caps, inputs: Vec<gst::Buffer>) -> f64 {
    let rig = rig::Rig::new(factory, &[("mtu", 1400)], caps, false).unwrap();
    let mut inputs = inputs;
    let counted = inputs.split_off(WARM);
    for b in inputs {
        rig.push(b).unwrap();
    }
    rig.reset();
    let a0 = alloc_counter::allocations();
    for b in counted {
        rig.push(b).unwrap();
    }
    let n = alloc_counter::allocations() - a0;
    let packets = rig.packets();
    assert!(
        packets as usize >= COUNTED / 2,
        "{factory}: {packets} packets"
    );
    n as f64 / packets as f64
}

#[test]
fn child_measure_allocs() {
    if std::env::var_os("MP2T_ALLOCS_CHILD").is_none() {
        return;
    }
    common::init();
    assert!(alloc_counter::is_active(), "malloc interposer not active");
    let seven = ts_bytes(7, 9);
    // 1000-byte inputs: most packets span two inputs (pooled copies).
    let odd = ts_bytes(6, 3)[..1000].to_vec();
    let rtp = rtp_packet(0, 0, &seven);
    let rtp = bytes(&rtp);
    let mut report = Vec::new();
    let mut results = Vec::new();
    for factory in ["rtpmp2tpay", "rtpfastmp2tpay"] {
        let aligned = (0..WARM + COUNTED).map(|i| fresh(&seven, i)).collect();
        let a = allocs(factory, &ts_caps(), aligned);
        let odd_in = (0..WARM + COUNTED).map(|i| fresh(&odd, i)).collect();
        let o = allocs(factory, &ts_caps(), odd_in);
        report.push(format!("{factory}: 7 TS/input {a:.4}, 1000 B/input {o:.4}"));
        results.push((factory, a, o));
    }
    for factory in ["rtpmp2tdepay", "rtpfastmp2tdepay"] {
        let packets = (0..WARM + COUNTED)
            .map(|i| {
                let mut v = rtp.clone();
                v[2..4].copy_from_slice(&(i as u16).to_be_bytes());
                fresh(&v, i)
            })
            .collect();
        let d = allocs(factory, &rtp_caps(), packets);
        report.push(format!("{factory}: {d:.4}"));
        results.push((factory, d, d));
    }
    println!("allocations per packet: {}", report.join("; "));
    for (factory, a, o) in results {
        if factory.starts_with("rtpfast") {
            assert!(a <= 0.05 && o <= 0.05, "{factory}: {a} / {o} per packet");
        } else {
            assert!(a > 0.5, "{factory}: {a}: counter blind?");
        }
    }
}

#[test]
fn steady_state_allocations_per_packet() {
    common::run_allocation_child("child_measure_allocs", "MP2T_ALLOCS_CHILD");
}

/// Where we differ from stock on purpose: a flush forgets a queued partial
/// TS packet (stock would glue it to the first input after a seek).
#[test]
fn payloader_flush_forgets_queued_bytes() {
    common::init();
    let mut h = gst_check::Harness::new("rtpfastmp2tpay");
    h.set_src_caps(ts_caps());
    let partial = gst::Buffer::from_slice(vec![0x11u8; 100]);
    assert_eq!(h.push(partial), Ok(gst::FlowSuccess::Ok));
    assert!(h.push_event(gst::event::FlushStart::new()));
    assert!(h.push_event(gst::event::FlushStop::new(true)));
    assert!(
        h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
            gst::ClockTime,
        >::new()))
    );
    let seven = ts_bytes(7, 1);
    assert_eq!(
        h.push(gst::Buffer::from_slice(seven.clone())),
        Ok(gst::FlowSuccess::Ok)
    );
    let out = h.pull().unwrap();
    assert!(payload(&out) == seven);
    // Without the flush, the 100 bytes lead the next packet (as stock).
    let mut h = gst_check::Harness::new("rtpfastmp2tpay");
    h.set_src_caps(ts_caps());
    h.push(gst::Buffer::from_slice(vec![0x11u8; 100])).unwrap();
    h.push(gst::Buffer::from_slice(seven.clone())).unwrap();
    let out = payload(&h.pull().unwrap());
    assert_eq!(out.len(), 7 * TS);
    assert!(out[..100].iter().all(|b| *b == 0x11) && out[100..] == seven[..7 * TS - 100]);
}

/// An MTU without room for one TS packet is an error (stock queues the
/// input forever and sends nothing).
#[test]
fn payloader_mtu_too_small_is_an_error() {
    common::init();
    let mut h = gst_check::Harness::new("rtpfastmp2tpay");
    h.element().unwrap().set_property("mtu", 199u32);
    h.set_src_caps(ts_caps());
    assert_eq!(
        h.push(gst::Buffer::from_slice(ts_bytes(1, 0))),
        Err(gst::FlowError::Error)
    );
}

/// Random bytes, random RTP headers with random payloads and odd
/// `skip-first-bytes`: never a panic or an error, whole TS packets out only,
/// and a valid packet after all of it still comes out.
#[test]
fn depayloader_survives_random_input() {
    common::init();
    let mut rng = 0x2545_f491u32;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        rng
    };
    for skip in [0u32, 3, 200] {
        let mut h = gst_check::Harness::new("rtpfastmp2tdepay");
        h.element().unwrap().set_property("skip-first-bytes", skip);
        h.set_src_caps(rtp_caps());
        for i in 0..3000u32 {
            let len = (next() % 2000) as usize;
            let mut v: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if i % 2 == 0 && v.len() >= 12 {
                // A plausible header (version 2, maybe CSRCs, extension,
                // padding) over random payload.
                v[0] = 0x80 | (v[0] & 0x3f);
            }
            assert_eq!(
                h.push(gst::Buffer::from_mut_slice(v)),
                Ok(gst::FlowSuccess::Ok)
            );
            while let Some(out) = h.try_pull() {
                assert!(out.size() > 0 && out.size().is_multiple_of(TS));
            }
        }
        let valid = ts_bytes(3, 7);
        let mut payload = vec![0u8; skip as usize];
        payload.extend_from_slice(&valid);
        h.push(rtp_packet(4242, 0, &payload)).unwrap();
        let mut last = None;
        while let Some(out) = h.try_pull() {
            last = Some(out);
        }
        assert!(last.is_some_and(|b| bytes(&b) == valid), "skip {skip}");
    }
}
