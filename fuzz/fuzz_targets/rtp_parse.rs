//! RTP header parser (`core::rtp`): any bytes. A packet it accepts has every
//! range inside it and in order, and writing its fixed header back gives the
//! same fields.
#![no_main]

use gstrsrtpfast::core::rtp::{self, HeaderFields, RTP_HEADER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(info) = rtp::parse(data) else {
        // Refused: only a packet that is short, not version 2, or whose
        // padding is bad; never a well-formed fixed header without flags.
        if data.len() >= RTP_HEADER_LEN && data[0] & 0xf0 == 0x80 && data[0] & 0x0f == 0 {
            panic!("plain v2 header refused: {:02x?}", &data[..RTP_HEADER_LEN]);
        }
        return;
    };
    assert!(data.len() >= RTP_HEADER_LEN);
    assert_eq!(data[0] >> 6, 2);
    assert_eq!(info.csrcs.start, RTP_HEADER_LEN);
    assert_eq!(info.csrc_count(), (data[0] & 0x0f) as usize);
    let mut end = info.csrcs.end;
    for i in 0..info.csrc_count() {
        let _ = info.csrc(data, i);
    }
    if let Some((_, ext)) = &info.extension {
        assert!(data[0] & 0x10 != 0);
        assert_eq!(ext.start, end + 4);
        assert!(ext.end <= data.len() && ext.len() % 4 == 0);
        end = ext.end;
    } else {
        assert!(data[0] & 0x10 == 0);
    }
    assert_eq!(info.payload.start, end);
    assert!(info.payload.start <= info.payload.end && info.payload.end <= data.len());
    let padding = data.len() - info.payload.end;
    if data[0] & 0x20 != 0 {
        assert!(padding >= 1 && padding == data[data.len() - 1] as usize);
    } else {
        assert_eq!(padding, 0);
    }

    // Header writer: the whole header (CSRCs and extension too) round-trips
    // through the parser.
    let csrcs: Vec<u32> = (0..info.csrc_count()).map(|i| info.csrc(data, i)).collect();
    let extension = match &info.extension {
        Some((_, ext)) => &data[ext.start - 4..ext.end],
        None => &[][..],
    };
    let fields = HeaderFields {
        pt: info.payload_type,
        ssrc: info.ssrc,
        timestamp: info.timestamp,
        csrc: &csrcs,
        extension,
    };
    let mut out = vec![0u8; fields.len()];
    assert_eq!(fields.write(&mut out, info.marker, info.seq), out.len());
    assert_eq!(&out[1..], &data[1..info.payload.start]);
    let back = rtp::parse(&out).expect("written header parses");
    assert_eq!(
        (
            back.marker,
            back.payload_type,
            back.seq,
            back.timestamp,
            back.ssrc
        ),
        (
            info.marker,
            info.payload_type,
            info.seq,
            info.timestamp,
            info.ssrc
        )
    );
    assert_eq!(back.csrcs, info.csrcs);
    assert_eq!(back.payload, out.len()..out.len());
});
