//! MP2T depacketizer (`core::mp2t::depay_cut`, RFC 2250) fed arbitrary RTP
//! packet sequences and skip-first-bytes: what it keeps is whole TS packets
//! inside the payload, after the skipped bytes.
#![no_main]

use fuzz_input::{rtp_packets, Reader};
use gstrsrtpfast::core::mp2t::{depay_cut, DepayCut, TS_PACKET_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let skip = match r.u8() % 4 {
        0 => 0,
        1 => r.u8() as usize,
        2 => r.u16() as usize,
        _ => r.u32() as usize,
    };
    for pkt in rtp_packets(&mut r) {
        let len = pkt.payload.len();
        match depay_cut(len, skip) {
            DepayCut::Empty => assert!(len <= skip),
            DepayCut::Short { len: n } => {
                assert!(n > 0 && n < TS_PACKET_LEN && n == len - skip);
            }
            DepayCut::Ts { range, leftover } => {
                assert_eq!(range.start, skip);
                assert!(range.end <= len && !range.is_empty());
                assert_eq!(range.len() % TS_PACKET_LEN, 0);
                assert_eq!(range.end + leftover, len);
                assert!(leftover < TS_PACKET_LEN);
                let _ = &pkt.payload[range];
            }
        }
    }
});
