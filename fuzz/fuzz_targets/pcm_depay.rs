//! Raw-audio depacketizer (L16/L24 depayloaders: `core::audio` caps
//! parsing, frame check, channel reorder and byte swap) fed arbitrary RTP
//! caps fields and packet sequences. A layout it accepts is usable; payloads
//! are converted the same at every SIMD level.
#![no_main]

use fuzz_input::{rtp_packets, simd_levels, Reader};
use gstrsrtpfast::core::audio::{
    check_payload, reorder_copy, AudioLayout, FieldValue, PayloadError, RtpAudioFields,
    SampleFormat, MAX_CHANNELS,
};
use gstrsrtpfast::core::byteswap;
use libfuzzer_sys::fuzz_target;

fn field<'a>(r: &mut Reader<'a>, strings: &'a [String]) -> Option<FieldValue<'a>> {
    match r.u8() % 4 {
        0 => None,
        1 => Some(FieldValue::Int(r.u16() as i16 as i64)),
        2 => Some(FieldValue::Int(r.u64() as i64)),
        _ => Some(FieldValue::Str(&strings[r.u8() as usize % strings.len()])),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let format = if r.bool() {
        SampleFormat::S24
    } else {
        SampleFormat::S16
    };
    // Strings the fields may take (numbers as text, channel-order names).
    let strings: Vec<String> = (0..3)
        .map(|_| String::from_utf8_lossy(r.chunk()).into_owned())
        .collect();
    let fields = RtpAudioFields {
        payload: match r.u8() {
            0..=127 => None,
            b => Some((b & 0x7f) as i32),
        },
        clock_rate: field(&mut r, &strings),
        encoding_params: field(&mut r, &strings),
        channels: field(&mut r, &strings),
        channel_order: match r.u8() % 3 {
            0 => None,
            i => Some(strings[i as usize].as_str()),
        },
    };
    let Ok(layout) = AudioLayout::from_rtp_caps(format, &fields) else {
        return;
    };
    assert!((1..=MAX_CHANNELS).contains(&layout.channels));
    assert!(layout.rate > 0);
    let frame = layout.frame_bytes();
    assert_eq!(frame, format.bytes() * layout.channels);
    if let Some(map) = &layout.reorder {
        // A permutation of the channels.
        let mut seen = vec![false; layout.channels];
        assert_eq!(map.len(), layout.channels);
        for &m in map {
            assert!(!std::mem::replace(&mut seen[m as usize], true));
        }
    }
    let sample = format.bytes();
    let levels = simd_levels();
    for pkt in rtp_packets(&mut r) {
        let frames = match check_payload(pkt.payload.len(), frame) {
            Ok(n) => n,
            Err(PayloadError::Empty) => {
                assert!(pkt.payload.is_empty());
                continue;
            }
            Err(PayloadError::PartialFrame { len, .. }) => {
                assert_ne!(len % frame, 0);
                continue;
            }
        };
        assert_eq!(frames * frame, pkt.payload.len());
        let mut want = vec![0u8; pkt.payload.len()];
        match &layout.reorder {
            Some(map) => {
                reorder_copy(pkt.payload, &mut want, sample, map, true);
                for (out, inp) in want
                    .chunks_exact(frame)
                    .zip(pkt.payload.chunks_exact(frame))
                {
                    for (k, &m) in map.iter().enumerate() {
                        let o = &out[k * sample..(k + 1) * sample];
                        let i = &inp[m as usize * sample..(m as usize + 1) * sample];
                        assert!(
                            o.iter().eq(i.iter().rev()),
                            "reorder moved the wrong sample"
                        );
                    }
                }
            }
            None => {
                match format {
                    SampleFormat::S16 => byteswap::swap16_copy_scalar(pkt.payload, &mut want),
                    SampleFormat::S24 => byteswap::swap24_copy_scalar(pkt.payload, &mut want),
                }
                for &level in &levels {
                    let mut got = vec![0u8; pkt.payload.len()];
                    match format {
                        SampleFormat::S16 => byteswap::swap16_copy(level, pkt.payload, &mut got),
                        SampleFormat::S24 => byteswap::swap24_copy(level, pkt.payload, &mut got),
                    }
                    assert_eq!(got, want, "{level:?} differs from scalar");
                }
            }
        }
    }
});
