//! State changes and flushes on the payloaders, compared with the stock
//! payloader in the same test: NULL/READY/PAUSED/PLAYING while an appsrc
//! pushes from another thread (no panic, no error, the stream continues and
//! depayloads to the input NAL units), sequence numbers after
//! PLAYING -> READY -> PLAYING (restart at `seqnum-offset`) and across a
//! flush (no restart) exactly as stock, and the `stats` structure and the
//! `seqnum` / `timestamp` properties as stock.

mod common;
use common::*;
use gst::prelude::*;
use gst_check::Harness;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hdr {
    seq: u16,
    ts: u32,
    marker: bool,
}

fn hdr(b: &gst::BufferRef) -> Hdr {
    let map = b.map_readable().unwrap();
    let p = rtp_types::RtpPacket::parse(&map).expect("valid RTP");
    Hdr {
        seq: p.sequence_number(),
        ts: p.timestamp(),
        marker: p.marker_bit(),
    }
}

fn pays() -> [(&'static str, &'static str); 2] {
    [
        ("rtph264pay", "rtpfasth264pay"),
        ("rtph265pay", "rtpfasth265pay"),
    ]
}

fn media_for(pay: &str) -> Media {
    let codec = if pay.contains("265") {
        Codec::H265
    } else {
        Codec::H264
    };
    encode(codec, 10, 320, 240)
}

/// Pull RTP packets from `sink` until `frames` access units (marker bits)
/// have come out.
fn pull_frames(sink: &gst_app::AppSink, frames: usize) -> Vec<Hdr> {
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while out.iter().filter(|h: &&Hdr| h.marker).count() < frames {
        assert!(Instant::now() < deadline, "timed out, got {out:?}");
        let Some(s) = sink.try_pull_sample(gst::ClockTime::from_seconds(1)) else {
            continue;
        };
        if let Some(list) = s.buffer_list() {
            out.extend(list.iter().map(hdr));
        } else if let Some(b) = s.buffer() {
            out.push(hdr(b));
        }
    }
    out
}

fn pay_pipeline(
    pay: &str,
    media: &Media,
    extra_src: &str,
) -> (gst::Pipeline, gst_app::AppSrc, gst_app::AppSink) {
    init();
    let desc = format!(
        "appsrc name=src format=time {extra_src} ! {pay} name=pay seqnum-offset=100 timestamp-offset=0 ssrc=4660 mtu=400 ! appsink name=sink sync=false"
    );
    let (pipeline, src) = common::launch_with_src(&desc);

    src.set_caps(Some(&media.caps));
    let sink = common::app_sink(&pipeline);
    (pipeline, src, sink)
}

fn assert_no_errors(pipeline: &gst::Pipeline, what: &str) {
    let bus = pipeline.bus().unwrap();
    while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
        if let gst::MessageView::Error(e) = msg.view() {
            panic!("{what}: {} ({:?})", e.error(), e.debug());
        }
    }
}

/// PLAYING, all frames, READY, PLAYING, all frames again: the headers of
/// both runs.
fn ready_restart(pay: &str, media: &Media) -> (Vec<Hdr>, Vec<Hdr>) {
    let (pipeline, src, sink) = pay_pipeline(pay, media, "");
    let mut runs = Vec::new();
    for _ in 0..2 {
        pipeline.set_state(gst::State::Playing).unwrap();
        for f in &media.frames {
            src.push_buffer(f.clone()).unwrap();
        }
        runs.push(pull_frames(&sink, media.frames.len()));
        pipeline.set_state(gst::State::Ready).unwrap();
    }
    assert_no_errors(&pipeline, pay);
    pipeline.set_state(gst::State::Null).unwrap();
    let second = runs.pop().unwrap();
    (runs.pop().unwrap(), second)
}

#[test]
fn seqnum_restarts_at_offset_after_ready_as_stock() {
    for (stock, ours) in pays() {
        let media = media_for(stock);
        let (s1, s2) = ready_restart(stock, &media);
        let (o1, o2) = ready_restart(ours, &media);
        // What stock does (the point of the comparison): both runs start
        // at seqnum-offset.
        assert_eq!((s1[0].seq, s2[0].seq), (100, 100), "{stock}");
        assert_eq!(o1, s1, "{ours}: first run headers vs {stock}");
        assert_eq!(o2, s2, "{ours}: run after READY -> PLAYING vs {stock}");
    }
}

/// Frames, then flush-start / flush-stop / new segment straight into the
/// payloader, then the frames again (gst-check Harness: synchronous).
fn flushed(pay: &str, media: &Media) -> (Vec<Hdr>, Vec<Hdr>) {
    init();
    let e = gst::ElementFactory::make(pay)
        .property("seqnum-offset", 100i32)
        .property("timestamp-offset", 0u32)
        .property("mtu", 400u32)
        .build()
        .unwrap();
    let mut h = Harness::with_element(&e, Some("sink"), Some("src"));
    h.set_src_caps(media.caps.clone());
    let mut runs = Vec::new();
    for round in 0..2 {
        if round == 1 {
            assert!(h.push_event(gst::event::FlushStart::new()));
            assert!(h.push_event(gst::event::FlushStop::new(true)));
            let segment = gst::FormattedSegment::<gst::ClockTime>::new();
            assert!(h.push_event(gst::event::Segment::new(&segment)));
        }
        let mut out = Vec::new();
        for f in &media.frames {
            h.push(f.clone()).unwrap();
            while let Some(b) = h.try_pull() {
                out.push(hdr(&b));
            }
        }
        runs.push(out);
    }
    let second = runs.pop().unwrap();
    (runs.pop().unwrap(), second)
}

#[test]
fn seqnum_continues_across_flush_as_stock() {
    for (stock, ours) in pays() {
        let media = media_for(stock);
        let (s1, s2) = flushed(stock, &media);
        let (o1, o2) = flushed(ours, &media);
        assert_eq!(
            s2[0].seq,
            s1.last().unwrap().seq.wrapping_add(1),
            "{stock}: no restart across a flush"
        );
        assert_eq!(o1, s1, "{ours}: before the flush vs {stock}");
        assert_eq!(o2, s2, "{ours}: after the flush vs {stock}");
    }
}

/// The same through a real flushing seek on the pipeline (appsrc
/// `stream-type=seekable` accepts it): flush-start / flush-stop / segment
/// reach the payloader from upstream.
fn seeked(pay: &str, media: &Media) -> (Vec<Hdr>, Vec<Hdr>) {
    let (pipeline, src, sink) = pay_pipeline(pay, media, "stream-type=seekable");
    src.set_callbacks(
        gst_app::AppSrcCallbacks::builder()
            .seek_data(|_, _| true)
            .build(),
    );
    let flush_stops = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    {
        let flush_stops = flush_stops.clone();
        let sinkpad = pipeline.by_name("pay").unwrap().static_pad("sink").unwrap();
        sinkpad.add_probe(gst::PadProbeType::EVENT_FLUSH, move |_, info| {
            if let Some(gst::EventView::FlushStop(_)) = info.event().map(|e| e.view()) {
                flush_stops.fetch_add(1, Ordering::SeqCst);
            }
            gst::PadProbeReturn::Ok
        });
    }
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut runs = Vec::new();
    for round in 0..2 {
        if round == 1 {
            pipeline
                .seek_simple(gst::SeekFlags::FLUSH, gst::ClockTime::ZERO)
                .expect("flushing seek");
        }
        for f in &media.frames {
            src.push_buffer(f.clone()).unwrap();
        }
        runs.push(pull_frames(&sink, media.frames.len()));
    }
    assert_eq!(
        flush_stops.load(Ordering::SeqCst),
        1,
        "{pay}: the seek flushed through the payloader"
    );
    assert_no_errors(&pipeline, pay);
    pipeline.set_state(gst::State::Null).unwrap();
    let second = runs.pop().unwrap();
    (runs.pop().unwrap(), second)
}

#[test]
fn seqnum_across_flushing_seek_as_stock() {
    for (stock, ours) in pays() {
        let media = media_for(stock);
        let (s1, s2) = seeked(stock, &media);
        let (o1, o2) = seeked(ours, &media);
        assert_eq!(
            s2[0].seq,
            s1.last().unwrap().seq.wrapping_add(1),
            "{stock}: no restart across a flushing seek"
        );
        assert_eq!(o1, s1, "{ours}: before the seek vs {stock}");
        assert_eq!(o2, s2, "{ours}: after the seek vs {stock}");
    }
}

const STOCK_STATS_FIELDS: [&str; 8] = [
    "clock-rate",
    "running-time",
    "seqnum",
    "timestamp",
    "ssrc",
    "pt",
    "seqnum-offset",
    "timestamp-offset",
];

/// Run all frames through `pay` in a harness; the `stats` structure, the
/// `seqnum` and `timestamp` properties and the last packet's header.
fn stats_after_run(pay: &str, media: &Media) -> (gst::Structure, u32, u32, Hdr) {
    init();
    let e = gst::ElementFactory::make(pay)
        .property("mtu", 400u32)
        .build()
        .unwrap();
    let mut h = Harness::with_element(&e, Some("sink"), Some("src"));
    h.set_src_caps(media.caps.clone());
    let mut last = None;
    for f in &media.frames {
        h.push(f.clone()).unwrap();
        while let Some(b) = h.try_pull() {
            last = Some(hdr(&b));
        }
    }
    let stats = e.property::<gst::Structure>("stats");
    (
        stats,
        e.property::<u32>("seqnum"),
        e.property::<u32>("timestamp"),
        last.unwrap(),
    )
}

#[test]
fn stats_and_seqnum_timestamp_properties_as_stock() {
    for (stock, ours) in pays() {
        let media = media_for(stock);
        let (ss, s_seq, s_ts, s_last) = stats_after_run(stock, &media);
        let (os, o_seq, o_ts, o_last) = stats_after_run(ours, &media);
        for f in STOCK_STATS_FIELDS {
            let st = ss
                .value(f)
                .unwrap_or_else(|_| panic!("{stock} stats lack {f}: {ss}"));
            let ot = os
                .value(f)
                .unwrap_or_else(|_| panic!("{ours} stats lack {f}: {os}"));
            assert_eq!(ot.type_(), st.type_(), "{ours}: type of stats field {f}");
        }
        // Every field of stock's structure is in ours with the same type.
        for (f, v) in ss.iter() {
            let o = os
                .value(f)
                .unwrap_or_else(|_| panic!("{ours} stats lack stock's {f}"));
            assert_eq!(o.type_(), v.type_(), "{ours}: type of stats field {f}");
        }
        // Stock: properties and stats equal the last packet's header.
        for (name, st, seq, ts, last) in [
            (stock, &ss, s_seq, s_ts, s_last),
            (ours, &os, o_seq, o_ts, o_last),
        ] {
            assert_eq!(seq, last.seq as u32, "{name}: seqnum property");
            assert_eq!(ts, last.ts, "{name}: timestamp property");
            assert_eq!(
                st.get::<u32>("seqnum").unwrap(),
                last.seq as u32,
                "{name}: stats seqnum"
            );
            assert_eq!(
                st.get::<u32>("timestamp").unwrap(),
                last.ts,
                "{name}: stats timestamp"
            );
        }
        // The fixed fields agree with stock's (offsets are random).
        for f in ["clock-rate", "pt"] {
            assert_eq!(
                os.get::<u32>(f).unwrap(),
                ss.get::<u32>(f).unwrap(),
                "{ours}: stats {f}"
            );
        }
        assert_eq!(
            os.get::<u64>("running-time").unwrap(),
            ss.get::<u64>("running-time").unwrap(),
            "{ours}: stats running-time"
        );
    }
}

/// State changes while an appsrc thread keeps pushing: no error, and after
/// each return to PLAYING the stream comes out again and depayloads into
/// the input's NAL units.
fn churn(pay: &str, depay: &str, codec: Codec, media: &Media) -> usize {
    init();
    let desc = format!(
        "appsrc name=src format=time max-bytes=200000 block=false ! {pay} mtu=400 ! {depay} ! {},stream-format=byte-stream,alignment=au ! appsink name=sink sync=false max-buffers=50 drop=true",
        codec.media()
    );
    let (pipeline, src) = common::launch_with_src(&desc);

    src.set_caps(Some(&media.caps));
    let sink = common::app_sink(&pipeline);
    let input_nals: HashSet<Vec<u8>> = buffers_nals(&media.frames).into_iter().collect();

    let stop = Arc::new(AtomicBool::new(false));
    let pusher = {
        let stop = stop.clone();
        let src = src.clone();
        let frames = media.frames.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                for f in &frames {
                    let mut b = f.copy();
                    b.get_mut()
                        .unwrap()
                        .set_pts(gst::ClockTime::from_mseconds(n * 33));
                    n += 1;
                    // FLUSHING while not PLAYING/PAUSED: keep going.
                    let _ = src.push_buffer(b);
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        })
    };

    use gst::State::*;
    let mut checked = 0;
    for state in [
        Playing, Ready, Playing, Paused, Playing, Null, Playing, Ready, Null, Playing, Ready,
        Playing,
    ] {
        pipeline.set_state(state).unwrap();
        if state == Playing {
            // The stream continues: access units come out and are made of
            // the input's NAL units.
            let mut got = 0;
            let deadline = Instant::now() + Duration::from_secs(20);
            while got < 5 {
                assert!(
                    Instant::now() < deadline,
                    "{pay} -> {depay}: no output after PLAYING"
                );
                if let Some(s) = sink.try_pull_sample(gst::ClockTime::from_mseconds(500)) {
                    let b = s.buffer().unwrap();
                    for nal in annexb_nals(&b.map_readable().unwrap()) {
                        assert!(
                            input_nals.contains(&nal),
                            "{pay} -> {depay}: a NAL unit that was not in the input (type {})",
                            codec.nal_type(&nal)
                        );
                    }
                    got += 1;
                }
            }
            checked += got;
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_no_errors(&pipeline, &format!("{pay} -> {depay} in {state:?}"));
    }
    stop.store(true, Ordering::SeqCst);
    pusher.join().unwrap();
    pipeline.set_state(Null).unwrap();
    checked
}

#[test]
fn state_changes_while_streaming_as_stock() {
    for codec in [Codec::H264, Codec::H265] {
        let media = encode(codec, 10, 320, 240);
        let stock_pay = format!("rtp{}pay", codec.name());
        let ours_pay = format!("rtpfast{}pay", codec.name());
        let stock_depay = format!("rtp{}depay", codec.name());
        let ours_depay = format!("rtpfast{}depay", codec.name());
        assert!(churn(&stock_pay, &stock_depay, codec, &media) > 0);
        assert!(churn(&ours_pay, &stock_depay, codec, &media) > 0);
        assert!(churn(&stock_pay, &ours_depay, codec, &media) > 0);
        assert!(churn(&ours_pay, &ours_depay, codec, &media) > 0);
    }
}
