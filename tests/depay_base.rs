//! What `GstRtpFastBaseDepay` owns, checked against the stock base class
//! (through rtph264depay) in the same test: seqnum tracking (`max-reorder`,
//! DISCONT on gaps and sender restarts), `source-info`, header extensions
//! read through GStreamer's own implementations, the stock `stats` fields.

mod common;
use common::*;
use gst::prelude::*;
use gst_rtp::prelude::*;

const RTP_CAPS: &str =
    "application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=96";

/// One packet carrying a whole IDR slice (one access unit per packet).
struct Pkt<'a> {
    seq: u16,
    ssrc: u32,
    csrcs: &'a [u32],
    /// One-byte-header extension elements (id, data).
    ext: &'a [(u8, &'a [u8])],
}

impl Pkt<'_> {
    fn simple(seq: u16) -> Self {
        Pkt {
            seq,
            ssrc: 0x1234,
            csrcs: &[],
            ext: &[],
        }
    }

    fn buffer(&self) -> gst::Buffer {
        let mut v = vec![
            0x80 | if self.ext.is_empty() { 0 } else { 0x10 } | self.csrcs.len() as u8,
            0x80 | 96,
        ];
        v.extend_from_slice(&self.seq.to_be_bytes());
        v.extend_from_slice(&(self.seq as u32 * 3000).to_be_bytes());
        v.extend_from_slice(&self.ssrc.to_be_bytes());
        for c in self.csrcs {
            v.extend_from_slice(&c.to_be_bytes());
        }
        if !self.ext.is_empty() {
            let mut data = Vec::new();
            for (id, bytes) in self.ext {
                data.push(id << 4 | (bytes.len() as u8 - 1));
                data.extend_from_slice(bytes);
            }
            while data.len() % 4 != 0 {
                data.push(0);
            }
            v.extend_from_slice(&[0xbe, 0xde]);
            v.extend_from_slice(&((data.len() / 4) as u16).to_be_bytes());
            v.extend_from_slice(&data);
        }
        v.extend_from_slice(&[0x65, 0x88, 0x84, self.seq as u8]);
        let mut b = gst::Buffer::from_mut_slice(v);
        b.get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(self.seq as u64));
        b
    }
}

fn harness(element: &str, caps: &str, props: &[(&str, glib::Value)]) -> gst_check::Harness {
    init();
    let mut h = gst_check::Harness::new(element);
    for (name, value) in props {
        h.element().unwrap().set_property_from_value(name, value);
    }
    h.set_sink_caps_str("video/x-h264,stream-format=byte-stream,alignment=au");
    h.set_src_caps_str(caps);
    h
}

use gst::glib;

/// Push `packets`; for each, the output it produced: None (dropped) or
/// Some(DISCONT flag).
fn run(h: &mut gst_check::Harness, packets: &[Pkt]) -> Vec<Option<bool>> {
    packets
        .iter()
        .map(|p| {
            h.push(p.buffer()).unwrap();
            let out = h.try_pull();
            assert!(h.try_pull().is_none(), "one unit per packet at most");
            out.map(|b| b.flags().contains(gst::BufferFlags::DISCONT))
        })
        .collect()
}

#[test]
fn seqnum_gaps_reorder_and_restarts_like_stock() {
    let seqs: Vec<Pkt> = [
        1u16, 2, 3,     // in order
        5,     // gap: DISCONT
        4,     // old, within max-reorder: dropped
        3,     // duplicate: dropped
        6,     // in order again
        60000, // far ahead: a gap (DISCONT)
        59800, // 200 behind > max-reorder 100: sender restarted, DISCONT
        59801,
    ]
    .into_iter()
    .map(Pkt::simple)
    .collect();
    let ours = run(&mut harness("rtpfasth264depay", RTP_CAPS, &[]), &seqs);
    let stock = run(&mut harness("rtph264depay", RTP_CAPS, &[]), &seqs);
    assert_eq!(ours, stock, "same drops and DISCONT flags as rtph264depay");
    assert_eq!(
        ours,
        [
            Some(false),
            Some(false),
            Some(false),
            Some(true),
            None,
            None,
            Some(false),
            Some(true),
            Some(true),
            Some(false)
        ]
    );

    // max-reorder=0: every old packet is a restart, none is dropped.
    let seqs: Vec<Pkt> = [1u16, 2, 3, 2, 3].into_iter().map(Pkt::simple).collect();
    let props = [("max-reorder", 0i32.to_value())];
    let ours = run(&mut harness("rtpfasth264depay", RTP_CAPS, &props), &seqs);
    let stock = run(&mut harness("rtph264depay", RTP_CAPS, &props), &seqs);
    assert_eq!(ours, stock);
    assert_eq!(ours[3], Some(true));

    // A new ssrc is a new sender: DISCONT, nothing dropped.
    let seqs = [
        Pkt::simple(10),
        Pkt::simple(11),
        Pkt {
            ssrc: 0x9999,
            ..Pkt::simple(5)
        },
    ];
    let ours = run(&mut harness("rtpfasth264depay", RTP_CAPS, &[]), &seqs);
    let stock = run(&mut harness("rtph264depay", RTP_CAPS, &[]), &seqs);
    assert_eq!(ours, stock);
    assert_eq!(ours, [Some(false), Some(false), Some(true)]);
}

#[test]
fn reordered_packets_are_counted_and_stats_have_stock_fields() {
    let mut h = harness("rtpfasth264depay", RTP_CAPS, &[]);
    run(&mut h, &[Pkt::simple(7), Pkt::simple(8), Pkt::simple(6)]);
    let stats = h.element().unwrap().property::<gst::Structure>("stats");
    let stock = harness("rtph264depay", RTP_CAPS, &[])
        .element()
        .unwrap()
        .property::<gst::Structure>("stats");
    for (field, value) in stock.iter() {
        let ours = stats
            .value(field)
            .unwrap_or_else(|_| panic!("stats lack stock field {field}"));
        assert_eq!(ours.type_(), value.type_(), "type of {field}");
    }
    assert_eq!(stats.get::<u32>("seqnum").unwrap(), 6);
    assert_eq!(stats.get::<u32>("timestamp").unwrap(), 6 * 3000);
    assert_eq!(stats.get::<u32>("clock-rate").unwrap(), 90000);
    assert!(stats.get::<u64>("dropped").unwrap() >= 1);
    assert_eq!(stats.get::<u64>("malformed").unwrap(), 0);
}

/// (ssrc, csrcs) of the RTPSourceMeta on `b`.
fn source_meta(b: &gst::BufferRef) -> Option<(Option<u32>, Vec<u32>)> {
    b.meta::<gst_rtp::RTPSourceMeta>()
        .map(|m| (m.ssrc(), m.csrc().to_vec()))
}

#[test]
fn source_info_meta_like_stock() {
    let pkt = Pkt {
        csrcs: &[0xaaaa, 0xbbbb],
        ..Pkt::simple(1)
    };
    let mut metas = Vec::new();
    for element in ["rtpfasth264depay", "rtph264depay"] {
        for on in [false, true] {
            let mut h = harness(element, RTP_CAPS, &[("source-info", on.to_value())]);
            h.push(pkt.buffer()).unwrap();
            let out = h.pull().unwrap();
            let meta = source_meta(&out);
            if on {
                assert_eq!(
                    meta,
                    Some((Some(0x1234), vec![0xaaaa, 0xbbbb])),
                    "{element}"
                );
            } else {
                assert_eq!(meta, None, "{element}");
            }
            metas.push(meta);
        }
    }
    assert_eq!(metas[..2], metas[2..]);
}

#[test]
fn header_extensions_from_caps_are_read_like_stock() {
    const NTP64: &str = "urn:ietf:params:rtp-hdrext:ntp-64";
    let caps = format!("{RTP_CAPS},extmap-3=(string){NTP64}");
    let ntp: u64 = (1_700_000_000u64 + 2_208_988_800) << 32; // 2023-11-14
    let ntp_bytes = ntp.to_be_bytes();
    let pkt = Pkt {
        ext: &[(3, &ntp_bytes)],
        ..Pkt::simple(1)
    };
    let mut got = Vec::new();
    for element in ["rtpfasth264depay", "rtph264depay"] {
        // Automatic (auto-header-extension, default on).
        let mut h = harness(element, &caps, &[]);
        h.push(pkt.buffer()).unwrap();
        let out = h.pull().unwrap();
        let ts = out
            .iter_meta::<gst::ReferenceTimestampMeta>()
            .map(|m| m.timestamp())
            .collect::<Vec<_>>();
        assert_eq!(ts.len(), 1, "{element}: one reference timestamp");
        got.push(ts[0]);

        // Off: no extension, no meta, unless the application provides one.
        let mut h = harness(
            element,
            &caps,
            &[("auto-header-extension", false.to_value())],
        );
        h.push(pkt.buffer()).unwrap();
        let out = h.pull().unwrap();
        assert_eq!(out.iter_meta::<gst::ReferenceTimestampMeta>().count(), 0);

        let mut h = gst_check::Harness::new(element);
        let e = h.element().unwrap();
        e.set_property("auto-header-extension", false);
        let requested = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let r = requested.clone();
        e.connect("request-extension", false, move |args| {
            let id = args[1].get::<u32>().unwrap();
            let uri = args[2].get::<String>().unwrap();
            r.store(true, std::sync::atomic::Ordering::SeqCst);
            let ext = gst_rtp::RTPHeaderExtension::create_from_uri(&uri).unwrap();
            ext.set_id(id);
            Some(ext.to_value())
        });
        h.set_sink_caps_str("video/x-h264,stream-format=byte-stream,alignment=au");
        h.set_src_caps_str(&caps);
        assert!(requested.load(std::sync::atomic::Ordering::SeqCst));
        h.push(pkt.buffer()).unwrap();
        let out = h.pull().unwrap();
        assert_eq!(out.iter_meta::<gst::ReferenceTimestampMeta>().count(), 1);

        // add-extension / clear-extensions without caps.
        let mut h = harness(element, RTP_CAPS, &[]);
        let ext = gst_rtp::RTPHeaderExtension::create_from_uri(NTP64).unwrap();
        ext.set_id(3);
        h.element()
            .unwrap()
            .emit_by_name::<()>("add-extension", &[&ext]);
        h.push(pkt.buffer()).unwrap();
        let out = h.pull().unwrap();
        assert_eq!(out.iter_meta::<gst::ReferenceTimestampMeta>().count(), 1);
        h.element()
            .unwrap()
            .emit_by_name::<()>("clear-extensions", &[]);
        h.push(
            Pkt {
                ext: &[(3, &ntp_bytes)],
                ..Pkt::simple(2)
            }
            .buffer(),
        )
        .unwrap();
        let out = h.pull().unwrap();
        assert_eq!(out.iter_meta::<gst::ReferenceTimestampMeta>().count(), 0);
    }
    assert_eq!(got[0], got[1], "same NTP time as rtph264depay");
}

#[test]
fn caps_without_clock_rate_are_refused() {
    init();
    let mut h = gst_check::Harness::new("rtpfasth264depay");
    h.set_sink_caps_str("video/x-h264,stream-format=byte-stream,alignment=au");
    let caps: gst::Caps = "application/x-rtp,media=video,encoding-name=H264"
        .parse()
        .unwrap();
    assert!(!h
        .element()
        .unwrap()
        .static_pad("sink")
        .unwrap()
        .send_event(gst::event::Caps::new(&caps)));
}

#[test]
fn segment_from_caps_npt_and_play_speed() {
    let caps = format!("{RTP_CAPS},npt-start=(guint64)5000000000,play-speed=(double)2.0");
    let mut h = harness("rtpfasth264depay", &caps, &[]);
    h.push(Pkt::simple(1).buffer()).unwrap();
    h.pull().unwrap();
    let mut seg = None;
    while let Some(ev) = h.try_pull_event() {
        if let gst::EventView::Segment(s) = ev.view() {
            seg = Some(s.segment().clone());
        }
    }
    let seg = seg
        .expect("a segment before the first buffer")
        .downcast::<gst::ClockTime>()
        .unwrap();
    assert_eq!(seg.time(), Some(gst::ClockTime::from_seconds(5)));
    assert_eq!(seg.rate(), 2.0);
}

#[test]
fn flush_resets_seqnum_tracking_like_stock() {
    let mut results = Vec::new();
    for element in ["rtpfasth264depay", "rtph264depay"] {
        let mut h = harness(element, RTP_CAPS, &[]);
        let mut out = run(&mut h, &[Pkt::simple(50), Pkt::simple(51)]);
        assert!(h.push_event(gst::event::FlushStart::new()));
        assert!(h.push_event(gst::event::FlushStop::new(true)));
        // 40 < 52 would be "old" (dropped) without the reset.
        assert!(
            h.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
                gst::ClockTime,
            >::new()))
        );
        out.extend(run(&mut h, &[Pkt::simple(40), Pkt::simple(41)]));
        assert_eq!(
            out,
            [Some(false), Some(false), Some(false), Some(false)],
            "{element}"
        );
        results.push(out);
    }
    assert_eq!(results[0], results[1]);
}

#[test]
fn packet_lost_event_pushes_gap_and_marks_discont_like_stock() {
    for element in ["rtpfasth264depay", "rtph264depay"] {
        let mut h = harness(element, RTP_CAPS, &[]);
        run(&mut h, &[Pkt::simple(1)]);
        while h.try_pull_event().is_some() {}
        let lost = gst::event::CustomDownstream::new(
            gst::Structure::builder("GstRTPPacketLost")
                .field("timestamp", gst::ClockTime::from_mseconds(2))
                .field("duration", gst::ClockTime::from_mseconds(1))
                .field("seqnum", 2u32)
                .build(),
        );
        h.push_event(lost);
        let mut gap = false;
        while let Some(ev) = h.try_pull_event() {
            gap |= ev.type_() == gst::EventType::Gap;
        }
        assert!(gap, "{element}: GAP for the lost packet");
        let out = run(&mut h, &[Pkt::simple(3)]);
        assert_eq!(out, [Some(true)], "{element}: DISCONT after the loss");
    }
}
