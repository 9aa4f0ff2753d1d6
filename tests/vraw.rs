//! rtpfastvrawpay / rtpfastvrawdepay against the stock rtpvrawpay /
//! rtpvrawdepay: byte-identical packets (with PTS, marker and DISCONT) and
//! the same caps for the same frames and properties; frames surviving ours
//! -> stock, stock -> ours and ours -> ours; malformed input into the
//! depayloader; renegotiation mid-stream.

mod common;

use gst::glib;
use gst::prelude::*;

const PACING: &str = "pt=96 ssrc=1 seqnum-offset=0 timestamp-offset=0";

/// `n` frames of `videotestsrc` (a moving pattern) with their caps.
fn frames(format: &str, width: u32, height: u32, n: u32) -> (gst::Caps, Vec<gst::Buffer>) {
    let (caps, bufs) = common::run_collect(
        &format!(
            "videotestsrc num-buffers={n} pattern=ball ! \
             video/x-raw,format={format},width={width},height={height},framerate=25/1 ! \
             appsink name=sink sync=false"
        ),
        None,
    );
    let mut bufs = bufs;
    if let Some(first) = bufs.first_mut() {
        first.make_mut().set_flags(gst::BufferFlags::DISCONT);
    }
    (caps.expect("caps"), bufs)
}

/// What a packet is, for comparing: bytes, PTS, MARKER flag, DISCONT flag.
type Packet = (Vec<u8>, Option<gst::ClockTime>, bool, bool);

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
    let packets = out
        .iter()
        .map(|b| {
            (
                b.map_readable().unwrap().to_vec(),
                b.pts(),
                b.flags().contains(gst::BufferFlags::MARKER),
                b.flags().contains(gst::BufferFlags::DISCONT),
            )
        })
        .collect();
    (out_caps.expect("payloader caps"), packets)
}

fn assert_same_packets(what: &str, ours: &[Packet], stock: &[Packet]) {
    assert!(!stock.is_empty(), "{what}: stock sent nothing");
    assert_eq!(ours.len(), stock.len(), "{what}: packet count");
    for (i, (o, s)) in ours.iter().zip(stock).enumerate() {
        if o != s {
            let at = o.0.iter().zip(&s.0).position(|(a, b)| a != b);
            panic!(
                "{what}: packet {i} differs (len {} vs {}, first byte diff at {at:?}, \
                 pts {:?} vs {:?}, marker {} vs {}, discont {} vs {})",
                o.0.len(),
                s.0.len(),
                o.1,
                s.1,
                o.2,
                s.2,
                o.3,
                s.3
            );
        }
    }
}

/// The bytes at the end of an I420/Y41B packet that its headers announce
/// but stock never writes (lines ending in a partial pixel group: see
/// `wire_of`) hold whatever stock's memory held: zeroed for comparing.
fn zero_unwritten_tail(format: &str, packets: &mut [Packet]) {
    let pgroup = match format {
        "I420" | "Y41B" => 6,
        _ => return,
    };
    for (bytes, ..) in packets {
        let payload = &mut bytes[14..];
        let mut n = 1;
        while payload[(n - 1) * 6 + 4] & 0x80 != 0 {
            n += 1;
        }
        let carried: usize = payload[..n * 6]
            .chunks(6)
            .map(|h| {
                let len = u16::from_be_bytes([h[0], h[1]]) as usize;
                len - len % pgroup
            })
            .sum();
        payload[n * 6 + carried..].fill(0);
    }
}

fn differential(format: &str, width: u32, height: u32, n: u32, props: &str, interlaced: bool) {
    let (mut caps, bufs) = frames(format, width, height, n);
    if interlaced {
        caps.make_mut().set("interlace-mode", "interleaved");
    }
    let what = format!("{format} {width}x{height} {props} interlaced={interlaced}");
    let (stock_caps, stock) = pay("rtpvrawpay", props, &caps, &bufs);
    let (our_caps, mut ours) = pay("rtpfastvrawpay", props, &caps, &bufs);
    let mut stock = stock;
    zero_unwritten_tail(format, &mut stock);
    let unwritten = ours.clone();
    zero_unwritten_tail(format, &mut ours);
    assert_eq!(ours, unwritten, "{what}: we send zeros there");
    assert_same_packets(&what, &ours, &stock);
    assert!(
        our_caps == stock_caps,
        "{what}: caps\n ours  {our_caps}\n stock {stock_caps}"
    );
}

#[test]
fn uyvp_1080p_like_stock() {
    differential("UYVP", 1920, 1080, 2, "mtu=1400", false);
    differential("UYVP", 1920, 1080, 1, "mtu=9000 chunks-per-frame=1", false);
}

#[test]
fn rgb_720p_like_stock() {
    differential("RGB", 1280, 720, 2, "mtu=9000 chunks-per-frame=1", false);
    differential("RGB", 1280, 720, 1, "mtu=1400 chunks-per-frame=7", false);
}

#[test]
fn i420_odd_size_like_stock() {
    differential("I420", 321, 241, 3, "mtu=1400", false);
    differential("I420", 320, 240, 2, "mtu=9000 chunks-per-frame=3", false);
}

#[test]
fn uyvy_like_stock() {
    differential("UYVY", 640, 480, 2, "mtu=1400 chunks-per-frame=1", false);
    // Odd width: padded stride, half a pixel group at each line's end.
    differential("UYVY", 321, 241, 2, "mtu=1400", false);
    differential("UYVY", 320, 240, 2, "mtu=1400 chunks-per-frame=240", false);
}

#[test]
fn other_formats_like_stock() {
    for format in ["RGBA", "BGR", "BGRA", "AYUV", "Y41B"] {
        differential(format, 320, 240, 2, "mtu=1400", false);
        differential(format, 162, 97, 1, "mtu=9000 chunks-per-frame=2", false);
    }
    differential("UYVP", 322, 51, 2, "mtu=600", false);
}

#[test]
fn interlaced_like_stock() {
    for format in ["UYVY", "RGB", "I420"] {
        differential(format, 320, 240, 2, "mtu=1400", true);
    }
}

/// A frame as rtpvrawpay sends it (the line headers and the pixel bytes
/// of all its packets): what a receiver can know of it, without stride
/// padding. For I420/Y41B lines that end in a partial pixel group stock
/// carries whole groups only and leaves the announced rest of the packet
/// unwritten (whatever the memory held): those bytes are left out.
fn wire_of(caps: &gst::Caps, frames: &[gst::Buffer]) -> Vec<Vec<u8>> {
    let format = caps.structure(0).unwrap().get::<&str>("format").unwrap();
    let planar_pgroup = match format {
        "I420" | "Y41B" => Some(6),
        _ => None,
    };
    let mut bufs: Vec<gst::Buffer> = frames.to_vec();
    for (i, b) in bufs.iter_mut().enumerate() {
        let b = b.make_mut();
        b.set_pts(gst::ClockTime::from_mseconds(40 * i as u64));
        b.unset_flags(gst::BufferFlags::DISCONT);
    }
    let (_, packets) = pay("rtpvrawpay", "mtu=1400", caps, &bufs);
    let mut out = vec![Vec::new()];
    for (bytes, _, marker, _) in packets {
        let payload = &bytes[14..];
        let mut n = 0;
        while payload[n * 6 + 4] & 0x80 != 0 {
            n += 1;
        }
        n += 1;
        let frame = out.last_mut().unwrap();
        frame.extend_from_slice(&payload[..n * 6]);
        let mut at = n * 6;
        for h in payload[..n * 6].chunks(6) {
            let len = u16::from_be_bytes([h[0], h[1]]) as usize;
            let carried = planar_pgroup.map_or(len, |g| len - len % g);
            frame.extend_from_slice(&payload[at..at + carried]);
            at += carried;
        }
        if marker {
            out.push(Vec::new());
        }
    }
    out.pop();
    out
}

/// raw video -> `pay` -> `depay` -> raw video.
fn round_trip(
    pay: &str,
    depay: &str,
    caps: &gst::Caps,
    bufs: &[gst::Buffer],
) -> (gst::Caps, Vec<gst::Buffer>) {
    let (out_caps, out) = common::run_collect(
        &format!("appsrc name=src ! {pay} mtu=1400 ! {depay} ! appsink name=sink sync=false"),
        Some((caps, bufs)),
    );
    (out_caps.expect("depayloader caps"), out)
}

fn interop(pay: &str, depay: &str, format: &str, width: u32, height: u32) {
    let (caps, bufs) = frames(format, width, height, 3);
    let (out_caps, out) = round_trip(pay, depay, &caps, &bufs);
    let what = format!("{pay} -> {depay} {format} {width}x{height}");
    assert_eq!(out.len(), bufs.len(), "{what}: frames");
    let s = out_caps.structure(0).unwrap();
    assert_eq!(s.get::<&str>("format").unwrap(), format, "{what}");
    assert_eq!(s.get::<i32>("width").unwrap(), width as i32, "{what}");
    assert_eq!(s.get::<i32>("height").unwrap(), height as i32, "{what}");
    let (got, want) = (wire_of(&out_caps, &out), wire_of(&caps, &bufs));
    assert_eq!(got.len(), want.len(), "{what}: frames on the wire");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let at = g.iter().zip(w).position(|(a, b)| a != b);
        assert!(
            g == w,
            "{what}: frame {i} differs at {at:?} of {} / {}",
            g.len(),
            w.len()
        );
    }
    for (o, i) in out.iter().zip(&bufs) {
        assert_eq!(o.pts(), i.pts(), "{what}: PTS");
    }
}

#[test]
fn ours_to_stock_depay() {
    for format in ["UYVY", "RGB", "I420", "UYVP", "RGBA", "BGR", "BGRA", "Y41B"] {
        interop("rtpfastvrawpay", "rtpvrawdepay", format, 320, 240);
    }
}

#[test]
fn stock_pay_to_ours() {
    for format in ["UYVY", "RGB", "I420", "UYVP", "AYUV", "RGBA", "Y41B"] {
        interop("rtpvrawpay", "rtpfastvrawdepay", format, 320, 240);
    }
}

#[test]
fn ours_to_ours() {
    for (format, w, h) in [
        ("UYVP", 1920, 1080),
        ("I420", 321, 241),
        ("UYVY", 321, 241),
        ("RGB", 161, 33),
        ("AYUV", 64, 48),
        ("BGRA", 64, 48),
    ] {
        interop("rtpfastvrawpay", "rtpfastvrawdepay", format, w, h);
    }
}

#[test]
fn interlaced_ours_to_ours() {
    for format in ["UYVY", "RGB"] {
        let (mut caps, bufs) = frames(format, 320, 240, 2);
        caps.make_mut().set("interlace-mode", "interleaved");
        let (out_caps, out) = round_trip("rtpfastvrawpay", "rtpfastvrawdepay", &caps, &bufs);
        assert_eq!(out.len(), bufs.len(), "{format}: one frame per two fields");
        for (o, i) in out.iter().zip(&bufs) {
            assert_eq!(
                o.map_readable().unwrap().as_slice(),
                i.map_readable().unwrap().as_slice(),
                "{format}: interlaced frame contents"
            );
        }
        let s = out_caps.structure(0).unwrap();
        assert_eq!(s.get::<&str>("interlace-mode").unwrap(), "interleaved");
    }
}

/// Padded strides in a GstVideoMeta: the payloader reads through the meta
/// (copying the packets' bytes) and sends what stock sends for the same
/// picture without padding.
#[test]
fn video_meta_strides_are_honoured() {
    let (caps, bufs) = frames("UYVY", 320, 24, 2);
    let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
    let row = 320 * 2;
    let stride = row + 96;
    let padded: Vec<gst::Buffer> = bufs
        .iter()
        .map(|b| {
            let src = b.map_readable().unwrap();
            let mut data = vec![0xEEu8; 64 + stride * 24];
            for y in 0..24 {
                data[64 + y * stride..64 + y * stride + row]
                    .copy_from_slice(&src[y * row..(y + 1) * row]);
            }
            let mut out = gst::Buffer::from_mut_slice(data);
            {
                let o = out.get_mut().unwrap();
                o.set_pts(b.pts());
                o.set_duration(b.duration());
                o.set_flags(b.flags());
                gst_video::VideoMeta::add_full(
                    o,
                    gst_video::VideoFrameFlags::empty(),
                    info.format(),
                    320,
                    24,
                    &[64],
                    &[stride as i32],
                )
                .unwrap();
            }
            out
        })
        .collect();
    let (_, stock) = pay("rtpvrawpay", "mtu=1400", &caps, &bufs);
    let (_, ours) = pay("rtpfastvrawpay", "mtu=1400", &caps, &padded);
    assert_same_packets("UYVY with video meta", &ours, &stock);
}

// ---- depayloader input that is not what a payloader sends ----

fn rtp_caps(sampling: &str, depth: &str, width: u32, height: u32) -> gst::Caps {
    gst::Caps::builder("application/x-rtp")
        .field("media", "video")
        .field("clock-rate", 90000i32)
        .field("encoding-name", "RAW")
        .field("sampling", sampling)
        .field("depth", depth)
        .field("width", width.to_string())
        .field("height", height.to_string())
        .field("payload", 96i32)
        .build()
}

fn rtp_packet(seq: u16, ts: u32, marker: bool, payload: &[u8]) -> gst::Buffer {
    let mut v = vec![0x80, 96 | if marker { 0x80 } else { 0 }];
    v.extend(seq.to_be_bytes());
    v.extend(ts.to_be_bytes());
    v.extend(1u32.to_be_bytes());
    v.extend_from_slice(payload);
    let mut b = gst::Buffer::from_mut_slice(v);
    b.get_mut()
        .unwrap()
        .set_pts(gst::ClockTime::from_mseconds(ts as u64 / 90));
    b
}

/// One line header: length, line, offset, continuation.
fn line_header(len: u16, line: u16, offset: u16, cont: bool) -> Vec<u8> {
    let mut v = len.to_be_bytes().to_vec();
    v.extend(line.to_be_bytes());
    v.extend((offset | if cont { 0x8000 } else { 0 }).to_be_bytes());
    v
}

/// A valid UYVY 16x4 frame in one packet (all four lines), bytes = line.
fn good_frame_payload() -> Vec<u8> {
    let mut v = vec![0, 0];
    for line in 0..4u16 {
        v.extend(line_header(32, line, 0, line < 3));
    }
    for line in 0..4u8 {
        v.extend(std::iter::repeat_n(line + 1, 32));
    }
    v
}

fn malformed_count(h: &gst_check::Harness) -> u64 {
    let stats = h.element().unwrap().property::<gst::Structure>("stats");
    stats.get::<u64>("malformed").unwrap()
}

fn harness() -> gst_check::Harness {
    common::init();
    let mut h = gst_check::Harness::new("rtpfastvrawdepay");
    h.set_src_caps(rtp_caps("YCbCr-4:2:2", "8", 16, 4));
    h
}

#[test]
fn malformed_headers_are_dropped_and_counted() {
    let mut h = harness();
    let mut seq = 0u16;
    let mut push = |h: &mut gst_check::Harness, ts: u32, marker: bool, payload: &[u8]| {
        seq = seq.wrapping_add(1);
        h.push(rtp_packet(seq, ts, marker, payload)).unwrap();
    };
    let bad: Vec<Vec<u8>> = vec![
        // Shorter than a header.
        vec![0, 0, 1],
        // A continuation chain that never ends.
        [
            vec![0, 0],
            line_header(4, 0, 0, true),
            line_header(4, 1, 0, true),
        ]
        .concat(),
        // Line past the frame.
        [vec![0, 0], line_header(4, 4, 0, false), vec![9; 4]].concat(),
        // Zero-length line.
        [vec![0, 0], line_header(0, 1, 0, false)].concat(),
        // Offset beyond the width.
        [vec![0, 0], line_header(4, 1, 16, false), vec![9; 4]].concat(),
        // Length not whole pixel groups.
        [vec![0, 0], line_header(3, 1, 0, false), vec![9; 3]].concat(),
        // Length past the payload (clipped) and past the line (clipped).
        [vec![0, 0], line_header(400, 1, 8, false), vec![9; 300]].concat(),
    ];
    let n = bad.len() as u64;
    for p in &bad {
        push(&mut h, 9000, false, p);
    }
    assert!(
        malformed_count(&h) >= n,
        "malformed {}",
        malformed_count(&h)
    );
    // Random bytes: never a panic.
    let mut x = 0x1234_5678u32;
    for i in 0..2000 {
        let len = (i % 97) as usize;
        let p: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        push(&mut h, 9000 + (i / 50) * 3600, false, &p);
    }
    // Then a good frame still comes out whole.
    while h.try_pull().is_some() {}
    push(&mut h, 900_000, true, &good_frame_payload());
    let mut last = None;
    while let Some(b) = h.try_pull() {
        last = Some(b);
    }
    let frame = last.expect("a frame after the garbage");
    let map = frame.map_readable().unwrap();
    for line in 0..4 {
        assert!(map[line * 32..(line + 1) * 32]
            .iter()
            .all(|&b| b == line as u8 + 1));
    }
}

#[test]
fn lost_packets_give_a_discont_frame() {
    let (caps, bufs) = frames("UYVY", 64, 64, 3);
    let (rtp_caps, packets) = pay("rtpfastvrawpay", "mtu=400", &caps, &bufs);
    let mut h = gst_check::Harness::new("rtpfastvrawdepay");
    h.set_src_caps(rtp_caps);
    let per_frame = packets.len() / 3;
    for (i, (bytes, pts, _, _)) in packets.iter().enumerate() {
        // Lose one packet in the middle of the second frame.
        if i == per_frame + per_frame / 2 {
            continue;
        }
        let mut b = gst::Buffer::from_slice(bytes.clone());
        b.get_mut().unwrap().set_pts(*pts);
        h.push(b).unwrap();
    }
    let out: Vec<gst::Buffer> = std::iter::from_fn(|| h.try_pull()).collect();
    assert_eq!(out.len(), 3);
    assert!(!out[2].flags().contains(gst::BufferFlags::DISCONT));
    assert!(out[1].flags().contains(gst::BufferFlags::DISCONT));
}

/// Resolution and format change mid-stream: each frame comes out with the
/// caps it went in with.
#[test]
fn renegotiation_mid_stream() {
    common::init();
    let (caps_a, a) = frames("UYVY", 320, 240, 2);
    let (caps_b, b) = frames("I420", 160, 120, 2);
    let (pipeline, src) = common::launch_with_src(
        "appsrc name=src format=time ! rtpfastvrawpay ! rtpfastvrawdepay \
         ! appsink name=sink sync=false",
    );

    let sink = common::app_sink(&pipeline);
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut t = 0;
    for (caps, bufs) in [(&caps_a, &a), (&caps_b, &b)] {
        src.set_caps(Some(caps));
        for buf in bufs.iter() {
            let mut buf = buf.copy();
            buf.make_mut().set_pts(gst::ClockTime::from_mseconds(t));
            t += 40;
            src.push_buffer(buf).unwrap();
        }
    }
    src.end_of_stream().unwrap();
    let mut got = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        let c = sample.caps().unwrap().structure(0).unwrap().to_owned();
        got.push((
            c.get::<&str>("format").unwrap().to_string(),
            c.get::<i32>("width").unwrap(),
            sample.buffer().unwrap().size(),
        ));
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let info_a = gst_video::VideoInfo::from_caps(&caps_a).unwrap();
    let info_b = gst_video::VideoInfo::from_caps(&caps_b).unwrap();
    assert_eq!(
        got,
        vec![
            ("UYVY".to_string(), 320, info_a.size()),
            ("UYVY".to_string(), 320, info_a.size()),
            ("I420".to_string(), 160, info_b.size()),
            ("I420".to_string(), 160, info_b.size()),
        ]
    );
}

/// What must match of a property: type, flags a user sees, default, range.
fn describe(p: &glib::ParamSpec) -> String {
    let flags = p.flags()
        & (glib::ParamFlags::READABLE
            | glib::ParamFlags::WRITABLE
            | glib::ParamFlags::CONSTRUCT_ONLY
            | gst::PARAM_FLAG_MUTABLE_PLAYING
            | gst::PARAM_FLAG_MUTABLE_READY);
    let range = if let Some(i) = p.downcast_ref::<glib::ParamSpecInt>() {
        format!("{}..{}", i.minimum(), i.maximum())
    } else if let Some(u) = p.downcast_ref::<glib::ParamSpecUInt>() {
        format!("{}..{}", u.minimum(), u.maximum())
    } else if let Some(i) = p.downcast_ref::<glib::ParamSpecInt64>() {
        format!("{}..{}", i.minimum(), i.maximum())
    } else {
        String::new()
    };
    let default = p
        .default_value()
        .serialize()
        .map(|s| s.to_string())
        .unwrap_or_default();
    format!("{} {flags:?} {default} {range}", p.value_type().name())
}

/// Every property of the stock element, the same on ours; the stock pad
/// templates within ours.
#[test]
fn properties_and_templates_like_stock() {
    common::init();
    for (stock, ours) in [
        ("rtpvrawpay", "rtpfastvrawpay"),
        ("rtpvrawdepay", "rtpfastvrawdepay"),
    ] {
        let s = gst::ElementFactory::make(stock).build().unwrap();
        let o = gst::ElementFactory::make(ours).build().unwrap();
        for sp in s.list_properties() {
            if ["name", "parent"].contains(&sp.name()) {
                continue;
            }
            let op = o
                .find_property(sp.name())
                .unwrap_or_else(|| panic!("{ours} lacks {}", sp.name()));
            // `stats` is a richer structure on ours (documented).
            if sp.name() == "stats" {
                assert_eq!(sp.value_type(), op.value_type());
                continue;
            }
            assert_eq!(describe(&op), describe(&sp), "{ours} {}", sp.name());
        }
        for name in ["sink", "src"] {
            let st = s.pad_template(name).unwrap().caps().clone();
            let ot = o.pad_template(name).unwrap().caps().clone();
            assert!(
                st.is_subset(&ot),
                "{ours} {name} template\n stock {st}\n ours  {ot}"
            );
        }
    }
    let pay = gst::ElementFactory::make("rtpfastvrawpay").build().unwrap();
    pay.set_property("chunks-per-frame", 3);
    assert_eq!(pay.property::<i32>("chunks-per-frame"), 3);
}

/// As stock, every packet carries the frame's untagged / video-only metas
/// (here a reference timestamp), not its GstVideoMeta.
#[test]
fn metas_on_packets_like_stock() {
    let (caps, bufs) = frames("UYVY", 64, 16, 2);
    let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
    let reference = gst::Caps::new_empty_simple("timestamp/x-test");
    let tagged: Vec<gst::Buffer> = bufs
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut b = b.copy();
            let bm = b.make_mut();
            gst::ReferenceTimestampMeta::add(
                bm,
                &reference,
                gst::ClockTime::from_seconds(100 + i as u64),
                None,
            );
            gst_video::VideoMeta::add(
                bm,
                gst_video::VideoFrameFlags::empty(),
                info.format(),
                64,
                16,
            )
            .unwrap();
            b
        })
        .collect();
    let run = |element: &str| {
        let (_, out) = common::run_collect(
            &format!("appsrc name=src ! {element} {PACING} mtu=400 ! appsink name=sink sync=false"),
            Some((&caps, &tagged)),
        );
        out.iter()
            .map(|b| {
                (
                    b.meta::<gst::ReferenceTimestampMeta>()
                        .map(|m| m.timestamp()),
                    b.meta::<gst_video::VideoMeta>().is_some(),
                )
            })
            .collect::<Vec<_>>()
    };
    let stock = run("rtpvrawpay");
    let ours = run("rtpfastvrawpay");
    assert!(stock.iter().all(|(t, _)| t.is_some()), "stock copies it");
    assert_eq!(ours, stock);
}
