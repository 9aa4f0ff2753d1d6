//! rtpfastL16depay / rtpfastL24depay against the stock rtpL16depay /
//! rtpL24depay: the same RTP packets in, the same bytes, caps, timestamps
//! and flags out (mono/stereo/multichannel, several packet sizes, channel
//! orders), little-endian output like stock + audioconvert, bad input
//! dropped and counted, refused caps named in the error.

mod common;
use common::*;
use gst::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fmt {
    L16,
    L24,
}

impl Fmt {
    fn bytes(self) -> usize {
        match self {
            Fmt::L16 => 2,
            Fmt::L24 => 3,
        }
    }
    fn raw(self) -> &'static str {
        match self {
            Fmt::L16 => "S16BE",
            Fmt::L24 => "S24BE",
        }
    }
    fn raw_le(self) -> &'static str {
        match self {
            Fmt::L16 => "S16LE",
            Fmt::L24 => "S24LE",
        }
    }
    fn stock(self) -> &'static str {
        match self {
            Fmt::L16 => "rtpL16depay",
            Fmt::L24 => "rtpL24depay",
        }
    }
    fn ours(self) -> &'static str {
        match self {
            Fmt::L16 => "rtpfastL16depay",
            Fmt::L24 => "rtpfastL24depay",
        }
    }
    fn pay(self) -> &'static str {
        match self {
            Fmt::L16 => "rtpL16pay",
            Fmt::L24 => "rtpL24pay",
        }
    }
    fn name(self) -> &'static str {
        match self {
            Fmt::L16 => "L16",
            Fmt::L24 => "L24",
        }
    }
}

/// Deterministic noise (xorshift), so every channel and sample differs.
fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 8) as u8
        })
        .collect()
}

/// Raw audio buffers of 20 ms with timestamps.
fn raw_audio(fmt: Fmt, rate: u32, channels: u32, buffers: usize) -> Vec<gst::Buffer> {
    let frames = rate as usize / 50;
    let bytes = frames * channels as usize * fmt.bytes();
    (0..buffers)
        .map(|i| {
            let mut b = gst::Buffer::from_mut_slice(noise(bytes, 7 + i as u32));
            let bm = b.get_mut().unwrap();
            bm.set_pts(gst::ClockTime::from_mseconds(20 * i as u64));
            bm.set_duration(gst::ClockTime::from_mseconds(20));
            b
        })
        .collect()
}

/// RTP packets from the stock payloader (one run, so both depayloaders see
/// exactly the same packets).
fn stock_packets(
    fmt: Fmt,
    rate: u32,
    channels: u32,
    mask: Option<u64>,
    pay_props: &str,
) -> (gst::Caps, Vec<gst::Buffer>) {
    init();
    let mut b = gst::Caps::builder("audio/x-raw")
        .field("format", fmt.raw())
        .field("layout", "interleaved")
        .field("rate", rate as i32)
        .field("channels", channels as i32);
    if let Some(mask) = mask {
        b = b.field("channel-mask", gst::Bitmask::new(mask));
    }
    let caps = b.build();
    let input = raw_audio(fmt, rate, channels, 10);
    let (rtp_caps, packets) = run_collect(
        &format!(
            "appsrc name=src ! {} {pay_props} ! appsink name=sink sync=false",
            fmt.pay()
        ),
        Some((&caps, &input)),
    );
    assert!(packets.len() >= 10, "{} packets", packets.len());
    (rtp_caps.unwrap(), packets)
}

#[derive(Debug, PartialEq)]
struct Out {
    bytes: Vec<u8>,
    pts: Option<gst::ClockTime>,
    dts: Option<gst::ClockTime>,
    duration: Option<gst::ClockTime>,
    flags: gst::BufferFlags,
}

fn depay(
    depay: &str,
    downstream: &str,
    caps: &gst::Caps,
    packets: &[gst::Buffer],
) -> (gst::Caps, Vec<Out>) {
    let (caps, bufs) = run_collect(
        &format!("appsrc name=src ! {depay} {downstream} ! appsink name=sink sync=false"),
        Some((caps, packets)),
    );
    let flags = gst::BufferFlags::DISCONT
        | gst::BufferFlags::RESYNC
        | gst::BufferFlags::GAP
        | gst::BufferFlags::CORRUPTED
        | gst::BufferFlags::MARKER
        | gst::BufferFlags::DELTA_UNIT;
    let out = bufs
        .iter()
        .map(|b| Out {
            bytes: b.map_readable().unwrap().to_vec(),
            pts: b.pts(),
            dts: b.dts(),
            duration: b.duration(),
            flags: b.flags() & flags,
        })
        .collect();
    (caps.expect("output caps"), out)
}

fn assert_same(what: &str, stock: (gst::Caps, Vec<Out>), ours: (gst::Caps, Vec<Out>)) {
    assert_eq!(ours.0, stock.0, "{what}: caps");
    assert_eq!(ours.1.len(), stock.1.len(), "{what}: buffer count");
    for (i, (o, s)) in ours.1.iter().zip(&stock.1).enumerate() {
        assert_eq!(o, s, "{what}: buffer {i}");
    }
    assert!(!ours.1.is_empty(), "{what}: no output");
}

#[test]
fn output_is_identical_to_stock() {
    for fmt in [Fmt::L16, Fmt::L24] {
        for (rate, channels) in [(44100, 1), (44100, 2), (48000, 1), (48000, 2)] {
            for pay_props in [
                "",
                "mtu=400",
                "max-ptime=5000000",
                "mtu=1000 min-ptime=4000000",
            ] {
                let (caps, packets) = stock_packets(fmt, rate, channels, None, pay_props);
                let what = format!("{fmt:?} {rate} Hz {channels} ch `{pay_props}`");
                eprintln!("{what}: {} packets, {caps}", packets.len());
                assert_same(
                    &what,
                    depay(fmt.stock(), "", &caps, &packets),
                    depay(fmt.ours(), "", &caps, &packets),
                );
            }
        }
    }
}

#[test]
fn little_endian_out_equals_stock_plus_audioconvert() {
    for fmt in [Fmt::L16, Fmt::L24] {
        for channels in [1, 2] {
            let (caps, packets) = stock_packets(fmt, 48000, channels, None, "");
            let le = format!("! audio/x-raw,format={}", fmt.raw_le());
            let stock = depay(
                fmt.stock(),
                &format!("! audioconvert {le}"),
                &caps,
                &packets,
            );
            let ours = depay(fmt.ours(), &le, &caps, &packets);
            assert_same(&format!("{fmt:?} {channels} ch LE"), stock, ours);
        }
        // Downstream that takes both: big-endian, as stock.
        let (caps, packets) = stock_packets(fmt, 48000, 2, None, "");
        let (out_caps, _) = depay(
            fmt.ours(),
            &format!("! audio/x-raw,format={{{},{}}}", fmt.raw(), fmt.raw_le()),
            &caps,
            &packets,
        );
        assert_eq!(
            out_caps
                .structure(0)
                .unwrap()
                .get::<&str>("format")
                .unwrap(),
            fmt.raw()
        );
        // ...unless it prefers little-endian.
        let (out_caps, _) = depay(
            fmt.ours(),
            &format!("! audio/x-raw,format={{{},{}}}", fmt.raw_le(), fmt.raw()),
            &caps,
            &packets,
        );
        assert_eq!(
            out_caps
                .structure(0)
                .unwrap()
                .get::<&str>("format")
                .unwrap(),
            fmt.raw_le()
        );
    }
}

/// Hand-made packets (distinct bytes per channel) for any caps.
fn packets(fmt: Fmt, channels: usize, count: u16) -> Vec<gst::Buffer> {
    let frames = 60;
    (0..count)
        .map(|i| {
            let mut v = vec![0x80, if i == 0 { 0x80 | 96 } else { 96 }];
            v.extend_from_slice(&(1000 + i).to_be_bytes());
            v.extend_from_slice(&(i as u32 * frames as u32).to_be_bytes());
            v.extend_from_slice(&0x5eed_u32.to_be_bytes());
            v.extend_from_slice(&noise(frames * channels * fmt.bytes(), 99 + i as u32));
            let mut b = gst::Buffer::from_mut_slice(v);
            let bm = b.get_mut().unwrap();
            // 60 frames at 48 kHz.
            bm.set_pts(gst::ClockTime::from_useconds(i as u64 * 1250));
            bm.set_duration(gst::ClockTime::from_useconds(1250));
            b
        })
        .collect()
}

fn rtp_caps(fmt: Fmt, extra: &str) -> gst::Caps {
    init();
    format!(
        "application/x-rtp,media=audio,clock-rate=48000,encoding-name={},payload=96{extra}",
        fmt.name()
    )
    .parse()
    .unwrap()
}

/// GStreamer 1.22.0-1.22.6 (Debian 12 ships 1.22.0) look `channel-order`
/// up with the string comparison inverted: the first table entry whose name
/// *differs* is taken ("rtp: Fix incorrect RTP channel order lookup by
/// name", fixed in 1.22.7). We implement the fixed lookup. Probe: the stock
/// element announces FL FR FC LFE (0xf) for DV.LRLsRs (FL FR SL SR).
fn stock_lookup_is_inverted() -> bool {
    let caps = rtp_caps(
        Fmt::L16,
        ",encoding-params=(string)4,channel-order=DV.LRLsRs",
    );
    let (out, _) = depay("rtpL16depay", "", &caps, &packets(Fmt::L16, 4, 1));
    let mask = out
        .structure(0)
        .unwrap()
        .get::<gst::Bitmask>("channel-mask")
        .unwrap();
    match mask.0 {
        0xf => true,
        0xc03 => false,
        other => panic!("stock DV.LRLsRs mask {other:#x}"),
    }
}

/// Compare ours given `order` with stock given `stock_order` (the name that
/// selects the same table entry in stock's lookup).
fn assert_order_like_stock(fmt: Fmt, channels: usize, order: &str, stock_order: &str) {
    let caps = rtp_caps(fmt, &format!(",encoding-params=(string){channels}{order}"));
    let stock_caps = rtp_caps(
        fmt,
        &format!(",encoding-params=(string){channels}{stock_order}"),
    );
    let input = packets(fmt, channels, 6);
    let what = format!("{fmt:?} {caps} vs stock with `{stock_order}`");
    assert_same(
        &what,
        depay(fmt.stock(), "", &stock_caps, &input),
        depay(fmt.ours(), "", &caps, &input),
    );
    // Little-endian (with the reorder where there is one): stock's output
    // converted.
    let le = format!("! audio/x-raw,format={}", fmt.raw_le());
    assert_same(
        &format!("{what} LE"),
        depay(
            fmt.stock(),
            &format!("! audioconvert {le}"),
            &stock_caps,
            &input,
        ),
        depay(fmt.ours(), &le, &caps, &input),
    );
}

#[test]
fn channel_orders_like_stock() {
    let inverted = stock_lookup_is_inverted();
    eprintln!("stock channel-order lookup inverted (GStreamer < 1.22.7): {inverted}");
    // (channels, our channel-order, what selects the same entry in an
    // inverted lookup: the first entry of a count is taken by any other
    // name, the second by the first's name; same-position entries stand in
    // for each other).
    let cases: &[(usize, &str, &str)] = &[
        (3, "", ""),
        (4, "", ""),
        (4, ",channel-order=DV.LRLsRs", ",channel-order=other"),
        (4, ",channel-order=DV.LRCS", ",channel-order=DV.LRLsRs"),
        (4, ",channel-order=dv.lrcwo", ",channel-order=DV.LRLsRs"),
        (5, "", ""),
        (5, ",channel-order=DV.LRLsRsC", ",channel-order=other"),
        (5, ",channel-order=unknown", ",channel-order=DV.LRLsRsC"),
        (6, "", ""),
        (6, ",channel-order=DV.LRLsRsCS", ",channel-order=other"),
        (
            6,
            ",channel-order=DV.LmixRmixTWoQ1Q2",
            ",channel-order=DV.LRLsRsCS",
        ),
        (7, "", ""),
        (8, "", ""),
        (
            8,
            ",channel-order=DV.LRCWoLsRsLmixRmix",
            ",channel-order=other",
        ),
        (8, ",channel-order=DV.LRCWoLsRsLcRc", ",channel-order=other"),
    ];
    for fmt in [Fmt::L16, Fmt::L24] {
        for &(channels, order, inverted_order) in cases {
            let stock_order = if inverted { inverted_order } else { order };
            assert_order_like_stock(fmt, channels, order, stock_order);
        }
    }
    // The stock payloader's channel-order for a 5.0 input, end to end.
    let (caps, packets) = stock_packets(Fmt::L16, 48000, 5, Some(0x3 | 0x4 | (3 << 10)), "");
    assert_eq!(
        caps.structure(0).unwrap().get::<&str>("channel-order").ok(),
        Some("DV.LRLsRsC")
    );
    let mut stock_caps = caps.clone();
    if inverted {
        stock_caps
            .make_mut()
            .structure_mut(0)
            .unwrap()
            .set("channel-order", "other");
    }
    assert_same(
        "5.0 from rtpL16pay",
        depay("rtpL16depay", "", &stock_caps, &packets),
        depay("rtpfastL16depay", "", &caps, &packets),
    );
}

/// Unknown names: the count's default layout (RFC 3551 §4.1), or none.
/// Stock < 1.22.7 cannot reach these, so the expectation is written out.
#[test]
fn unknown_channel_orders_take_the_default_layout() {
    // (channels, channel-mask, output slot k takes input channel map[k])
    let cases: &[(usize, u64, &[usize])] = &[
        // L C R LFE -> FL FR FC LFE: the stock shuffle swaps slots 1 and 2.
        (4, 0xf, &[0, 2, 1, 3]),
        // Ls L C Rs R LFE (canonical FL FR FC LFE SL SR).
        (6, 0xc0f, &[4, 0, 2, 5, 1, 3]),
        // No 8-channel default: unpositioned, untouched.
        (8, 0, &[0, 1, 2, 3, 4, 5, 6, 7]),
    ];
    for fmt in [Fmt::L16, Fmt::L24] {
        for &(channels, mask, map) in cases {
            let caps = rtp_caps(
                fmt,
                &format!(",encoding-params=(string){channels},channel-order=bogus"),
            );
            let input = packets(fmt, channels, 3);
            let (out_caps, out) = depay(fmt.ours(), "", &caps, &input);
            let s = out_caps.structure(0).unwrap();
            assert_eq!(s.get::<gst::Bitmask>("channel-mask").unwrap().0, mask);
            assert_eq!(s.get::<i32>("channels").unwrap(), channels as i32);
            let sample = fmt.bytes();
            for (o, i) in out.iter().zip(&input) {
                let payload = &i.map_readable().unwrap()[12..];
                let mut want = Vec::new();
                for frame in payload.chunks(sample * channels) {
                    for &from in map {
                        want.extend_from_slice(&frame[from * sample..(from + 1) * sample]);
                    }
                }
                assert_eq!(o.bytes, want, "{fmt:?} {channels} ch");
            }
        }
    }
}

#[test]
fn static_payload_types_like_stock() {
    // L16 payload 10 (stereo) / 11 (mono) at 44.1 kHz without encoding-params.
    init();
    for (pt, channels) in [(10, 2), (11, 1)] {
        let caps: gst::Caps =
            format!("application/x-rtp,media=audio,clock-rate=44100,payload={pt}")
                .parse()
                .unwrap();
        let input = packets(Fmt::L16, channels, 4);
        assert_same(
            &format!("payload {pt}"),
            depay("rtpL16depay", "", &caps, &input),
            depay("rtpfastL16depay", "", &caps, &input),
        );
    }
}

fn harness(fmt: Fmt, channels: usize) -> gst_check::Harness {
    init();
    let mut h = gst_check::Harness::new(fmt.ours());
    h.set_src_caps(rtp_caps(
        fmt,
        &format!(",encoding-params=(string){channels}"),
    ));
    h
}

fn stat(h: &gst_check::Harness, field: &str) -> u64 {
    h.element()
        .unwrap()
        .property::<gst::Structure>("stats")
        .get::<u64>(field)
        .unwrap()
}

fn rtp(seq: u16, marker: bool, payload: &[u8]) -> gst::Buffer {
    let mut v = vec![0x80, if marker { 0x80 | 96 } else { 96 }];
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&(seq as u32 * 100).to_be_bytes());
    v.extend_from_slice(&0x1234u32.to_be_bytes());
    v.extend_from_slice(payload);
    gst::Buffer::from_mut_slice(v)
}

#[test]
fn big_endian_output_is_a_view_of_the_packet() {
    for fmt in [Fmt::L16, Fmt::L24] {
        let mut h = harness(fmt, 2);
        for seq in 0..50u16 {
            let input = rtp(seq, false, &noise(fmt.bytes() * 2 * 100, seq as u32));
            let in_ptr = input.map_readable().unwrap().as_ptr() as usize;
            assert_eq!(h.push(input), Ok(gst::FlowSuccess::Ok));
            let out = h.pull().unwrap();
            assert_eq!(out.n_memory(), 1);
            let map = out.map_readable().unwrap();
            assert_eq!(map.len(), fmt.bytes() * 2 * 100);
            assert_eq!(
                map.as_ptr() as usize,
                in_ptr + 12,
                "{fmt:?}: the payload was copied"
            );
            assert_eq!(&map[..], &noise(fmt.bytes() * 2 * 100, seq as u32)[..]);
        }
    }
}

#[test]
fn a_packet_in_several_memories_is_output_whole() {
    let mut h = harness(Fmt::L16, 2);
    let payload = noise(400, 3);
    let whole = rtp(1, false, &payload);
    let bytes = whole.map_readable().unwrap().to_vec();
    let mut split = gst::Buffer::new();
    {
        let s = split.get_mut().unwrap();
        s.append_memory(gst::Memory::from_slice(bytes[..20].to_vec()));
        s.append_memory(gst::Memory::from_slice(bytes[20..].to_vec()));
    }
    assert_eq!(h.push(split), Ok(gst::FlowSuccess::Ok));
    let out = h.pull().unwrap();
    assert_eq!(&out.map_readable().unwrap()[..], &payload[..]);
}

fn malformed_rtp() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = vec![
        vec![],                                                     // zero-length
        vec![0x80, 96, 0, 1],                                       // truncated header
        vec![0x40, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],               // version 1
        vec![0xa0, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 200], // padding past the end
        vec![0x8f, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],               // 15 CSRCs, none present
    ];
    let mut x = 0x9e3779b9u32;
    for _ in 0..50 {
        let len = (x % 40) as usize;
        let mut p: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        if let Some(b) = p.first_mut() {
            *b &= 0x3f; // never version 2
        }
        v.push(p);
    }
    v
}

#[test]
fn bad_input_is_dropped_counted_and_streaming_continues() {
    for fmt in [Fmt::L16, Fmt::L24] {
        let channels = 2;
        let frame = fmt.bytes() * channels;
        let mut h = harness(fmt, channels);
        let bad = malformed_rtp();
        for p in &bad {
            assert_eq!(
                h.push(gst::Buffer::from_mut_slice(p.clone())),
                Ok(gst::FlowSuccess::Ok)
            );
        }
        assert_eq!(stat(&h, "malformed"), bad.len() as u64);
        // Valid RTP, bad payloads: empty, partial frames, one byte.
        let payloads: Vec<Vec<u8>> = vec![
            vec![],
            noise(frame + 1, 1),
            noise(frame * 10 - 1, 2),
            vec![7],
            noise(frame / 2, 3),
        ];
        let mut seq = 0u16;
        for p in &payloads {
            seq += 1;
            assert_eq!(h.push(rtp(seq, false, p)), Ok(gst::FlowSuccess::Ok));
        }
        assert_eq!(
            stat(&h, "malformed"),
            (bad.len() + payloads.len()) as u64,
            "{fmt:?}"
        );
        assert!(stat(&h, "dropped") >= (bad.len() + payloads.len()) as u64);
        assert_eq!(h.buffers_in_queue(), 0, "{fmt:?}: a bad packet came out");
        // Streaming goes on.
        let good = noise(frame * 20, 4);
        assert_eq!(h.push(rtp(seq + 1, true, &good)), Ok(gst::FlowSuccess::Ok));
        let out = h.pull().unwrap();
        assert_eq!(&out.map_readable().unwrap()[..], &good[..]);
        assert!(out.flags().contains(gst::BufferFlags::RESYNC));
    }
}

/// Run `caps` into the depayloader with one packet; the error's debug text.
fn negotiation_error(depay: &str, caps: &str) -> String {
    init();
    let (pipeline, src) = common::launch_with_src(&format!(
        "appsrc name=src caps=\"{caps}\" format=time ! {depay} ! fakesink"
    ));

    pipeline.set_state(gst::State::Playing).unwrap();
    let mut b = rtp(1, false, &[0; 16]);
    b.get_mut().unwrap().set_pts(gst::ClockTime::ZERO);
    let _ = src.push_buffer(b);
    let _ = src.end_of_stream();
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(10),
            &[gst::MessageType::Error, gst::MessageType::Eos],
        )
        .expect("no error or EOS");
    pipeline.set_state(gst::State::Null).unwrap();
    match msg.view() {
        gst::MessageView::Error(e) => {
            format!("{} | {}", e.error(), e.debug().unwrap_or_default())
        }
        _ => panic!("{depay} with `{caps}` played to EOS"),
    }
}

#[test]
fn refused_caps_are_named_in_the_error() {
    for (depay, caps, field) in [
        (
            "rtpfastL16depay",
            "application/x-rtp,media=audio,encoding-name=L16,payload=96",
            "clock-rate",
        ),
        (
            "rtpfastL24depay",
            "application/x-rtp,media=audio,encoding-name=L24,payload=96",
            "clock-rate",
        ),
        (
            "rtpfastL16depay",
            "application/x-rtp,media=audio,encoding-name=L16,clock-rate=48000,encoding-params=(string)100",
            "encoding-params",
        ),
        (
            "rtpfastL24depay",
            "application/x-rtp,media=audio,encoding-name=L24,clock-rate=48000,channels=-2",
            "channels",
        ),
        (
            "rtpfastL24depay",
            "application/x-rtp,media=audio,clock-rate=48000",
            "encoding-name",
        ),
        (
            "rtpfastL16depay",
            "application/x-rtp,media=audio,clock-rate=48000,payload=96",
            "encoding-name",
        ),
    ] {
        let err = negotiation_error(depay, caps);
        eprintln!("{depay} `{caps}`: {err}");
        assert!(err.contains("not-negotiated"), "{err}");
        assert!(err.contains(field), "{depay} `{caps}`: {err}");
    }
}

#[test]
fn properties_are_the_stock_ones_plus_ours() {
    init();
    for fmt in [Fmt::L16, Fmt::L24] {
        let stock = gst::ElementFactory::make(fmt.stock()).build().unwrap();
        let ours = gst::ElementFactory::make(fmt.ours()).build().unwrap();
        for p in stock.list_properties() {
            let q = ours
                .find_property(p.name())
                .unwrap_or_else(|| panic!("{} lacks {}", fmt.ours(), p.name()));
            assert_eq!(q.value_type(), p.value_type(), "{}", p.name());
            if p.name() != "name" && p.name() != "stats" {
                assert_eq!(
                    format!("{:?}", q.default_value()),
                    format!("{:?}", p.default_value()),
                    "{}",
                    p.name()
                );
            }
        }
        for extra in ["simd", "stats-interval", "pool-max-bytes"] {
            assert!(ours.find_property(extra).is_some(), "{extra}");
        }
    }
}

#[test]
fn losses_and_reordering_like_stock() {
    for fmt in [Fmt::L16, Fmt::L24] {
        let (caps, mut packets) = stock_packets(fmt, 48000, 2, None, "mtu=600");
        assert!(packets.len() > 20);
        // A lost packet, a late one (within max-reorder: dropped), a gap.
        packets.remove(3);
        packets.swap(6, 7);
        packets.drain(12..15);
        let ours = depay(fmt.ours(), "", &caps, &packets);
        let disconts = ours
            .1
            .iter()
            .filter(|o| o.flags.contains(gst::BufferFlags::DISCONT))
            .count();
        assert!(disconts >= 3, "{fmt:?}: {disconts} DISCONT buffers");
        assert_eq!(
            ours.1.len(),
            packets.len() - 1,
            "the late packet is dropped"
        );
        assert_same(
            &format!("{fmt:?} with losses"),
            depay(fmt.stock(), "", &caps, &packets),
            ours,
        );
    }
}

#[test]
fn byte_order_follows_downstream_renegotiation() {
    for fmt in [Fmt::L16, Fmt::L24] {
        let mut h = harness(fmt, 1);
        h.set_sink_caps_str(&format!("audio/x-raw,format={}", fmt.raw()));
        let payload = noise(fmt.bytes() * 30, 5);
        assert_eq!(h.push(rtp(1, false, &payload)), Ok(gst::FlowSuccess::Ok));
        assert_eq!(&h.pull().unwrap().map_readable().unwrap()[..], &payload[..]);
        // Downstream now wants little-endian (the harness sends RECONFIGURE).
        h.set_sink_caps_str(&format!("audio/x-raw,format={}", fmt.raw_le()));
        assert_eq!(h.push(rtp(2, false, &payload)), Ok(gst::FlowSuccess::Ok));
        let out = h.pull().unwrap();
        let swapped: Vec<u8> = payload
            .chunks(fmt.bytes())
            .flat_map(|s| s.iter().rev().copied().collect::<Vec<_>>())
            .collect();
        assert_eq!(&out.map_readable().unwrap()[..], &swapped[..]);
        let caps = h.sinkpad().unwrap().current_caps().unwrap();
        assert_eq!(
            caps.structure(0).unwrap().get::<&str>("format").unwrap(),
            fmt.raw_le()
        );
    }
}
