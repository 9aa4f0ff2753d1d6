//! Depayloaders against the stock ones (gst-plugins-good 1.22) on the same
//! input, fed as real pipelines feed them: what a consumer sees (bytes,
//! PTS/DTS/duration, buffer flags, caps) must be the same.

mod common;

use common::*;
use std::str::FromStr;

/// What a consumer sees of one output buffer.
#[derive(Debug, PartialEq, Eq, Clone)]
struct Seen {
    bytes: Vec<u8>,
    pts: Option<gst::ClockTime>,
    dts: Option<gst::ClockTime>,
    duration: Option<gst::ClockTime>,
    flags: gst::BufferFlags,
}

fn seen(b: &gst::Buffer) -> Seen {
    Seen {
        bytes: b.map_readable().unwrap().to_vec(),
        pts: b.pts(),
        dts: b.dts(),
        duration: b.duration(),
        flags: b.flags()
            & (gst::BufferFlags::MARKER
                | gst::BufferFlags::DISCONT
                | gst::BufferFlags::DELTA_UNIT
                | gst::BufferFlags::HEADER
                | gst::BufferFlags::GAP
                | gst::BufferFlags::DROPPABLE
                | gst::BufferFlags::RESYNC
                | gst::BufferFlags::CORRUPTED),
    }
}

fn short(s: &Seen) -> String {
    format!(
        "{}B pts={:?} dts={:?} dur={:?} {:?}",
        s.bytes.len(),
        s.pts,
        s.dts,
        s.duration,
        s.flags
    )
}

/// Compare stock's output with ours, buffer by buffer.
fn assert_same(what: &str, stock: &[gst::Buffer], ours: &[gst::Buffer]) {
    let s: Vec<Seen> = stock.iter().map(seen).collect();
    let o: Vec<Seen> = ours.iter().map(seen).collect();
    let describe = |v: &[Seen]| v.iter().map(short).collect::<Vec<_>>().join("\n  ");
    assert_eq!(
        s.len(),
        o.len(),
        "{what}: buffer count\nstock:\n  {}\nours:\n  {}",
        describe(&s),
        describe(&o)
    );
    for (i, (a, b)) in s.iter().zip(&o).enumerate() {
        assert!(
            a == b,
            "{what}: buffer {i}: stock {} / ours {}{}",
            short(a),
            short(b),
            if a.bytes != b.bytes {
                " (bytes differ)"
            } else {
                ""
            }
        );
    }
}

/// `front ! <depay> ! appsink`, once with `stock` and once with `ours`.
fn both(front: &str, stock: &str, ours: &str, tail: &str) -> [(gst::Caps, Vec<gst::Buffer>); 2] {
    [stock, ours].map(|depay| {
        let desc = format!("{front} ! {depay} ! {tail} appsink name=sink sync=false");
        let (caps, bufs) = run_collect(&desc, None);
        (caps.expect("depayloader caps"), bufs)
    })
}

/// Hand-built RTP packets pushed with appsrc into `<depay> ! appsink`, once
/// with `stock` and once with `ours`.
fn both_from_packets(
    caps: &str,
    packets: &[gst::Buffer],
    stock: &str,
    ours: &str,
    tail: &str,
) -> [(gst::Caps, Vec<gst::Buffer>); 2] {
    let caps = gst::Caps::from_str(caps).unwrap();
    [stock, ours].map(|depay| {
        let desc = format!("appsrc name=src ! {depay} ! {tail} appsink name=sink sync=false");
        let input: Vec<gst::Buffer> = packets.iter().map(|b| b.copy_deep().unwrap()).collect();
        let (caps, bufs) = run_collect(&desc, Some((&caps, &input)));
        (caps.expect("depayloader caps"), bufs)
    })
}

/// One RTP packet (version 2, pt 96, ssrc 0x12345678) as a receiver gets it
/// from a socket: PTS only, no duration, no flags.
fn rtp(seq: u16, ts: u32, marker: bool, payload: &[u8], pts_ms: u64) -> gst::Buffer {
    init();
    let mut v = vec![0x80, 96 | if marker { 0x80 } else { 0 }];
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&ts.to_be_bytes());
    v.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    v.extend_from_slice(payload);
    let mut b = gst::Buffer::from_mut_slice(v);
    b.get_mut()
        .unwrap()
        .set_pts(gst::ClockTime::from_mseconds(pts_ms));
    b
}

// ---- Opus ----

const OPUS_RTP_CAPS: &str =
    "application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=96";

/// `opusenc ! rtpopuspay ! depay` in one process: rtpopusdepay's output
/// takes the duration and the flags of the RTP buffer it came from
/// (`gst_rtp_buffer_get_payload_buffer` copies them, the base class fills
/// in the duration), so the first buffer carries the MARKER rtpopuspay put
/// on its first packet and every buffer the encoder's duration (13.5 ms
/// first and 6.5 ms last with audiotestsrc's clipping: not derived from
/// the TOC).
#[test]
fn opus_duration_and_marker_from_the_payloader() {
    let front = "audiotestsrc num-buffers=20 samplesperbuffer=960 ! \
                 audio/x-raw,rate=48000,channels=2 ! opusenc ! rtpopuspay";
    let [(sc, s), (oc, o)] = both(front, "rtpopusdepay", "rtpfastopusdepay", "");
    assert_eq!(sc, oc);
    assert!(s[0].flags().contains(gst::BufferFlags::MARKER));
    assert!(s[1].duration().is_some());
    assert_same("opusenc ! rtpopuspay", &s, &o);
}

/// Packets as a socket delivers them: stock gives no duration and no MARKER
/// (the RTP marker bit is not looked at), and a packet with an empty
/// payload becomes a 0-byte buffer with the packet's PTS (opusdec conceals
/// a lost frame for it).
#[test]
fn opus_bare_packets_and_empty_payload() {
    let frame = |i: u8| [0xfc, i, 1, 2, 3];
    let packets = [
        rtp(10, 0, true, &frame(0), 0),
        rtp(11, 960, false, &frame(1), 20),
        rtp(12, 1920, false, &[], 40),
        rtp(13, 2880, false, &frame(3), 60),
        // A gap, then an empty payload first after it: DISCONT on it.
        rtp(15, 4800, false, &[], 100),
        rtp(16, 5760, true, &frame(6), 120),
    ];
    let [(sc, s), (oc, o)] = both_from_packets(
        OPUS_RTP_CAPS,
        &packets,
        "rtpopusdepay",
        "rtpfastopusdepay",
        "",
    );
    assert_eq!(sc, oc);
    assert_eq!(s.len(), 6, "stock pushes one buffer per packet");
    assert_eq!(s[2].size(), 0);
    assert_same("bare packets", &s, &o);
}

/// Flags and duration an upstream element put on the RTP buffers come
/// through, as stock's payload sub-buffer copies them.
#[test]
fn opus_input_flags_and_duration_come_through() {
    let flagged = |seq: u16, flags: gst::BufferFlags, payload: &[u8]| {
        let mut b = rtp(seq, seq as u32 * 960, false, payload, seq as u64 * 20);
        let bm = b.get_mut().unwrap();
        bm.set_duration(gst::ClockTime::from_mseconds(20));
        bm.set_flags(flags);
        b
    };
    let packets = [
        flagged(1, gst::BufferFlags::MARKER, &[0xfc, 1]),
        flagged(
            2,
            gst::BufferFlags::DELTA_UNIT | gst::BufferFlags::HEADER,
            &[0xfc, 2],
        ),
        flagged(
            3,
            gst::BufferFlags::DROPPABLE | gst::BufferFlags::RESYNC,
            &[0xfc, 3],
        ),
        flagged(4, gst::BufferFlags::CORRUPTED | gst::BufferFlags::GAP, &[]),
        flagged(5, gst::BufferFlags::empty(), &[0xfc, 5]),
    ];
    let [(_, s), (_, o)] = both_from_packets(
        OPUS_RTP_CAPS,
        &packets,
        "rtpopusdepay",
        "rtpfastopusdepay",
        "",
    );
    assert_same("flagged packets", &s, &o);
}
