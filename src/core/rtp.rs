//! RTP header: writing (into pooled header memory), and parsing with
//! validation (fixed header, CSRCs, extension, padding) and the error
//! taxonomy the elements count in `stats`.

/// Size of the fixed RTP header we write (no CSRC, no extension).
pub const RTP_HEADER_LEN: usize = 12;

/// Why a received packet was rejected before depacketization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtpError {
    Truncated,
    BadVersion,
    BadPadding,
}

/// The fields of a valid RTP packet a depacketizer needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtpInfo {
    pub marker: bool,
    pub payload_type: u8,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    /// The CSRC list within the packet (4 bytes each, big-endian).
    pub csrcs: std::ops::Range<usize>,
    /// The header extension: its 16-bit profile ("defined by profile", 0xBEDE
    /// for one-byte extensions) and its data within the packet.
    pub extension: Option<(u16, std::ops::Range<usize>)>,
    /// Payload bytes within the packet (after CSRCs/extension, before padding).
    pub payload: std::ops::Range<usize>,
}

impl RtpInfo {
    /// The `i`-th CSRC of `packet` (the bytes this info was parsed from).
    pub fn csrc(&self, packet: &[u8], i: usize) -> u32 {
        let at = self.csrcs.start + 4 * i;
        u32::from_be_bytes([packet[at], packet[at + 1], packet[at + 2], packet[at + 3]])
    }

    pub fn csrc_count(&self) -> usize {
        self.csrcs.len() / 4
    }
}

/// Validate a packet with the same rules as `gst_rtp_buffer_validate`:
/// version 2, CSRC list, extension and padding all inside the packet, a
/// non-zero padding length. Reads the header once, allocates nothing.
/// Hand-written rather than `rtp-types` (which the differential proptest
/// below checks it against): the depayloader base needs the CSRC list's and
/// the extension's positions in the packet, GStreamer's stricter padding
/// rule, and one pass on its per-packet hot path.
#[inline]
pub fn parse(data: &[u8]) -> Result<RtpInfo, RtpError> {
    let len = data.len();
    let Some(fixed) = data.first_chunk::<RTP_HEADER_LEN>() else {
        return Err(RtpError::Truncated);
    };
    let b0 = fixed[0];
    if b0 >> 6 != 2 {
        return Err(RtpError::BadVersion);
    }
    let has_padding = b0 & 0x20 != 0;
    // A packet that claims padding and is cut short is reported as bad
    // padding (its length field cannot be trusted).
    let truncated = if has_padding {
        RtpError::BadPadding
    } else {
        RtpError::Truncated
    };
    let csrc_end = RTP_HEADER_LEN + 4 * (b0 & 0x0f) as usize;
    if csrc_end > len {
        return Err(truncated);
    }
    let mut start = csrc_end;
    let extension = if b0 & 0x10 != 0 {
        if start + 4 > len {
            return Err(truncated);
        }
        let profile = u16::from_be_bytes([data[start], data[start + 1]]);
        let words = u16::from_be_bytes([data[start + 2], data[start + 3]]) as usize;
        let ext = start + 4..start + 4 + 4 * words;
        if ext.end > len {
            return Err(truncated);
        }
        start = ext.end;
        Some((profile, ext))
    } else {
        None
    };
    let padding = if has_padding {
        let p = data[len - 1] as usize;
        if p == 0 || start + p > len {
            return Err(RtpError::BadPadding);
        }
        p
    } else {
        0
    };
    Ok(RtpInfo {
        marker: fixed[1] & 0x80 != 0,
        payload_type: fixed[1] & 0x7f,
        seq: u16::from_be_bytes([fixed[2], fixed[3]]),
        timestamp: u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
        ssrc: u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]),
        csrcs: RTP_HEADER_LEN..csrc_end,
        extension,
        payload: start..len - padding,
    })
}

/// Write a 12-byte RTP v2 header (no padding, extension or CSRC).
#[inline]
pub fn write_header(out: &mut [u8], marker: bool, pt: u8, seq: u16, ts: u32, ssrc: u32) {
    let out: &mut [u8; RTP_HEADER_LEN] = (&mut out[..RTP_HEADER_LEN]).try_into().unwrap();
    out[0] = 0x80;
    out[1] = ((marker as u8) << 7) | (pt & 0x7f);
    out[2..4].copy_from_slice(&seq.to_be_bytes());
    out[4..8].copy_from_slice(&ts.to_be_bytes());
    out[8..12].copy_from_slice(&ssrc.to_be_bytes());
}

/// What every header of one output list shares: the bulk pass writes these
/// with a running sequence number.
#[derive(Clone, Copy, Debug)]
pub struct HeaderFields<'a> {
    pub pt: u8,
    pub ssrc: u32,
    pub timestamp: u32,
    /// Contributing sources (at most 15 are written).
    pub csrc: &'a [u32],
    /// A complete header extension block (the 4-byte profile/length word and
    /// its 32-bit aligned data), or empty.
    pub extension: &'a [u8],
}

impl HeaderFields<'_> {
    /// Bytes of the header these fields make.
    #[inline]
    pub fn len(&self) -> usize {
        RTP_HEADER_LEN + 4 * self.csrc.len().min(15) + self.extension.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Write the header into `out[..self.len()]`; returns its length.
    #[inline]
    pub fn write(&self, out: &mut [u8], marker: bool, seq: u16) -> usize {
        write_header(out, marker, self.pt, seq, self.timestamp, self.ssrc);
        let cc = self.csrc.len().min(15);
        if cc == 0 && self.extension.is_empty() {
            return RTP_HEADER_LEN;
        }
        out[0] |= cc as u8 | if self.extension.is_empty() { 0 } else { 0x10 };
        let mut at = RTP_HEADER_LEN;
        for c in &self.csrc[..cc] {
            out[at..at + 4].copy_from_slice(&c.to_be_bytes());
            at += 4;
        }
        out[at..at + self.extension.len()].copy_from_slice(self.extension);
        at + self.extension.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn write_then_parse_roundtrip() {
        let mut buf = [0u8; 20];
        write_header(&mut buf, true, 96, 0xbeef, 0x1234_5678, 0xdead_beef);
        buf[12..].copy_from_slice(b"payload!");
        let info = parse(&buf).unwrap();
        assert!(info.marker);
        assert_eq!(info.payload_type, 96);
        assert_eq!(info.seq, 0xbeef);
        assert_eq!(info.timestamp, 0x1234_5678);
        assert_eq!(info.ssrc, 0xdead_beef);
        assert_eq!(&buf[info.payload], b"payload!");
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(parse(&[]), Err(RtpError::Truncated));
        assert_eq!(parse(&[0x80; 11]), Err(RtpError::Truncated));
        let mut v1 = [0u8; 12];
        v1[0] = 0x40;
        assert_eq!(parse(&v1), Err(RtpError::BadVersion));
        // padding bit with a padding length reaching into the header
        let mut pad = [0u8; 14];
        pad[0] = 0xa0;
        pad[13] = 5;
        assert_eq!(parse(&pad), Err(RtpError::BadPadding));
        pad[13] = 0;
        assert_eq!(parse(&pad), Err(RtpError::BadPadding));
        pad[13] = 2;
        assert_eq!(parse(&pad).unwrap().payload, 12..12);
        // CSRC count larger than the packet
        let mut csrc = [0u8; 16];
        csrc[0] = 0x82;
        assert_eq!(parse(&csrc), Err(RtpError::Truncated));
        // extension header past the end
        let mut ext = [0u8; 14];
        ext[0] = 0x90;
        assert_eq!(parse(&ext), Err(RtpError::Truncated));
    }

    #[test]
    fn header_fields_with_csrc_and_extension_parse_back() {
        let ext = [0xbe, 0xde, 0, 1, 0x51, 0x00, 0x07, 0];
        let fields = HeaderFields {
            pt: 96,
            ssrc: 7,
            timestamp: 90_000,
            csrc: &[1, 2],
            extension: &ext,
        };
        let mut buf = vec![0u8; fields.len() + 3];
        assert_eq!(fields.write(&mut buf, true, 65535), 12 + 8 + 8);
        buf[28..].copy_from_slice(b"abc");
        let pkt = rtp_types::RtpPacket::parse(&buf[..]).unwrap();
        assert_eq!(pkt.csrc().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(pkt.extension(), Some((0xbede, &ext[4..])));
        assert_eq!(pkt.sequence_number(), 65535);
        assert!(pkt.marker_bit());
        assert_eq!(pkt.payload(), b"abc");
    }

    #[test]
    fn csrcs_and_extension() {
        // 2 CSRCs, a one-byte-header extension of one word, 2 bytes padding.
        let mut p = vec![0xb2, 96, 0, 7, 0, 0, 0, 9, 0, 0, 0, 5];
        p.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]);
        p.extend_from_slice(&[0xbe, 0xde, 0, 1, 0x10, 0xaa, 0, 0]);
        p.extend_from_slice(b"xyz");
        p.extend_from_slice(&[0, 2]);
        let info = parse(&p).unwrap();
        assert_eq!(info.csrc_count(), 2);
        assert_eq!((info.csrc(&p, 0), info.csrc(&p, 1)), (1, 2));
        let (profile, ext) = info.extension.clone().unwrap();
        assert_eq!(profile, 0xbede);
        assert_eq!(&p[ext], &[0x10, 0xaa, 0, 0]);
        assert_eq!(&p[info.payload], b"xyz");
    }

    proptest! {
        /// Same accept/reject decision and payload as rtp-types, except
        /// where GStreamer is stricter (padding reaching into the header).
        #[test]
        fn agrees_with_rtp_types(data in proptest::collection::vec(any::<u8>(), 0..64), first in 0u8..=255) {
            let mut data = data;
            if let Some(b) = data.first_mut() {
                *b = first;
            }
            let ours = parse(&data);
            match rtp_types::RtpPacket::parse(&data) {
                Ok(pkt) => {
                    let start = pkt.payload_offset();
                    let padding = pkt.padding().unwrap_or(0) as usize;
                    if start + padding > data.len() {
                        prop_assert_eq!(ours, Err(RtpError::BadPadding));
                    } else {
                        let info = ours.unwrap();
                        prop_assert_eq!(info.payload.clone(), start..data.len() - padding);
                        prop_assert_eq!(info.seq, pkt.sequence_number());
                        prop_assert_eq!(info.ssrc, pkt.ssrc());
                        prop_assert_eq!(info.csrc_count(), pkt.csrc().count());
                    }
                }
                Err(_) => prop_assert!(ours.is_err()),
            }
        }


        #[test]
        fn parse_never_panics_and_payload_in_bounds(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(info) = parse(&data) {
                prop_assert!(info.payload.start <= info.payload.end);
                prop_assert!(info.payload.end <= data.len());
                prop_assert!(info.payload.start >= RTP_HEADER_LEN);
            }
        }
    }
}
