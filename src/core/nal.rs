//! What differs between H.264 (RFC 6184) and H.265 (RFC 7798) NAL-unit
//! payloading, behind one trait so the packetizer and depacketizer are written
//! once.

/// Kinds of parameter set that go into caps (`sprop-*`) and get re-sent with
/// `config-interval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamSet {
    Vps = 0,
    Sps = 1,
    Pps = 2,
}

/// How a received RTP payload is packed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadKind {
    Single,
    Aggregate,
    Fragment,
    /// Valid per RFC but not supported in this packetization mode (STAP-B,
    /// MTAP, FU-B, PACI, reserved types).
    Unsupported,
}

pub trait NalCodec: Send + Sync + 'static {
    /// `encoding-name` in RTP caps.
    const ENCODING_NAME: &'static str;
    /// Size of the NAL unit header.
    const NAL_HEADER_LEN: usize;
    /// Bytes an FU packet adds in front of each fragment.
    const FU_OVERHEAD: usize;
    /// Bytes an aggregation packet header takes (excluding per-NAL sizes).
    const AGG_HEADER_LEN: usize;
    /// Parameter sets in the order they are sent / listed.
    const PARAM_SETS: &'static [ParamSet];
    /// Caps media type of the elementary stream.
    const CAPS_MEDIA: &'static str;
    /// Length-prefixed `stream-format`s. The first needs `codec_data` and is
    /// what depayloaders output; the others may carry parameter sets in-band.
    const PACKED_FORMATS: &'static [&'static str];
    /// RTP caps fields carrying parameter sets (comma-separated base64) and
    /// the kinds each one lists.
    const SPROP_FIELDS: &'static [(&'static str, &'static [ParamSet])];
    /// Fixed fields the payloader puts in its RTP caps.
    const RTP_CAPS_FIXED: &'static [(&'static str, &'static str)];

    /// Type of the access unit delimiter.
    const AUD: u8;
    /// How the stock payloader flags a keyframe input's packets: H.264
    /// (rtph264pay) leaves only the first packet without DELTA_UNIT, H.265
    /// (rtph265pay) the first packet of every unit of the input.
    const DELTA_AFTER_FIRST_UNIT: bool;
    /// The stock payloader puts an input's DISCONT on its first packet
    /// (rtph264pay does; rtph265pay only uses it to end an aggregate).
    const DISCONT_ON_OUTPUT: bool;
    /// Stored parameter sets sent again are never DELTA_UNIT (rtph265pay);
    /// else they are flagged as the unit they precede would be
    /// (rtph264pay).
    const RESENT_PARAMS_ARE_KEY: bool;

    fn nal_type(nal: &[u8]) -> u8;
    fn is_vcl(t: u8) -> bool;
    /// An input unit type RTP uses for its own packets (aggregation,
    /// fragmentation): dropped by the payloader.
    fn is_reserved_for_rtp(t: u8) -> bool;
    /// A NAL unit that, once in a zero-latency aggregation packet, makes
    /// the packet go out at the end of the input buffer (as the stock
    /// payloaders do: VCL units, and for H.265 suffix SEI too).
    fn ends_zero_latency_bundle(t: u8) -> bool {
        Self::is_vcl(t)
    }
    fn is_keyframe(t: u8) -> bool;
    /// Whether `config-interval` may put the stored parameter sets in front
    /// of a NAL unit of type `t`: with -1 (every keyframe) or a time
    /// interval. As the stock payloaders: H.264 both before IDR slices;
    /// H.265 with -1 before IDR slices only, with an interval before any
    /// slice once the interval has passed.
    fn config_point(t: u8, every_keyframe: bool) -> bool {
        let _ = every_keyframe;
        Self::is_keyframe(t)
    }
    fn param_set(t: u8) -> Option<ParamSet>;
    fn payload_kind(t: u8) -> PayloadKind;
    /// Write the FU prefix for a fragment of the NAL whose header is
    /// `nal_header` into `out` (returns FU_OVERHEAD bytes).
    fn fu_prefix(nal_header: &[u8], start: bool, end: bool) -> [u8; 3];
    /// Aggregation header for NAL units with these headers.
    fn agg_header<'a>(headers: impl Iterator<Item = &'a [u8]>) -> [u8; 2];
    /// Parse an FU payload: (start, end, reconstructed NAL header).
    /// None when the payload is too short or start and end are both set.
    fn fu_parse(payload: &[u8]) -> Option<(bool, bool, [u8; 2])>;
    /// `codec_data` (avcC / hvcC) from the stored parameter sets.
    fn build_codec_data(params: &ParamSets) -> Option<Vec<u8>>;
    /// NAL length size and parameter sets out of `codec_data`.
    fn parse_codec_data(data: &[u8]) -> Option<(usize, Vec<Vec<u8>>)>;
    /// The `profile-level-id` a payloader advertises for this (validated)
    /// `codec_data`: none unless the codec has one.
    fn profile_level_id(_codec_data: &[u8]) -> Option<[u8; 3]> {
        None
    }
}

pub struct H264;
pub struct H265;

impl NalCodec for H264 {
    const ENCODING_NAME: &'static str = "H264";
    const AUD: u8 = 9;
    const DELTA_AFTER_FIRST_UNIT: bool = true;
    const DISCONT_ON_OUTPUT: bool = true;
    const RESENT_PARAMS_ARE_KEY: bool = false;
    const NAL_HEADER_LEN: usize = 1;
    const FU_OVERHEAD: usize = 2;
    const AGG_HEADER_LEN: usize = 1;
    const PARAM_SETS: &'static [ParamSet] = &[ParamSet::Sps, ParamSet::Pps];
    const CAPS_MEDIA: &'static str = "video/x-h264";
    const PACKED_FORMATS: &'static [&'static str] = &["avc", "avc3"];
    const SPROP_FIELDS: &'static [(&'static str, &'static [ParamSet])] =
        &[("sprop-parameter-sets", &[ParamSet::Sps, ParamSet::Pps])];
    const RTP_CAPS_FIXED: &'static [(&'static str, &'static str)] = &[("packetization-mode", "1")];

    #[inline]
    fn nal_type(nal: &[u8]) -> u8 {
        nal.first().map_or(0, |b| b & 0x1f)
    }
    fn is_vcl(t: u8) -> bool {
        (1..=5).contains(&t)
    }
    fn is_reserved_for_rtp(t: u8) -> bool {
        // STAP-A, STAP-B, MTAP16, MTAP24: the types rtph264pay drops.
        (24..=27).contains(&t)
    }
    fn is_keyframe(t: u8) -> bool {
        t == 5
    }
    fn param_set(t: u8) -> Option<ParamSet> {
        match t {
            7 => Some(ParamSet::Sps),
            8 => Some(ParamSet::Pps),
            _ => None,
        }
    }
    fn payload_kind(t: u8) -> PayloadKind {
        match t {
            1..=23 => PayloadKind::Single,
            24 => PayloadKind::Aggregate,
            28 => PayloadKind::Fragment,
            _ => PayloadKind::Unsupported,
        }
    }
    #[inline]
    fn fu_prefix(h: &[u8], start: bool, end: bool) -> [u8; 3] {
        let indicator = (h[0] & 0xe0) | 28;
        let header = ((start as u8) << 7) | ((end as u8) << 6) | (h[0] & 0x1f);
        [indicator, header, 0]
    }
    fn agg_header<'a>(headers: impl Iterator<Item = &'a [u8]>) -> [u8; 2] {
        let (mut f, mut nri) = (0u8, 0u8);
        for h in headers {
            f |= h[0] & 0x80;
            nri = nri.max(h[0] & 0x60);
        }
        [f | nri | 24, 0]
    }
    fn fu_parse(p: &[u8]) -> Option<(bool, bool, [u8; 2])> {
        if p.len() < 2 {
            return None;
        }
        let (s, e) = (p[1] & 0x80 != 0, p[1] & 0x40 != 0);
        if s && e {
            return None;
        }
        Some((s, e, [(p[0] & 0xe0) | (p[1] & 0x1f), 0]))
    }
    fn build_codec_data(params: &ParamSets) -> Option<Vec<u8>> {
        build_avcc(params.get(ParamSet::Sps)?, params.get(ParamSet::Pps)?)
    }
    fn parse_codec_data(data: &[u8]) -> Option<(usize, Vec<Vec<u8>>)> {
        parse_avcc(data)
    }
    /// avcC bytes 1–3: AVCProfileIndication, profile compatibility,
    /// AVCLevelIndication (what rtph264pay advertises; 0 means unknown).
    fn profile_level_id(data: &[u8]) -> Option<[u8; 3]> {
        let id = [*data.get(1)?, *data.get(2)?, *data.get(3)?];
        (id != [0; 3]).then_some(id)
    }
}

impl NalCodec for H265 {
    const ENCODING_NAME: &'static str = "H265";
    const AUD: u8 = 35;
    const DELTA_AFTER_FIRST_UNIT: bool = false;
    const DISCONT_ON_OUTPUT: bool = false;
    const RESENT_PARAMS_ARE_KEY: bool = true;
    const NAL_HEADER_LEN: usize = 2;
    const FU_OVERHEAD: usize = 3;
    const AGG_HEADER_LEN: usize = 2;
    const PARAM_SETS: &'static [ParamSet] = &[ParamSet::Vps, ParamSet::Sps, ParamSet::Pps];
    const CAPS_MEDIA: &'static str = "video/x-h265";
    const PACKED_FORMATS: &'static [&'static str] = &["hvc1", "hev1"];
    const SPROP_FIELDS: &'static [(&'static str, &'static [ParamSet])] = &[
        ("sprop-vps", &[ParamSet::Vps]),
        ("sprop-sps", &[ParamSet::Sps]),
        ("sprop-pps", &[ParamSet::Pps]),
    ];
    const RTP_CAPS_FIXED: &'static [(&'static str, &'static str)] = &[];

    #[inline]
    fn nal_type(nal: &[u8]) -> u8 {
        nal.first().map_or(0, |b| (b >> 1) & 0x3f)
    }
    fn is_vcl(t: u8) -> bool {
        t < 32
    }
    fn is_reserved_for_rtp(t: u8) -> bool {
        // AP, FU, PACI (RFC 7798 §4.4). rtph265pay sends them on; a
        // receiver then parses the unit as an AP or FU (see README,
        // "Differences from the stock elements").
        (48..=50).contains(&t)
    }
    fn ends_zero_latency_bundle(t: u8) -> bool {
        // As rtph265pay's bundle_contains_vcl_or_suffix: VCL, end of
        // sequence / bitstream (36, 37), SUFFIX_SEI (40), reserved 45-47
        // and unspecified 56-62.
        t < 32 || t == 36 || t == 37 || t == 40 || (45..=47).contains(&t) || (56..63).contains(&t)
    }
    fn is_keyframe(t: u8) -> bool {
        (16..=21).contains(&t)
    }
    fn config_point(t: u8, every_keyframe: bool) -> bool {
        if every_keyframe {
            t == 19 || t == 20
        } else {
            t <= 9 || (16..=21).contains(&t)
        }
    }
    fn param_set(t: u8) -> Option<ParamSet> {
        match t {
            32 => Some(ParamSet::Vps),
            33 => Some(ParamSet::Sps),
            34 => Some(ParamSet::Pps),
            _ => None,
        }
    }
    fn payload_kind(t: u8) -> PayloadKind {
        match t {
            0..=47 => PayloadKind::Single,
            48 => PayloadKind::Aggregate,
            49 => PayloadKind::Fragment,
            _ => PayloadKind::Unsupported,
        }
    }
    #[inline]
    fn fu_prefix(h: &[u8], start: bool, end: bool) -> [u8; 3] {
        let t = (h[0] >> 1) & 0x3f;
        [
            (h[0] & 0x81) | (49 << 1),
            h[1],
            ((start as u8) << 7) | ((end as u8) << 6) | t,
        ]
    }
    fn agg_header<'a>(headers: impl Iterator<Item = &'a [u8]>) -> [u8; 2] {
        let (mut f, mut layer, mut tid) = (0u8, u8::MAX, u8::MAX);
        for h in headers {
            f |= h[0] & 0x80;
            layer = layer.min(((h[0] & 1) << 5) | (h[1] >> 3));
            tid = tid.min(h[1] & 7);
        }
        [f | (48 << 1) | (layer >> 5), ((layer & 0x1f) << 3) | tid]
    }
    fn fu_parse(p: &[u8]) -> Option<(bool, bool, [u8; 2])> {
        if p.len() < 3 {
            return None;
        }
        let (s, e) = (p[2] & 0x80 != 0, p[2] & 0x40 != 0);
        if s && e {
            return None;
        }
        Some((s, e, [(p[0] & 0x81) | ((p[2] & 0x3f) << 1), p[1]]))
    }
    fn build_codec_data(params: &ParamSets) -> Option<Vec<u8>> {
        build_hvcc(
            params.get(ParamSet::Vps)?,
            params.get(ParamSet::Sps)?,
            params.get(ParamSet::Pps)?,
        )
    }
    fn parse_codec_data(data: &[u8]) -> Option<(usize, Vec<Vec<u8>>)> {
        parse_hvcc(data)
    }
}

/// Latest parameter sets seen, by kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParamSets {
    sets: [Option<Vec<u8>>; 3],
}

impl ParamSets {
    pub fn get(&self, kind: ParamSet) -> Option<&[u8]> {
        self.sets[kind as usize].as_deref()
    }
    /// Store `nal`; returns true when it differs from what was stored.
    pub fn update(&mut self, kind: ParamSet, nal: &[u8]) -> bool {
        let slot = &mut self.sets[kind as usize];
        if slot.as_deref() == Some(nal) {
            return false;
        }
        match slot {
            Some(v) => {
                v.clear();
                v.extend_from_slice(nal);
            }
            None => *slot = Some(nal.to_vec()),
        }
        true
    }
    /// All of `kinds` present.
    pub fn complete(&self, kinds: &[ParamSet]) -> bool {
        kinds.iter().all(|k| self.get(*k).is_some())
    }
    pub fn clear(&mut self) {
        self.sets = Default::default();
    }
}

/// Remove emulation-prevention bytes (00 00 03 -> 00 00) from the first
/// `limit` bytes of a NAL unit (enough for fixed-position header fields).
pub fn unescape_prefix(nal: &[u8], limit: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(limit.min(nal.len()));
    let mut zeros = 0;
    for &b in nal {
        if out.len() >= limit {
            break;
        }
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// `avcC` (ISO/IEC 14496-15) from one SPS and one PPS, 4-byte NAL lengths.
pub fn build_avcc(sps: &[u8], pps: &[u8]) -> Option<Vec<u8>> {
    if sps.len() < 4 || sps.len() > 0xffff || pps.len() > 0xffff {
        return None;
    }
    let mut v = Vec::with_capacity(11 + sps.len() + pps.len());
    v.extend_from_slice(&[1, sps[1], sps[2], sps[3], 0xff, 0xe1]);
    v.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    v.extend_from_slice(sps);
    v.push(1);
    v.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    v.extend_from_slice(pps);
    Some(v)
}

/// `hvcC` (ISO/IEC 14496-15) from VPS/SPS/PPS, 4-byte NAL lengths. The
/// profile/tier/level fields are copied from the SPS's profile_tier_level.
pub fn build_hvcc(vps: &[u8], sps: &[u8], pps: &[u8]) -> Option<Vec<u8>> {
    // SPS: 2-byte header, 1 byte (vps id, max sub layers, nesting), then
    // general PTL: 1 + 4 + 6 + 1 = 12 bytes.
    let raw = unescape_prefix(sps, 15);
    if raw.len() < 15 {
        return None;
    }
    let ptl = &raw[3..15];
    let mut v = Vec::with_capacity(23 + 15 + vps.len() + sps.len() + pps.len());
    v.push(1);
    v.extend_from_slice(&ptl[..12]); // profile space/tier/idc, compat flags, constraint flags, level
    v.extend_from_slice(&[0xf0, 0x00]); // min_spatial_segmentation_idc = 0
    v.push(0xfc); // parallelismType = 0
    v.push(0xfd); // chroma_format_idc = 1 (4:2:0) as a default
    v.push(0xf8); // bit_depth_luma_minus8 = 0
    v.push(0xf8); // bit_depth_chroma_minus8 = 0
    v.extend_from_slice(&[0, 0]); // avgFrameRate
                                  // constantFrameRate=0, numTemporalLayers=1, temporalIdNested=0, lengthSizeMinusOne=3
    v.push((1 << 3) | 3);
    v.push(3);
    for (t, nal) in [(32u8, vps), (33, sps), (34, pps)] {
        if nal.len() > 0xffff {
            return None;
        }
        v.push(0x80 | t);
        v.extend_from_slice(&1u16.to_be_bytes());
        v.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        v.extend_from_slice(nal);
    }
    Some(v)
}

/// Parameter sets and NAL length size out of `avcC` codec_data.
pub fn parse_avcc(data: &[u8]) -> Option<(usize, Vec<Vec<u8>>)> {
    if data.len() < 7 || data[0] != 1 {
        return None;
    }
    let len_size = (data[4] & 3) as usize + 1;
    let mut nals = Vec::new();
    let mut pos = 6;
    read_nal_array(data, &mut pos, (data[5] & 0x1f) as usize, &mut nals)?;
    let pps_count = *data.get(pos)? as usize;
    pos += 1;
    read_nal_array(data, &mut pos, pps_count, &mut nals)?;
    Some((len_size, nals))
}

/// Parameter sets and NAL length size out of `hvcC` codec_data.
pub fn parse_hvcc(data: &[u8]) -> Option<(usize, Vec<Vec<u8>>)> {
    if data.len() < 23 || data[0] != 1 {
        return None;
    }
    let len_size = (data[21] & 3) as usize + 1;
    let mut nals = Vec::new();
    let mut pos = 23;
    for _ in 0..data[22] {
        // array_completeness / NAL type byte, then a 16-bit count
        let count = u16::from_be_bytes([*data.get(pos + 1)?, *data.get(pos + 2)?]) as usize;
        pos += 3;
        read_nal_array(data, &mut pos, count, &mut nals)?;
    }
    Some((len_size, nals))
}

/// `count` NAL units each behind a 16-bit length, from `data[*pos..]`.
fn read_nal_array(
    data: &[u8],
    pos: &mut usize,
    count: usize,
    nals: &mut Vec<Vec<u8>>,
) -> Option<()> {
    for _ in 0..count {
        let n = u16::from_be_bytes([*data.get(*pos)?, *data.get(*pos + 1)?]) as usize;
        *pos += 2;
        nals.push(data.get(*pos..*pos + n)?.to_vec());
        *pos += n;
    }
    Some(())
}

/// NAL units of a length-prefixed (avc/hvc1) buffer, as the stock
/// payloaders read it: `Err(range)` is a unit whose length runs past the
/// end, cut to the bytes that are there (what rtph264pay/rtph265pay still
/// send), and ends the buffer; fewer than `len_size + 1` bytes left end it
/// too (`Err` of an empty range when any are left).
pub fn length_prefixed_nals(
    data: &[u8],
    len_size: usize,
) -> impl Iterator<Item = Result<std::ops::Range<usize>, std::ops::Range<usize>>> + '_ {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        if pos >= data.len() {
            return None;
        }
        if data.len() - pos <= len_size {
            pos = data.len();
            return Some(Err(pos..pos));
        }
        let mut n = 0usize;
        for &b in &data[pos..pos + len_size] {
            n = (n << 8) | b as usize;
        }
        let start = pos + len_size;
        match start.checked_add(n) {
            Some(end) if end <= data.len() => {
                pos = end;
                Some(Ok(start..end))
            }
            _ => {
                pos = data.len();
                Some(Err(start..pos))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h264_fu_prefix_roundtrips() {
        for hdr in [0x65u8, 0x41, 0x01, 0x25] {
            for (s, e) in [(true, false), (false, false), (false, true)] {
                let p = H264::fu_prefix(&[hdr], s, e);
                assert_eq!(p[0] & 0x1f, 28);
                assert_eq!(H264::fu_parse(&p[..2]), Some((s, e, [hdr, 0])));
            }
        }
        assert_eq!(H264::fu_parse(&[0x7c, 0xc5]), None); // start+end
        assert_eq!(H264::fu_parse(&[0x7c]), None);
    }

    #[test]
    fn h265_fu_prefix_roundtrips() {
        for hdr in [[0x26u8, 0x01], [0x02, 0x01], [0x40, 0x01], [0x03, 0x0a]] {
            for (s, e) in [(true, false), (false, false), (false, true)] {
                let p = H265::fu_prefix(&hdr, s, e);
                assert_eq!(H265::nal_type(&p), 49);
                assert_eq!(H265::fu_parse(&p), Some((s, e, hdr)));
            }
        }
    }

    #[test]
    fn aggregation_headers() {
        let h = H264::agg_header([&[0x67u8][..], &[0x28u8][..], &[0x06u8][..]].into_iter());
        assert_eq!(h[0], 0x60 | 24);
        let h = H265::agg_header([&[0x40u8, 0x01][..], &[0x42u8, 0x01][..]].into_iter());
        assert_eq!(H265::nal_type(&h), 48);
        assert_eq!(h[1], 0x01);
    }

    #[test]
    fn codec_data_roundtrip() {
        let sps = [0x67, 0x42, 0xc0, 0x15, 0xd9, 0x01];
        let pps = [0x68, 0xcb, 0x8c, 0xb2];
        let avcc = build_avcc(&sps, &pps).unwrap();
        let (len, nals) = H264::parse_codec_data(&avcc).unwrap();
        assert_eq!(len, 4);
        assert_eq!(nals, vec![sps.to_vec(), pps.to_vec()]);
        assert!(H264::parse_codec_data(&avcc[..avcc.len() - 1]).is_none());
        let vps = [0x40, 0x01, 0x0c, 0x01];
        let sps5: Vec<u8> = (0..24)
            .map(|i| if i < 2 { [0x42, 0x01][i] } else { 0x11 })
            .collect();
        let hvcc = build_hvcc(&vps, &sps5, &pps).unwrap();
        let (len, nals) = H265::parse_codec_data(&hvcc).unwrap();
        assert_eq!(len, 4);
        assert_eq!(nals, vec![vps.to_vec(), sps5.clone(), pps.to_vec()]);
    }

    #[test]
    fn length_prefixed_split_and_overrun() {
        let data = [0, 0, 0, 2, 0x65, 0x88, 0, 0, 0, 1, 0x41];
        let v: Vec<_> = length_prefixed_nals(&data, 4).collect();
        assert_eq!(v, vec![Ok(4..6), Ok(10..11)]);
        let bad = [0, 0, 0, 9, 0x65];
        let v: Vec<_> = length_prefixed_nals(&bad, 4).collect();
        assert_eq!(
            v,
            vec![Err(4..5)],
            "a truncated unit is cut to what is there"
        );
        let huge = [0xff, 0xff, 0xff, 0xff, 0x65];
        assert_eq!(
            length_prefixed_nals(&huge, 4).collect::<Vec<_>>(),
            vec![Err(4..5)]
        );
        let trailing = [0, 0, 0, 1, 0x41, 0, 0];
        assert_eq!(
            length_prefixed_nals(&trailing, 4).collect::<Vec<_>>(),
            vec![Ok(4..5), Err(7..7)],
            "a length prefix cut short ends the buffer"
        );
    }

    #[test]
    fn unescape_removes_emulation_prevention() {
        assert_eq!(
            unescape_prefix(&[0, 0, 3, 1, 0, 0, 3, 0], 10),
            vec![0, 0, 1, 0, 0, 0]
        );
        assert_eq!(unescape_prefix(&[1, 2, 3, 4], 2), vec![1, 2]);
    }
}
