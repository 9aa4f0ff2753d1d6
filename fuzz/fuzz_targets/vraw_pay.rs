//! Raw-video packetizer (`core::vraw`, RFC 4175): arbitrary sampling,
//! size, interlacing, MTU, CSRCs, chunks-per-frame and frame bytes. Every
//! packet fits the MTU, every line of every field is sent exactly once,
//! markers end fields, the line headers parse back to the planned segments,
//! zero-copy ranges hold the packed bytes, and unpacking then packing again
//! gives the same payload.
#![no_main]

use fuzz_input::vraw::layout;
use fuzz_input::Reader;
use gstrsrtpfast::core::rtp::RTP_HEADER_LEN;
use gstrsrtpfast::core::vraw::{
    self, FrameCursor, FramePlan, Geometry, PlanError, Sampling, ALL_SAMPLINGS, EXT_SEQ_LEN,
    LINE_HEADER_LEN, MAX_DIMENSION,
};
use libfuzzer_sys::fuzz_target;

/// Pixels of a frame the target plans and packs: bounds an execution.
const MAX_PIXELS: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let sampling = ALL_SAMPLINGS[r.u8() as usize % ALL_SAMPLINGS.len()];
    let interlaced = r.bool();
    let mtu = r.u16() as usize;
    let csrc_bytes = 4 * (r.u8() as usize % 16);
    let chunks = match r.u8() {
        0 => r.u32(),
        c => c as u32,
    };
    // Any dimensions are refused or accepted without work.
    let (w, h) = (r.u32(), r.u32());
    let any = Geometry {
        sampling,
        width: w,
        height: h,
        interlaced,
    };
    let dims_ok = (1..=MAX_DIMENSION).contains(&w) && (1..=MAX_DIMENSION).contains(&h);
    match FrameCursor::new(any, mtu, csrc_bytes, chunks) {
        Err(PlanError::BadDimensions) => assert!(!dims_ok),
        Err(PlanError::TooSmall) => assert!(dims_ok),
        Ok(_) => assert!(dims_ok),
    }
    // The frame planned: small enough to walk.
    let width = 1 + w as usize % 256;
    let height = (1 + h as usize % 64).min((MAX_PIXELS / width).max(1));
    let g = Geometry {
        sampling,
        width: width as u32,
        height: height as u32,
        interlaced,
    };
    let mut plan = FramePlan::default();
    if plan.plan(g, mtu, csrc_bytes, chunks).is_err() {
        return;
    }
    let pgroup = sampling.pgroup();
    let line_bytes = g.bytes_of(width);
    // Bytes sent per (line), in order of offset.
    let mut sent = vec![0usize; height];
    let mut field_ends = 0;
    for (i, pkt) in plan.packets.iter().enumerate() {
        let segs = &plan.segments[pkt.segments.clone()];
        assert!(!segs.is_empty());
        assert_eq!(pkt.header.len(), EXT_SEQ_LEN + LINE_HEADER_LEN * segs.len());
        assert_eq!(
            pkt.payload_len,
            segs.iter().map(|s| s.len as usize).sum::<usize>()
        );
        let size = RTP_HEADER_LEN + csrc_bytes + pkt.header.len() + pkt.payload_len;
        assert!(size <= mtu, "packet of {size} over MTU {mtu}");
        for s in segs {
            let line = s.line as usize;
            assert!(line < height && s.field == pkt.field);
            assert_eq!(line % g.yinc(), s.field as usize, "line in the wrong field");
            // Segments of a line follow each other from offset 0.
            assert_eq!(g.bytes_of(s.offset as usize), sent[line], "gap or overlap");
            assert!(s.len > 0);
            sent[line] += s.len as usize;
            assert!(sent[line] <= line_bytes);
            if sent[line] < line_bytes {
                assert_eq!(s.len as usize % pgroup, 0, "partial group mid-line");
            }
        }
        if pkt.marker {
            field_ends += 1;
        }
        let last = i + 1 == plan.packets.len();
        assert!(!last || (pkt.marker && pkt.list_end));
    }
    // One marker per field (a 1-line interlaced frame has no second field).
    assert_eq!(field_ends, g.fields().min(height), "one marker per field");
    for (line, &n) in sent.iter().enumerate() {
        // The lines each field starts a segment on (an I420 line carries the
        // next row too).
        let want = if line % g.yinc() < g.fields() {
            line_bytes
        } else {
            0
        };
        assert_eq!(n, want, "line {line} sent {n} of {want} bytes");
    }

    // Pack a frame of fuzzer bytes.
    let pad = r.u8() as usize % 8;
    let (lay, size) = layout(&g, pad);
    let fill = r.rest();
    let frame: Vec<u8> = (0..size)
        .map(|i| fill.get(i % fill.len().max(1)).copied().unwrap_or(i as u8))
        .collect();
    let mut packed = vec![0u8; plan.payload_bytes()];
    assert!(
        plan.pack_frame(&frame, &lay, &mut packed),
        "frame too small"
    );
    let mut ranges = Vec::new();
    if plan.contiguous_ranges(&lay, &mut ranges) {
        assert_eq!(ranges.len(), plan.packets.len());
        let mut at = 0;
        for (range, pkt) in ranges.iter().zip(&plan.packets) {
            assert_eq!(&frame[range.clone()], &packed[at..at + pkt.payload_len]);
            at += pkt.payload_len;
        }
    }
    if vraw::contiguous_in(&g, &lay) {
        assert!(plan.contiguous_ranges(&lay, &mut ranges));
    }

    // Receive: headers parse back to the planned segments; unpack into a
    // new frame and pack it again: the same bytes.
    let mut unpacked = vec![0u8; size];
    let mut got = Vec::new();
    let mut bad = None;
    let mut at = 0;
    for pkt in &plan.packets {
        let mut payload = plan.headers[pkt.header.clone()].to_vec();
        payload.extend_from_slice(&packed[at..at + pkt.payload_len]);
        at += pkt.payload_len;
        vraw::parse_payload(&g, &payload, &mut got, &mut bad).expect("own packet refused");
        assert_eq!(bad, None, "own segment refused");
        // A segment carrying nothing (a planar line narrower than one group)
        // has nothing to read back.
        let planned: Vec<_> = plan.segments[pkt.segments.clone()]
            .iter()
            .filter(|s| s.carried(sampling) > 0)
            .collect();
        assert_eq!(got.len(), planned.len());
        for (rs, s) in got.iter().zip(planned) {
            assert_eq!(
                (rs.segment.line, rs.segment.offset, rs.segment.field),
                (s.line, s.offset, s.field)
            );
            assert_eq!(rs.segment.len as usize, s.carried(sampling));
            assert_eq!(rs.data.len(), rs.segment.len as usize);
            assert!(vraw::unpack_segment(
                &g,
                &lay,
                &rs.segment,
                &payload[rs.data.clone()],
                &mut unpacked
            ));
        }
    }
    // Interlaced I420 lines share rows between fields: unpacking one field
    // overwrites the other's, so only the rest round-trips.
    if !(interlaced && sampling == Sampling::I420) {
        let mut repacked = vec![0u8; packed.len()];
        assert!(plan.pack_frame(&unpacked, &lay, &mut repacked));
        assert!(repacked == packed, "unpack then pack changed the payload");
    }
});
