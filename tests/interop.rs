//! Interop through real elements on real encoder output: ours -> stock,
//! stock -> ours, ours -> ours, for MTU 400/1400/8000 and each aggregate mode.
//! The slice NAL units must come out identical and in order, and the
//! parameter sets must agree.

mod common;
use common::*;
use gst::prelude::*;

const MTUS: [u32; 3] = [400, 1400, 8000];

fn aggregate_modes(codec: Codec) -> [&'static str; 3] {
    match codec {
        Codec::H264 => ["none", "zero-latency", "max-stap"],
        Codec::H265 => ["none", "zero-latency", "max"],
    }
}

fn check_pair(codec: Codec, media: &Media, pay: &str, depay: &str) {
    let input_nals = buffers_nals(&media.frames);
    let input_vcl: Vec<_> = input_nals
        .iter()
        .filter(|n| codec.is_vcl(n))
        .cloned()
        .collect();
    let input_params: Vec<_> = input_nals
        .iter()
        .filter(|n| codec.is_param(n))
        .cloned()
        .collect();
    assert!(!input_vcl.is_empty() && !input_params.is_empty());
    for mtu in MTUS {
        for mode in aggregate_modes(codec) {
            let desc = format!(
                "appsrc name=src ! {pay} mtu={mtu} aggregate-mode={mode} ! {depay} ! {},stream-format=byte-stream,alignment=au ! appsink name=sink sync=false",
                codec.media()
            );
            let (_, out) = run_collect(&desc, Some((&media.caps, &media.frames)));
            let nals = buffers_nals(&out);
            let vcl: Vec<_> = nals.iter().filter(|n| codec.is_vcl(n)).cloned().collect();
            assert_eq!(
                vcl.len(),
                input_vcl.len(),
                "{pay} -> {depay} mtu={mtu} mode={mode}: slice count"
            );
            assert!(
                vcl == input_vcl,
                "{pay} -> {depay} mtu={mtu} mode={mode}: slices differ"
            );
            for p in &input_params {
                assert!(
                    nals.contains(p),
                    "{pay} -> {depay} mtu={mtu} mode={mode}: parameter set missing"
                );
            }
            assert_eq!(
                out.len(),
                media.frames.len(),
                "{pay} -> {depay} mtu={mtu} mode={mode}: access units"
            );
        }
    }
}

fn interop(codec: Codec) {
    let media = encode(codec, 24, 320, 240);
    let ours_pay = format!("rtpfast{}pay", codec.name());
    let ours_depay = format!("rtpfast{}depay", codec.name());
    let stock_pay = format!("rtp{}pay", codec.name());
    let stock_depay = format!("rtp{}depay", codec.name());
    check_pair(codec, &media, &ours_pay, &stock_depay);
    check_pair(codec, &media, &stock_pay, &ours_depay);
    check_pair(codec, &media, &ours_pay, &ours_depay);
}

#[test]
fn h264_interop_both_ways() {
    interop(Codec::H264);
}

#[test]
fn h265_interop_both_ways() {
    interop(Codec::H265);
}

/// With the same seqnum/timestamp/ssrc settings, our payloader puts the same
/// bytes on the wire as the stock one.
///
/// Property sets covered, each with `seqnum-offset=100 timestamp-offset=1000
/// ssrc=4660` on byte-stream x264enc/x265enc output whose keyframes carry
/// their parameter sets:
/// - `mtu` 400, 1400 and 8000 with the default `aggregate-mode` and
///   `config-interval=0` (the defaults);
/// - each `aggregate-mode` at `mtu=1400`;
/// - H.264 `config-interval` 1 and -1 on avc input (parameter sets only in
///   `codec_data`, so both payloaders must insert them): identical.
///
/// Not identical by design: `config-interval` on input whose access units
/// carry their own parameter sets; stock sends them twice, ours once
/// (`config_interval_sends_parameter_sets_once`, README "Differences").
fn same_bytes_as_stock(codec: Codec, extra: &str) {
    let media = encode(codec, 24, 320, 240);
    let (stock, ours) = stock_and_ours_packets(codec, &media, extra);
    assert_same_packets(&stock, &ours, extra);
}

/// The packets rtp<codec>pay and rtpfast<codec>pay make of `media` with the
/// numbering fixed and `extra` properties.
fn stock_and_ours_packets(
    codec: Codec,
    media: &Media,
    extra: &str,
) -> (Vec<gst::Buffer>, Vec<gst::Buffer>) {
    let run = |pay: &str| {
        let desc = format!(
            "appsrc name=src ! {pay} seqnum-offset=100 timestamp-offset=1000 ssrc=4660 {extra} ! appsink name=sink sync=false"
        );
        run_collect(&desc, Some((&media.caps, &media.frames))).1
    };
    (
        run(&format!("rtp{}pay", codec.name())),
        run(&format!("rtpfast{}pay", codec.name())),
    )
}

fn assert_same_packets(stock: &[gst::Buffer], ours: &[gst::Buffer], what: &str) {
    assert_eq!(stock.len(), ours.len(), "packet count with {what}");
    for (i, (a, b)) in stock.iter().zip(ours).enumerate() {
        let (a, b) = (a.map_readable().unwrap(), b.map_readable().unwrap());
        assert!(
            a.as_slice() == b.as_slice(),
            "packet {i} differs with {what}: {:02x?} vs {:02x?}",
            &a[..a.len().min(20)],
            &b[..b.len().min(20)]
        );
    }
}

#[test]
fn h264_wire_bytes_match_stock() {
    for mtu in MTUS {
        same_bytes_as_stock(Codec::H264, &format!("mtu={mtu}"));
    }
}

#[test]
fn h265_wire_bytes_match_stock() {
    for mtu in MTUS {
        same_bytes_as_stock(Codec::H265, &format!("mtu={mtu}"));
    }
}

#[test]
fn wire_bytes_match_stock_in_every_aggregate_mode() {
    for codec in [Codec::H264, Codec::H265] {
        let media = encode(codec, 24, 320, 240);
        for mode in aggregate_modes(codec) {
            let extra = format!("mtu=1400 aggregate-mode={mode}");
            let (stock, ours) = stock_and_ours_packets(codec, &media, &extra);
            assert_same_packets(&stock, &ours, &format!("{} {extra}", codec.name()));
        }
    }
}

/// x264enc's avc output: parameter sets only in `codec_data`.
fn encode_avc(frames: u32) -> Media {
    let desc = format!(
        "videotestsrc num-buffers={frames} pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1,format=I420 ! {} ! video/x-h264,stream-format=avc,alignment=au ! appsink name=sink sync=false",
        Codec::H264.encoder()
    );
    let (caps, frames) = run_collect(&desc, None);
    Media {
        caps: caps.expect("encoder produced caps"),
        frames,
    }
}

/// avc input: parameter sets in `codec_data`, and (x264enc) in the first
/// access unit only. Both payloaders insert them before the later
/// keyframes, identically; in the first unit stock repeats them.
#[test]
fn config_interval_inserting_parameter_sets_matches_stock() {
    let media = encode_avc(40);
    for interval in [1, -1] {
        let extra = format!("config-interval={interval} aggregate-mode=none");
        let (stock, ours) = stock_and_ours_packets(Codec::H264, &media, &extra);
        let params = |packets: &[gst::Buffer]| {
            packets
                .iter()
                .filter(|b| {
                    let m = b.map_readable().unwrap();
                    m.len() > 12 && Codec::H264.is_param(&m[12..])
                })
                .count()
        };
        // 40 frames, a keyframe every 10: inserted before 3 later keyframes.
        assert!(params(&ours) >= 2 + 3 * 2, "ours inserted parameter sets");
        same_but_stock_repeats(Codec::H264, &stock, &ours, &extra);
    }
}

/// The packet as seen by a receiver that does not look at the sequence
/// number: header without bytes 2..4, and payload.
fn without_seqnum(b: &gst::Buffer) -> Vec<u8> {
    let m = b.map_readable().unwrap();
    let mut v = m[..2].to_vec();
    v.extend_from_slice(&m[4..]);
    v
}

/// The documented difference: with `config-interval` on input whose
/// keyframes carry their parameter sets, stock sends its stored copies and
/// then the access unit's own (the same bytes twice); ours sends them once.
/// Stock's packets with those repeats taken out are ours, sequence numbers
/// aside (ours stay contiguous).
#[test]
fn config_interval_sends_parameter_sets_once() {
    // (codec, config-interval, stock repeats the sets): with an interval in
    // seconds stock only repeats once that much time has passed since the
    // sets last went out, and these keyframes carry them every 10 frames.
    // rtph265pay config-interval=1 is left out: 1.22 re-sends the sets
    // before every frame, keyframe or not (README "Differences").
    for (codec, interval, repeats) in [
        (Codec::H264, -1, true),
        (Codec::H264, 1, false),
        (Codec::H265, -1, true),
    ] {
        let media = encode(codec, 40, 320, 240);
        let extra = format!("config-interval={interval} aggregate-mode=none");
        let (stock, ours) = stock_and_ours_packets(codec, &media, &extra);
        let n = same_but_stock_repeats(codec, &stock, &ours, &extra);
        assert_eq!(
            n >= 2,
            repeats,
            "{} {extra}: stock repeated {n}",
            codec.name()
        );
    }
}

/// Stock's packets without the parameter sets it repeats within one access
/// unit equal ours, sequence numbers aside (ours stay contiguous from
/// seqnum-offset); returns how many stock repeated.
fn same_but_stock_repeats(
    codec: Codec,
    stock: &[gst::Buffer],
    ours: &[gst::Buffer],
    extra: &str,
) -> usize {
    let what = format!("{} {extra}", codec.name());
    let stock: Vec<Vec<u8>> = stock.iter().map(without_seqnum).collect();
    // A parameter-set packet of stock's that the same access unit (same RTP
    // timestamp) already sent is a repeat.
    let ts = |p: &[u8]| p[2..6].to_vec();
    let is_param = |p: &[u8]| p.len() > 10 && codec.is_param(&p[10..]);
    let repeat = |i: usize| {
        is_param(&stock[i])
            && stock[..i]
                .iter()
                .rev()
                .take_while(|q| ts(q) == ts(&stock[i]))
                .any(|q| *q == stock[i])
    };
    let kept: Vec<&Vec<u8>> = (0..stock.len())
        .filter(|&i| !repeat(i))
        .map(|i| &stock[i])
        .collect();
    let ours_bytes: Vec<Vec<u8>> = ours.iter().map(without_seqnum).collect();
    let types =
        |v: &[&Vec<u8>]| -> Vec<u8> { v.iter().map(|p| codec.nal_type(&p[10..])).collect() };
    assert_eq!(
        kept.len(),
        ours_bytes.len(),
        "{what}: packet count; NAL types stock-without-repeats {:?} ours {:?}",
        types(&kept),
        types(&ours_bytes.iter().collect::<Vec<_>>())
    );
    for (i, (a, b)) in kept.iter().zip(&ours_bytes).enumerate() {
        assert!(**a == *b, "{what}: packet {i} differs");
    }
    for (i, b) in ours.iter().enumerate() {
        let m = b.map_readable().unwrap();
        assert_eq!(u16::from_be_bytes([m[2], m[3]]), 100 + i as u16, "{what}");
    }
    stock.len() - kept.len()
}

/// Our payloader's RTP caps equal the stock one's, field for field, for
/// byte-stream input and for packed input with codec_data (where rtph264pay
/// adds `profile-level-id` and `profile`, which SDP and webrtcbin read).
fn same_caps_as_stock(codec: Codec) {
    let media = encode(codec, 4, 320, 240);
    let packed = match codec {
        Codec::H264 => "avc",
        Codec::H265 => "hvc1",
    };
    for format in ["byte-stream", packed] {
        let caps_of = |pay: &str| {
            let desc = format!(
                "appsrc name=src ! {}parse ! {},stream-format={format},alignment=au ! {pay} seqnum-offset=100 timestamp-offset=1000 ssrc=4660 ! appsink name=sink sync=false",
                codec.name(),
                codec.media()
            );
            run_collect(&desc, Some((&media.caps, &media.frames)))
                .0
                .expect("payloader caps")
        };
        let stock = caps_of(&format!("rtp{}pay", codec.name()));
        let ours = caps_of(&format!("rtpfast{}pay", codec.name()));
        let (s, o) = (stock.structure(0).unwrap(), ours.structure(0).unwrap());
        for (field, value) in s.iter() {
            assert_eq!(
                o.value(field).ok().map(|v| v.serialize().unwrap()),
                Some(value.serialize().unwrap()),
                "{format}: field {field} (stock {stock}, ours {ours})"
            );
        }
        assert_eq!(s.n_fields(), o.n_fields(), "{format}: {stock} vs {ours}");
        if codec == Codec::H264 && format == "avc" {
            assert!(o.has_field("profile-level-id"), "{ours}");
        }
    }
}

#[test]
fn h264_caps_match_stock() {
    same_caps_as_stock(Codec::H264);
}

#[test]
fn h265_caps_match_stock() {
    same_caps_as_stock(Codec::H265);
}

/// Downstream switching from byte-stream to avc mid-stream (capsfilter caps
/// change -> RECONFIGURE): the depayloader renegotiates at the next access
/// unit, like rtph264depay, and from then on outputs avc with codec_data.
#[test]
fn h264depay_renegotiates_on_reconfigure() {
    let media = encode(Codec::H264, 24, 320, 240);
    let (pipeline, src) = common::launch_with_src(
        "appsrc name=src format=time ! rtph264pay ! rtpfasth264depay ! capsfilter name=cf \
         caps=video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=sink sync=false",
    );

    let sink = common::app_sink(&pipeline);
    src.set_caps(Some(&media.caps));
    pipeline.set_state(gst::State::Playing).unwrap();
    let (first, second) = media.frames.split_at(12);
    for b in first {
        src.push_buffer(b.clone()).unwrap();
    }
    let mut before = Vec::new();
    while before.len() < first.len() {
        before.push(
            sink.try_pull_sample(gst::ClockTime::from_seconds(20))
                .expect("byte-stream unit"),
        );
    }
    let cf = pipeline.by_name("cf").unwrap();
    cf.set_property(
        "caps",
        gst::Caps::builder("video/x-h264")
            .field("stream-format", "avc")
            .field("alignment", "au")
            .build(),
    );
    for b in second {
        src.push_buffer(b.clone()).unwrap();
    }
    src.end_of_stream().unwrap();
    let mut after = Vec::new();
    // A timeout instead of waiting forever if renegotiation broke the flow.
    while let Some(s) = sink.try_pull_sample(gst::ClockTime::from_seconds(20)) {
        after.push(s);
    }
    pipeline.set_state(gst::State::Null).unwrap();

    let format = |s: &gst::Sample| {
        s.caps()
            .unwrap()
            .structure(0)
            .unwrap()
            .get::<String>("stream-format")
            .unwrap()
    };
    assert!(before.iter().all(|s| format(s) == "byte-stream"));
    assert_eq!(
        after.len(),
        second.len(),
        "every access unit still comes out"
    );
    assert!(
        after.iter().all(|s| format(s) == "avc"),
        "renegotiated to avc"
    );
    let caps = after[0].caps().unwrap();
    assert!(caps.structure(0).unwrap().has_field("codec_data"), "{caps}");
    // The avc units carry the same slices as the input, length-prefixed.
    let mut slices = Vec::new();
    for s in &after {
        let map = s.buffer().unwrap().map_readable().unwrap();
        let mut rest = &map[..];
        while rest.len() >= 4 {
            let n = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            assert!(n > 0 && 4 + n <= rest.len(), "bad length prefix {n}");
            if Codec::H264.is_vcl(&rest[4..4 + n]) {
                slices.push(rest[4..4 + n].to_vec());
            }
            rest = &rest[4 + n..];
        }
        assert!(rest.is_empty());
    }
    let input: Vec<_> = buffers_nals(second)
        .into_iter()
        .filter(|n| Codec::H264.is_vcl(n))
        .collect();
    assert!(slices == input, "slices differ after renegotiation");
}
