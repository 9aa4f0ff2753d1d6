//! Opus payloader core (`core::opus`, RFC 7587): output caps from arbitrary
//! sink caps fields, and the DTX / talk-spurt marker decision over
//! arbitrary Opus packet sequences.
#![no_main]

use fuzz_input::Reader;
use gstrsrtpfast::core::opus::{
    pay_out_caps, PaySinkFields, TalkSpurt, DTX_MAX_LEN, ENCODING_DRAFT, ENCODING_MULTIOPUS,
    ENCODING_OPUS,
};
use libfuzzer_sys::fuzz_target;

fn int(r: &mut Reader) -> Option<i32> {
    match r.u8() % 3 {
        0 => None,
        1 => Some(r.u8() as i32),
        _ => Some(r.u32() as i32),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let sink = PaySinkFields {
        channels: int(&mut r),
        stream_count: int(&mut r),
        coupled_count: int(&mut r),
        channel_mapping: match r.u8() % 2 {
            0 => None,
            _ => Some((0..r.u8() % 16).map(|_| r.u8() as i32).collect()),
        },
        rate: int(&mut r),
    };
    let takes_opus = r.bool();
    let caps = pay_out_caps(&sink, takes_opus);
    let multi = sink.channels.is_some_and(|c| c > 2);
    let expected = match (multi, takes_opus) {
        (true, _) => ENCODING_MULTIOPUS,
        (false, true) => ENCODING_OPUS,
        (false, false) => ENCODING_DRAFT,
    };
    assert_eq!(caps.encoding_name, expected);
    let params = caps.fields.iter().filter(|(k, _)| *k == "encoding-params");
    assert_eq!(params.count(), 1, "one encoding-params");

    // Packets: (length, dtx property) pairs.
    let mut spurt = TalkSpurt::default();
    let mut marker_due = true;
    while !r.is_empty() {
        let len = r.u16() as usize % 1276;
        let dtx = r.bool();
        match spurt.frame(len, dtx) {
            None => {
                assert!(dtx && len <= DTX_MAX_LEN, "dropped a frame with audio");
                marker_due = true;
            }
            Some(marker) => {
                assert!(!(dtx && len <= DTX_MAX_LEN), "kept a DTX frame");
                assert_eq!(marker, std::mem::take(&mut marker_due), "marker");
            }
        }
        if len == 1275 {
            spurt.restart();
            marker_due = true;
        }
    }
});
