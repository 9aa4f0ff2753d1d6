//! Raw PCM audio over RTP (L16, RFC 3551; L24, RFC 3190): the RFC 3551
//! channel orders, what the RTP caps fields mean for the output layout, the
//! per-frame channel reordering the stock elements apply, and payload
//! validation. Shared by the payloaders and depayloaders; no GObject here.
//!
//! Channel positions use GStreamer's `GstAudioChannelPosition` numbering so
//! the element layer can hand them over unchanged (a positioned channel's
//! value is its bit in a `channel-mask`).

use std::fmt;

/// A channel position (the `GstAudioChannelPosition` values the RFC 3551
/// tables use).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(i32)]
pub enum ChannelPosition {
    /// Unpositioned channel.
    None = -3,
    Mono = -2,
    FrontLeft = 0,
    FrontRight = 1,
    FrontCenter = 2,
    Lfe1 = 3,
    RearLeft = 4,
    RearRight = 5,
    SideLeft = 10,
    SideRight = 11,
}

impl ChannelPosition {
    /// The position's bit in a GStreamer `channel-mask` (None for MONO and
    /// NONE, which have no bit).
    pub fn bit(self) -> Option<u32> {
        let v = self as i32;
        (v >= 0).then_some(v as u32)
    }
}

use ChannelPosition as P;

/// One entry of the RFC 3551 channel-order table: the `channel-order` name
/// (None for the default layout of that channel count) and the position of
/// each channel in RTP (wire) order.
#[derive(Debug, PartialEq, Eq)]
pub struct ChannelOrder {
    pub name: Option<&'static str>,
    pub positions: &'static [ChannelPosition],
}

/// RFC 3551 §4.1 / RFC 3555 channel orders, approximated with GStreamer
/// positions the way gst-plugins-good's `gstrtpchannels` does (same entries,
/// same lookup order: named orders first, then the default per count).
pub static CHANNEL_ORDERS: &[ChannelOrder] = &[
    ChannelOrder {
        name: Some("DV.LRLsRs"),
        positions: &[P::FrontLeft, P::FrontRight, P::SideLeft, P::SideRight],
    },
    ChannelOrder {
        name: Some("DV.LRCS"),
        positions: &[P::FrontLeft, P::FrontRight, P::FrontCenter, P::Lfe1],
    },
    ChannelOrder {
        name: Some("DV.LRCWo"),
        positions: &[P::FrontLeft, P::FrontRight, P::FrontCenter, P::Lfe1],
    },
    ChannelOrder {
        name: Some("DV.LRLsRsC"),
        positions: &[
            P::FrontLeft,
            P::FrontRight,
            P::SideLeft,
            P::SideRight,
            P::FrontCenter,
        ],
    },
    ChannelOrder {
        name: Some("DV.LRLsRsCS"),
        positions: &[
            P::FrontLeft,
            P::FrontRight,
            P::SideLeft,
            P::SideRight,
            P::FrontCenter,
            P::Lfe1,
        ],
    },
    ChannelOrder {
        name: Some("DV.LmixRmixTWoQ1Q2"),
        positions: &[
            P::FrontLeft,
            P::FrontRight,
            P::FrontCenter,
            P::Lfe1,
            P::SideLeft,
            P::SideRight,
        ],
    },
    ChannelOrder {
        name: Some("DV.LRCWoLsRsLmixRmix"),
        positions: SURROUND_8,
    },
    ChannelOrder {
        name: Some("DV.LRCWoLs1Rs1Ls2Rs2"),
        positions: SURROUND_8,
    },
    ChannelOrder {
        name: Some("DV.LRCWoLsRsLcRc"),
        positions: SURROUND_8,
    },
    // Defaults (RFC 3551 §4.1 for 1..6 channels).
    ChannelOrder {
        name: None,
        positions: &[P::Mono],
    },
    ChannelOrder {
        name: None,
        positions: &[P::FrontLeft, P::FrontRight],
    },
    ChannelOrder {
        name: None,
        positions: &[P::FrontLeft, P::FrontRight, P::FrontCenter],
    },
    ChannelOrder {
        name: None,
        positions: &[P::FrontLeft, P::FrontCenter, P::FrontRight, P::Lfe1],
    },
    ChannelOrder {
        name: None,
        positions: &[
            P::FrontLeft,
            P::FrontRight,
            P::FrontCenter,
            P::SideLeft,
            P::SideRight,
        ],
    },
    ChannelOrder {
        name: None,
        positions: &[
            P::SideLeft,
            P::FrontLeft,
            P::FrontCenter,
            P::SideRight,
            P::FrontRight,
            P::Lfe1,
        ],
    },
];

const SURROUND_8: &[ChannelPosition] = &[
    P::FrontLeft,
    P::FrontRight,
    P::FrontCenter,
    P::Lfe1,
    P::SideLeft,
    P::SideRight,
    P::RearLeft,
    P::RearRight,
];

impl ChannelOrder {
    pub fn channels(&self) -> usize {
        self.positions.len()
    }

    /// The `channel-mask` of these positions (0 for mono).
    pub fn mask(&self) -> u64 {
        positions_mask(self.positions)
    }

    /// The positions in GStreamer's canonical order (ascending bit), as the
    /// stock depayloaders announce them.
    pub fn canonical_positions(&self) -> Vec<ChannelPosition> {
        let mut v = self.positions.to_vec();
        if !(v.len() == 1 && v[0] == P::Mono) {
            v.sort();
        }
        v
    }
}

/// The `channel-mask` bits of `positions` (MONO/NONE have none).
pub fn positions_mask(positions: &[ChannelPosition]) -> u64 {
    positions
        .iter()
        .filter_map(|p| p.bit())
        .fold(0, |m, b| m | (1u64 << b))
}

/// The order for `channels` and a `channel-order` caps string, looked up as
/// GStreamer ≥ 1.22.7 does: the first entry with that channel count whose
/// name matches (ASCII case-insensitively), where a default entry (no name)
/// or no `order` given matches any. None: no known layout (7 channels, more
/// than 8, or an unknown name for 8). (1.22.0–1.22.6, Debian 12's, compare
/// inverted and take the first entry whose name differs: a bug, not
/// followed.)
pub fn order_by_name(channels: usize, order: Option<&str>) -> Option<&'static ChannelOrder> {
    CHANNEL_ORDERS
        .iter()
        .filter(|o| o.channels() == channels)
        .find(|o| match (o.name, order) {
            (Some(name), Some(order)) => name.eq_ignore_ascii_case(order),
            _ => true,
        })
}

/// The order whose positions are exactly `positions` in some order (what a
/// payloader announces for its input layout): the first matching entry,
/// named orders first.
pub fn order_by_positions(positions: &[ChannelPosition]) -> Option<&'static ChannelOrder> {
    CHANNEL_ORDERS
        .iter()
        .filter(|o| o.channels() == positions.len())
        .find(|o| positions.iter().all(|p| o.positions.contains(p)))
}

/// Positions of an `audio/x-raw` `channel-mask` (ascending bit); MONO for
/// one channel without a mask. None when the mask does not name `channels`
/// positions.
pub fn positions_from_mask(channels: usize, mask: u64) -> Option<Vec<ChannelPosition>> {
    const BY_BIT: [(u32, ChannelPosition); 8] = [
        (0, P::FrontLeft),
        (1, P::FrontRight),
        (2, P::FrontCenter),
        (3, P::Lfe1),
        (4, P::RearLeft),
        (5, P::RearRight),
        (10, P::SideLeft),
        (11, P::SideRight),
    ];
    if channels == 1 && mask == 0 {
        return Some(vec![P::Mono]);
    }
    if mask.count_ones() as usize != channels {
        return None;
    }
    let v: Vec<_> = BY_BIT
        .iter()
        .filter(|(b, _)| mask & (1u64 << b) != 0)
        .map(|&(_, p)| p)
        .collect();
    // A bit outside the RFC 3551 tables: no entry can match anyway.
    (v.len() == channels).then_some(v)
}

/// Sample formats carried by RTP raw audio (big-endian on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleFormat {
    /// L16: 16-bit signed.
    S16,
    /// L24: 24-bit signed, packed.
    S24,
}

impl SampleFormat {
    pub fn bytes(self) -> usize {
        match self {
            SampleFormat::S16 => 2,
            SampleFormat::S24 => 3,
        }
    }

    /// `audio/x-raw` format names: (big-endian, little-endian).
    pub fn format_names(self) -> (&'static str, &'static str) {
        match self {
            SampleFormat::S16 => ("S16BE", "S16LE"),
            SampleFormat::S24 => ("S24BE", "S24LE"),
        }
    }
}

/// The RTP caps fields that describe raw audio, as found (strings or ints:
/// the stock elements accept both, reading strings like C `atoi`).
#[derive(Clone, Debug, Default)]
pub struct RtpAudioFields<'a> {
    pub payload: Option<i32>,
    pub clock_rate: Option<FieldValue<'a>>,
    pub encoding_params: Option<FieldValue<'a>>,
    pub channels: Option<FieldValue<'a>>,
    pub channel_order: Option<&'a str>,
}

/// A caps field that may be an int or a string.
#[derive(Clone, Copy, Debug)]
pub enum FieldValue<'a> {
    Int(i64),
    Str(&'a str),
}

impl FieldValue<'_> {
    fn value(self) -> i64 {
        match self {
            FieldValue::Int(v) => v,
            FieldValue::Str(s) => atoi(s),
        }
    }
}

/// C `atoi` without its undefined overflow: leading white space, optional
/// sign, decimal digits; 0 when there are none. Saturates.
pub fn atoi(s: &str) -> i64 {
    let s = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        v = v.saturating_mul(10).saturating_add((b - b'0') as i64);
    }
    if neg {
        -v
    } else {
        v
    }
}

/// Static payload types of RFC 3551 for L16 (44.1 kHz).
const PT_L16_STEREO: i32 = 10;
const PT_L16_MONO: i32 = 11;

/// Most channels we accept (GStreamer's position arrays hold 64).
pub const MAX_CHANNELS: usize = 64;

/// What the output `audio/x-raw` looks like and how payload bytes map to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioLayout {
    pub format: SampleFormat,
    pub rate: u32,
    pub channels: usize,
    /// `channel-mask` for the caps; None = no field (mono).
    pub channel_mask: Option<u64>,
    /// No known channel order: the channels are unpositioned (mask 0).
    pub unpositioned: bool,
    /// The stock per-frame channel shuffle: output channel `k` takes input
    /// channel `reorder[k]`. None = bytes pass through unchanged.
    pub reorder: Option<Vec<u8>>,
}

/// A caps field that makes the stream unusable (its name for the
/// not-negotiated message).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapsError {
    pub field: &'static str,
    pub reason: String,
}

impl fmt::Display for CapsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl AudioLayout {
    /// Bytes per frame (one sample of every channel).
    pub fn frame_bytes(&self) -> usize {
        self.format.bytes() * self.channels
    }

    /// The output layout the stock depayloader derives from RTP caps:
    /// clock-rate (L16's static payload types 10/11 imply 44.1 kHz stereo /
    /// mono), channels from `encoding-params`, else `channels`, else 1;
    /// positions from `channel-order` (unknown order: unpositioned).
    pub fn from_rtp_caps(
        format: SampleFormat,
        fields: &RtpAudioFields<'_>,
    ) -> Result<AudioLayout, CapsError> {
        let (mut channels, mut rate) = (0i64, 0i64);
        if format == SampleFormat::S16 {
            match fields.payload {
                Some(PT_L16_STEREO) => (channels, rate) = (2, 44100),
                Some(PT_L16_MONO) => (channels, rate) = (1, 44100),
                _ => {}
            }
        }
        if let Some(v) = fields.clock_rate {
            rate = v.value();
        }
        if rate <= 0 || rate > i32::MAX as i64 {
            return Err(CapsError {
                field: "clock-rate",
                reason: if rate == 0 {
                    "missing or zero".into()
                } else {
                    format!("invalid value {rate}")
                },
            });
        }
        let mut field = "encoding-params";
        if let Some(v) = fields.encoding_params {
            channels = v.value();
        }
        if channels == 0 {
            field = "channels";
            if let Some(v) = fields.channels {
                channels = v.value();
            }
            if channels == 0 {
                channels = 1;
            }
        }
        if channels < 0 || channels as usize > MAX_CHANNELS {
            return Err(CapsError {
                field,
                reason: format!("{channels} channels (1..={MAX_CHANNELS} supported)"),
            });
        }
        let channels = channels as usize;
        let Some(order) = order_by_name(channels, fields.channel_order) else {
            return Ok(AudioLayout {
                format,
                rate: rate as u32,
                channels,
                channel_mask: Some(0),
                unpositioned: true,
                reorder: None,
            });
        };
        let canonical = order.canonical_positions();
        Ok(AudioLayout {
            format,
            rate: rate as u32,
            channels,
            channel_mask: (order.positions != [P::Mono]).then(|| order.mask()),
            unpositioned: false,
            reorder: reorder_map(&canonical, order.positions),
        })
    }
}

/// The shuffle the stock depayloaders apply to each frame: they announce the
/// canonical order and call `gst_audio_buffer_reorder_channels(from =
/// canonical, to = wire order)`, which moves the sample in slot `j` to the
/// slot where `to` holds `from[j]`. Returned as "output slot k takes input
/// slot map[k]"; None when nothing moves.
fn reorder_map(from: &[ChannelPosition], to: &[ChannelPosition]) -> Option<Vec<u8>> {
    if from == to {
        return None;
    }
    let mut map = vec![0u8; to.len()];
    for (j, p) in from.iter().enumerate() {
        let k = to.iter().position(|q| q == p)?;
        map[k] = j as u8;
    }
    Some(map)
}

/// Why a payload cannot be output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadError {
    Empty,
    /// Not a whole number of frames.
    PartialFrame {
        len: usize,
        frame_bytes: usize,
    },
}

/// Frames in a payload of `len` bytes, or why it must be dropped.
pub fn check_payload(len: usize, frame_bytes: usize) -> Result<usize, PayloadError> {
    if len == 0 {
        return Err(PayloadError::Empty);
    }
    if frame_bytes == 0 || !len.is_multiple_of(frame_bytes) {
        return Err(PayloadError::PartialFrame { len, frame_bytes });
    }
    Ok(len / frame_bytes)
}

/// Copy whole frames of `sample_bytes`-byte samples from `src` to `dst`,
/// output channel `k` of every frame taking input channel `map[k]`, and with
/// `swap` reversing the bytes of each sample (big- to little-endian).
/// Processes `min(src, dst) / frame` frames.
pub fn reorder_copy(src: &[u8], dst: &mut [u8], sample_bytes: usize, map: &[u8], swap: bool) {
    let frame = sample_bytes * map.len();
    if frame == 0 {
        return;
    }
    for (d, s) in dst.chunks_exact_mut(frame).zip(src.chunks_exact(frame)) {
        for (k, &from) in map.iter().enumerate() {
            let out = &mut d[k * sample_bytes..(k + 1) * sample_bytes];
            let at = from as usize * sample_bytes;
            out.copy_from_slice(&s[at..at + sample_bytes]);
            if swap {
                out.reverse();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(
        payload: Option<i32>,
        rate: Option<i64>,
        params: Option<FieldValue<'a>>,
        order: Option<&'a str>,
    ) -> RtpAudioFields<'a> {
        RtpAudioFields {
            payload,
            clock_rate: rate.map(FieldValue::Int),
            encoding_params: params,
            channels: None,
            channel_order: order,
        }
    }

    #[test]
    fn lookup_by_name_like_gstreamer_1_22_7() {
        // No name: first entry of that count (a named one for 4).
        assert_eq!(order_by_name(4, None).unwrap().name, Some("DV.LRLsRs"));
        assert_eq!(
            order_by_name(4, Some("dv.lrcs")).unwrap().name,
            Some("DV.LRCS")
        );
        // Unknown name: the count's default, when there is one.
        assert_eq!(order_by_name(4, Some("nope")).unwrap().name, None);
        assert_eq!(
            order_by_name(1, Some("nope")).unwrap().positions,
            &[P::Mono]
        );
        assert!(order_by_name(8, Some("nope")).is_none());
        assert_eq!(
            order_by_name(8, None).unwrap().name,
            Some("DV.LRCWoLsRsLmixRmix")
        );
        assert!(order_by_name(7, None).is_none());
        assert!(order_by_name(0, None).is_none());
    }

    #[test]
    fn lookup_by_positions_and_masks() {
        let stereo = positions_from_mask(2, 0x3).unwrap();
        assert_eq!(order_by_positions(&stereo).unwrap().positions.len(), 2);
        let mono = positions_from_mask(1, 0).unwrap();
        assert_eq!(order_by_positions(&mono).unwrap().positions, &[P::Mono]);
        // FL FR FC LFE: the first such named entry.
        let quad = positions_from_mask(4, 0xf).unwrap();
        assert_eq!(order_by_positions(&quad).unwrap().name, Some("DV.LRCS"));
        let five = positions_from_mask(5, 0x3 | 0x4 | (3 << 10)).unwrap();
        assert_eq!(order_by_positions(&five).unwrap().name, Some("DV.LRLsRsC"));
        assert!(positions_from_mask(2, 0x7).is_none());
        assert!(positions_from_mask(1, 1 << 20).is_none());
        assert_eq!(
            order_by_name(6, Some("DV.LRLsRsCS")).unwrap().mask(),
            0x3 | 0x4 | 0x8 | (3 << 10)
        );
    }

    #[test]
    fn layout_from_caps() {
        let l = AudioLayout::from_rtp_caps(
            SampleFormat::S16,
            &fields(Some(96), Some(48000), Some(FieldValue::Str("2")), None),
        )
        .unwrap();
        assert_eq!((l.rate, l.channels, l.channel_mask), (48000, 2, Some(3)));
        assert_eq!(l.reorder, None);
        assert_eq!(l.frame_bytes(), 4);
        // Static payload 10: 44.1 kHz stereo unless the caps say otherwise.
        let l = AudioLayout::from_rtp_caps(SampleFormat::S16, &fields(Some(10), None, None, None))
            .unwrap();
        assert_eq!((l.rate, l.channels), (44100, 2));
        let l = AudioLayout::from_rtp_caps(SampleFormat::S16, &fields(Some(11), None, None, None))
            .unwrap();
        assert_eq!((l.rate, l.channels, l.channel_mask), (44100, 1, None));
        // Not for L24.
        let e = AudioLayout::from_rtp_caps(SampleFormat::S24, &fields(Some(10), None, None, None))
            .unwrap_err();
        assert_eq!(e.field, "clock-rate");
        // `channels` when encoding-params is missing; 1 when both are.
        let mut f = fields(None, Some(8000), None, None);
        f.channels = Some(FieldValue::Int(2));
        assert_eq!(
            AudioLayout::from_rtp_caps(SampleFormat::S24, &f)
                .unwrap()
                .channels,
            2
        );
        f.channels = None;
        assert_eq!(
            AudioLayout::from_rtp_caps(SampleFormat::S24, &f)
                .unwrap()
                .channels,
            1
        );
        // Unknown 7-channel order: unpositioned, mask 0.
        let l = AudioLayout::from_rtp_caps(
            SampleFormat::S16,
            &fields(None, Some(48000), Some(FieldValue::Int(7)), None),
        )
        .unwrap();
        assert!(l.unpositioned);
        assert_eq!(l.channel_mask, Some(0));
        for bad in [-1i64, 65] {
            let e = AudioLayout::from_rtp_caps(
                SampleFormat::S16,
                &fields(None, Some(48000), Some(FieldValue::Int(bad)), None),
            )
            .unwrap_err();
            assert_eq!(e.field, "encoding-params");
        }
        let e = AudioLayout::from_rtp_caps(SampleFormat::S16, &fields(None, Some(-5), None, None))
            .unwrap_err();
        assert_eq!(e.field, "clock-rate");
    }

    #[test]
    fn reorder_matches_the_stock_shuffle() {
        // DV.LRLsRsC: wire FL FR SL SR FC, canonical FL FR FC SL SR.
        // Stock: canonical slot j's sample goes where the wire order has
        // canonical[j]: slot0->0, 1->1, FC(2)->4, SL(3)->2, SR(4)->3.
        let l = AudioLayout::from_rtp_caps(
            SampleFormat::S16,
            &fields(
                None,
                Some(48000),
                Some(FieldValue::Int(5)),
                Some("DV.LRLsRsC"),
            ),
        )
        .unwrap();
        let map = l.reorder.clone().unwrap();
        assert_eq!(map, vec![0, 1, 3, 4, 2]);
        let src: Vec<u8> = (0..20).collect();
        let mut dst = vec![0u8; 20];
        reorder_copy(&src, &mut dst, 2, &map, false);
        assert_eq!(
            dst,
            [0, 1, 2, 3, 6, 7, 8, 9, 4, 5, 10, 11, 12, 13, 16, 17, 18, 19, 14, 15]
        );
        let mut swapped = vec![0u8; 20];
        reorder_copy(&src, &mut swapped, 2, &map, true);
        for (a, b) in dst.chunks(2).zip(swapped.chunks(2)) {
            assert_eq!([a[1], a[0]], [b[0], b[1]]);
        }
        // Defaults that are already canonical do not move.
        for ch in [1, 2, 3] {
            let l = AudioLayout::from_rtp_caps(
                SampleFormat::S24,
                &fields(None, Some(48000), Some(FieldValue::Int(ch)), None),
            )
            .unwrap();
            assert_eq!(l.reorder, None, "{ch} channels");
        }
    }

    #[test]
    fn payload_checks() {
        assert_eq!(check_payload(0, 4), Err(PayloadError::Empty));
        assert_eq!(
            check_payload(6, 4),
            Err(PayloadError::PartialFrame {
                len: 6,
                frame_bytes: 4
            })
        );
        assert_eq!(check_payload(8, 4), Ok(2));
        assert!(check_payload(3, 0).is_err());
    }

    #[test]
    fn atoi_like_c() {
        assert_eq!(atoi(" 42x"), 42);
        assert_eq!(atoi("-3"), -3);
        assert_eq!(atoi("abc"), 0);
        assert_eq!(atoi(""), 0);
        assert_eq!(atoi("99999999999999999999999"), i64::MAX);
    }
}
