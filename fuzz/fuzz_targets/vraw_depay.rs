//! Raw-video depacketizer (`core::vraw::parse_payload` / `unpack_segment`,
//! RFC 4175) fed arbitrary geometry and RTP packet sequences. Every segment
//! it keeps lies inside its payload and its frame line, and writing it into
//! a frame of that geometry stays inside the frame.
#![no_main]

use fuzz_input::vraw::layout;
use fuzz_input::{rtp_packets, Reader};
use gstrsrtpfast::core::vraw::{self, Geometry, Malformed, ALL_SAMPLINGS};
use libfuzzer_sys::fuzz_target;

/// Largest frame the target allocates (bigger ones are only parsed).
const MAX_FRAME: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let sampling = ALL_SAMPLINGS[r.u8() as usize % ALL_SAMPLINGS.len()];
    let interlaced = r.bool();
    let g = Geometry {
        sampling,
        width: 1 + r.u16() as u32 % vraw::MAX_DIMENSION,
        height: 1 + r.u16() as u32 % vraw::MAX_DIMENSION,
        interlaced,
    };
    let pad = r.u8() as usize % 8;
    let (lay, size) = layout(&g, pad);
    let mut frame = (size <= MAX_FRAME).then(|| vec![0u8; size]);
    let (width, height) = (g.width as usize, g.height as usize);
    let (pgroup, xinc) = (sampling.pgroup(), sampling.xinc());
    let mut segments = Vec::new();
    let mut bad = None;
    for pkt in rtp_packets(&mut r) {
        let payload = pkt.payload;
        match vraw::parse_payload(&g, payload, &mut segments, &mut bad) {
            Err(Malformed::Short) => {
                assert!(segments.is_empty());
                continue;
            }
            Err(e) => panic!("whole packet refused with {e}"),
            Ok(()) => {}
        }
        for rs in &segments {
            let s = rs.segment;
            let (line, offset) = (s.line as usize, s.offset as usize);
            assert!(rs.data.start >= vraw::EXT_SEQ_LEN + vraw::LINE_HEADER_LEN);
            assert!(rs.data.end <= payload.len(), "data past the payload");
            assert_eq!(rs.data.len(), s.len as usize);
            assert!(line < height && offset < width && offset % xinc == 0);
            let line_rest = g.bytes_of(width - offset);
            assert!(s.len > 0 && s.len as usize <= line_rest, "past the line");
            assert!(
                (s.len as usize).is_multiple_of(pgroup)
                    || (sampling.is_packed() && s.len as usize == line_rest)
            );
            if let Some(frame) = frame.as_mut() {
                assert!(
                    vraw::unpack_segment(&g, &lay, &s, &payload[rs.data.clone()], frame),
                    "valid segment {s:?} does not fit a {g:?} frame"
                );
            }
        }
    }
});
