//! rtpfastL16pay / rtpfastL24pay against the stock rtpL16pay / rtpL24pay:
//! the same packets (bytes, PTS, duration, DISCONT) for the same input and
//! properties, little-endian input equal to `audioconvert ! stock`, the
//! ptime-multiple setting stock stalls on, the CAPS query, and the audio
//! surviving ours -> stock depayloader.

mod common;

use gst::prelude::*;

const PACING: &str = "pt=96 ssrc=1 seqnum-offset=0 timestamp-offset=0";

/// Deterministic "audio" bytes.
fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Input buffers: `sizes` frames each, back to back in time, with DISCONT
/// on the first and on `gap_at` (where `gap` ns of time are skipped).
fn input(
    sizes: &[usize],
    frame_bytes: usize,
    rate: u64,
    gap_at: Option<(usize, u64)>,
) -> Vec<gst::Buffer> {
    common::init();
    let mut t = 0u64;
    let mut out = Vec::new();
    for (i, frames) in sizes.iter().enumerate() {
        let mut b = gst::Buffer::from_mut_slice(noise(frames * frame_bytes, i as u32));
        {
            let b = b.get_mut().unwrap();
            if let Some((at, gap)) = gap_at {
                if at == i {
                    t += gap;
                    b.set_flags(gst::BufferFlags::DISCONT);
                }
            }
            if i == 0 {
                b.set_flags(gst::BufferFlags::DISCONT);
            }
            b.set_pts(gst::ClockTime::from_nseconds(t));
            b.set_duration(gst::ClockTime::from_nseconds(
                *frames as u64 * 1_000_000_000 / rate,
            ));
        }
        t += *frames as u64 * 1_000_000_000 / rate;
        out.push(b);
    }
    out
}

/// Swap every sample of a buffer (network order <-> host order).
fn swapped(bufs: &[gst::Buffer], sample_bytes: usize) -> Vec<gst::Buffer> {
    bufs.iter()
        .map(|b| {
            let mut data = b.map_readable().unwrap().to_vec();
            for s in data.chunks_exact_mut(sample_bytes) {
                s.reverse();
            }
            let mut out = gst::Buffer::from_mut_slice(data);
            {
                let o = out.get_mut().unwrap();
                o.set_pts(b.pts());
                o.set_duration(b.duration());
                o.set_flags(b.flags());
            }
            out
        })
        .collect()
}

fn audio_caps(format: &str, rate: i32, channels: i32) -> gst::Caps {
    gst::Caps::builder("audio/x-raw")
        .field("format", format)
        .field("layout", "interleaved")
        .field("rate", rate)
        .field("channels", channels)
        .build()
}

/// What a packet is, for comparing: bytes, PTS, duration, DISCONT.
type Packet = (
    Vec<u8>,
    Option<gst::ClockTime>,
    Option<gst::ClockTime>,
    bool,
);

fn packets(bufs: &[gst::Buffer]) -> Vec<Packet> {
    bufs.iter()
        .map(|b| {
            (
                b.map_readable().unwrap().to_vec(),
                b.pts(),
                b.duration(),
                b.flags().contains(gst::BufferFlags::DISCONT),
            )
        })
        .collect()
}

fn pay(
    element: &str,
    props: &str,
    caps: &gst::Caps,
    bufs: &[gst::Buffer],
) -> (gst::Caps, Vec<Packet>) {
    let (out_caps, out) = common::run_collect(
        &format!("appsrc name=src ! {element} {PACING} {props} ! appsink name=sink sync=false"),
        Some((caps, bufs)),
    );
    (out_caps.expect("caps"), packets(&out))
}

struct Case {
    props: &'static str,
    rate: i32,
    channels: i32,
    sizes: &'static [usize],
    gap_at: Option<(usize, u64)>,
}

const CASES: &[Case] = &[
    // 20 ms buffers, default properties.
    Case {
        props: "",
        rate: 48000,
        channels: 2,
        sizes: &[960, 960, 960, 960],
        gap_at: None,
    },
    // 44.1 kHz mono, odd sizes, a small MTU.
    Case {
        props: "mtu=500",
        rate: 44100,
        channels: 1,
        sizes: &[441, 441, 100, 1000, 7],
        gap_at: None,
    },
    // min-ptime: remainders wait for the next buffer, packets span inputs.
    Case {
        props: "min-ptime=10000000",
        rate: 48000,
        channels: 2,
        sizes: &[240, 240, 480, 700, 960, 13],
        gap_at: None,
    },
    // max-ptime and ptime-multiple.
    Case {
        props: "max-ptime=4000000 ptime-multiple=1000000",
        rate: 48000,
        channels: 2,
        sizes: &[960, 500, 960],
        gap_at: None,
    },
    // A discontinuity with a 50 ms gap: marker, DISCONT, RTP time jump.
    Case {
        props: "min-ptime=5000000",
        rate: 48000,
        channels: 1,
        sizes: &[480, 100, 480, 480],
        gap_at: Some((2, 50_000_000)),
    },
    // perfect-rtptime off: timestamps from the PTS.
    Case {
        props: "perfect-rtptime=false mtu=700",
        rate: 44100,
        channels: 2,
        sizes: &[441, 882, 441],
        gap_at: Some((1, 10_000_000)),
    },
];

fn same_packets_as_stock(stock: &str, ours: &str, be: &str, sample_bytes: usize) {
    for case in CASES {
        let frame = sample_bytes * case.channels as usize;
        let bufs = input(case.sizes, frame, case.rate as u64, case.gap_at);
        let caps = audio_caps(be, case.rate, case.channels);
        let (stock_caps, stock_out) = pay(stock, case.props, &caps, &bufs);
        let (our_caps, our_out) = pay(ours, case.props, &caps, &bufs);
        assert!(!stock_out.is_empty());
        assert_eq!(our_caps, stock_caps, "{ours} {}", case.props);
        assert_eq!(
            our_out.len(),
            stock_out.len(),
            "{ours} {}: packet count",
            case.props
        );
        for (i, (o, s)) in our_out.iter().zip(&stock_out).enumerate() {
            assert!(o.0 == s.0, "{ours} {} packet {i}: bytes differ", case.props);
            assert_eq!(
                (o.1, o.2, o.3),
                (s.1, s.2, s.3),
                "{ours} {} packet {i}: (pts, duration, discont)",
                case.props
            );
        }
    }
}

#[test]
fn l16_packets_equal_stock() {
    same_packets_as_stock("rtpL16pay", "rtpfastL16pay", "S16BE", 2);
}

#[test]
fn l24_packets_equal_stock() {
    same_packets_as_stock("rtpL24pay", "rtpfastL24pay", "S24BE", 3);
}

/// Little-endian in: the packets `audioconvert ! stock` makes from the same
/// audio, at every SIMD level this machine runs.
fn little_endian_equals_audioconvert(
    stock: &str,
    ours: &str,
    be: &str,
    le: &str,
    sample_bytes: usize,
) {
    for case in &CASES[..3] {
        let frame = sample_bytes * case.channels as usize;
        let bufs = input(case.sizes, frame, case.rate as u64, case.gap_at);
        let le_bufs = swapped(&bufs, sample_bytes);
        let le_caps = audio_caps(le, case.rate, case.channels);
        let (_, expected) = common::run_collect(
            &format!(
                "appsrc name=src ! audioconvert ! {} ! {stock} {PACING} {} ! appsink name=sink sync=false",
                audio_caps(be, case.rate, case.channels),
                case.props
            ),
            Some((&le_caps, &le_bufs)),
        );
        let expected = packets(&expected);
        for simd in gstrsrtpfast::core::simd::SimdLevel::available_levels() {
            let props = format!("{} simd={}", case.props, simd.nick());
            let desc =
                format!("appsrc name=src ! {ours} {PACING} {props} ! appsink name=sink sync=false");
            // Buffers still referenced here: swapped into a pooled copy.
            let (_, shared) = common::run_collect(&desc, Some((&le_caps, &le_bufs)));
            // Buffers the payloader gets alone: swapped in place.
            let owned = run_owned(&desc, &le_caps, swapped(&bufs, sample_bytes));
            for (how, got) in [("shared", shared), ("owned", owned)] {
                let got = packets(&got);
                assert_eq!(got.len(), expected.len(), "{ours} {props} {how}");
                for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
                    assert!(g.0 == e.0, "{ours} {props} {how} packet {i}: bytes differ");
                }
            }
        }
    }
}

/// Feed `appsrc name=src` buffers it then holds the only reference to, and
/// collect `appsink name=sink`.
fn run_owned(desc: &str, caps: &gst::Caps, bufs: Vec<gst::Buffer>) -> Vec<gst::Buffer> {
    let pipeline = common::play(desc, None);
    let src = common::app_src(&pipeline);
    src.set_caps(Some(caps));
    src.set_format(gst::Format::Time);
    for b in bufs {
        assert!(b.is_writable());
        src.push_buffer(b).unwrap();
    }
    src.end_of_stream().unwrap();
    let out = common::pull_buffers(&common::app_sink(&pipeline));
    pipeline.set_state(gst::State::Null).unwrap();
    out
}

#[test]
fn l16_little_endian_in_equals_audioconvert_then_stock() {
    little_endian_equals_audioconvert("rtpL16pay", "rtpfastL16pay", "S16BE", "S16LE", 2);
}

#[test]
fn l24_little_endian_in_equals_audioconvert_then_stock() {
    little_endian_equals_audioconvert("rtpL24pay", "rtpfastL24pay", "S24BE", "S24LE", 3);
}

/// rtpL24pay min-ptime=5ms max-ptime=20ms ptime-multiple=5ms at 48 kHz
/// stereo spins forever (5 ms = 1440 bytes, the MTU leaves 1388). Ours
/// must not: packets of the largest whole-frame size that fits, a warning.
/// (Stock is deliberately not run here: it would hang the test.)
#[test]
fn ptime_multiple_over_the_mtu_is_clamped_not_a_hang() {
    let bufs = input(&[960; 5], 6, 48000, None);
    let caps = audio_caps("S24BE", 48000, 2);
    let pipeline = common::play(
        &format!(
            "appsrc name=src ! rtpfastL24pay {PACING} min-ptime=5000000 max-ptime=20000000 \
             ptime-multiple=5000000 ! appsink name=sink sync=false"
        ),
        Some((&caps, &bufs)),
    );
    let sink = common::app_sink(&pipeline);
    let mut sizes = Vec::new();
    while let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(10)) {
        if let Some(list) = sample.buffer_list() {
            sizes.extend(list.iter().map(|b| b.size()));
        } else if let Some(b) = sample.buffer() {
            sizes.push(b.size());
        }
    }
    assert!(sink.is_eos(), "the stream must end, not stall");
    let payload: usize = sizes.iter().map(|s| s - 12).sum();
    assert_eq!(payload, 5 * 960 * 6, "every byte sent");
    assert!(sizes.iter().all(|s| *s <= 1400));
    assert_eq!(sizes[0], 12 + 1386, "231 frames: the most that fit");
    let bus = pipeline.bus().unwrap();
    let warned = std::iter::from_fn(|| bus.pop_filtered(&[gst::MessageType::Warning]))
        .any(|m| format!("{m:?}").contains("ptime-multiple"));
    assert!(warned, "a warning says what was clamped");
    pipeline.set_state(gst::State::Null).unwrap();
}

/// The sink CAPS query narrows rate and channels from what downstream
/// fixed, as stock does (including L16's static payload types).
#[test]
fn caps_query_follows_downstream_like_stock() {
    common::init();
    let downstream = [
        "application/x-rtp,payload=(int)10",
        "application/x-rtp,payload=(int)11,clock-rate=(int)44100",
        "application/x-rtp,clock-rate=(int)16000,channels=(int)1",
        "application/x-rtp",
    ];
    for (stock, ours) in [
        ("rtpL16pay", "rtpfastL16pay"),
        ("rtpL24pay", "rtpfastL24pay"),
    ] {
        for d in downstream {
            if ours.contains("L24") && d.contains("payload") {
                continue; // L24 has no static payload type: neither links
            }
            let query = |el: &str| {
                let p = gst::parse::launch(&format!(
                    "{el} name=pay ! capsfilter caps=\"{d}\" ! fakesink"
                ))
                .unwrap()
                .downcast::<gst::Pipeline>()
                .unwrap();
                let pay = p.by_name("pay").unwrap();
                let caps = pay.static_pad("sink").unwrap().query_caps(None);
                // Ours also takes the little-endian format: compare the
                // big-endian part.
                let be = gst::Caps::builder("audio/x-raw")
                    .field("format", if el.contains("L16") { "S16BE" } else { "S24BE" })
                    .build();
                caps.intersect(&be)
            };
            let (s, o) = (query(stock), query(ours));
            assert!(
                s.is_subset(&o) && o.is_subset(&s),
                "{ours} under {d}: stock {s}, ours {o}"
            );
        }
    }
}

/// Ours -> stock depayloader: the audio comes out as it went in.
#[test]
fn audio_survives_ours_to_stock_depay() {
    for (ours, depay, be, sample_bytes) in [
        ("rtpfastL16pay", "rtpL16depay", "S16BE", 2),
        ("rtpfastL24pay", "rtpL24depay", "S24BE", 3),
    ] {
        for (rate, channels) in [(48000, 2), (44100, 1)] {
            let bufs = input(
                &[480, 333, 960, 1],
                sample_bytes * channels as usize,
                rate as u64,
                None,
            );
            let caps = audio_caps(be, rate, channels);
            let (_, out) = common::run_collect(
                &format!("appsrc name=src ! {ours} ! {depay} ! appsink name=sink sync=false"),
                Some((&caps, &bufs)),
            );
            let sent: Vec<u8> = bufs
                .iter()
                .flat_map(|b| b.map_readable().unwrap().to_vec())
                .collect();
            let got: Vec<u8> = out
                .iter()
                .flat_map(|b| b.map_readable().unwrap().to_vec())
                .collect();
            assert!(
                got == sent,
                "{ours} -> {depay} {rate} Hz {channels} ch: audio differs"
            );
        }
    }
}

/// Caps outside the template (no channels, no rate) are refused before
/// they reach the element, by stock and ours alike: the stream stops with
/// not-negotiated rather than sending anything.
#[test]
fn caps_outside_the_template_are_not_negotiated_like_stock() {
    common::init();
    for caps in [
        "audio/x-raw,format=S16BE,layout=interleaved,rate=48000",
        "audio/x-raw,format=S16BE,layout=interleaved,channels=2",
        "audio/x-raw,format=F32LE,layout=interleaved,rate=48000,channels=2",
    ] {
        for el in ["rtpL16pay", "rtpfastL16pay"] {
            let (pipeline, src) = common::launch_with_src(&format!(
                "appsrc name=src caps=\"{caps}\" format=time ! {el} ! fakesink"
            ));

            pipeline.set_state(gst::State::Playing).unwrap();
            let _ = src.push_buffer(gst::Buffer::with_size(400).unwrap());
            let bus = pipeline.bus().unwrap();
            let msg = bus
                .timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Error])
                .expect("an error");
            let gst::MessageView::Error(e) = msg.view() else {
                unreachable!()
            };
            let debug = e.debug().map(|d| d.to_string()).unwrap_or_default();
            assert!(debug.contains("not-negotiated"), "{el} {caps}: {debug}");
            pipeline.set_state(gst::State::Null).unwrap();
        }
    }
}

/// Multichannel layouts: the RFC 3551 `channel-order` in the caps and the
/// channels reordered into it, as stock does (4, 5, 6 channels with masks,
/// 3 without), for big- and little-endian input.
#[test]
fn multichannel_orders_equal_stock() {
    common::init();
    for (channels, mask) in [
        (4, Some(0xC03u64)), // FL FR SL SR: DV.LRLsRs
        (5, Some(0xC07)),    // + FC: DV.LRLsRsC
        (6, Some(0x3F)),     // 5.1 default layout
        (4, Some(0x0F)),     // FL FR FC LFE
        (3, Some(0)),        // unpositioned: sent as it comes
    ] {
        for (stock, ours, be, le, sample_bytes) in [
            ("rtpL16pay", "rtpfastL16pay", "S16BE", "S16LE", 2usize),
            ("rtpL24pay", "rtpfastL24pay", "S24BE", "S24LE", 3),
        ] {
            let with_mask = |format: &str| {
                let mut caps = audio_caps(format, 48000, channels);
                if let Some(m) = mask {
                    caps.make_mut()
                        .structure_mut(0)
                        .unwrap()
                        .set("channel-mask", gst::Bitmask::new(m));
                }
                caps
            };
            let bufs = input(
                &[480, 480, 17],
                sample_bytes * channels as usize,
                48000,
                None,
            );
            let (stock_caps, expected) = pay(stock, "", &with_mask(be), &bufs);
            let (our_caps, got) = pay(ours, "", &with_mask(be), &bufs);
            assert_eq!(our_caps, stock_caps, "{ours} {channels} ch mask {mask:?}");
            assert_eq!(got.len(), expected.len());
            assert!(
                got.iter().zip(&expected).all(|(g, e)| g.0 == e.0),
                "{ours} {channels} ch mask {mask:?}: packets differ"
            );
            let (_, got_le) = pay(ours, "", &with_mask(le), &swapped(&bufs, sample_bytes));
            assert!(
                got_le.iter().zip(&expected).all(|(g, e)| g.0 == e.0)
                    && got_le.len() == expected.len(),
                "{ours} {le} {channels} ch mask {mask:?}: packets differ"
            );
        }
    }
}
