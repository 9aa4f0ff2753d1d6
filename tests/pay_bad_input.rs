//! Payloaders fed bad input: each case ends either in a clear
//! not-negotiated error on the bus naming the offending caps field, or in
//! the buffer dropped and counted in `stats`, and never in a panic.

mod common;
use gst::prelude::*;

/// What one run of `appsrc ! <payloader> ! appsink` gave.
struct Run {
    packets: Vec<gst::Buffer>,
    /// ERROR messages: (source name, error text + debug text).
    errors: Vec<(String, String)>,
    stats: gst::Structure,
}

fn run(element: &str, caps: &str, input: Vec<gst::Buffer>) -> Run {
    common::init();
    let (pipeline, src) = common::launch_with_src(&format!(
        "appsrc name=src format=time caps=\"{caps}\" ! {element} name=pay ! \
         appsink name=sink sync=false"
    ));

    let sink = common::app_sink(&pipeline);
    pipeline.set_state(gst::State::Playing).unwrap();
    for (i, mut b) in input.into_iter().enumerate() {
        b.make_mut()
            .set_pts(gst::ClockTime::from_mseconds(20 * i as u64));
        if src.push_buffer(b).is_err() {
            break;
        }
    }
    let _ = src.end_of_stream();
    let mut packets = Vec::new();
    let mut errors = Vec::new();
    let bus = pipeline.bus().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut take = |sample: gst::Sample| {
        if let Some(list) = sample.buffer_list() {
            packets.extend(list.iter_owned());
        } else if let Some(b) = sample.buffer_owned() {
            packets.push(b);
        }
    };
    // Until EOS or an error (a not-negotiated stream never reaches EOS).
    'stream: loop {
        assert!(std::time::Instant::now() < deadline, "{element}: timed out");
        while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_mseconds(5)) {
            take(sample);
        }
        while let Some(msg) = bus.pop() {
            match msg.view() {
                gst::MessageView::Error(e) => {
                    errors.push(error_of(e));
                    // Let the other errors of this failure arrive.
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
                        if let gst::MessageView::Error(e) = msg.view() {
                            errors.push(error_of(e));
                        }
                    }
                    break 'stream;
                }
                gst::MessageView::Eos(_) => {
                    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::ZERO) {
                        take(sample);
                    }
                    break 'stream;
                }
                _ => {}
            }
        }
    }
    let stats = pipeline
        .by_name("pay")
        .unwrap()
        .property::<gst::Structure>("stats");
    pipeline.set_state(gst::State::Null).unwrap();
    Run {
        packets,
        errors,
        stats,
    }
}

fn error_of(e: &gst::message::Error) -> (String, String) {
    (
        e.src().map(|s| s.name().to_string()).unwrap_or_default(),
        format!("{} | {}", e.error(), e.debug().unwrap_or_default()),
    )
}

fn stat(r: &Run, field: &str) -> u64 {
    r.stats.get::<u64>(field).unwrap()
}

fn rng_bytes(seed: &mut u64, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            *seed as u8
        })
        .collect()
}

const MTU: usize = 1400;

/// Every packet is RTP version 2 within the MTU.
fn assert_sane_packets(what: &str, packets: &[gst::Buffer]) {
    for p in packets {
        let map = p.map_readable().unwrap();
        assert!(
            map.len() >= 12 && map.len() <= MTU,
            "{what}: packet of {}",
            map.len()
        );
        assert_eq!(map[0] >> 6, 2, "{what}: RTP version");
    }
}

const H264_BS: &str = "video/x-h264,stream-format=byte-stream,alignment=au";
const H265_BS: &str = "video/x-h265,stream-format=byte-stream,alignment=au";

#[test]
fn random_bytes_as_byte_stream_never_panic() {
    common::init();
    for (el, caps) in [("rtpfasth264pay", H264_BS), ("rtpfasth265pay", H265_BS)] {
        let mut seed = 0x1234_5678_9abc_def1u64;
        let input: Vec<gst::Buffer> = (0..300)
            .map(|i| {
                let n = (i * 37) % 6000;
                let mut v = rng_bytes(&mut seed, n);
                // Some with start codes in them, some with truncated ones.
                if i % 3 == 0 && n > 8 {
                    let at = n / 2;
                    v[at..at + 4].copy_from_slice(&[0, 0, 0, 1]);
                }
                if i % 5 == 0 && n > 3 {
                    v[n - 3..].copy_from_slice(&[0, 0, 1]);
                }
                gst::Buffer::from_mut_slice(v)
            })
            .collect();
        let r = run(&format!("{el} mtu={MTU}"), caps, input);
        assert!(r.errors.is_empty(), "{el}: {:?}", r.errors);
        assert!(
            !r.packets.is_empty(),
            "{el}: random NAL units are still sent"
        );
        assert_sane_packets(el, &r.packets);
    }
}

/// An access unit over the depayloaders' 64 MiB cap: dropped and counted,
/// the stream goes on.
#[test]
fn units_over_64_mib_are_dropped_and_counted() {
    common::init();
    let size = gstrsrtpfast::elements::base::nal_depay::MAX_AU_BYTES + 1024;
    for (el, caps, nal_header) in [
        ("rtpfasth264pay", H264_BS, &[0x65u8][..]),
        ("rtpfasth265pay", H265_BS, &[0x26u8, 0x01][..]),
    ] {
        let mut big = vec![0xabu8; size];
        big[..4].copy_from_slice(&[0, 0, 0, 1]);
        big[4..4 + nal_header.len()].copy_from_slice(nal_header);
        let mut small = vec![0, 0, 0, 1];
        small.extend_from_slice(nal_header);
        small.extend_from_slice(&[0x88; 100]);
        let input = vec![
            gst::Buffer::from_mut_slice(big),
            gst::Buffer::from_mut_slice(small),
        ];
        let r = run(&format!("{el} mtu={MTU}"), caps, input);
        assert!(r.errors.is_empty(), "{el}: {:?}", r.errors);
        assert_eq!(stat(&r, "malformed"), 1, "{el}: the big unit is counted");
        assert!(stat(&r, "dropped") >= 1);
        // Only the small unit went out (one packet).
        assert_eq!(r.packets.len(), 1, "{el}");
        assert_sane_packets(el, &r.packets);
    }
}

/// What a payloader does with an empty input buffer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Empty {
    /// Nothing sent for it; counted in `dropped`.
    Dropped,
    /// As the stock element: rtpopuspay sends an empty packet, rtpmp2tpay
    /// carries its metas into the next packet.
    AsStock,
}

/// Zero-length buffers into every payloader: the same packets as the stock
/// element, and where nothing is sent for them, counted as dropped; the
/// stream goes on.
#[test]
fn zero_length_buffers_into_every_payloader() {
    common::init();
    let cases: &[(&str, &str, &str, Vec<u8>, Empty)] = &[
        (
            "rtpfasth264pay",
            "rtph264pay",
            H264_BS,
            vec![0, 0, 0, 1, 0x65, 0x88, 0x84],
            Empty::Dropped,
        ),
        (
            "rtpfasth265pay",
            "rtph265pay",
            H265_BS,
            vec![0, 0, 0, 1, 0x26, 0x01, 0xaf],
            Empty::Dropped,
        ),
        (
            "rtpfastL16pay",
            "rtpL16pay",
            "audio/x-raw,format=S16BE,layout=interleaved,rate=48000,channels=2",
            vec![0; 960],
            Empty::Dropped,
        ),
        (
            "rtpfastL24pay",
            "rtpL24pay",
            "audio/x-raw,format=S24BE,layout=interleaved,rate=48000,channels=2",
            vec![0; 1440],
            Empty::Dropped,
        ),
        (
            "rtpfastopuspay",
            "rtpopuspay",
            "audio/x-opus,channel-mapping-family=0,channels=2,rate=48000",
            vec![0xfc, 0xff, 0xfe],
            Empty::AsStock,
        ),
        (
            "rtpfastmp2tpay",
            "rtpmp2tpay",
            "video/mpegts,packetsize=188,systemstream=true",
            {
                let mut v = vec![0xff; 188 * 7];
                for p in v.chunks_mut(188) {
                    p[0] = 0x47;
                }
                v
            },
            Empty::AsStock,
        ),
        (
            "rtpfastvrawpay",
            "rtpvrawpay",
            "video/x-raw,format=RGB,width=16,height=8,framerate=30/1",
            vec![0x10; 16 * 8 * 3],
            Empty::Dropped,
        ),
    ];
    for (el, stock, caps, good, empty) in cases {
        let input = || {
            vec![
                gst::Buffer::new(),
                gst::Buffer::from_mut_slice(good.clone()),
                gst::Buffer::new(),
                gst::Buffer::from_mut_slice(good.clone()),
                gst::Buffer::new(),
            ]
        };
        let r = run(el, caps, input());
        let s = run(stock, caps, input());
        eprintln!(
            "{el}: {} packets (stock {}), dropped {}",
            r.packets.len(),
            s.packets.len(),
            stat(&r, "dropped")
        );
        assert!(r.errors.is_empty(), "{el}: {:?}", r.errors);
        if !s.errors.is_empty() {
            // rtpvrawpay: "Failed to map frame", the stream stops.
            eprintln!("{stock} failed: {:?}", s.errors);
            assert_eq!(r.packets.len(), 2, "{el}: the good frames went out");
            assert_eq!(stat(&r, "dropped"), 3, "{el}: dropped");
            continue;
        }
        let sizes = |p: &[gst::Buffer]| p.iter().map(|b| b.size()).collect::<Vec<_>>();
        assert_eq!(
            sizes(&r.packets),
            sizes(&s.packets),
            "{el}: packets as stock"
        );
        assert!(!r.packets.is_empty(), "{el}: the stream went on");
        let expect_dropped = if *empty == Empty::Dropped { 3 } else { 0 };
        assert_eq!(stat(&r, "dropped"), expect_dropped, "{el}: dropped");
    }
}

/// Caps the payloader cannot work with: an ERROR from the payloader on
/// the bus, not-negotiated, naming the field.
fn refused(element: &str, caps: &str, field: &str) {
    let r = run(
        element,
        caps,
        vec![gst::Buffer::from_mut_slice(vec![0; 64])],
    );
    assert!(r.packets.is_empty(), "{element} `{caps}`: sent packets");
    let ours: Vec<&String> = r
        .errors
        .iter()
        .filter(|(src, _)| src == "pay")
        .map(|(_, text)| text)
        .collect();
    eprintln!("{element} `{caps}`: {ours:?}");
    assert_eq!(ours.len(), 1, "one error for the refused caps: {ours:?}");
    assert!(
        ours.iter()
            .any(|t| t.contains("not-negotiated") && t.contains(field)),
        "{element} `{caps}`: no error naming `{field}` from the payloader: {:?}",
        r.errors
    );
}

#[test]
fn garbage_codec_data_is_not_negotiated() {
    common::init();
    for caps in [
        "video/x-h264,stream-format=avc,alignment=au,codec_data=(buffer)0102",
        "video/x-h264,stream-format=avc,alignment=au,codec_data=(buffer)01640028ffe1ffff6764",
        "video/x-h264,stream-format=avc,alignment=au",
    ] {
        refused("rtpfasth264pay", caps, "codec_data");
    }
    for caps in [
        "video/x-h265,stream-format=hvc1,alignment=au,codec_data=(buffer)01",
        "video/x-h265,stream-format=hvc1,alignment=au,codec_data=(buffer)\
         01016000000090000000000078f000fcfdf8f800000f03a00001ffff",
        "video/x-h265,stream-format=hvc1,alignment=au",
    ] {
        refused("rtpfasth265pay", caps, "codec_data");
    }
}

#[test]
fn absurd_audio_caps_are_not_negotiated() {
    common::init();
    for (el, format) in [("rtpfastL16pay", "S16BE"), ("rtpfastL24pay", "S24BE")] {
        for (fields, field) in [
            ("rate=0,channels=2", "rate"),
            ("rate=-8000,channels=2", "rate"),
            ("rate=48000,channels=0", "channels"),
            ("rate=48000,channels=-1", "channels"),
            ("channels=2", "rate"),
            ("rate=48000", "channels"),
            ("rate=(string)fast,channels=2", "rate"),
        ] {
            refused(
                el,
                &format!("audio/x-raw,format={format},layout=interleaved,{fields}"),
                field,
            );
        }
    }
    for (fields, field) in [
        ("channels=0,rate=48000", "channels"),
        ("channels=300,rate=48000", "channels"),
        ("channels=2,rate=0", "rate"),
        ("channels=2,rate=-1", "rate"),
    ] {
        refused(
            "rtpfastopuspay",
            &format!("audio/x-opus,channel-mapping-family=0,{fields}"),
            field,
        );
    }
}

#[test]
fn absurd_video_caps_are_not_negotiated() {
    common::init();
    for (fields, field) in [
        ("width=0,height=8", "width"),
        ("width=16,height=0", "height"),
        ("width=100000,height=8", "width"),
        ("width=16,height=100000", "height"),
        ("width=2147483647,height=2147483647", "width"),
        ("height=8", "width"),
        ("width=16", "height"),
    ] {
        refused(
            "rtpfastvrawpay",
            &format!("video/x-raw,format=RGB,framerate=30/1,{fields}"),
            field,
        );
    }
}

/// Extreme caps the formats accept (stock does too): no panic, packets
/// within what the element promises, or a not-negotiated error.
#[test]
fn extreme_but_valid_caps_never_panic() {
    common::init();
    let r = run(
        &format!("rtpfastL16pay mtu={MTU}"),
        "audio/x-raw,format=S16BE,layout=interleaved,rate=2147483647,channels=1000",
        (0..4)
            .map(|_| gst::Buffer::from_mut_slice(vec![0u8; 2000 * 3]))
            .collect(),
    );
    eprintln!(
        "L16 1000 channels: {} packets, errors {:?}",
        r.packets.len(),
        r.errors
    );
    // One 2,000-byte frame per packet at least (stock would stall).
    for p in &r.packets {
        assert!(p.size() >= 12 + 2000, "a packet holds whole frames");
        assert_eq!((p.size() - 12) % 2000, 0, "whole frames");
    }
    // Or a clear error from the payloader saying why.
    assert!(
        r.errors.is_empty()
            || r.errors
                .iter()
                .any(|(src, t)| src == "pay" && t.contains("MTU")),
        "{:?}",
        r.errors
    );
}

/// A raw video buffer smaller than a frame of its caps: dropped and
/// counted, not read past its end.
#[test]
fn short_video_frames_are_dropped_and_counted() {
    common::init();
    let caps = "video/x-raw,format=RGB,width=320,height=240,framerate=30/1";
    let r = run(
        "rtpfastvrawpay",
        caps,
        vec![
            gst::Buffer::from_mut_slice(vec![0u8; 100]),
            gst::Buffer::from_mut_slice(vec![0u8; 320 * 240 * 3 - 1]),
            gst::Buffer::from_mut_slice(vec![0u8; 320 * 240 * 3]),
        ],
    );
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(stat(&r, "malformed"), 2);
    assert!(!r.packets.is_empty(), "the whole frame went out");
    assert_sane_packets("vraw", &r.packets);
}

/// A storm of bad input into a payloader: every buffer counted, but the
/// warnings rate-limited (a burst, then one a second with the number
/// suppressed), so the log is not flooded.
#[test]
fn a_storm_of_bad_frames_logs_few_warnings() {
    use std::sync::{Arc, Mutex};
    common::init();
    let logged: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let sink = logged.clone();
    gst::log::set_active(true);
    gst::log::set_threshold_for_name("rtpfastvrawpay", gst::DebugLevel::Warning);
    let log = gst::log::add_log_function(move |cat, level, _, _, _, obj, msg| {
        if level == gst::DebugLevel::Warning && cat.name() == "rtpfastvrawpay" {
            sink.lock().unwrap().push((
                obj.map(|o| o.to_string()).unwrap_or_default(),
                msg.get().map(|m| m.to_string()).unwrap_or_default(),
            ));
        }
    });
    let mut h = gst_check::Harness::new("rtpfastvrawpay");
    let name = h.element().unwrap().name().to_string();
    h.set_src_caps_str("video/x-raw,format=RGB,width=64,height=48,framerate=30/1");
    let n = 20_000u64;
    let start = std::time::Instant::now();
    for i in 0..n {
        let mut b = gst::Buffer::from_mut_slice(vec![0u8; 10]);
        b.get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(i));
        assert_eq!(h.push(b), Ok(gst::FlowSuccess::Ok));
    }
    let secs = start.elapsed().as_secs_f64();
    // A second later one more: logged, with the count of all suppressed.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(
        h.push(gst::Buffer::from_mut_slice(vec![0u8; 10])),
        Ok(gst::FlowSuccess::Ok)
    );
    let n = n + 1;
    gst::log::remove_log_function(log);
    let stats = h.element().unwrap().property::<gst::Structure>("stats");
    assert_eq!(
        stats.get::<u64>("malformed").unwrap(),
        n,
        "every frame counted"
    );
    let ours: Vec<String> = logged
        .lock()
        .unwrap()
        .iter()
        .filter(|(who, _)| *who == name)
        .map(|(_, m)| m.clone())
        .collect();
    let suppressed: u64 = ours
        .iter()
        .filter_map(|m| {
            m.rsplit_once(" (")?
                .1
                .strip_suffix(" similar warnings suppressed)")?
                .parse::<u64>()
                .ok()
        })
        .sum();
    eprintln!(
        "{n} bad frames in {secs:.1} s: {} warning lines, {suppressed} suppressed",
        ours.len()
    );
    let burst = gstrsrtpfast::elements::base::warn_limit::BURST as usize;
    assert!(ours.len() >= burst, "the first ones are logged");
    assert!(
        ours.len() <= burst + secs.ceil() as usize + 1,
        "{} lines in {secs:.1} s",
        ours.len()
    );
    // Every warning was either logged or counted in a later line.
    assert_eq!(suppressed + ours.len() as u64, n, "{ours:?}");
}
