//! Opus over RTP (RFC 7587): the caps/fmtp mapping of both directions and
//! the payloader's DTX/marker decision, as rtpopuspay / rtpopusdepay
//! (GStreamer 1.22) make them. No GObject here: the elements turn caps into
//! these plain values and back.

/// RTP clock rate of Opus, whatever the sampling rate (RFC 7587 §4.1).
pub const CLOCK_RATE: u32 = 48000;

/// `encoding-name` for mono/stereo (RFC 7587).
pub const ENCODING_OPUS: &str = "OPUS";
/// `encoding-name` of the pre-RFC draft (see [`pay_out_caps`]).
pub const ENCODING_DRAFT: &str = "X-GST-OPUS-DRAFT-SPITTKA-00";
/// `encoding-name` for more than two channels (libwebrtc's multiopus).
pub const ENCODING_MULTIOPUS: &str = "MULTIOPUS";

/// Opus packets of at most this many bytes carry no audio: the TOC byte
/// (and a frame-count byte) of a DTX frame (RFC 6716 §3.2.1).
pub const DTX_MAX_LEN: usize = 2;

/// What the payloader reads from its sink caps (`audio/x-opus`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaySinkFields {
    pub channels: Option<i32>,
    pub stream_count: Option<i32>,
    pub coupled_count: Option<i32>,
    /// `channel-mapping` when it is an array (of ints).
    pub channel_mapping: Option<Vec<i32>>,
    pub rate: Option<i32>,
}

/// The payloader's output caps: encoding name and the string fields after
/// media/clock-rate/encoding-name, in the order the stock payloader sets
/// them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayOutCaps {
    pub encoding_name: &'static str,
    pub fields: Vec<(&'static str, String)>,
}

/// Output caps for `sink`. `downstream_takes_opus`: what the stock
/// payloader's check of the first allowed downstream structure says (its
/// `encoding-name` against OPUS with `gst_value_can_intersect`, which in
/// 1.22 only compares the value types: a string always "can"); false means
/// the draft name for mono/stereo.
pub fn pay_out_caps(sink: &PaySinkFields, downstream_takes_opus: bool) -> PayOutCaps {
    let mut encoding_name = if downstream_takes_opus {
        ENCODING_OPUS
    } else {
        ENCODING_DRAFT
    };
    let mut fields = Vec::new();
    // No `channels` in the caps: stereo, without sprop-stereo.
    let mut channels = 2;
    if let Some(c) = sink.channels {
        channels = c;
        if c > 2 {
            // Channel-mapping family 1: libwebrtc only knows it as MULTIOPUS.
            encoding_name = ENCODING_MULTIOPUS;
            if let Some(n) = sink.stream_count {
                fields.push(("num_streams", n.to_string()));
            }
            if let Some(n) = sink.coupled_count {
                fields.push(("coupled_streams", n.to_string()));
            }
            if let Some(map) = &sink.channel_mapping {
                let list: Vec<String> = map.iter().map(i32::to_string).collect();
                fields.push(("channel_mapping", list.join(",")));
            }
        } else {
            let stereo = if c == 2 { "1" } else { "0" };
            fields.push(("sprop-stereo", stereo.to_owned()));
            // RFC 7587: encoding-params is always 2 for OPUS.
            channels = 2;
        }
    }
    fields.push(("encoding-params", channels.to_string()));
    if let Some(rate) = sink.rate {
        fields.push(("sprop-maxcapturerate", rate.to_string()));
    }
    PayOutCaps {
        encoding_name,
        fields,
    }
}

/// The payloader's per-buffer decision: DTX frames are dropped when `dtx`
/// is on, and the first packet of a talk spurt carries the marker bit
/// (RFC 3551 §4.1): the first packet after start and the first after a
/// dropped DTX frame, as the stock payloader does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TalkSpurt {
    marker_pending: bool,
}

impl Default for TalkSpurt {
    fn default() -> Self {
        TalkSpurt {
            marker_pending: true,
        }
    }
}

impl TalkSpurt {
    /// A new stream (READY→PAUSED): the next packet starts a talk spurt.
    pub fn restart(&mut self) {
        self.marker_pending = true;
    }

    /// An input buffer of `len` bytes: `None` = drop it (DTX), else send it
    /// with this marker bit.
    pub fn frame(&mut self, len: usize, dtx: bool) -> Option<bool> {
        if dtx && len <= DTX_MAX_LEN {
            self.marker_pending = true;
            return None;
        }
        Some(std::mem::take(&mut self.marker_pending))
    }
}

/// Why the depayloader refuses its sink caps: the offending field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FmtpError {
    /// A field MULTIOPUS requires is absent or not a string.
    Missing(&'static str),
    /// A field whose value is not a number in range.
    Invalid(&'static str, String),
}

impl std::fmt::Display for FmtpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FmtpError::Missing(field) => write!(
                f,
                "encoding-name MULTIOPUS requires a string field {field} \
                 (and encoding-params, num_streams, coupled_streams, channel_mapping)"
            ),
            FmtpError::Invalid(field, value) => write!(f, "invalid {field} value '{value}'"),
        }
    }
}

/// The depayloader's `audio/x-opus` output caps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DepayOutCaps {
    pub channel_mapping_family: i32,
    pub channels: Option<i32>,
    pub stream_count: Option<i32>,
    pub coupled_count: Option<i32>,
    pub channel_mapping: Option<Vec<i32>>,
    pub rate: Option<i32>,
    /// A value the stock depayloader only warns about (and ignores).
    pub ignored: Option<FmtpError>,
}

/// Output caps from the sink caps' string fields (`field` returns a field's
/// value when it is a string). Numbers are read the way the stock
/// depayloader reads them (C `strtoull`/`strtoul`: leading white space and a
/// sign allowed, the rest must be digits; the value then cast to a C int).
pub fn depay_out_caps<'a>(
    encoding_name: Option<&str>,
    field: impl Fn(&str) -> Option<&'a str>,
) -> Result<DepayOutCaps, FmtpError> {
    let mut out = DepayOutCaps::default();
    if encoding_name == Some(ENCODING_MULTIOPUS) {
        let get = |name: &'static str| field(name).ok_or(FmtpError::Missing(name));
        let encoding_params = get("encoding-params")?;
        let num_streams = get("num_streams")?;
        let coupled_streams = get("coupled_streams")?;
        let channel_mapping = get("channel_mapping")?;
        out.channel_mapping_family = 1;
        let number = |name: &'static str, s: &str, max: i32| match c_strtoull(s) {
            // Compared as the C ints the stock element stores them in.
            Some(v) if (v as i32) <= max => Ok(v as i32),
            _ => Err(FmtpError::Invalid(name, s.to_owned())),
        };
        let channels = number("encoding-params", encoding_params, 255)?;
        let streams = number("num_streams", num_streams, channels)?;
        let coupled = number("coupled_streams", coupled_streams, streams)?;
        let mapping = channel_mapping
            .split(',')
            .map(|c| number("channel_mapping", c, channels))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| FmtpError::Invalid("channel_mapping", channel_mapping.to_owned()))?;
        out.channels = Some(channels);
        out.stream_count = Some(streams);
        out.coupled_count = Some(coupled);
        // g_strsplit of "" is no element at all.
        out.channel_mapping = Some(if channel_mapping.is_empty() {
            Vec::new()
        } else {
            mapping
        });
    } else {
        out.channel_mapping_family = 0;
        out.channels = match field("sprop-stereo") {
            Some("0") => Some(1),
            Some("1") => Some(2),
            Some(other) => {
                out.ignored = Some(FmtpError::Invalid("sprop-stereo", other.to_owned()));
                None
            }
            // sprop-stereo=0 is the default, but only says the signal can
            // be downmixed: it may be stereo at times.
            None => Some(2),
        };
    }
    if let Some(rate) = field("sprop-maxcapturerate") {
        match c_strtoul(rate) {
            Some(r) if r <= i32::MAX as u64 => out.rate = Some(r as i32),
            _ => out.ignored = Some(FmtpError::Invalid("sprop-maxcapturerate", rate.to_owned())),
        }
    }
    Ok(out)
}

/// C's `isspace` in the C locale.
fn c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Decimal `strtoull`/`strtoul` (64-bit `unsigned long`) over the whole of
/// `s`: leading white space, an optional sign, digits (a negative value
/// wraps, overflow saturates). None when anything follows the digits.
/// Without digits C leaves the end pointer at the start, so only an empty
/// string passes (as 0).
fn c_strtou64(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && c_space(b[i]) {
        i += 1;
    }
    let neg = match b.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits = i;
    let mut v: u64 = 0;
    let mut overflow = false;
    while i < b.len() && b[i].is_ascii_digit() {
        match v
            .checked_mul(10)
            .and_then(|v| v.checked_add((b[i] - b'0') as u64))
        {
            Some(n) => v = n,
            None => overflow = true,
        }
        i += 1;
    }
    if i == digits {
        // No number: the end pointer is the start of the string.
        return s.is_empty().then_some(0);
    }
    if i != b.len() {
        return None;
    }
    Some(match (overflow, neg) {
        (true, _) => u64::MAX,
        (false, true) => v.wrapping_neg(),
        (false, false) => v,
    })
}

/// `g_ascii_strtoull(s, &end, 10)` with `*end == '\0'` required.
fn c_strtoull(s: &str) -> Option<u64> {
    c_strtou64(s)
}

/// `strtoul(s, &end, 10)` with `*end == '\0'` required (LP64).
fn c_strtoul(s: &str) -> Option<u64> {
    c_strtou64(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stereo(ch: i32) -> PaySinkFields {
        PaySinkFields {
            channels: Some(ch),
            rate: Some(48000),
            ..Default::default()
        }
    }

    #[test]
    fn pay_mono_stereo_and_no_channels() {
        let mono = pay_out_caps(&stereo(1), true);
        assert_eq!(mono.encoding_name, "OPUS");
        assert_eq!(
            mono.fields,
            vec![
                ("sprop-stereo", "0".to_owned()),
                ("encoding-params", "2".to_owned()),
                ("sprop-maxcapturerate", "48000".to_owned()),
            ]
        );
        let st = pay_out_caps(&stereo(2), false);
        assert_eq!(st.encoding_name, ENCODING_DRAFT);
        assert_eq!(st.fields[0], ("sprop-stereo", "1".to_owned()));
        let none = pay_out_caps(&PaySinkFields::default(), true);
        assert_eq!(none.fields, vec![("encoding-params", "2".to_owned())]);
    }

    #[test]
    fn pay_multiopus() {
        let sink = PaySinkFields {
            channels: Some(6),
            stream_count: Some(4),
            coupled_count: Some(2),
            channel_mapping: Some(vec![0, 4, 1, 2, 3, 5]),
            rate: None,
        };
        // MULTIOPUS whatever downstream said about OPUS.
        for takes_opus in [true, false] {
            let out = pay_out_caps(&sink, takes_opus);
            assert_eq!(out.encoding_name, "MULTIOPUS");
            assert_eq!(
                out.fields,
                vec![
                    ("num_streams", "4".to_owned()),
                    ("coupled_streams", "2".to_owned()),
                    ("channel_mapping", "0,4,1,2,3,5".to_owned()),
                    ("encoding-params", "6".to_owned()),
                ]
            );
        }
    }

    #[test]
    fn talk_spurt_marks_first_packet_and_after_dtx() {
        let mut t = TalkSpurt::default();
        let sent: Vec<_> = [100, 1, 2, 50, 60, 0, 3]
            .iter()
            .map(|&len| t.frame(len, true))
            .collect();
        assert_eq!(
            sent,
            [
                Some(true),
                None,
                None,
                Some(true),
                Some(false),
                None,
                Some(true)
            ]
        );
        // dtx off: everything goes, only the first is marked.
        let mut t = TalkSpurt::default();
        let sent: Vec<_> = [1, 2, 0, 9].iter().map(|&l| t.frame(l, false)).collect();
        assert_eq!(sent, [Some(true), Some(false), Some(false), Some(false)]);
        t.restart();
        assert_eq!(t.frame(9, false), Some(true));
    }

    fn depay(
        enc: &str,
        fields: &[(&'static str, &'static str)],
    ) -> Result<DepayOutCaps, FmtpError> {
        let fields = fields.to_vec();
        depay_out_caps(Some(enc), move |name| {
            fields.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
        })
    }

    #[test]
    fn depay_opus_channels_from_sprop_stereo() {
        assert_eq!(depay("OPUS", &[]).unwrap().channels, Some(2));
        assert_eq!(
            depay("OPUS", &[("sprop-stereo", "0")]).unwrap().channels,
            Some(1)
        );
        let odd = depay("OPUS", &[("sprop-stereo", "yes")]).unwrap();
        assert_eq!(odd.channels, None);
        assert!(odd.ignored.is_some());
        let r = depay("OPUS", &[("sprop-maxcapturerate", "16000")]).unwrap();
        assert_eq!((r.channel_mapping_family, r.rate), (0, Some(16000)));
        let bad = depay("OPUS", &[("sprop-maxcapturerate", "16k")]).unwrap();
        assert_eq!(bad.rate, None);
        assert_eq!(
            depay("OPUS", &[("sprop-maxcapturerate", "4294967296")])
                .unwrap()
                .rate,
            None
        );
    }

    const MULTI: [(&str, &str); 4] = [
        ("encoding-params", "6"),
        ("num_streams", "4"),
        ("coupled_streams", "2"),
        ("channel_mapping", "0,4,1,2,3,5"),
    ];

    #[test]
    fn depay_multiopus() {
        let out = depay("MULTIOPUS", &MULTI).unwrap();
        assert_eq!(out.channel_mapping_family, 1);
        assert_eq!(out.channels, Some(6));
        assert_eq!(out.stream_count, Some(4));
        assert_eq!(out.coupled_count, Some(2));
        assert_eq!(out.channel_mapping, Some(vec![0, 4, 1, 2, 3, 5]));
        for missing in 0..4 {
            let mut f = MULTI.to_vec();
            let name = f.remove(missing).0;
            assert_eq!(depay("MULTIOPUS", &f), Err(FmtpError::Missing(name)));
        }
    }

    #[test]
    fn depay_multiopus_rejects_out_of_range() {
        for (at, value) in [
            (0, "256"),
            (0, "6x"),
            (1, "7"),
            (2, "5"),
            (3, "0,4,1,2,3,7"),
            (3, "0,a"),
        ] {
            let mut f = MULTI.to_vec();
            f[at].1 = value;
            match depay("MULTIOPUS", &f) {
                Err(FmtpError::Invalid(name, v)) => {
                    assert_eq!((name, v.as_str()), (f[at].0, value))
                }
                other => panic!("{value}: {other:?}"),
            }
        }
    }

    #[test]
    fn c_numbers() {
        assert_eq!(c_strtoull("42"), Some(42));
        assert_eq!(c_strtoull(" \t+7"), Some(7));
        assert_eq!(c_strtoull("-1"), Some(u64::MAX));
        assert_eq!(c_strtoull(""), Some(0));
        assert_eq!(c_strtoull(" "), None);
        assert_eq!(c_strtoull("1 "), None);
        assert_eq!(c_strtoull("99999999999999999999999"), Some(u64::MAX));
        // A negative channel count is a C int below 255: accepted as such.
        let mut f = MULTI.to_vec();
        f[0].1 = "-1";
        assert!(depay("MULTIOPUS", &f).is_err()); // num_streams 4 > -1
    }
}
