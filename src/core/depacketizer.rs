//! NAL-unit depacketizer (RFC 6184 / RFC 7798, non-interleaved mode): a state
//! machine that writes NAL units straight into the caller's output (a pooled
//! buffer in the element, a Vec in tests), so steady state copies each payload
//! byte once and allocates nothing.

use super::nal::{NalCodec, ParamSet, ParamSets, PayloadKind};
use smallvec::SmallVec;
use std::marker::PhantomData;
use std::ops::Range;

/// Where assembled NAL units are written.
pub trait AuSink {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn extend_from_slice(&mut self, bytes: &[u8]);
    fn truncate(&mut self, len: usize);
    fn as_slice(&self) -> &[u8];
    fn patch(&mut self, at: usize, bytes: &[u8]);
    /// A NAL unit was completed into the unit (`fragmented`: from the
    /// fragments since the last [`fragment_part`](Self::fragment_part)
    /// that began one), else from the current packet. For sinks that follow
    /// where each NAL unit came from (metas); nothing by default.
    #[inline(always)]
    fn nal_done(&mut self, _fragmented: bool) {}
    /// The current packet carries a fragment of a NAL unit (`begins`: its
    /// first).
    #[inline(always)]
    fn fragment_part(&mut self, _begins: bool) {}
}

impl AuSink for Vec<u8> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        Vec::extend_from_slice(self, bytes)
    }
    fn truncate(&mut self, len: usize) {
        Vec::truncate(self, len)
    }
    fn as_slice(&self) -> &[u8] {
        self
    }
    fn patch(&mut self, at: usize, bytes: &[u8]) {
        self[at..at + bytes.len()].copy_from_slice(bytes)
    }
}

/// Output framing: Annex-B start codes or 4-byte lengths (avc/hvc1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StreamFormat {
    #[default]
    ByteStream,
    LengthPrefixed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DepayConfig {
    pub format: StreamFormat,
    /// Output whole access units (true) or one NAL unit at a time.
    pub au_alignment: bool,
    /// After a loss, drop output until the next intact keyframe.
    pub wait_for_keyframe: bool,
}

impl Default for DepayConfig {
    fn default() -> Self {
        DepayConfig {
            format: StreamFormat::ByteStream,
            au_alignment: true,
            wait_for_keyframe: false,
        }
    }
}

/// Why a packet was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    Empty,
    /// NAL or aggregation entry shorter than a NAL header, or a length field
    /// past the end of the packet.
    Truncated,
    Unsupported(u8),
    FuWithoutStart,
    FuTypeMismatch,
    /// FU with both start and end set, or too short.
    BadFu,
}

/// One unit handed to `emit`: an access unit (or NAL unit with nal
/// alignment) now in the sink.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuInfo {
    /// Holds an IDR/IRAP picture.
    pub keyframe: bool,
    /// Holds a parameter set (byte-stream only: avc/hvc1 carry them in
    /// codec_data). Stock counts these as key units too (not DELTA_UNIT).
    pub param_sets: bool,
    /// The RTP marker completed this unit: the access unit with alignment
    /// au, the last NAL unit of a marker packet with alignment nal.
    pub marker: bool,
    /// Data was lost since the previous output.
    pub discont: bool,
    pub nal_units: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DepayStats {
    pub packets: u64,
    pub bytes: u64,
    pub dropped: u64,
    pub lost_fragments: u64,
    pub units_out: u64,
    pub dropped_units: u64,
    pub keyframes: u64,
}

#[derive(Clone, Copy)]
struct Fragment {
    /// Offset in the sink where this NAL's prefix starts.
    start: usize,
    header: [u8; 2],
}

pub struct NalDepacketizer<C: NalCodec> {
    cfg: DepayConfig,
    au_ts: Option<u32>,
    au_keyframe: bool,
    au_param_sets: bool,
    /// The unit in progress holds a picture (a VCL NAL unit, or the start
    /// of one in fragments). Until it
    /// does, a timestamp change does not complete it: parameter sets or
    /// SEI sent ahead with their own timestamp go with the next picture,
    /// as in stock.
    au_picture: bool,
    au_damaged: bool,
    au_nals: u32,
    fu: Option<Fragment>,
    params: ParamSets,
    params_changed: bool,
    waiting_keyframe: bool,
    /// The next unit output follows dropped data.
    next_discont: bool,
    /// The marker bit of the packet being pushed.
    pkt_marker: bool,
    loss_seen: bool,
    stats: DepayStats,
    _codec: PhantomData<C>,
}

/// One RTP packet's worth of input.
#[derive(Clone, Copy, Debug)]
pub struct PacketIn<'a> {
    pub payload: &'a [u8],
    pub timestamp: u32,
    pub marker: bool,
    /// Packets were lost before this one (seqnum gap).
    pub discont: bool,
}

const START_CODE: [u8; 4] = [0, 0, 0, 1];

impl<C: NalCodec> NalDepacketizer<C> {
    pub fn new(cfg: DepayConfig) -> Self {
        NalDepacketizer {
            cfg,
            au_ts: None,
            au_keyframe: false,
            au_param_sets: false,
            au_picture: false,
            au_damaged: false,
            au_nals: 0,
            fu: None,
            params: ParamSets::default(),
            params_changed: false,
            waiting_keyframe: cfg.wait_for_keyframe,
            next_discont: false,
            pkt_marker: false,
            loss_seen: false,
            stats: DepayStats::default(),
            _codec: PhantomData,
        }
    }

    pub fn config(&self) -> DepayConfig {
        self.cfg
    }

    pub fn set_config(&mut self, cfg: DepayConfig) {
        self.cfg = cfg;
    }

    pub fn stats(&self) -> DepayStats {
        self.stats
    }

    pub fn params(&self) -> &ParamSets {
        &self.params
    }

    /// Parameter sets from caps (sprop-*).
    pub fn set_param(&mut self, kind: ParamSet, nal: &[u8]) {
        self.params_changed |= self.params.update(kind, nal);
    }

    pub fn take_params_changed(&mut self) -> bool {
        std::mem::take(&mut self.params_changed)
    }

    /// True once after a loss was detected (element may request a keyframe).
    pub fn take_loss(&mut self) -> bool {
        std::mem::take(&mut self.loss_seen)
    }

    /// Drop everything in progress (flush).
    pub fn reset<S: AuSink>(&mut self, sink: &mut S) {
        sink.truncate(0);
        self.fu = None;
        self.au_ts = None;
        self.au_keyframe = false;
        self.au_param_sets = false;
        self.au_picture = false;
        self.au_damaged = false;
        self.au_nals = 0;
        self.waiting_keyframe = self.cfg.wait_for_keyframe;
    }

    /// Feed one packet. Completed units are handed to `emit`, which must take
    /// the sink's content and leave it empty.
    #[inline(always)]
    pub fn push<S: AuSink>(
        &mut self,
        pkt: PacketIn<'_>,
        sink: &mut S,
        emit: &mut impl FnMut(&mut S, AuInfo),
    ) -> Result<(), DropReason> {
        self.stats.packets += 1;
        self.stats.bytes += pkt.payload.len() as u64;
        if pkt.discont {
            self.lose_fragment(sink);
            self.mark_loss();
        }
        if self.cfg.au_alignment
            && self.au_picture
            && self.au_ts.is_some_and(|ts| ts != pkt.timestamp)
        {
            // Timestamp changed without a marker: the marker packet was lost
            // or the sender does not set it; the previous AU is complete.
            self.finish_au(sink, emit, false);
        }
        self.pkt_marker = pkt.marker;
        let result = self.depacketize(pkt.payload, sink, emit);
        if result.is_err() {
            self.stats.dropped += 1;
        }
        if self.cfg.au_alignment {
            if sink.len() > 0 || self.au_nals > 0 {
                self.au_ts = Some(pkt.timestamp);
            }
            if pkt.marker {
                self.finish_au(sink, emit, true);
            }
        }
        result
    }

    /// End of stream: output what is complete.
    pub fn drain<S: AuSink>(&mut self, sink: &mut S, emit: &mut impl FnMut(&mut S, AuInfo)) {
        self.finish_au(sink, emit, false);
    }

    /// The unit in progress holds no picture yet (nothing, or only
    /// parameter sets / SEI / delimiters): the picture that completes it
    /// gives it its time.
    #[inline]
    pub fn au_without_picture(&self) -> bool {
        !self.au_picture
    }

    fn mark_loss(&mut self) {
        self.au_damaged = true;
        self.loss_seen = true;
    }

    fn lose_fragment<S: AuSink>(&mut self, sink: &mut S) {
        if let Some(fu) = self.fu.take() {
            sink.truncate(fu.start);
            self.stats.lost_fragments += 1;
            self.mark_loss();
        }
    }

    #[inline(always)]
    fn depacketize<S: AuSink>(
        &mut self,
        p: &[u8],
        sink: &mut S,
        emit: &mut impl FnMut(&mut S, AuInfo),
    ) -> Result<(), DropReason> {
        if p.is_empty() {
            return Err(DropReason::Empty);
        }
        let t = C::nal_type(p);
        match C::payload_kind(t) {
            PayloadKind::Single => {
                if p.len() < C::NAL_HEADER_LEN {
                    return Err(DropReason::Truncated);
                }
                self.lose_fragment(sink);
                self.write_nal(p, sink, emit, true);
                Ok(())
            }
            PayloadKind::Aggregate => {
                // Validate every entry before writing any, so a bad length
                // field never leaves half a packet in the output.
                let mut entries: SmallVec<[Range<usize>; 16]> = SmallVec::new();
                let mut pos = C::AGG_HEADER_LEN;
                while pos < p.len() {
                    if pos + 2 > p.len() {
                        return Err(DropReason::Truncated);
                    }
                    let n = u16::from_be_bytes([p[pos], p[pos + 1]]) as usize;
                    pos += 2;
                    if n < C::NAL_HEADER_LEN || pos + n > p.len() {
                        return Err(DropReason::Truncated);
                    }
                    entries.push(pos..pos + n);
                    pos += n;
                }
                if entries.is_empty() {
                    return Err(DropReason::Truncated);
                }
                self.lose_fragment(sink);
                let last = entries.len() - 1;
                for (i, r) in entries.into_iter().enumerate() {
                    self.write_nal(&p[r], sink, emit, i == last);
                }
                Ok(())
            }
            PayloadKind::Fragment => {
                let (start, end, header) = C::fu_parse(p).ok_or(DropReason::BadFu)?;
                let body = &p[C::FU_OVERHEAD..];
                if start {
                    self.lose_fragment(sink);
                    let at = sink.len();
                    sink.extend_from_slice(&START_CODE);
                    sink.extend_from_slice(&header[..C::NAL_HEADER_LEN]);
                    sink.extend_from_slice(body);
                    self.fu = Some(Fragment { start: at, header });
                    sink.fragment_part(true);
                    // A picture begins here: the unit keeps its time from
                    // now on (the element re-times a unit without one).
                    self.au_picture |= C::is_vcl(C::nal_type(&header));
                } else {
                    match self.fu {
                        None => {
                            // Its start was lost: the NAL is unusable.
                            self.mark_loss();
                            return Err(DropReason::FuWithoutStart);
                        }
                        Some(fu) if fu.header != header => {
                            self.lose_fragment(sink);
                            return Err(DropReason::FuTypeMismatch);
                        }
                        Some(_) => {
                            sink.extend_from_slice(body);
                            sink.fragment_part(false);
                        }
                    }
                }
                if end {
                    if let Some(fu) = self.fu.take() {
                        self.complete_nal(fu.start, sink, emit, true, true);
                    }
                }
                Ok(())
            }
            PayloadKind::Unsupported => Err(DropReason::Unsupported(t)),
        }
    }

    fn write_nal<S: AuSink>(
        &mut self,
        nal: &[u8],
        sink: &mut S,
        emit: &mut impl FnMut(&mut S, AuInfo),
        last_in_packet: bool,
    ) {
        let at = sink.len();
        sink.extend_from_slice(&START_CODE);
        sink.extend_from_slice(nal);
        self.complete_nal(at, sink, emit, last_in_packet, false);
    }

    /// A whole NAL unit now sits at `sink[at..]` behind a 4-byte start code
    /// (`last_in_packet`: the packet has no NAL unit after it).
    fn complete_nal<S: AuSink>(
        &mut self,
        at: usize,
        sink: &mut S,
        emit: &mut impl FnMut(&mut S, AuInfo),
        last_in_packet: bool,
        fragmented: bool,
    ) {
        let nal_len = sink.len() - at - 4;
        let t = C::nal_type(&sink.as_slice()[at + 4..]);
        if let Some(kind) = C::param_set(t) {
            let changed = self.params.update(kind, &sink.as_slice()[at + 4..]);
            self.params_changed |= changed;
            if self.cfg.format == StreamFormat::LengthPrefixed {
                // avc/hvc1 carry parameter sets in codec_data, not in-band.
                sink.truncate(at);
                return;
            }
            self.au_param_sets = true;
        }
        if self.cfg.format == StreamFormat::LengthPrefixed {
            sink.patch(at, &(nal_len as u32).to_be_bytes());
        }
        self.au_keyframe |= C::is_keyframe(t);
        self.au_picture |= C::is_vcl(t);
        self.au_nals += 1;
        sink.nal_done(fragmented);
        if !self.cfg.au_alignment {
            self.finish_au(sink, emit, self.pkt_marker && last_in_packet);
        }
    }

    /// The unit in progress is complete (`marker`: by the RTP marker).
    /// Once per unit: out of line, so `push` stays small enough to inline.
    #[inline(never)]
    fn finish_au<S: AuSink>(
        &mut self,
        sink: &mut S,
        emit: &mut impl FnMut(&mut S, AuInfo),
        marker: bool,
    ) {
        self.lose_fragment(sink);
        let damaged = self.au_damaged;
        let info = AuInfo {
            keyframe: self.au_keyframe,
            param_sets: self.au_param_sets,
            marker,
            discont: damaged || self.next_discont,
            nal_units: self.au_nals,
        };
        self.au_ts = None;
        self.au_keyframe = false;
        self.au_param_sets = false;
        self.au_picture = false;
        self.au_nals = 0;
        if sink.is_empty() {
            // A loss with nothing assembled yet still marks the next output.
            self.next_discont |= damaged;
            self.au_damaged = false;
            return;
        }
        self.au_damaged = false;
        if self.cfg.wait_for_keyframe && self.cfg.au_alignment {
            if damaged {
                self.waiting_keyframe = true;
            }
            if self.waiting_keyframe {
                if info.keyframe && !damaged {
                    self.waiting_keyframe = false;
                } else {
                    sink.truncate(0);
                    self.stats.dropped_units += 1;
                    self.next_discont = true;
                    return;
                }
            }
        }
        self.next_discont = false;
        self.stats.units_out += 1;
        self.stats.keyframes += info.keyframe as u64;
        emit(sink, info);
        debug_assert!(sink.is_empty(), "emit must take the unit");
        sink.truncate(0);
    }
}

#[cfg(test)]
mod tests;
