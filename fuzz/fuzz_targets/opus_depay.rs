//! Opus depayloader core (`core::opus::depay_out_caps`, RFC 7587 fmtp and
//! MULTIOPUS fields) fed arbitrary field strings. What it accepts is
//! consistent: streams within channels, coupled within streams, every
//! mapping entry a channel.
#![no_main]

use fuzz_input::Reader;
use gstrsrtpfast::core::opus::{depay_out_caps, ENCODING_MULTIOPUS, ENCODING_OPUS};
use libfuzzer_sys::fuzz_target;

const FIELDS: [&str; 6] = [
    "encoding-params",
    "num_streams",
    "coupled_streams",
    "channel_mapping",
    "sprop-stereo",
    "sprop-maxcapturerate",
];

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let encoding = match r.u8() % 3 {
        0 => None,
        1 => Some(ENCODING_OPUS),
        _ => Some(ENCODING_MULTIOPUS),
    };
    let present = r.u8();
    let values: Vec<String> = FIELDS
        .iter()
        .map(|_| String::from_utf8_lossy(r.chunk()).into_owned())
        .collect();
    let field = |name: &str| {
        let i = FIELDS.iter().position(|f| *f == name)?;
        (present & (1 << i) != 0).then(|| values[i].as_str())
    };
    let Ok(caps) = depay_out_caps(encoding, field) else {
        assert_eq!(
            encoding,
            Some(ENCODING_MULTIOPUS),
            "only MULTIOPUS is refused"
        );
        return;
    };
    if encoding == Some(ENCODING_MULTIOPUS) {
        assert_eq!(caps.channel_mapping_family, 1);
        let channels = caps.channels.unwrap();
        let streams = caps.stream_count.unwrap();
        let coupled = caps.coupled_count.unwrap();
        assert!(channels <= 255 && streams <= channels && coupled <= streams);
        for &c in caps.channel_mapping.as_ref().unwrap() {
            assert!(c <= channels);
        }
    } else {
        assert_eq!(caps.channel_mapping_family, 0);
        assert!(matches!(caps.channels, None | Some(1) | Some(2)));
        assert!(caps.stream_count.is_none() && caps.channel_mapping.is_none());
    }
    if let Some(rate) = caps.rate {
        assert!(rate >= 0);
    }
});
