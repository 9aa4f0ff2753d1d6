//! RFC 4175 raw video, without GObject: the sampling formats, the packet
//! plan of a frame (line segments, continuation bits, packet and list
//! boundaries) as rtpvrawpay cuts it, moving segments between a video frame
//! and packet payloads, and the validation of received line headers.
//!
//! The plan only depends on the geometry, the MTU and `chunks-per-frame`,
//! so a payloader computes it (with every payload header) once per
//! negotiation and replays it for each frame.

use std::ops::Range;

/// Extended sequence number (always 0, as stock) before the line headers.
pub const EXT_SEQ_LEN: usize = 2;
/// One line header: length, F + line number, C + offset.
pub const LINE_HEADER_LEN: usize = 6;
/// RTP header without CSRCs.
const RTP_HEADER_LEN: usize = 12;
/// The largest line number and offset a header can carry (15 bits).
pub const MAX_DIMENSION: u32 = 32767;

/// The input formats rtpvrawpay takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sampling {
    Rgb,
    Rgba,
    Bgr,
    Bgra,
    /// Sent as YCbCr-4:4:4 (Cb Y Cr, alpha dropped).
    Ayuv,
    Uyvy,
    I420,
    Y41b,
    /// 10-bit 4:2:2, 5 bytes per two pixels.
    Uyvp,
}

pub const ALL_SAMPLINGS: [Sampling; 9] = [
    Sampling::Rgb,
    Sampling::Rgba,
    Sampling::Bgr,
    Sampling::Bgra,
    Sampling::Ayuv,
    Sampling::Uyvy,
    Sampling::I420,
    Sampling::Y41b,
    Sampling::Uyvp,
];

impl Sampling {
    /// From a GstVideoFormat name (caps `format`).
    pub fn from_format(format: &str) -> Option<Self> {
        ALL_SAMPLINGS
            .into_iter()
            .find(|s| s.format_name() == format)
    }

    /// From the RTP caps `sampling` and `depth` (as rtpvrawdepay maps them).
    pub fn from_rtp(sampling: &str, depth: u32) -> Option<Self> {
        Some(match (sampling, depth) {
            ("RGB", _) => Sampling::Rgb,
            ("RGBA", _) => Sampling::Rgba,
            ("BGR", _) => Sampling::Bgr,
            ("BGRA", _) => Sampling::Bgra,
            ("YCbCr-4:4:4", _) => Sampling::Ayuv,
            ("YCbCr-4:2:2", 8) => Sampling::Uyvy,
            ("YCbCr-4:2:2", 10) => Sampling::Uyvp,
            ("YCbCr-4:2:0", _) => Sampling::I420,
            ("YCbCr-4:1:1", _) => Sampling::Y41b,
            _ => return None,
        })
    }

    pub fn format_name(self) -> &'static str {
        match self {
            Sampling::Rgb => "RGB",
            Sampling::Rgba => "RGBA",
            Sampling::Bgr => "BGR",
            Sampling::Bgra => "BGRA",
            Sampling::Ayuv => "AYUV",
            Sampling::Uyvy => "UYVY",
            Sampling::I420 => "I420",
            Sampling::Y41b => "Y41B",
            Sampling::Uyvp => "UYVP",
        }
    }

    /// The RTP `sampling` caps field.
    pub fn rtp_sampling(self) -> &'static str {
        match self {
            Sampling::Rgb => "RGB",
            Sampling::Rgba => "RGBA",
            Sampling::Bgr => "BGR",
            Sampling::Bgra => "BGRA",
            Sampling::Ayuv => "YCbCr-4:4:4",
            Sampling::Uyvy | Sampling::Uyvp => "YCbCr-4:2:2",
            Sampling::I420 => "YCbCr-4:2:0",
            Sampling::Y41b => "YCbCr-4:1:1",
        }
    }

    /// The RTP `depth` caps field.
    pub fn depth(self) -> &'static str {
        match self {
            Sampling::Uyvp => "10",
            _ => "8",
        }
    }

    /// Bytes of one pixel group on the wire.
    pub fn pgroup(self) -> usize {
        match self {
            Sampling::Rgb | Sampling::Bgr | Sampling::Ayuv => 3,
            Sampling::Rgba | Sampling::Bgra | Sampling::Uyvy => 4,
            Sampling::Uyvp => 5,
            Sampling::I420 | Sampling::Y41b => 6,
        }
    }

    /// Pixels per group, horizontally.
    pub fn xinc(self) -> usize {
        match self {
            Sampling::Uyvy | Sampling::Uyvp | Sampling::I420 => 2,
            Sampling::Y41b => 4,
            _ => 1,
        }
    }

    /// Lines per group (progressive).
    pub fn yinc(self) -> usize {
        match self {
            Sampling::I420 => 2,
            _ => 1,
        }
    }

    /// The wire bytes are the frame's bytes (one plane, same order): a
    /// segment is a plain slice of a line.
    pub fn is_packed(self) -> bool {
        !matches!(self, Sampling::Ayuv | Sampling::I420 | Sampling::Y41b)
    }
}

/// What a frame is on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Geometry {
    pub sampling: Sampling,
    pub width: u32,
    pub height: u32,
    pub interlaced: bool,
}

impl Geometry {
    /// Line step of one packed line: two fields interleave.
    pub fn yinc(&self) -> usize {
        self.sampling.yinc() * if self.interlaced { 2 } else { 1 }
    }

    pub fn fields(&self) -> usize {
        1 + self.interlaced as usize
    }

    /// Wire bytes of `pixels` pixels (whole groups, as stock rounds).
    pub fn bytes_of(&self, pixels: usize) -> usize {
        pixels * self.sampling.pgroup() / self.sampling.xinc()
    }
}

/// Where a frame's planes are in its buffer (GstVideoMeta or the default
/// GstVideoInfo layout): byte offsets and strides of up to three planes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct PlaneLayout {
    pub offsets: [usize; 3],
    pub strides: [usize; 3],
}

/// One line segment: a header and the bytes it describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Second field of an interlaced frame (the F bit).
    pub field: bool,
    pub line: u16,
    /// In pixels.
    pub offset: u16,
    /// Wire bytes (whole pixel groups).
    pub len: u16,
}

impl Segment {
    fn pgroups(&self, sampling: Sampling) -> usize {
        self.len as usize / sampling.pgroup()
    }

    /// Bytes of the segment actually in the packet. A line whose width is
    /// not whole groups announces its partial last group in the length:
    /// packed formats carry those bytes as they are; planar and converted
    /// ones (I420, Y41B) carry whole groups only, the next segment's data
    /// following straight after, and the packet ends that many bytes
    /// early (stock rtpvrawpay leaves them unwritten; we send zeros).
    pub fn carried(&self, sampling: Sampling) -> usize {
        carried(sampling, self.len as usize)
    }
}

fn carried(sampling: Sampling, len: usize) -> usize {
    if sampling.is_packed() {
        len
    } else {
        len - len % sampling.pgroup()
    }
}

/// One packet of a frame plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedPacket {
    /// Its segments in `FramePlan::segments`.
    pub segments: Range<usize>,
    /// The payload header (extended seqnum + line headers) in
    /// `FramePlan::headers`.
    pub header: Range<usize>,
    /// Payload bytes after the header.
    pub payload_len: usize,
    /// Second field (its PTS is half a frame later).
    pub field: bool,
    /// Last packet of a field or frame: the RTP marker.
    pub marker: bool,
    /// Stock pushes the list it is building after this packet.
    pub list_end: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// The MTU leaves no room for one header and one pixel group.
    TooSmall,
    /// Width or height outside 1..=32767.
    BadDimensions,
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::TooSmall => f.write_str("not enough space to send at least one pixel"),
            PlanError::BadDimensions => f.write_str("width and height must be 1..=32767"),
        }
    }
}

/// Every packet of one frame with its payload headers, as rtpvrawpay cuts
/// it: each packet filled to the MTU with whole pixel groups, a line that
/// does not fit continued in the next packet, a new segment started only
/// while there is room for a header and one more group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FramePlan {
    pub geometry: Option<Geometry>,
    pub packets: Vec<PlannedPacket>,
    pub segments: Vec<Segment>,
    pub headers: Vec<u8>,
}

impl FramePlan {
    /// Plan a frame for packets of at most `mtu` bytes (RTP header of
    /// `csrc_bytes` CSRCs included), pushed in `chunks_per_frame` lists.
    pub fn plan(
        &mut self,
        geometry: Geometry,
        mtu: usize,
        csrc_bytes: usize,
        chunks_per_frame: u32,
    ) -> Result<(), PlanError> {
        self.geometry = None;
        self.packets.clear();
        self.segments.clear();
        self.headers.clear();
        let mut cursor = FrameCursor::new(geometry, mtu, csrc_bytes, chunks_per_frame)?;
        while let Some(p) = cursor.next_packet(&mut self.segments, &mut self.headers) {
            self.packets.push(p);
        }
        self.geometry = Some(geometry);
        Ok(())
    }

    /// Where each packet's payload is in a frame buffer laid out as
    /// `layout`, when its segments are back to back there (packed formats
    /// whose lines follow each other without padding): one range per
    /// packet. None when any packet would need bytes from several places.
    pub fn contiguous_ranges(&self, layout: &PlaneLayout, out: &mut Vec<Range<usize>>) -> bool {
        out.clear();
        let Some(geometry) = self.geometry else {
            return false;
        };
        let sampling = geometry.sampling;
        if !sampling.is_packed() {
            return false;
        }
        for pkt in &self.packets {
            let mut range: Option<Range<usize>> = None;
            for seg in &self.segments[pkt.segments.clone()] {
                let start = layout.offsets[0]
                    + seg.line as usize * layout.strides[0]
                    + (seg.offset as usize / sampling.xinc()) * sampling.pgroup();
                let end = start + seg.len as usize;
                range = match range {
                    None => Some(start..end),
                    Some(r) if r.end == start => Some(r.start..end),
                    Some(_) => return false,
                };
            }
            out.push(range.unwrap_or(0..0));
        }
        true
    }

    /// Bytes of the whole frame on the wire (payloads only).
    pub fn payload_bytes(&self) -> usize {
        self.packets.iter().map(|p| p.payload_len).sum()
    }

    /// Copy every packet's payload, in order, from `frame` (laid out as
    /// `layout`) into `dst` (`payload_bytes()` long). False when the frame
    /// is too small for the plan.
    pub fn pack_frame(&self, frame: &[u8], layout: &PlaneLayout, dst: &mut [u8]) -> bool {
        let Some(geometry) = self.geometry else {
            return false;
        };
        let mut start = 0;
        for pkt in &self.packets {
            let Some(out) = dst.get_mut(start..start + pkt.payload_len) else {
                return false;
            };
            let segments = &self.segments[pkt.segments.clone()];
            if !pack_packet(&geometry, layout, segments, frame, out) {
                return false;
            }
            start += pkt.payload_len;
        }
        true
    }
}

/// Copy one packet's payload (its `segments`, `dst` its payload length)
/// out of `frame`. False when the frame is too small for it.
pub fn pack_packet(
    geometry: &Geometry,
    layout: &PlaneLayout,
    segments: &[Segment],
    frame: &[u8],
    dst: &mut [u8],
) -> bool {
    let mut at = 0;
    for seg in segments {
        let n = seg.carried(geometry.sampling);
        let Some(out) = dst.get_mut(at..at + n) else {
            return false;
        };
        if !pack_segment(geometry, layout, seg, frame, out) {
            return false;
        }
        at += n;
    }
    // What headers announce beyond what is carried (a partial group of a
    // planar format: see `Segment::carried`).
    dst[at..].fill(0);
    true
}

/// Whether every packet's payload is one run of bytes of a frame laid out
/// as `layout`: a packed format, progressive, lines without padding (each
/// packet then continues where the previous one ended, line after line).
pub fn contiguous_in(geometry: &Geometry, layout: &PlaneLayout) -> bool {
    geometry.sampling.is_packed()
        && !geometry.interlaced
        && layout.strides[0] == geometry.bytes_of(geometry.width as usize)
}

/// Where a segment's bytes start in a frame of a packed format.
pub fn packed_start(geometry: &Geometry, layout: &PlaneLayout, seg: &Segment) -> usize {
    let sampling = geometry.sampling;
    layout.offsets[0]
        + seg.line as usize * layout.strides[0]
        + (seg.offset as usize / sampling.xinc()) * sampling.pgroup()
}

/// Walks the packets of one frame, as rtpvrawpay cuts it: each packet
/// filled to the MTU with whole pixel groups, a line that does not fit
/// continued in the next packet, a new segment started only while there is
/// room for a header and one more group. Copy a fresh one per frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameCursor {
    geometry: Geometry,
    /// Payload bytes after the extended seqnum.
    room: usize,
    lists: ListRule,
    // The geometry's numbers, looked up once (this runs per packet).
    width: usize,
    height: usize,
    pgroup: usize,
    xinc: usize,
    yinc: usize,
    fields: usize,
    line_bytes: usize,
    field: usize,
    line: usize,
    offset: usize,
    last_pack_line: usize,
}

impl FrameCursor {
    /// At the start of a frame; refused when the MTU leaves no room for a
    /// header and one pixel group, or for impossible dimensions.
    pub fn new(
        geometry: Geometry,
        mtu: usize,
        csrc_bytes: usize,
        chunks_per_frame: u32,
    ) -> Result<Self, PlanError> {
        let (width, height) = (geometry.width as usize, geometry.height as usize);
        if !(1..=MAX_DIMENSION as usize).contains(&width)
            || !(1..=MAX_DIMENSION as usize).contains(&height)
        {
            return Err(PlanError::BadDimensions);
        }
        let room = mtu
            .saturating_sub(RTP_HEADER_LEN + csrc_bytes)
            .saturating_sub(EXT_SEQ_LEN);
        if !Self::fits_segment(geometry, room) {
            return Err(PlanError::TooSmall);
        }
        Ok(FrameCursor {
            geometry,
            room,
            lists: ListRule::new(geometry, mtu, chunks_per_frame),
            width,
            height,
            pgroup: geometry.sampling.pgroup(),
            xinc: geometry.sampling.xinc(),
            yinc: geometry.yinc(),
            fields: geometry.fields(),
            line_bytes: geometry.bytes_of(width),
            field: 0,
            line: 0,
            offset: 0,
            last_pack_line: 0,
        })
    }

    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    /// Room for a header and at least one more group.
    fn fits_segment(geometry: Geometry, left: usize) -> bool {
        left > LINE_HEADER_LEN + geometry.sampling.pgroup()
    }

    /// The next packet of the frame (None at its end): its segments are
    /// appended to `segments` and its payload header to `headers`, where
    /// the returned ranges point.
    pub fn next_packet(
        &mut self,
        segments: &mut Vec<Segment>,
        headers: &mut Vec<u8>,
    ) -> Option<PlannedPacket> {
        let (width, height, pgroup, xinc) = (self.width, self.height, self.pgroup, self.xinc);
        while self.line >= height {
            if self.field + 1 >= self.fields {
                return None;
            }
            self.field += 1;
            self.line = self.field;
            self.offset = 0;
            self.last_pack_line = 0;
        }
        let field = self.field == 1;
        let first_segment = segments.len();
        let header_start = headers.len();
        headers.extend_from_slice(&[0, 0]);
        let mut left = self.room;
        let mut payload_len = 0;
        loop {
            left -= LINE_HEADER_LEN;
            let rest_bytes = if self.offset == 0 {
                self.line_bytes
            } else {
                (width - self.offset) * pgroup / xinc
            };
            let (pixels, len, next_line) = if left >= rest_bytes {
                (width - self.offset, rest_bytes, true)
            } else {
                let groups = left / pgroup;
                (groups * xinc, groups * pgroup, false)
            };
            left -= len;
            payload_len += len;
            let seg_line = self.line;
            if next_line {
                self.line += self.yinc;
            }
            let more = left > LINE_HEADER_LEN + pgroup && self.line < height;
            segments.push(Segment {
                field,
                line: seg_line as u16,
                offset: self.offset as u16,
                len: len as u16,
            });
            headers.extend_from_slice(&line_header(field, seg_line, self.offset, len, more));
            self.offset = if next_line { 0 } else { self.offset + pixels };
            if !more {
                break;
            }
        }
        let complete = self.line >= height;
        let list_end = match self.lists {
            ListRule::EveryPacket => true,
            ListRule::EveryLines(delay) => {
                let pack_line = if self.fields == 1 {
                    self.line
                } else {
                    (self.line - self.field) / 2
                };
                let end = complete || (pack_line > self.last_pack_line && pack_line % delay == 0);
                if end {
                    self.last_pack_line = pack_line;
                }
                end
            }
        };
        Some(PlannedPacket {
            segments: first_segment..segments.len(),
            header: header_start..headers.len(),
            payload_len,
            field,
            marker: complete,
            list_end,
        })
    }
}

/// When stock pushes the list of packets it is building.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ListRule {
    /// No lists: every packet alone.
    EveryPacket,
    /// After a packet that ends a multiple of this many packed lines.
    EveryLines(usize),
}

impl ListRule {
    /// rtpvrawpay's choice: lists of about height / chunks lines (rounded
    /// up to 4), unless a chunk would hold a single packet or line.
    fn new(geometry: Geometry, mtu: usize, chunks: u32) -> Self {
        let chunks = chunks.max(1) as usize;
        let (width, height) = (geometry.width as usize, geometry.height as usize);
        let pgroup = geometry.sampling.pgroup();
        let xinc = geometry.sampling.xinc();
        let yinc = geometry.yinc();
        let delay = (height / chunks).div_ceil(4) * 4;
        // Stock estimates the packets of a chunk in floating point.
        let groups_per_packet = mtu.saturating_sub(26) / pgroup;
        let packets_per_line = width as f32 / (xinc * groups_per_packet) as f32;
        let lines_per_list = height / (yinc * chunks);
        let per_list = (lines_per_list as f32 * packets_per_line) as u64;
        let per_list = per_list.div_ceil(8).saturating_mul(8);
        if per_list > 1 && chunks < height / yinc && delay > 0 {
            ListRule::EveryLines(delay)
        } else {
            ListRule::EveryPacket
        }
    }
}

/// One line header: length, F + line number, C + offset.
fn line_header(field: bool, line: usize, offset: usize, len: usize, cont: bool) -> [u8; 6] {
    let line = (line as u16 & 0x7fff) | ((field as u16) << 15);
    let offset = (offset as u16 & 0x7fff) | ((cont as u16) << 15);
    let [l0, l1] = (len as u16).to_be_bytes();
    let [n0, n1] = line.to_be_bytes();
    let [o0, o1] = offset.to_be_bytes();
    [l0, l1, n0, n1, o0, o1]
}

/// The chroma row of a luma line: stock divides by the line step, the
/// field doubling included.
fn chroma_row(geometry: &Geometry, line: usize) -> usize {
    line / geometry.yinc()
}

/// Copy one segment's carried bytes (`Segment::carried`) out of a frame into
/// `dst`. False (nothing promised
/// about `dst`) when the frame is too small for it.
pub fn pack_segment(
    geometry: &Geometry,
    layout: &PlaneLayout,
    seg: &Segment,
    frame: &[u8],
    dst: &mut [u8],
) -> bool {
    let sampling = geometry.sampling;
    let line = seg.line as usize;
    let offset = seg.offset as usize;
    let groups = seg.pgroups(sampling);
    let Some(dst) = dst.get_mut(..seg.carried(sampling)) else {
        return false;
    };
    let [o0, o1, o2] = layout.offsets;
    let [s0, s1, _] = layout.strides;
    let row0 = o0 + line * s0;
    match sampling {
        _ if sampling.is_packed() => {
            let start = row0 + (offset / sampling.xinc()) * sampling.pgroup();
            match frame.get(start..start + dst.len()) {
                Some(src) => dst.copy_from_slice(src),
                None => return false,
            }
        }
        Sampling::Ayuv => {
            let start = row0 + offset * 4;
            let Some(src) = frame.get(start..start + groups * 4) else {
                return false;
            };
            for (d, s) in dst.chunks_exact_mut(3).zip(src.chunks_exact(4)) {
                d.copy_from_slice(&[s[2], s[1], s[3]]);
            }
        }
        Sampling::I420 => {
            let y1 = row0 + offset;
            let y2 = y1 + s0;
            let uv = chroma_row(geometry, line) * s1 + offset / 2;
            let (Some(y1), Some(y2), Some(u), Some(v)) = (
                frame.get(y1..y1 + groups * 2),
                frame.get(y2..y2 + groups * 2),
                frame.get(o1 + uv..o1 + uv + groups),
                frame.get(o2 + uv..o2 + uv + groups),
            ) else {
                return false;
            };
            for (i, d) in dst.chunks_exact_mut(6).enumerate() {
                d.copy_from_slice(&[
                    y1[2 * i],
                    y1[2 * i + 1],
                    y2[2 * i],
                    y2[2 * i + 1],
                    u[i],
                    v[i],
                ]);
            }
        }
        Sampling::Y41b => {
            let y = row0 + offset;
            let uv = chroma_row(geometry, line) * s1 + offset / 4;
            let (Some(y), Some(u), Some(v)) = (
                frame.get(y..y + groups * 4),
                frame.get(o1 + uv..o1 + uv + groups),
                frame.get(o2 + uv..o2 + uv + groups),
            ) else {
                return false;
            };
            for (i, d) in dst.chunks_exact_mut(6).enumerate() {
                let y = &y[4 * i..4 * i + 4];
                d.copy_from_slice(&[u[i], y[0], y[1], v[i], y[2], y[3]]);
            }
        }
        _ => unreachable!("packed formats handled above"),
    }
    true
}

/// Write one segment's wire bytes (`src`, whole groups) into a frame. False
/// when the frame is too small for it (nothing written past its end).
pub fn unpack_segment(
    geometry: &Geometry,
    layout: &PlaneLayout,
    seg: &Segment,
    src: &[u8],
    frame: &mut [u8],
) -> bool {
    let sampling = geometry.sampling;
    let line = seg.line as usize;
    let offset = seg.offset as usize;
    let src = &src[..(seg.len as usize).min(src.len())];
    let groups = src.len() / sampling.pgroup();
    let [o0, o1, o2] = layout.offsets;
    let [s0, s1, _] = layout.strides;
    let row0 = o0 + line * s0;
    match sampling {
        _ if sampling.is_packed() => {
            let start = row0 + (offset / sampling.xinc()) * sampling.pgroup();
            match frame.get_mut(start..start + src.len()) {
                Some(dst) => dst.copy_from_slice(src),
                None => return false,
            }
        }
        Sampling::Ayuv => {
            let start = row0 + offset * 4;
            let Some(dst) = frame.get_mut(start..start + groups * 4) else {
                return false;
            };
            for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(3)) {
                d.copy_from_slice(&[0, s[1], s[0], s[2]]);
            }
        }
        Sampling::I420 => {
            let y1 = row0 + offset;
            let y2 = y1 + s0;
            let uv = chroma_row(geometry, line) * s1 + offset / 2;
            let ok = frame.len() >= y2 + groups * 2
                && frame.len() >= o1 + uv + groups
                && frame.len() >= o2 + uv + groups;
            if !ok {
                return false;
            }
            for (i, s) in src.chunks_exact(6).enumerate() {
                frame[y1 + 2 * i..y1 + 2 * i + 2].copy_from_slice(&s[0..2]);
                frame[y2 + 2 * i..y2 + 2 * i + 2].copy_from_slice(&s[2..4]);
                frame[o1 + uv + i] = s[4];
                frame[o2 + uv + i] = s[5];
            }
        }
        Sampling::Y41b => {
            let y = row0 + offset;
            let uv = chroma_row(geometry, line) * s1 + offset / 4;
            let ok = frame.len() >= y + groups * 4
                && frame.len() >= o1 + uv + groups
                && frame.len() >= o2 + uv + groups;
            if !ok {
                return false;
            }
            for (i, s) in src.chunks_exact(6).enumerate() {
                frame[o1 + uv + i] = s[0];
                frame[y + 4 * i..y + 4 * i + 2].copy_from_slice(&s[1..3]);
                frame[o2 + uv + i] = s[3];
                frame[y + 4 * i + 2..y + 4 * i + 4].copy_from_slice(&s[4..6]);
            }
        }
        _ => unreachable!("packed formats handled above"),
    }
    true
}

/// Why a received payload (or one of its segments) is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// Shorter than the extended seqnum and one header, or the header chain
    /// (continuation bits) runs past the payload.
    Short,
    /// A length that is not whole pixel groups.
    Length { line: u16 },
    /// Zero-length segment.
    Empty { line: u16 },
    /// Line past the frame.
    Line { line: u16 },
    /// Offset past the line.
    Offset { line: u16, offset: u16 },
    /// Segment data past the payload.
    Truncated { line: u16 },
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Malformed::Short => f.write_str("short packet or unterminated line header chain"),
            Malformed::Length { line } => write!(f, "line {line}: length not whole pixel groups"),
            Malformed::Empty { line } => write!(f, "line {line}: zero-length segment"),
            Malformed::Line { line } => write!(f, "line {line} past the frame"),
            Malformed::Offset { line, offset } => {
                write!(f, "line {line}: offset {offset} past the line")
            }
            Malformed::Truncated { line } => write!(f, "line {line}: data past the payload"),
        }
    }
}

/// A received segment, checked against the frame: where its bytes are in
/// the payload, clipped to the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedSegment {
    pub segment: Segment,
    pub data: Range<usize>,
}

/// Parse and check the line headers of a payload (after the RTP header):
/// the segments to write, each clipped to its line. A header chain that
/// does not end within the payload refuses the whole packet
/// (`Err(Short)`); a bad segment is left out and reported in `bad` (the
/// first one), the others are kept, as stock skips them.
pub fn parse_payload(
    geometry: &Geometry,
    payload: &[u8],
    out: &mut Vec<ReceivedSegment>,
    bad: &mut Option<Malformed>,
) -> Result<(), Malformed> {
    out.clear();
    *bad = None;
    if payload.len() < EXT_SEQ_LEN + LINE_HEADER_LEN {
        return Err(Malformed::Short);
    }
    let body = &payload[EXT_SEQ_LEN..];
    // The header chain first: it must end within the payload.
    let mut count = 0;
    loop {
        let Some(h) = body.get(count * LINE_HEADER_LEN..(count + 1) * LINE_HEADER_LEN) else {
            return Err(Malformed::Short);
        };
        count += 1;
        if h[4] & 0x80 == 0 {
            break;
        }
    }
    let sampling = geometry.sampling;
    let pgroup = sampling.pgroup();
    let xinc = sampling.xinc();
    let width = geometry.width as usize;
    let height = geometry.height as usize;
    let mut at = EXT_SEQ_LEN + count * LINE_HEADER_LEN;
    for h in body[..count * LINE_HEADER_LEN].chunks_exact(LINE_HEADER_LEN) {
        let len = u16::from_be_bytes([h[0], h[1]]) as usize;
        let field = h[2] & 0x80 != 0;
        let line = u16::from_be_bytes([h[2] & 0x7f, h[3]]);
        let offset = u16::from_be_bytes([h[4] & 0x7f, h[5]]);
        let start = at;
        at = at.saturating_add(carried(sampling, len));
        let mut note = |m: Malformed| {
            bad.get_or_insert(m);
        };
        if len == 0 {
            note(Malformed::Empty { line });
            continue;
        }
        if line as usize >= height {
            note(Malformed::Line { line });
            continue;
        }
        if offset as usize >= width || !(offset as usize).is_multiple_of(xinc) {
            note(Malformed::Offset { line, offset });
            continue;
        }
        // The rest of the line; it may end in a partial group (a width that
        // is not whole groups), which is the only length allowed to.
        let line_rest = geometry.bytes_of(width - offset as usize);
        if !len.is_multiple_of(pgroup) && len != line_rest {
            note(Malformed::Length { line });
            continue;
        }
        if start >= payload.len() {
            note(Malformed::Truncated { line });
            continue;
        }
        let avail = payload.len() - start;
        let mut bytes = carried(sampling, len).min(avail).min(line_rest);
        if bytes < line_rest || !sampling.is_packed() {
            bytes -= bytes % pgroup;
        }
        if bytes < carried(sampling, len) {
            // Clipped to the line (stock clips too, with a warning) or to the
            // payload.
            note(if bytes < avail {
                Malformed::Offset { line, offset }
            } else {
                Malformed::Truncated { line }
            });
        }
        if bytes == 0 {
            continue;
        }
        out.push(ReceivedSegment {
            segment: Segment {
                field,
                line,
                offset,
                len: bytes as u16,
            },
            data: start..start + bytes,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geo(sampling: Sampling, width: u32, height: u32, interlaced: bool) -> Geometry {
        Geometry {
            sampling,
            width,
            height,
            interlaced,
        }
    }

    /// A default GStreamer layout for the tests (strides rounded to 4).
    fn layout(g: &Geometry) -> (PlaneLayout, usize) {
        let w = g.width as usize;
        let h = g.height as usize;
        let r4 = |x: usize| x.div_ceil(4) * 4;
        match g.sampling {
            Sampling::I420 => {
                let s0 = r4(w);
                let s1 = r4(w.div_ceil(2));
                let h2 = h.div_ceil(2) * 2;
                let o1 = s0 * h2;
                let o2 = o1 + s1 * h2 / 2;
                (
                    PlaneLayout {
                        offsets: [0, o1, o2],
                        strides: [s0, s1, s1],
                    },
                    o2 + s1 * h2 / 2,
                )
            }
            Sampling::Y41b => {
                let s0 = r4(w);
                let s1 = r4(w.div_ceil(4));
                let o1 = s0 * h;
                let o2 = o1 + s1 * h;
                (
                    PlaneLayout {
                        offsets: [0, o1, o2],
                        strides: [s0, s1, s1],
                    },
                    o2 + s1 * h,
                )
            }
            Sampling::Ayuv | Sampling::Rgba | Sampling::Bgra => {
                let s = w * 4;
                (
                    PlaneLayout {
                        offsets: [0; 3],
                        strides: [s, 0, 0],
                    },
                    s * h,
                )
            }
            s => {
                let s = r4(w.div_ceil(s.xinc()) * s.pgroup());
                (
                    PlaneLayout {
                        offsets: [0; 3],
                        strides: [s, 0, 0],
                    },
                    s * h,
                )
            }
        }
    }

    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    /// Every pixel of every line is sent once, in order, within the MTU.
    #[test]
    fn plan_covers_every_line_once_within_mtu() {
        for s in ALL_SAMPLINGS {
            for (w, h) in [(1, 1), (2, 2), (321, 241), (640, 480), (1920, 8)] {
                for interlaced in [false, true] {
                    for mtu in [60, 1400, 9000] {
                        let g = geo(s, w, h, interlaced);
                        let mut plan = FramePlan::default();
                        if plan.plan(g, mtu, 0, 10).is_err() {
                            assert!(mtu - 14 <= 6 + s.pgroup());
                            continue;
                        }
                        let mut covered = vec![0usize; h as usize];
                        for p in &plan.packets {
                            assert!(12 + p.header.len() + p.payload_len <= mtu);
                            assert!(!p.segments.is_empty());
                            for seg in &plan.segments[p.segments.clone()] {
                                let l = seg.line as usize;
                                assert_eq!(seg.offset as usize, covered[l]);
                                covered[l] += seg.len as usize / s.pgroup() * s.xinc();
                            }
                        }
                        for (l, px) in covered.iter().enumerate() {
                            if l % g.yinc() < g.fields() {
                                let full = (w as usize / s.xinc()) * s.xinc();
                                assert!(*px >= full, "{s:?} {w}x{h} line {l}");
                            } else {
                                assert_eq!(*px, 0);
                            }
                        }
                        let markers = plan.packets.iter().filter(|p| p.marker).count();
                        assert_eq!(markers, g.fields().min(h as usize));
                        assert!(plan.packets.last().unwrap().list_end);
                    }
                }
            }
        }
    }

    #[test]
    fn headers_have_continuation_on_all_but_the_last_segment() {
        let g = geo(Sampling::Uyvy, 64, 16, false);
        let mut plan = FramePlan::default();
        plan.plan(g, 1400, 0, 1).unwrap();
        for p in &plan.packets {
            let h = &plan.headers[p.header.clone()];
            assert_eq!(&h[..2], &[0, 0]);
            let n = p.segments.len();
            for (i, lh) in h[2..].chunks_exact(6).enumerate() {
                assert_eq!(lh[4] & 0x80 != 0, i + 1 < n);
            }
        }
        // 64 UYVY pixels are 128 bytes + 6 header: 10 lines fit in the 1386
        // bytes, and 40 bytes (10 groups) of the 11th.
        assert_eq!(plan.packets[0].segments.len(), 11);
        assert_eq!(plan.segments[10].len, 40);
    }

    #[test]
    fn too_small_mtu_is_an_error() {
        let g = geo(Sampling::Rgb, 16, 16, false);
        let mut plan = FramePlan::default();
        assert_eq!(plan.plan(g, 12 + 2 + 9, 0, 1), Err(PlanError::TooSmall));
        assert!(plan.plan(g, 12 + 2 + 10, 0, 1).is_ok());
        let g0 = geo(Sampling::Rgb, 0, 16, false);
        assert_eq!(plan.plan(g0, 1400, 0, 1), Err(PlanError::BadDimensions));
    }

    /// Pack then unpack gives the frame back (where the wire has it).
    #[test]
    fn pack_unpack_round_trip() {
        for s in ALL_SAMPLINGS {
            for (w, h) in [(2, 2), (8, 4), (320, 240), (64, 9), (321, 241), (162, 7)] {
                let g = geo(s, w, h, false);
                let (lay, size) = layout(&g);
                let mut next = rng(w as u64 * 31 + h as u64);
                let frame: Vec<u8> = (0..size).map(|_| next() as u8).collect();
                let mut plan = FramePlan::default();
                plan.plan(g, 1400, 0, 10).unwrap();
                let mut wire = vec![0u8; plan.payload_bytes()];
                assert!(plan.pack_frame(&frame, &lay, &mut wire));
                let mut back = vec![0u8; size];
                let mut segs = Vec::new();
                let mut bad = None;
                let mut start = 0;
                for p in &plan.packets {
                    let mut payload = plan.headers[p.header.clone()].to_vec();
                    payload.extend_from_slice(&wire[start..start + p.payload_len]);
                    start += p.payload_len;
                    parse_payload(&g, &payload, &mut segs, &mut bad).unwrap();
                    assert_eq!(bad, None);
                    for r in &segs {
                        let data = &payload[r.data.clone()];
                        assert!(unpack_segment(&g, &lay, &r.segment, data, &mut back));
                    }
                }
                let mut wire2 = vec![0u8; plan.payload_bytes()];
                assert!(plan.pack_frame(&back, &lay, &mut wire2));
                assert_eq!(wire, wire2, "{s:?} {w}x{h}");
            }
        }
    }

    #[test]
    fn contiguous_ranges_only_without_padding() {
        let g = geo(Sampling::Uyvy, 640, 8, false);
        let (lay, _) = layout(&g);
        let mut plan = FramePlan::default();
        plan.plan(g, 1400, 0, 1).unwrap();
        let mut ranges = Vec::new();
        assert!(plan.contiguous_ranges(&lay, &mut ranges));
        assert_eq!(ranges.len(), plan.packets.len());
        assert_eq!(ranges.last().unwrap().end, 640 * 2 * 8);
        let padded = PlaneLayout {
            strides: [640 * 2 + 64, 0, 0],
            ..lay
        };
        assert!(!plan.contiguous_ranges(&padded, &mut ranges));
        let gi = geo(Sampling::Uyvy, 640, 8, true);
        plan.plan(gi, 1400, 0, 1).unwrap();
        assert!(!plan.contiguous_ranges(&lay, &mut ranges));
    }

    /// The element's quick test agrees with checking every packet.
    #[test]
    fn contiguous_in_agrees_with_the_plan() {
        for s in ALL_SAMPLINGS {
            for (w, h) in [(320, 8), (321, 9), (2, 3), (1920, 4)] {
                for interlaced in [false, true] {
                    let g = geo(s, w, h, interlaced);
                    let (lay, _) = layout(&g);
                    let padded = PlaneLayout {
                        strides: [lay.strides[0] + 8, lay.strides[1], lay.strides[2]],
                        offsets: [16, lay.offsets[1] + 16, lay.offsets[2] + 16],
                    };
                    let mut plan = FramePlan::default();
                    plan.plan(g, 1400, 0, 10).unwrap();
                    let mut ranges = Vec::new();
                    for l in [lay, padded] {
                        let all = plan.contiguous_ranges(&l, &mut ranges);
                        assert_eq!(contiguous_in(&g, &l), all, "{s:?} {w}x{h} {l:?}");
                        if all {
                            for (p, r) in plan.packets.iter().zip(&ranges) {
                                let first = &plan.segments[p.segments.start];
                                assert_eq!(r.start, packed_start(&g, &l, first));
                                assert_eq!(r.len(), p.payload_len);
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn parse_accepts_what_plan_writes() {
        let g = geo(Sampling::I420, 321, 241, false);
        let mut plan = FramePlan::default();
        plan.plan(g, 1400, 0, 10).unwrap();
        let mut segs = Vec::new();
        let mut bad = None;
        for p in &plan.packets {
            let mut payload = plan.headers[p.header.clone()].to_vec();
            payload.resize(payload.len() + p.payload_len, 0);
            parse_payload(&g, &payload, &mut segs, &mut bad).unwrap();
            assert_eq!(bad, None);
            // Received segments are what the packet carries.
            let want: Vec<Segment> = plan.segments[p.segments.clone()]
                .iter()
                .map(|s| Segment {
                    len: s.carried(g.sampling) as u16,
                    ..*s
                })
                .collect();
            let got: Vec<Segment> = segs.iter().map(|s| s.segment).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn parse_refuses_bad_headers() {
        let g = geo(Sampling::Uyvy, 16, 4, false);
        let mut segs = Vec::new();
        let mut bad = None;
        let hdr = |len: u16, line: u16, off: u16, cont: bool| {
            let mut v = len.to_be_bytes().to_vec();
            v.extend(line.to_be_bytes());
            v.extend((off | if cont { 0x8000 } else { 0 }).to_be_bytes());
            v
        };
        let pkt = |hs: &[Vec<u8>], data: usize| {
            let mut v = vec![0, 0];
            for h in hs {
                v.extend(h);
            }
            v.resize(v.len() + data, 7);
            v
        };
        // Chain that never ends.
        let p = pkt(&[hdr(4, 0, 0, true), hdr(4, 1, 0, true)], 0);
        assert_eq!(
            parse_payload(&g, &p, &mut segs, &mut bad),
            Err(Malformed::Short)
        );
        assert_eq!(
            parse_payload(&g, &[0, 0, 1], &mut segs, &mut bad),
            Err(Malformed::Short)
        );
        // Line past the frame, zero length, odd length, offset past width.
        for (h, want) in [
            (hdr(4, 4, 0, false), Malformed::Line { line: 4 }),
            (hdr(0, 1, 0, false), Malformed::Empty { line: 1 }),
            (hdr(3, 1, 0, false), Malformed::Length { line: 1 }),
            (
                hdr(4, 1, 16, false),
                Malformed::Offset {
                    line: 1,
                    offset: 16,
                },
            ),
        ] {
            parse_payload(&g, &pkt(&[h], 4), &mut segs, &mut bad).unwrap();
            assert!(segs.is_empty());
            assert_eq!(bad, Some(want));
        }
        // Longer than the line: clipped to it.
        parse_payload(&g, &pkt(&[hdr(40, 1, 8, false)], 40), &mut segs, &mut bad).unwrap();
        assert_eq!(segs[0].segment.len, 16);
        // Longer than the payload: clipped to it.
        parse_payload(&g, &pkt(&[hdr(32, 1, 0, false)], 8), &mut segs, &mut bad).unwrap();
        assert_eq!(segs[0].segment.len, 8);
        assert_eq!(bad, Some(Malformed::Truncated { line: 1 }));
    }

    /// Random payloads never panic, every accepted segment is within the
    /// payload and the frame, and writing it stays in bounds.
    #[test]
    fn random_payloads_are_safe() {
        let mut next = rng(42);
        for s in ALL_SAMPLINGS {
            let g = geo(s, 37, 19, false);
            let (lay, size) = layout(&g);
            let mut frame = vec![0u8; size];
            let mut segs = Vec::new();
            let mut bad = None;
            for _ in 0..3000 {
                let len = (next() % 80) as usize;
                let mut p: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                // Bias towards plausible headers.
                if len >= 8 && next().is_multiple_of(2) {
                    p[2] = 0;
                    p[3] = (next() % 24) as u8;
                    p[4] = (next() % 2) as u8;
                    p[5] = (next() % 40) as u8;
                    p[6] &= 0x80 | (next() % 4) as u8;
                }
                if parse_payload(&g, &p, &mut segs, &mut bad).is_ok() {
                    for r in &segs {
                        assert!(r.data.end <= p.len());
                        assert!((r.segment.line as u32) < g.height);
                        assert!((r.segment.offset as u32) < g.width);
                        unpack_segment(&g, &lay, &r.segment, &p[r.data.clone()], &mut frame);
                    }
                }
            }
        }
    }
}
