//! Bad input never panics, never crashes, is counted in `stats` and logged,
//! and the stream recovers at the next key unit.

mod common;
use common::*;
use gst::prelude::*;

fn rtp_packet(seq: u16, ts: u32, marker: bool, payload: &[u8]) -> gst::Buffer {
    let mut v = vec![0x80, if marker { 0x80 | 96 } else { 96 }];
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&ts.to_be_bytes());
    v.extend_from_slice(&0x1234u32.to_be_bytes());
    v.extend_from_slice(payload);
    let mut b = gst::Buffer::from_mut_slice(v);
    b.get_mut()
        .unwrap()
        .set_pts(gst::ClockTime::from_mseconds(seq as u64));
    b
}

fn harness(codec: Codec) -> gst_check::Harness {
    init();
    let mut h = gst_check::Harness::new(&format!("rtpfast{}depay", codec.name()));
    // Downstream first, so negotiation sees it (byte-stream, like a decoder
    // behind h26xparse would ask for).
    h.set_sink_caps_str(&format!(
        "{},stream-format=byte-stream,alignment=au",
        codec.media()
    ));
    h.set_src_caps_str(&format!(
        "application/x-rtp,media=video,clock-rate=90000,encoding-name={},payload=96",
        codec.name().to_uppercase()
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

fn malformed_rtp() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = vec![
        vec![],                                             // zero-length
        vec![0x80, 96, 0, 1],                               // truncated header
        vec![0x40, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x65], // version 1
        {
            // padding length larger than the packet
            let mut p = vec![0xa0, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x65, 50];
            p.push(200);
            p
        },
        vec![0x8f, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0], // 15 CSRCs, none present
        vec![
            0x90, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0xff, 0xff,
        ], // extension past end
    ];
    // random bytes that are not valid RTP
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

fn bad_payloads(codec: Codec) -> Vec<Vec<u8>> {
    match codec {
        Codec::H264 => vec![
            vec![24, 0, 50, 0x67],     // STAP-A length past the end
            vec![24, 0, 0],            // STAP-A zero-length entry
            vec![0x7c, 0x05, 1, 2, 3], // FU-A middle without start
            vec![0x7c, 0xc5, 1],       // FU-A start and end
            vec![25, 0, 0],            // STAP-B: not in this mode
            vec![0x7c],                // FU-A too short
        ],
        Codec::H265 => vec![
            vec![96, 1, 0, 50, 0x40], // AP length past the end
            vec![98, 1, 0x13, 1, 2],  // FU middle without start
            vec![98, 1, 0xd3, 1],     // FU start and end
            vec![100, 1, 0],          // PACI
            vec![0x26],               // shorter than a NAL header
        ],
    }
}

fn keyframe(codec: Codec) -> Vec<u8> {
    match codec {
        Codec::H264 => vec![0x65, 0x88, 0x84, 0x21],
        Codec::H265 => vec![0x26, 0x01, 0xaf, 0x09],
    }
}

fn malformed_input_is_counted_and_stream_recovers(codec: Codec) {
    let mut h = harness(codec);
    let mut seq = 0u16;
    let bad = malformed_rtp();
    for p in &bad {
        let _ = h.push(gst::Buffer::from_mut_slice(p.clone()));
    }
    assert_eq!(stat(&h, "malformed"), bad.len() as u64);
    let payloads = bad_payloads(codec);
    for p in &payloads {
        seq += 1;
        assert_eq!(
            h.push(rtp_packet(seq, 3000, true, p)),
            Ok(gst::FlowSuccess::Ok)
        );
    }
    assert!(stat(&h, "dropped") >= (bad.len() + payloads.len()) as u64);
    // Absurd sizes: a 60 KB STAP-A claiming 65535-byte entries.
    let mut huge = vec![if codec == Codec::H264 { 24 } else { 96 }];
    if codec == Codec::H265 {
        huge.push(1);
    }
    huge.extend(std::iter::repeat_n(0xff, 60_000));
    seq += 1;
    assert_eq!(
        h.push(rtp_packet(seq, 6000, true, &huge)),
        Ok(gst::FlowSuccess::Ok)
    );
    // Nothing bogus came out.
    while let Some(b) = h.try_pull() {
        let map = b.map_readable().unwrap();
        assert!(map.starts_with(&[0, 0, 0, 1]), "output is framed NAL units");
    }
    // The next key unit comes through intact.
    seq += 1;
    let kf = keyframe(codec);
    h.push(rtp_packet(seq, 9000, true, &kf)).unwrap();
    let out = h.pull().unwrap();
    let map = out.map_readable().unwrap();
    let mut expect = vec![0, 0, 0, 1];
    expect.extend_from_slice(&kf);
    assert_eq!(map.as_slice(), &expect[..]);
    assert!(!out.flags().contains(gst::BufferFlags::DELTA_UNIT));
}

#[test]
fn h264_malformed_input() {
    malformed_input_is_counted_and_stream_recovers(Codec::H264);
}

#[test]
fn h265_malformed_input() {
    malformed_input_is_counted_and_stream_recovers(Codec::H265);
}

#[test]
fn lost_fragment_drops_nal_flags_discont_and_requests_keyframe() {
    let mut h = harness(Codec::H264);
    h.element().unwrap().set_property("request-keyframe", true);
    // FU-A start (seq 1), then seq 3: seq 2 lost.
    h.push(rtp_packet(1, 3000, false, &[0x7c, 0x85, 1, 2]))
        .unwrap();
    h.push(rtp_packet(3, 3000, true, &[0x7c, 0x45, 3, 4]))
        .unwrap();
    // New AU: intact keyframe.
    h.push(rtp_packet(4, 6000, true, &[0x65, 9, 9])).unwrap();
    let out = h.pull().unwrap();
    assert_eq!(
        out.map_readable().unwrap().as_slice(),
        &[0, 0, 0, 1, 0x65, 9, 9]
    );
    assert!(out.flags().contains(gst::BufferFlags::DISCONT));
    let mut saw_fku = false;
    while let Some(ev) = h.try_pull_upstream_event() {
        if ev
            .structure()
            .is_some_and(|s| s.name() == "GstForceKeyUnit")
        {
            saw_fku = true;
        }
    }
    assert!(saw_fku, "a key unit was requested upstream");
    assert!(stat(&h, "lost-fragments") >= 1);
}

#[test]
fn random_payloads_never_panic_and_memory_is_bounded() {
    for codec in [Codec::H264, Codec::H265] {
        let mut h = harness(codec);
        let mut x = 12345u32;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        for seq in 0..3000u16 {
            let len = (rnd() % 1500) as usize;
            let payload: Vec<u8> = (0..len).map(|_| rnd() as u8).collect();
            // Same timestamp, no marker: an unbounded assembler would grow forever.
            let _ = h.push(rtp_packet(seq, 0, false, &payload));
            while let Some(b) = h.try_pull() {
                assert!(b.size() < 64 * 1024 * 1024);
            }
        }
    }
}
