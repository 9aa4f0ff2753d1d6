//! Payloaders side by side with their stock twins, fed as real pipelines
//! feed them: an encoder and a parser, a demuxer reading a file, a muxer or
//! a raw parser in front. One `tee` hands the same buffers to the stock
//! element and to ours (same `ssrc`, `timestamp-offset`, `seqnum-offset`);
//! every packet must come out the same: its bytes (RTP header included, so
//! RTP timestamps, sequence numbers and the marker bit), PTS, DTS, duration,
//! buffer flags, metas and caps; and so must the events that reach the sink.

mod common;
use common::*;
use gst::prelude::*;

/// What a consumer sees of one packet.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    bytes: Vec<u8>,
    pts: Option<gst::ClockTime>,
    dts: Option<gst::ClockTime>,
    duration: Option<gst::ClockTime>,
    flags: gst::BufferFlags,
    /// The API names of its metas, in order.
    metas: Vec<String>,
    /// The caps it was pushed with.
    caps: Option<gst::Caps>,
}

/// Flags a consumer of RTP packets can act on.
const FLAGS: gst::BufferFlags = gst::BufferFlags::from_bits_truncate(
    gst::BufferFlags::DISCONT.bits()
        | gst::BufferFlags::RESYNC.bits()
        | gst::BufferFlags::MARKER.bits()
        | gst::BufferFlags::DELTA_UNIT.bits()
        | gst::BufferFlags::HEADER.bits()
        | gst::BufferFlags::GAP.bits()
        | gst::BufferFlags::DROPPABLE.bits(),
);

fn seen(b: &gst::Buffer, caps: Option<&gst::CapsRef>) -> Seen {
    Seen {
        bytes: b.map_readable().unwrap().to_vec(),
        pts: b.pts(),
        dts: b.dts(),
        duration: b.duration(),
        flags: b.flags() & FLAGS,
        metas: b
            .iter_meta::<gst::Meta>()
            .map(|m| m.api().name().to_string())
            .collect(),
        caps: caps.map(|c| c.to_owned()),
    }
}

fn pull_all(sink: &gst_app::AppSink) -> Vec<Seen> {
    let mut out = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        let caps = sample.caps();
        if let Some(list) = sample.buffer_list() {
            out.extend(list.iter_owned().map(|b| seen(&b, caps)));
        } else if let Some(b) = sample.buffer() {
            out.push(seen(&b.to_owned(), caps));
        }
    }
    out
}

const FIXED: &str = "ssrc=1 timestamp-offset=0 seqnum-offset=0";

/// Run `src ! tee` into `stock_pay props` and `ours_pay props`; both
/// outputs, stock's first.
fn side_by_side(src: &str, stock: &str, ours: &str, props: &str) -> (Vec<Seen>, Vec<Seen>) {
    init();
    let desc = format!(
        "{src} ! tee name=t \
         t. ! queue ! {stock} {FIXED} {props} ! appsink name=stock sync=false \
         t. ! queue ! {ours} {FIXED} {props} ! appsink name=ours sync=false"
    );
    let pipeline = gst::parse::launch(&desc)
        .unwrap_or_else(|e| panic!("{desc}: {e}"))
        .downcast::<gst::Pipeline>()
        .unwrap();
    let [stock_sink, ours_sink] = stock_and_ours_sinks(&pipeline);
    let (stock_events, ours_events) = (record_events(&stock_sink), record_events(&ours_sink));
    pipeline.set_state(gst::State::Playing).unwrap();
    let stock_out = pull_all(&stock_sink);
    let ours_out = pull_all(&ours_sink);
    let (stock_events, ours_events) = (
        stock_events.lock().unwrap().clone(),
        ours_events.lock().unwrap().clone(),
    );
    assert_eq!(stock_events, ours_events, "{desc}: events downstream");
    assert_no_bus_error(&pipeline, &desc);
    pipeline.set_state(gst::State::Null).unwrap();
    (stock_out, ours_out)
}

/// RTP timestamp of a packet.
fn rtp_ts(p: &Seen) -> u32 {
    u32::from_be_bytes(p.bytes[4..8].try_into().unwrap())
}

/// Stock and ours agree packet for packet.
fn assert_same(what: &str, stock: &[Seen], ours: &[Seen]) {
    assert!(!stock.is_empty(), "{what}: stock sent nothing");
    if std::env::var_os("CONFORMANCE_DUMP").is_some() {
        for (i, (s, o)) in stock.iter().zip(ours).enumerate().take(40) {
            eprintln!(
                "{i}: stock {:?} m={} {:02x?} len={} | ours {:?} m={} {:02x?} len={}",
                s.flags,
                s.bytes[1] >> 7,
                &s.bytes[12..s.bytes.len().min(15)],
                s.bytes.len(),
                o.flags,
                o.bytes[1] >> 7,
                &o.bytes[12..o.bytes.len().min(15)],
                o.bytes.len()
            );
        }
    }
    let ts = |v: &[Seen]| v.iter().map(rtp_ts).take(12).collect::<Vec<_>>();
    assert_eq!(
        ts(stock),
        ts(ours),
        "{what}: RTP timestamps (first 12 packets)"
    );
    for (i, (s, o)) in stock.iter().zip(ours).enumerate() {
        assert_eq!(s.flags, o.flags, "{what}: packet {i}: flags");
        assert_eq!(s.metas, o.metas, "{what}: packet {i}: metas");
        assert!(
            match (&s.caps, &o.caps) {
                (Some(a), Some(b)) => a == b,
                (a, b) => a.is_none() && b.is_none(),
            },
            "{what}: packet {i}: caps {:?} / {:?}",
            s.caps,
            o.caps
        );
        assert_eq!(
            (s.pts, s.dts, s.duration),
            (o.pts, o.dts, o.duration),
            "{what}: packet {i}: PTS, DTS, duration"
        );
        assert!(
            s.bytes == o.bytes,
            "{what}: packet {i}: bytes differ (stock {} bytes, ours {}; headers {:02x?} / {:02x?})",
            s.bytes.len(),
            o.bytes.len(),
            &s.bytes[..s.bytes.len().min(16)],
            &o.bytes[..o.bytes.len().min(16)]
        );
    }
    assert_eq!(stock.len(), ours.len(), "{what}: packet count");
}

/// Where stock is wrong and ours deliberately differs (README,
/// "Differences from the stock elements").
#[derive(Clone, Copy, PartialEq, Eq)]
enum Known {
    /// rtph265pay flags every single-NAL packet and aggregate MARKER, marker
    /// bit or not; ours flags the packets that carry the bit.
    H265MarkerFlag,
    /// rtph265pay flags every packet of byte-stream input DELTA_UNIT,
    /// keyframes too; ours leaves a keyframe input's packets unflagged.
    H265ByteStreamDelta,
    /// rtpmp2tpay drops the whole TS packets still queued at EOS; ours sends
    /// them.
    Mp2tRestAtEos,
}

fn check_known(src: &str, format: &str, props: &str, known: &[Known]) {
    let (mut stock, mut ours) = side_by_side(
        src,
        &format!("rtp{format}pay"),
        &format!("rtpfast{format}pay"),
        props,
    );
    let what = format!("{src} ! rtp[fast]{format}pay {props}");
    if known.contains(&Known::H265MarkerFlag) {
        for p in &mut stock {
            p.flags
                .set(gst::BufferFlags::MARKER, p.bytes[1] & 0x80 != 0);
        }
    }
    if known.contains(&Known::H265ByteStreamDelta) {
        let delta = ours
            .iter()
            .filter(|p| p.flags.contains(gst::BufferFlags::DELTA_UNIT))
            .count();
        assert!(
            delta > 0 && delta < ours.len(),
            "{what}: ours flags delta frames only"
        );
        for p in stock.iter_mut().chain(&mut ours) {
            p.flags.remove(gst::BufferFlags::DELTA_UNIT);
        }
    }
    if known.contains(&Known::Mp2tRestAtEos) && ours.len() > stock.len() {
        let rest = ours.split_off(stock.len());
        assert!(
            rest.len() <= 1,
            "{what}: one packet of queued TS packets at EOS"
        );
    }
    assert_same(&what, &stock, &ours);
}

fn check(src: &str, format: &str, props: &str) {
    let known: &[Known] = match format {
        "h265" => &[Known::H265MarkerFlag],
        "mp2t" => &[Known::Mp2tRestAtEos],
        _ => &[],
    };
    check_known(src, format, props, known);
}

fn video(frames: u32) -> String {
    format!(
        "videotestsrc num-buffers={frames} pattern=ball ! \
         video/x-raw,width=320,height=240,framerate=30/1,format=I420"
    )
}

const X264: &str = "x264enc key-int-max=10 bitrate=1000 speed-preset=ultrafast";
const X265: &str = "x265enc key-int-max=10 bitrate=1000 speed-preset=ultrafast";

/// A file made by a real muxer, for a demuxer to read.
fn media_file(name: &str, chain: &str) -> std::path::PathBuf {
    init();
    let path = std::env::temp_dir().join(format!("rsrtpfast-{}-{name}", std::process::id()));
    if !path.exists() {
        let desc = format!("{chain} ! filesink location={}", path.display());
        let pipeline = play(&desc, None);
        let bus = pipeline.bus().unwrap();
        let msg = bus
            .timed_pop_filtered(
                gst::ClockTime::from_seconds(60),
                &[gst::MessageType::Eos, gst::MessageType::Error],
            )
            .expect("muxing finished");
        assert!(
            matches!(msg.view(), gst::MessageView::Eos(_)),
            "{desc}: {msg:?}"
        );
        pipeline.set_state(gst::State::Null).unwrap();
    }
    path
}

// --- H.264 ------------------------------------------------------------------

/// B-frames: PTS out of decode order. The parser's offsets are bytes; the
/// RTP timestamps must come from the PTS as stock's do.
#[test]
fn h264_parser_in_front_with_b_frames() {
    let src = format!("{} ! {X264} bframes=2 ! h264parse", video(30));
    check(&src, "h264", "");
    check(&src, "h264", "aggregate-mode=zero-latency");
    check(&src, "h264", "aggregate-mode=max-stap mtu=400");
}

#[test]
fn h264_from_an_mp4_file() {
    let file = media_file(
        "h264.mp4",
        &format!("{} ! {X264} bframes=2 ! h264parse ! mp4mux", video(30)),
    );
    let src = format!("filesrc location={} ! qtdemux ! h264parse", file.display());
    check(&src, "h264", "");
    check(&src, "h264", "aggregate-mode=max-stap");
}

/// One NAL unit per buffer: held aggregates go out when the timestamps
/// change and at an access unit delimiter (x264enc writes them), with the
/// marker, in their own access unit's packet.
#[test]
fn h264_nal_aligned_aggregation() {
    let src = format!(
        "{} ! {X264} tune=zerolatency ! h264parse ! video/x-h264,alignment=nal",
        video(20)
    );
    for mode in ["none", "zero-latency", "max-stap"] {
        for mtu in [400, 1400] {
            check(&src, "h264", &format!("aggregate-mode={mode} mtu={mtu}"));
        }
    }
}

// --- H.265 ------------------------------------------------------------------

#[test]
fn h265_parser_in_front() {
    let src = format!("{} ! {X265} ! h265parse", video(20));
    check(&src, "h265", "");
    check(&src, "h265", "aggregate-mode=max");
}

#[test]
fn h265_nal_aligned_aggregation() {
    let src = format!(
        "{} ! {X265} tune=zerolatency ! h265parse ! video/x-h265,alignment=nal",
        video(12)
    );
    for mode in ["none", "zero-latency", "max"] {
        for mtu in [400, 1400] {
            check_known(
                &src,
                "h265",
                &format!("aggregate-mode={mode} mtu={mtu}"),
                &[Known::H265MarkerFlag, Known::H265ByteStreamDelta],
            );
        }
    }
}

#[test]
fn h265_from_an_mp4_file() {
    let file = media_file(
        "h265.mp4",
        &format!("{} ! {X265} ! h265parse ! mp4mux", video(20)),
    );
    let src = format!("filesrc location={} ! qtdemux ! h265parse", file.display());
    check(&src, "h265", "");
}

// --- Audio ------------------------------------------------------------------

#[test]
fn l16_from_a_wav_file() {
    let file = media_file(
        "l16.wav",
        "audiotestsrc num-buffers=40 samplesperbuffer=882 ! \
         audio/x-raw,format=S16LE,rate=44100,channels=2 ! wavenc",
    );
    let src = format!(
        "filesrc location={} ! wavparse ! audioconvert ! audio/x-raw,format=S16BE",
        file.display()
    );
    check(&src, "L16", "");
    check(&src, "L16", "perfect-rtptime=false");
}

#[test]
fn l16_and_l24_from_a_raw_parser() {
    check(
        "audiotestsrc num-buffers=30 samplesperbuffer=441 ! \
         audio/x-raw,format=S16BE,rate=44100,channels=1",
        "L16",
        "",
    );
    let file = media_file(
        "s24be.raw",
        "audiotestsrc num-buffers=30 samplesperbuffer=480 ! \
         audio/x-raw,format=S24BE,rate=48000,channels=2",
    );
    let src = format!(
        "filesrc location={} blocksize=4000 ! rawaudioparse format=pcm pcm-format=s24be \
         sample-rate=48000 num-channels=2",
        file.display()
    );
    check(&src, "L24", "");
}

#[test]
fn opus_from_an_ogg_file() {
    let file = media_file(
        "opus.ogg",
        "audiotestsrc num-buffers=50 ! audio/x-raw,rate=48000,channels=2 ! opusenc ! oggmux",
    );
    let src = format!("filesrc location={} ! oggdemux ! opusparse", file.display());
    check(&src, "opus", "");
    check("audiotestsrc num-buffers=50 ! opusenc", "opus", "");
}

// --- MPEG-TS and raw video ----------------------------------------------------

#[test]
fn mp2t_from_a_muxer_and_a_parser() {
    let mux = format!("{} ! {X264} ! mpegtsmux", video(20));
    check(&mux, "mp2t", "");
    let file = media_file("ts.ts", &mux);
    check(
        &format!("filesrc location={} ! tsparse", file.display()),
        "mp2t",
        "",
    );
}

#[test]
fn vraw_from_a_raw_parser() {
    check(
        "videotestsrc num-buffers=3 ! video/x-raw,format=UYVY,width=320,height=240,framerate=30/1",
        "vraw",
        "",
    );
    let file = media_file(
        "uyvy.raw",
        "videotestsrc num-buffers=3 ! video/x-raw,format=UYVY,width=320,height=240,framerate=30/1",
    );
    check(
        &format!(
            "filesrc location={} ! rawvideoparse format=uyvy width=320 height=240 framerate=30/1",
            file.display()
        ),
        "vraw",
        "",
    );
}

// --- Hand-made input: what parsers let through ----------------------------------

/// Like `side_by_side`, from buffers pushed into an `appsrc` with `caps`.
fn side_by_side_input(
    caps: &gst::Caps,
    input: &[gst::Buffer],
    format: &str,
    props: &str,
) -> (Vec<Seen>, Vec<Seen>) {
    side_by_side_events(caps, input, &[], format, props)
}

/// Like `side_by_side_input`, with `events[i]` sent (serialized, in order)
/// before `input[i]`.
fn side_by_side_events(
    caps: &gst::Caps,
    input: &[gst::Buffer],
    events: &[(usize, gst::Event)],
    format: &str,
    props: &str,
) -> (Vec<Seen>, Vec<Seen>) {
    init();
    let desc = format!(
        "appsrc name=src format=time ! tee name=t \
         t. ! queue ! rtp{format}pay {FIXED} {props} ! appsink name=stock sync=false \
         t. ! queue ! rtpfast{format}pay {FIXED} {props} ! appsink name=ours sync=false"
    );
    let (pipeline, src) = launch_with_src(&desc);
    src.set_caps(Some(caps));
    let [stock_sink, ours_sink] = stock_and_ours_sinks(&pipeline);
    let (stock_events, ours_events) = (record_events(&stock_sink), record_events(&ours_sink));
    pipeline.set_state(gst::State::Playing).unwrap();
    for (i, b) in input.iter().enumerate() {
        for (_, ev) in events.iter().filter(|(at, _)| *at == i) {
            assert!(src.send_event(ev.clone()));
        }
        src.push_buffer(b.clone()).unwrap();
    }
    src.end_of_stream().unwrap();
    let out = (pull_all(&stock_sink), pull_all(&ours_sink));
    assert_eq!(
        *stock_events.lock().unwrap(),
        *ours_events.lock().unwrap(),
        "{format} {props}: events downstream"
    );
    pipeline.set_state(gst::State::Null).unwrap();
    out
}

/// x264enc output as the parser hands it on (`stream-format`).
fn h264_frames(stream_format: &str) -> (gst::Caps, Vec<gst::Buffer>) {
    let (caps, frames) = run_collect(
        &format!(
            "{} ! {X264} tune=zerolatency ! h264parse ! \
             video/x-h264,stream-format={stream_format},alignment=au ! appsink name=sink sync=false",
            video(6)
        ),
        None,
    );
    (caps.unwrap(), frames)
}

/// An avc buffer whose last unit is shorter than its length says: stock
/// sends the bytes that are there, so do we.
#[test]
fn h264_truncated_avc_unit_is_sent_as_far_as_it_goes() {
    let (caps, frames) = h264_frames("avc");
    let cut: Vec<gst::Buffer> = frames
        .iter()
        .map(|orig| {
            let map = orig.map_readable().unwrap();
            let mut cut = gst::Buffer::from_slice(map[..map.len() - map.len() / 3].to_vec());
            let m = cut.get_mut().unwrap();
            m.set_pts(orig.pts());
            m.set_dts(orig.dts());
            m.set_flags(orig.flags());
            cut
        })
        .collect();
    let (stock, ours) = side_by_side_input(&caps, &cut, "h264", "");
    assert_same("truncated avc units", &stock, &ours);
}

/// NAL units of the types RTP reserves for its own packets (24-27) are
/// dropped, the rest of the access unit is sent as stock sends it.
#[test]
fn h264_reserved_nal_types_are_dropped() {
    let (caps, frames) = h264_frames("byte-stream");
    // A unit of type 24 + i % 4 inserted after the first unit of each
    // access unit, or appended after the last.
    let insert = |at_end: bool| -> Vec<gst::Buffer> {
        frames
            .iter()
            .enumerate()
            .map(|(i, orig)| {
                let data = orig.map_readable().unwrap().to_vec();
                let second = data[4..]
                    .windows(4)
                    .position(|w| w == [0, 0, 0, 1])
                    .map_or(data.len(), |p| p + 4);
                let at = if at_end { data.len() } else { second };
                let reserved = [0, 0, 0, 1, 0x60 | (24 + (i % 4) as u8), 1, 2, 3, 4];
                let mut b = gst::Buffer::from_slice([&data[..at], &reserved, &data[at..]].concat());
                let m = b.get_mut().unwrap();
                m.set_pts(orig.pts());
                m.set_dts(orig.dts());
                m.set_flags(orig.flags());
                b
            })
            .collect()
    };
    let inside = insert(false);
    let (stock, ours) = side_by_side_input(&caps, &inside, "h264", "");
    assert_same("reserved NAL types", &stock, &ours);
    let (stock, ours) = side_by_side_input(&caps, &inside, "h264", "aggregate-mode=max-stap");
    assert_same("reserved NAL types, max-stap", &stock, &ours);
    // Last in the access unit: rtph264pay puts the marker on the unit it
    // then drops, so the access unit goes without one; ours marks the last
    // packet sent (README, "Differences from the stock elements").
    let (stock, ours) = side_by_side_input(&caps, &insert(true), "h264", "");
    let marked = |v: &[Seen]| v.iter().filter(|p| p.bytes[1] & 0x80 != 0).count();
    assert_eq!(stock.len(), ours.len());
    assert_eq!(marked(&stock), 0);
    assert_eq!(marked(&ours), frames.len());
}

/// A forced key unit asking for all headers: the stored parameter sets go
/// out again before the next unit (what a receiver joining late needs).
#[test]
fn force_key_unit_resends_parameter_sets() {
    for (codec, stream_format) in [("h264", "avc"), ("h265", "hvc1")] {
        let (caps, frames) = run_collect(
            &format!(
                "{} ! {} tune=zerolatency ! {codec}parse ! \
                 video/x-{codec},stream-format={stream_format},alignment=au ! \
                 appsink name=sink sync=false",
                video(8),
                if codec == "h264" { X264 } else { X265 }
            ),
            None,
        );
        let caps = caps.unwrap();
        let force = || {
            gst::event::CustomDownstream::new(
                gst::Structure::builder("GstForceKeyUnit")
                    .field("all-headers", true)
                    .build(),
            )
        };
        let events = [(3, force()), (6, force())];
        let (mut stock, ours) = side_by_side_events(&caps, &frames, &events, codec, "");
        if codec == "h265" {
            for p in &mut stock {
                p.flags
                    .set(gst::BufferFlags::MARKER, p.bytes[1] & 0x80 != 0);
            }
        }
        assert_same(&format!("{codec} GstForceKeyUnit"), &stock, &ours);
        let (_, unforced) = side_by_side_input(&caps, &frames, codec, "");
        assert!(
            ours.len() > unforced.len(),
            "{codec}: parameter sets sent again"
        );
    }
}

/// An H.265 end of sequence (here written `48 00`, as rtph265pay's own
/// tests write it) after NAL-aligned input in zero-latency mode: sent at
/// once as stock sends it, not held for the next buffer.
#[test]
fn h265_end_of_sequence_goes_out_at_once() {
    let (caps, mut frames) = run_collect(
        &format!(
            "{} ! {X265} tune=zerolatency ! h265parse ! \
             video/x-h265,stream-format=byte-stream,alignment=nal ! appsink name=sink sync=false",
            video(4)
        ),
        None,
    );
    let last = frames.last().unwrap().clone();
    let mut eos = gst::Buffer::from_slice([0u8, 0, 0, 1, 36 << 1, 0]);
    eos.get_mut().unwrap().set_pts(last.pts());
    frames.push(eos);
    for mode in ["zero-latency", "max"] {
        let (mut stock, ours) = side_by_side_input(
            &caps.clone().unwrap(),
            &frames,
            "h265",
            &format!("aggregate-mode={mode}"),
        );
        for p in &mut stock {
            p.flags
                .set(gst::BufferFlags::MARKER, p.bytes[1] & 0x80 != 0);
            p.flags.remove(gst::BufferFlags::DELTA_UNIT);
        }
        let ours: Vec<Seen> = ours
            .into_iter()
            .map(|mut p| {
                p.flags.remove(gst::BufferFlags::DELTA_UNIT);
                p
            })
            .collect();
        assert_same(&format!("H.265 EOS unit, {mode}"), &stock, &ours);
        let last = ours.last().unwrap();
        assert_eq!(
            &last.bytes[12..],
            &[36 << 1, 0],
            "{mode}: the EOS unit is sent"
        );
    }
}
