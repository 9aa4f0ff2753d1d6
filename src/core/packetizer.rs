//! NAL-unit packetizer (RFC 6184 / RFC 7798, non-interleaved mode) as a plan
//! of packets over the input bytes, so the element can build each packet from
//! a small pooled header memory plus a shared slice of the input memory.

use super::nal::{NalCodec, ParamSet, ParamSets};
use super::rtp::RTP_HEADER_LEN;
use smallvec::SmallVec;
use std::marker::PhantomData;
use std::ops::Range;

/// `aggregate-mode` of the stock payloaders (same values and nicks).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AggregateMode {
    #[default]
    None = 0,
    /// Aggregate until a VCL NAL unit is included.
    ZeroLatency = 1,
    /// Aggregate everything of one access unit that fits.
    Max = 2,
}

impl AggregateMode {
    /// From the stock elements' enum value (0, 1, 2).
    pub fn from_value(v: i32) -> AggregateMode {
        match v {
            1 => AggregateMode::ZeroLatency,
            2 => AggregateMode::Max,
            _ => AggregateMode::None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayConfig {
    /// Maximum RTP packet size, header included.
    pub mtu: usize,
    pub aggregate: AggregateMode,
    /// Seconds between re-sent parameter sets; 0 = never, -1 = with every
    /// keyframe.
    pub config_interval: i32,
}

impl Default for PayConfig {
    fn default() -> Self {
        PayConfig {
            mtu: 1400,
            aggregate: AggregateMode::None,
            config_interval: 0,
        }
    }
}

/// One RTP packet to build: RTP header, then `scratch[inline()]`, then
/// `input[payload()]` (shared, not copied).
///
/// Stored as 32-bit offsets: 20 bytes instead of 40 for two `Range<usize>`,
/// because the plan of a 1 MB keyframe (~750 packets) stays allocated in
/// every stream (measured: +37 KB resident per stream with ranges).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    inline_start: u32,
    inline_len: u32,
    pub marker: bool,
    /// GST_BUFFER_FLAG_DELTA_UNIT on the packet (see [`NalFlags`]).
    pub delta: bool,
    /// GST_BUFFER_FLAG_DISCONT on the packet: the first packet of an input
    /// flagged DISCONT.
    pub discont: bool,
    /// Units of the aggregation packet this is, 0 when it was not built by
    /// aggregating (1: a unit held for aggregation that went out alone;
    /// stock copies no input metas onto packets of two or more).
    pub agg_units: u8,
    payload_start: u32,
    payload_len: u32,
}

impl Packet {
    fn new(inline: Range<usize>, payload: Range<usize>, flags: NalFlags) -> Packet {
        Packet {
            inline_start: inline.start as u32,
            inline_len: inline.len() as u32,
            marker: false,
            delta: flags.delta,
            discont: flags.discont,
            agg_units: 0,
            payload_start: payload.start as u32,
            payload_len: payload.len() as u32,
        }
    }

    /// Bytes of the packetizer's scratch that follow the RTP header.
    pub fn inline(&self) -> Range<usize> {
        let start = self.inline_start as usize;
        start..start + self.inline_len as usize
    }

    /// Bytes of the input shared after the inline bytes.
    pub fn payload(&self) -> Range<usize> {
        let start = self.payload_start as usize;
        start..start + self.payload_len as usize
    }

    pub fn payload_len(&self) -> usize {
        self.inline_len as usize + self.payload_len as usize
    }
}

/// The storage of one input buffer's packet plan: the packets and the
/// inline bytes (FU headers, aggregation packets) they refer to. The plan is
/// only needed while one input buffer is payloaded, so an element can lend
/// the storage per input ([`NalPacketizer::lend_plan`]) from a cache shared
/// by its streams, and an idle stream keeps none of it.
#[derive(Default)]
pub struct PlanStorage {
    packets: Vec<Packet>,
    scratch: Vec<u8>,
}

/// Buffer flags of the next packet a NAL unit starts, as the stock
/// payloaders hand them down: an input buffer's DISCONT goes on its first
/// packet only; a keyframe input's first packet has no DELTA_UNIT, later
/// fragments of a NAL unit and (H.264) every later NAL unit of the input
/// have it; a delta input's packets all have it. An aggregation packet
/// takes the flags of its first unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NalFlags {
    pub delta: bool,
    pub discont: bool,
}

/// Where the bytes of a NAL unit come from.
#[derive(Clone, Copy)]
enum Source {
    Input,
    Stored(ParamSet),
}

pub struct NalPacketizer<C: NalCodec> {
    cfg: PayConfig,
    params: ParamSets,
    params_changed: bool,
    last_config_ns: Option<u64>,
    au_had_params: bool,
    /// Parameter sets asked for (a forced key unit with all headers): sent
    /// before the next unit, as stock sends them, unless that unit is a
    /// parameter set itself or its access unit already carried them.
    params_requested: bool,
    /// Pending aggregation packet body: `[size: u16][nal]...`.
    agg: Vec<u8>,
    agg_headers: SmallVec<[[u8; 2]; 16]>,
    /// Zero-latency: the pending aggregation packet holds a unit that makes
    /// it go out at the end of the input buffer.
    agg_ends_at_input_end: bool,
    /// Flags of the pending aggregation packet (its first unit's).
    agg_flags: NalFlags,
    /// Flags of the next NAL unit's first packet.
    flags: NalFlags,
    /// A unit was payloaded since the packetizer was made (the stock
    /// payloaders' DELTA_UNIT state for byte-stream input starts unset and
    /// is set by the first unit sent; flushes and caps keep it).
    sent_any: bool,
    scratch: Vec<u8>,
    packets: Vec<Packet>,
    _codec: PhantomData<C>,
}

impl<C: NalCodec> NalPacketizer<C> {
    pub fn new(cfg: PayConfig) -> Self {
        NalPacketizer {
            cfg,
            params: ParamSets::default(),
            params_changed: false,
            last_config_ns: None,
            au_had_params: false,
            params_requested: false,
            // Grown on first use and kept: an idle stream costs no buffers.
            agg: Vec::new(),
            agg_headers: SmallVec::new(),
            agg_ends_at_input_end: false,
            agg_flags: NalFlags::default(),
            flags: NalFlags::default(),
            sent_any: false,
            scratch: Vec::new(),
            packets: Vec::new(),
            _codec: PhantomData,
        }
    }

    pub fn config(&self) -> PayConfig {
        self.cfg
    }

    pub fn set_config(&mut self, cfg: PayConfig) {
        self.cfg = cfg;
    }

    pub fn params(&self) -> &ParamSets {
        &self.params
    }

    /// Parameter sets from caps (codec_data / sprop) count as seen.
    pub fn set_param(&mut self, kind: ParamSet, nal: &[u8]) {
        self.params_changed |= self.params.update(kind, nal);
    }

    /// True once after the stored parameter sets changed (caps to update).
    pub fn take_params_changed(&mut self) -> bool {
        std::mem::take(&mut self.params_changed)
    }

    pub fn scratch(&self) -> &[u8] {
        &self.scratch
    }

    pub fn packets(&self) -> &[Packet] {
        &self.packets
    }

    /// Send the stored parameter sets before the next unit (unless it or
    /// its access unit so far carries them), whatever `config-interval` says.
    pub fn request_params(&mut self) {
        self.params_requested = true;
    }

    /// Forget state between streams (flush, caps change).
    pub fn reset(&mut self) {
        self.agg.clear();
        self.agg_headers.clear();
        self.agg_ends_at_input_end = false;
        self.last_config_ns = None;
        self.au_had_params = false;
        self.begin();
    }

    /// Start a new input buffer: packets/scratch of the last one are dropped.
    /// Its packets are flagged as a keyframe's without DISCONT unless
    /// [`Self::set_input_flags`] says otherwise.
    pub fn begin(&mut self) {
        self.packets.clear();
        self.scratch.clear();
        self.flags = NalFlags::default();
    }

    /// The input buffer's own flags: `delta` (DELTA_UNIT: not a keyframe)
    /// and `discont`, for the packets it makes (see [`NalFlags`]). With
    /// `byte_stream` input, as stock's adapter path, a delta input's first
    /// packet is only flagged once some unit was sent before.
    pub fn set_input_flags(&mut self, delta: bool, discont: bool, byte_stream: bool) {
        let delta = delta && (self.sent_any || !byte_stream);
        self.flags = NalFlags { delta, discont };
    }

    /// An aggregation packet is pending (units held for the next input).
    pub fn has_pending(&self) -> bool {
        !self.agg_headers.is_empty()
    }

    /// Start a new input buffer of `input_len` bytes, reserving the plan at
    /// once (one allocation, not a doubling series, for a large keyframe).
    pub fn begin_for(&mut self, input_len: usize) {
        self.begin();
        let per_packet = self.max_payload().saturating_sub(C::FU_OVERHEAD).max(1);
        self.packets.reserve(input_len / per_packet + 8);
    }

    /// Give back a plan grown for an unusually large input, so an idle
    /// stream does not keep a keyframe's worth of it (per-stream memory
    /// budget); a normal frame's plan is kept and reused without allocating.
    pub fn release_large(&mut self) {
        const KEEP_PACKETS: usize = 256;
        const KEEP_SCRATCH: usize = 16 * 1024;
        if self.packets.capacity() > KEEP_PACKETS {
            self.packets = Vec::new();
        }
        if self.scratch.capacity() > KEEP_SCRATCH {
            self.scratch = Vec::new();
        }
    }

    /// Use `storage` for the plans from now on (the current storage is
    /// dropped). Lend before [`Self::begin_for`], take back with
    /// [`Self::take_plan`] once the plan was used.
    pub fn lend_plan(&mut self, storage: PlanStorage) {
        self.packets = storage.packets;
        self.scratch = storage.scratch;
        self.begin();
    }

    /// The plan storage, emptied (the packetizer is left with none: the
    /// next plan allocates unless storage is lent again).
    pub fn take_plan(&mut self) -> PlanStorage {
        self.begin();
        PlanStorage {
            packets: std::mem::take(&mut self.packets),
            scratch: std::mem::take(&mut self.scratch),
        }
    }

    /// Largest input buffer (and scratch) a packet plan can address.
    pub const MAX_INPUT: usize = u32::MAX as usize;

    /// Payload one NAL unit `data[range]`; `running_time_ns` drives
    /// `config-interval`. Inputs over [`Self::MAX_INPUT`] bytes are ignored
    /// (the element rejects them first). Returns false for a unit of a type
    /// RTP reserves for its own packets (H.264 24-27, H.265 48-50), which
    /// is dropped as the stock payloaders drop it: sent alone, a receiver
    /// would read it as an aggregation or fragmentation packet.
    pub fn push_nal(
        &mut self,
        data: &[u8],
        range: Range<usize>,
        running_time_ns: Option<u64>,
    ) -> bool {
        let nal = &data[range.clone()];
        if nal.len() < C::NAL_HEADER_LEN || data.len() > Self::MAX_INPUT {
            return true;
        }
        let t = C::nal_type(nal);
        if C::is_reserved_for_rtp(t) {
            return false;
        }
        if let Some(kind) = C::param_set(t) {
            self.params_changed |= self.params.update(kind, nal);
            self.au_had_params = true;
            self.params_requested = false;
            if self.cfg.config_interval > 0 {
                self.last_config_ns = running_time_ns;
            }
        } else if (self.cfg.config_interval != 0
            && C::config_point(t, self.cfg.config_interval == -1)
            || self.params_requested)
            && !self.au_had_params
            && self.params.complete(C::PARAM_SETS)
        {
            let due = match (
                self.cfg.config_interval,
                self.last_config_ns,
                running_time_ns,
            ) {
                _ if self.params_requested => true,
                (-1, _, _) | (_, None, _) => true,
                (secs, Some(last), Some(now)) => {
                    now.saturating_sub(last) >= secs as u64 * 1_000_000_000
                }
                (_, Some(_), None) => false,
            };
            if due {
                let unit_delta = self.flags.delta;
                for &kind in C::PARAM_SETS {
                    if C::RESENT_PARAMS_ARE_KEY {
                        self.flags.delta = false;
                    }
                    self.emit(Source::Stored(kind), data, 0..0);
                }
                if C::RESENT_PARAMS_ARE_KEY {
                    self.flags.delta = unit_delta;
                }
                self.au_had_params = true;
                self.params_requested = false;
                self.last_config_ns = running_time_ns.or(self.last_config_ns);
            }
        }
        self.emit(Source::Input, data, range);
        true
    }

    /// End of access unit: flush aggregation and set the marker bit on the
    /// last packet.
    pub fn end_au(&mut self) {
        self.flush_agg();
        if let Some(last) = self.packets.last_mut() {
            last.marker = true;
        }
        self.au_had_params = false;
    }

    /// Flush a pending aggregation packet without ending the access unit.
    pub fn flush(&mut self) {
        self.flush_agg();
    }

    /// End of one input buffer. Zero-latency mode sends a pending
    /// aggregation packet that holds a VCL unit now, not at the end of the
    /// access unit, as the stock payloaders do: with access-unit input the
    /// whole unit is still bundled (within the MTU), with NAL-aligned input
    /// the packet is not held back for the next buffer.
    pub fn end_input(&mut self) {
        if self.agg_ends_at_input_end {
            self.flush_agg();
        }
    }

    fn max_payload(&self) -> usize {
        // mtu >= 28 is enforced by the property range; keep at least the FU
        // overhead + 1 so fragmentation always progresses.
        self.cfg
            .mtu
            .saturating_sub(RTP_HEADER_LEN)
            .max(C::FU_OVERHEAD + 1)
    }

    fn nal_bytes<'a>(&'a self, src: Source, data: &'a [u8], range: &Range<usize>) -> &'a [u8] {
        match src {
            Source::Input => &data[range.clone()],
            Source::Stored(kind) => self.params.get(kind).unwrap_or(&[]),
        }
    }

    /// The flags of the unit being emitted; the next unit's follow them.
    fn take_flags(&mut self) -> NalFlags {
        let flags = self.flags;
        self.sent_any = true;
        self.flags.discont = false;
        if C::DELTA_AFTER_FIRST_UNIT {
            self.flags.delta = true;
        }
        flags
    }

    fn emit(&mut self, src: Source, data: &[u8], range: Range<usize>) {
        let len = self.nal_bytes(src, data, &range).len();
        let max_payload = self.max_payload();
        let flags = self.take_flags();
        if self.cfg.aggregate != AggregateMode::None {
            let t = C::nal_type(self.nal_bytes(src, data, &range));
            // As the stock payloaders: an access unit delimiter or a
            // discontinuity starts a new access unit, so what is pending
            // goes out first, closing the previous one (marker).
            if !self.agg_headers.is_empty() && (t == C::AUD || flags.discont) {
                self.flush_agg();
                if let Some(last) = self.packets.last_mut() {
                    last.marker = true;
                }
            }
            let entry = 2 + len;
            if !self.agg_headers.is_empty()
                && C::AGG_HEADER_LEN + self.agg.len() + entry > max_payload
            {
                self.flush_agg();
            }
            // An entry's size field is 16 bits (RFC 6184 §5.7.1, RFC 7798
            // §4.4.2): a bigger NAL unit (MTU over 64 KiB) goes alone.
            if C::AGG_HEADER_LEN + entry <= max_payload
                && len <= u16::MAX as usize
                && self.agg_headers.len() < 64
            {
                if self.agg_headers.is_empty() {
                    self.agg_flags = flags;
                }
                let (agg, headers) = (&mut self.agg, &mut self.agg_headers);
                let nal = match src {
                    Source::Input => &data[range.clone()],
                    Source::Stored(kind) => self.params.get(kind).unwrap_or(&[]),
                };
                agg.extend_from_slice(&(len as u16).to_be_bytes());
                agg.extend_from_slice(nal);
                let mut h = [0u8; 2];
                h[..C::NAL_HEADER_LEN].copy_from_slice(&nal[..C::NAL_HEADER_LEN]);
                headers.push(h);
                if self.cfg.aggregate == AggregateMode::ZeroLatency
                    && C::ends_zero_latency_bundle(t)
                {
                    self.agg_ends_at_input_end = true;
                }
                return;
            }
            self.flush_agg();
        }
        if len <= max_payload {
            let packet = match src {
                Source::Input => Packet::new(0..0, range, flags),
                Source::Stored(kind) => {
                    let start = self.scratch.len();
                    self.scratch
                        .extend_from_slice(self.params.get(kind).unwrap_or(&[]));
                    Packet::new(start..self.scratch.len(), 0..0, flags)
                }
            };
            self.packets.push(packet);
            return;
        }
        self.fragment(src, data, range, max_payload, flags);
    }

    fn fragment(
        &mut self,
        src: Source,
        data: &[u8],
        range: Range<usize>,
        max_payload: usize,
        mut flags: NalFlags,
    ) {
        let mut header = [0u8; 2];
        let body = {
            let nal = self.nal_bytes(src, data, &range);
            header[..C::NAL_HEADER_LEN].copy_from_slice(&nal[..C::NAL_HEADER_LEN]);
            C::NAL_HEADER_LEN..nal.len()
        };
        let chunk = max_payload - C::FU_OVERHEAD;
        let mut pos = body.start;
        while pos < body.end {
            let end = (pos + chunk).min(body.end);
            let prefix = C::fu_prefix(&header, pos == body.start, end == body.end);
            let start = self.scratch.len();
            self.scratch.extend_from_slice(&prefix[..C::FU_OVERHEAD]);
            let payload = match src {
                Source::Input => range.start + pos..range.start + end,
                Source::Stored(kind) => {
                    let stored = self.params.get(kind).unwrap_or(&[]);
                    self.scratch.extend_from_slice(&stored[pos..end]);
                    0..0
                }
            };
            self.packets
                .push(Packet::new(start..self.scratch.len(), payload, flags));
            // Later fragments: DELTA_UNIT, no DISCONT (as stock).
            flags = NalFlags {
                delta: true,
                discont: false,
            };
            pos = end;
        }
    }

    fn flush_agg(&mut self) {
        if self.agg_headers.is_empty() {
            return;
        }
        let start = self.scratch.len();
        if self.agg_headers.len() == 1 {
            // A lone NAL goes out as a single-NAL packet, not a 1-entry STAP.
            self.scratch.extend_from_slice(&self.agg[2..]);
        } else {
            let hdr = C::agg_header(self.agg_headers.iter().map(|h| &h[..]));
            self.scratch.extend_from_slice(&hdr[..C::AGG_HEADER_LEN]);
            self.scratch.extend_from_slice(&self.agg);
        }
        let mut packet = Packet::new(start..self.scratch.len(), 0..0, self.agg_flags);
        // At most 64 entries (see `emit`).
        packet.agg_units = self.agg_headers.len() as u8;
        self.packets.push(packet);
        self.agg.clear();
        self.agg_headers.clear();
        self.agg_ends_at_input_end = false;
    }
}

/// Assemble packet payloads (without RTP header) for tests and tools.
pub fn packet_payloads(packets: &[Packet], scratch: &[u8], data: &[u8]) -> Vec<Vec<u8>> {
    packets
        .iter()
        .map(|p| {
            let mut v = scratch[p.inline()].to_vec();
            v.extend_from_slice(&data[p.payload()]);
            v
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::nal::{H264, H265};

    fn pay<C: NalCodec>(
        cfg: PayConfig,
        nals: &[Vec<u8>],
    ) -> (Vec<Vec<u8>>, Vec<bool>, NalPacketizer<C>) {
        let mut data = Vec::new();
        let mut ranges = Vec::new();
        for n in nals {
            ranges.push(data.len()..data.len() + n.len());
            data.extend_from_slice(n);
        }
        let mut p = NalPacketizer::<C>::new(cfg);
        p.begin();
        for r in ranges {
            p.push_nal(&data, r, Some(0));
        }
        p.end_au();
        let payloads = packet_payloads(p.packets(), p.scratch(), &data);
        let markers = p.packets().iter().map(|p| p.marker).collect();
        (payloads, markers, p)
    }

    fn nal(header: &[u8], len: usize) -> Vec<u8> {
        let mut v = header.to_vec();
        v.extend((0..len - header.len()).map(|i| (i % 251) as u8 + 1));
        v
    }

    #[test]
    fn small_nal_is_single_packet_with_marker() {
        let n = nal(&[0x65], 100);
        let (p, m, _) = pay::<H264>(PayConfig::default(), std::slice::from_ref(&n));
        assert_eq!(p, vec![n]);
        assert_eq!(m, vec![true]);
    }

    #[test]
    fn big_nal_fragments_respect_mtu_and_reassemble() {
        for mtu in [28usize, 400, 1400, 8000] {
            let n = nal(&[0x65], 20_000);
            let cfg = PayConfig {
                mtu,
                ..Default::default()
            };
            let (p, m, _) = pay::<H264>(cfg, std::slice::from_ref(&n));
            assert!(p.len() > 1);
            assert!(p.iter().all(|pk| pk.len() + RTP_HEADER_LEN <= mtu));
            assert_eq!(m.iter().filter(|x| **x).count(), 1);
            assert!(m[m.len() - 1]);
            assert_eq!(p[0][1] & 0xc0, 0x80);
            assert_eq!(p[p.len() - 1][1] & 0xc0, 0x40);
            let mut rebuilt = vec![(p[0][0] & 0xe0) | (p[0][1] & 0x1f)];
            for pk in &p {
                assert_eq!(pk[0] & 0x1f, 28);
                rebuilt.extend_from_slice(&pk[2..]);
            }
            assert_eq!(rebuilt, n);
        }
    }

    #[test]
    fn h265_fragments_reassemble() {
        let n = nal(&[0x26, 0x01], 5000);
        let (p, _, _) = pay::<H265>(PayConfig::default(), std::slice::from_ref(&n));
        let mut rebuilt = H265::fu_parse(&p[0]).unwrap().2.to_vec();
        for pk in &p {
            rebuilt.extend_from_slice(&pk[3..]);
        }
        assert_eq!(rebuilt, n);
    }

    #[test]
    fn stap_aggregates_params_then_vcl_in_zero_latency() {
        let sps = nal(&[0x67], 20);
        let pps = nal(&[0x68], 6);
        let idr = nal(&[0x65], 3000);
        let cfg = PayConfig {
            aggregate: AggregateMode::ZeroLatency,
            ..Default::default()
        };
        let (p, m, _) = pay::<H264>(cfg, &[sps.clone(), pps.clone(), idr]);
        assert_eq!(p[0][0] & 0x1f, 24);
        let mut expect = vec![p[0][0]];
        for n in [&sps, &pps] {
            expect.extend_from_slice(&(n.len() as u16).to_be_bytes());
            expect.extend_from_slice(n);
        }
        assert_eq!(p[0], expect);
        assert_eq!(p[1][0] & 0x1f, 28);
        assert!(m[m.len() - 1] && !m[0]);
    }

    #[test]
    fn max_mode_keeps_small_vcl_in_one_stap() {
        let units = vec![nal(&[0x06], 10), nal(&[0x41], 50), nal(&[0x41], 60)];
        let cfg = PayConfig {
            aggregate: AggregateMode::Max,
            ..Default::default()
        };
        let (p, _, _) = pay::<H264>(cfg, &units);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0][0] & 0x1f, 24);
        // Zero-latency with the units in one input (an access unit): also
        // one packet, as rtph264pay sends the bundle at the end of the input.
        let cfg = PayConfig {
            aggregate: AggregateMode::ZeroLatency,
            ..Default::default()
        };
        let (p, _, _) = pay::<H264>(cfg, &units);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0][0] & 0x1f, 24);
    }

    /// NAL-aligned input, one unit per buffer: zero-latency sends a bundle
    /// holding a VCL unit at the end of that buffer; max waits for the end
    /// of the access unit.
    #[test]
    fn zero_latency_sends_the_bundle_at_the_end_of_the_input_holding_vcl() {
        let units = [nal(&[0x06], 10), nal(&[0x41], 50), nal(&[0x41], 60)];
        let sent_per_input = |aggregate| {
            let mut p = NalPacketizer::<H264>::new(PayConfig {
                aggregate,
                ..Default::default()
            });
            let mut sent = Vec::new();
            for (i, unit) in units.iter().enumerate() {
                p.begin();
                p.push_nal(unit, 0..unit.len(), Some(0));
                p.end_input();
                if i == units.len() - 1 {
                    p.end_au();
                }
                sent.push(packet_payloads(p.packets(), p.scratch(), unit));
            }
            sent
        };
        let zl = sent_per_input(AggregateMode::ZeroLatency);
        // SEI held; SEI + first slice in one STAP at the end of input 2; the
        // last slice alone.
        assert!(zl[0].is_empty());
        assert_eq!(zl[1].len(), 1);
        assert_eq!(zl[1][0][0] & 0x1f, 24);
        assert_eq!(zl[2], vec![units[2].clone()]);
        let max = sent_per_input(AggregateMode::Max);
        assert!(max[0].is_empty() && max[1].is_empty());
        assert_eq!(max[2].len(), 1);
    }

    #[test]
    fn config_interval_inserts_stored_params_before_keyframe() {
        let sps = nal(&[0x67], 20);
        let pps = nal(&[0x68], 6);
        let idr = nal(&[0x65], 100);
        let cfg = PayConfig {
            config_interval: -1,
            ..Default::default()
        };
        let (_, _, mut p) = pay::<H264>(cfg, &[sps.clone(), pps.clone(), idr.clone()]);
        assert!(p.take_params_changed());
        // Next AU has only the IDR: params are re-sent in front of it.
        p.begin();
        p.push_nal(&idr, 0..idr.len(), Some(1));
        p.end_au();
        let out = packet_payloads(p.packets(), p.scratch(), &idr);
        assert_eq!(out, vec![sps, pps, idr.clone()]);
        // A non-keyframe gets nothing.
        let slice = nal(&[0x41], 50);
        p.begin();
        p.push_nal(&slice, 0..slice.len(), Some(2));
        p.end_au();
        assert_eq!(p.packets().len(), 1);
    }

    #[test]
    fn config_interval_seconds_respects_interval() {
        let sps = nal(&[0x67], 20);
        let pps = nal(&[0x68], 6);
        let idr = nal(&[0x65], 100);
        let cfg = PayConfig {
            config_interval: 1,
            ..Default::default()
        };
        let mut p = NalPacketizer::<H264>::new(cfg);
        p.set_param(ParamSet::Sps, &sps);
        p.set_param(ParamSet::Pps, &pps);
        let mut counts = Vec::new();
        for t in [
            0u64,
            500_000_000,
            1_000_000_000,
            1_400_000_000,
            2_100_000_000,
        ] {
            p.begin();
            p.push_nal(&idr, 0..idr.len(), Some(t));
            p.end_au();
            counts.push(p.packets().len());
        }
        assert_eq!(counts, vec![3, 1, 3, 1, 3]);
    }

    /// Bytes a plan storage holds allocated.
    fn capacity_bytes(storage: &PlanStorage) -> usize {
        storage.packets.capacity() * std::mem::size_of::<Packet>() + storage.scratch.capacity()
    }

    #[test]
    fn lent_plan_storage_is_used_and_given_back_whole() {
        let mut p = NalPacketizer::<H264>::new(PayConfig::default());
        let idr = nal(&[0x65], 30_000);
        // The first plan allocates; the storage then goes back to the lender.
        p.begin_for(idr.len());
        p.push_nal(&idr, 0..idr.len(), None);
        p.end_au();
        let first = packet_payloads(p.packets(), p.scratch(), &idr);
        let storage = p.take_plan();
        let bytes = capacity_bytes(&storage);
        assert!(bytes >= first.len() * std::mem::size_of::<Packet>());
        // Nothing is left behind in the packetizer between inputs.
        assert_eq!(capacity_bytes(&p.take_plan()), 0);
        // Lent again: the same plan, in the same storage (no growth).
        p.lend_plan(storage);
        p.begin_for(idr.len());
        p.push_nal(&idr, 0..idr.len(), None);
        p.end_au();
        assert_eq!(packet_payloads(p.packets(), p.scratch(), &idr), first);
        assert_eq!(capacity_bytes(&p.take_plan()), bytes);
    }

    #[test]
    fn large_plans_are_released_normal_ones_kept() {
        let mut p = NalPacketizer::<H264>::new(PayConfig::default());
        for (len, kept) in [(50_000usize, true), (2_000_000, false)] {
            let n = nal(&[0x65], len);
            p.begin_for(n.len());
            p.push_nal(&n, 0..n.len(), None);
            p.end_au();
            let packets = p.packets().len();
            assert!(packets >= len / 1400);
            p.release_large();
            assert_eq!(p.packets.capacity() >= packets, kept, "len {len}");
        }
    }

    #[test]
    fn short_nal_is_ignored() {
        let (p, _, _) = pay::<H265>(PayConfig::default(), &[vec![0x26]]);
        assert!(p.is_empty());
    }

    /// Found while writing the fuzz target's round trip: with an MTU over
    /// 64 KiB, a NAL unit of 64 KiB or more went into an aggregation packet
    /// with its size truncated to 16 bits, and the receiver could not split
    /// it.
    #[test]
    fn nal_over_64k_is_never_aggregated() {
        use crate::core::depacketizer::{DepayConfig, NalDepacketizer, PacketIn};
        let cfg = PayConfig {
            mtu: 200_000,
            aggregate: AggregateMode::Max,
            config_interval: 0,
        };
        let nals = [nal(&[0x06], 10), nal(&[0x41], 70_000), nal(&[0x41], 20)];
        let (payloads, _, _) = pay::<H264>(cfg, &nals);
        let mut depay = NalDepacketizer::<H264>::new(DepayConfig {
            au_alignment: false,
            ..DepayConfig::default()
        });
        let (mut got, mut sink) = (Vec::new(), Vec::new());
        for payload in &payloads {
            let pkt = PacketIn {
                payload,
                timestamp: 0,
                marker: false,
                discont: false,
            };
            depay
                .push(pkt, &mut sink, &mut |s: &mut Vec<u8>, _| {
                    got.push(s[4..].to_vec());
                    s.clear();
                })
                .unwrap();
        }
        assert_eq!(got, nals);
    }

    /// One input's plan: (payload, marker, delta, discont) per packet.
    fn plan<C: NalCodec>(
        p: &mut NalPacketizer<C>,
        nals: &[Vec<u8>],
        delta: bool,
        discont: bool,
        end_au: bool,
    ) -> Vec<(Vec<u8>, bool, bool, bool)> {
        let data: Vec<u8> = nals.concat();
        let mut at = 0;
        p.begin();
        p.set_input_flags(delta, discont, false);
        for n in nals {
            p.push_nal(&data, at..at + n.len(), None);
            at += n.len();
        }
        p.end_input();
        if end_au {
            p.end_au();
        }
        packet_payloads(p.packets(), p.scratch(), &data)
            .into_iter()
            .zip(p.packets())
            .map(|(pl, k)| (pl, k.marker, k.delta, k.discont))
            .collect()
    }

    #[test]
    fn access_unit_delimiter_closes_the_pending_aggregate() {
        let slice = nal(&[0x41], 40);
        let aud = nal(&[0x09, 0xf0], 2);
        let next = nal(&[0x41], 30);
        for mode in [AggregateMode::ZeroLatency, AggregateMode::Max] {
            let mut p = NalPacketizer::<H264>::new(PayConfig {
                aggregate: mode,
                ..Default::default()
            });
            // Slice, AUD and slice in one input: the slice goes alone with
            // the marker, then AUD + slice.
            let out = plan(
                &mut p,
                &[slice.clone(), aud.clone(), next.clone()],
                true,
                false,
                true,
            );
            assert_eq!(out.len(), 2, "{mode:?}");
            assert_eq!(out[0].0, slice);
            assert!(out[0].1, "the unit before the AUD ends an access unit");
            assert_eq!(out[1].0[0] & 0x1f, 24);
            assert!(out[1].1);
        }
        let mut p = NalPacketizer::<H265>::new(PayConfig {
            aggregate: AggregateMode::Max,
            ..Default::default()
        });
        let slice = nal(&[0x02, 0x01], 40);
        let aud = nal(&[0x46, 0x01, 0x50], 3);
        let out = plan(
            &mut p,
            &[slice.clone(), aud, slice.clone()],
            true,
            false,
            true,
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].0, slice);
        assert!(out[0].1);
    }

    #[test]
    fn reserved_input_types_are_dropped() {
        let mut p = NalPacketizer::<H264>::new(PayConfig::default());
        p.begin();
        let data: Vec<u8> = [nal(&[0x78], 10), nal(&[0x41], 10)].concat();
        for t in 24u8..=27 {
            let mut d = data.clone();
            d[0] = 0x60 | t;
            p.begin();
            assert!(!p.push_nal(&d, 0..10, None), "type {t}");
            assert!(p.push_nal(&d, 10..20, None));
            assert_eq!(p.packets().len(), 1);
        }
        let mut p = NalPacketizer::<H265>::new(PayConfig::default());
        for t in 48u8..=50 {
            p.begin();
            let d = nal(&[t << 1, 0x01], 10);
            assert!(!p.push_nal(&d, 0..10, None), "type {t}");
            assert!(p.packets().is_empty());
        }
    }

    #[test]
    fn delta_unit_and_discont_flags_follow_the_stock_payloaders() {
        let sps = nal(&[0x67], 20);
        let pps = nal(&[0x68], 6);
        let idr = nal(&[0x65], 3000);
        let mut p = NalPacketizer::<H264>::new(PayConfig::default());
        // Keyframe with DISCONT: only the first packet is neither delta nor
        // without DISCONT; every later packet (and fragment) is DELTA_UNIT.
        let out = plan(
            &mut p,
            &[sps.clone(), pps.clone(), idr.clone()],
            false,
            true,
            true,
        );
        assert!(out.len() > 3);
        assert_eq!((out[0].2, out[0].3), (false, true));
        assert!(out[1..].iter().all(|k| k.2 && !k.3));
        // Delta frame: all DELTA_UNIT.
        let out = plan(&mut p, &[nal(&[0x41], 3000)], true, false, true);
        assert!(out.iter().all(|k| k.2 && !k.3));
        // H.265: every unit of a keyframe input starts without DELTA_UNIT;
        // later fragments have it.
        let mut p = NalPacketizer::<H265>::new(PayConfig::default());
        let vps = nal(&[0x40, 0x01], 20);
        let sps5 = nal(&[0x42, 0x01], 30);
        let pps5 = nal(&[0x44, 0x01], 6);
        let idr5 = nal(&[0x26, 0x01], 3000);
        let out = plan(&mut p, &[vps, sps5, pps5, idr5], false, false, true);
        assert_eq!(out.iter().map(|k| k.2).collect::<Vec<_>>()[..4], [false; 4]);
        assert!(out[4..].iter().all(|k| k.2));
        // An aggregate takes its first unit's flags.
        let mut p = NalPacketizer::<H264>::new(PayConfig {
            aggregate: AggregateMode::Max,
            ..Default::default()
        });
        let out = plan(&mut p, &[sps, pps, nal(&[0x65], 50)], false, false, true);
        assert_eq!(out.len(), 1);
        assert!(!out[0].2);
    }

    #[test]
    fn h265_end_of_sequence_sends_the_zero_latency_bundle_at_input_end() {
        let mut p = NalPacketizer::<H265>::new(PayConfig {
            aggregate: AggregateMode::ZeroLatency,
            ..Default::default()
        });
        for t in [36u8, 37] {
            let out = plan(
                &mut p,
                &[nal(&[0x4e, 0x01], 8), nal(&[t << 1, 0x01], 2)],
                false,
                false,
                false,
            );
            assert_eq!(out.len(), 1, "type {t}: sent at the end of the input");
            assert!(!p.has_pending());
        }
    }

    #[test]
    fn discont_input_closes_the_pending_aggregate() {
        let mut p = NalPacketizer::<H264>::new(PayConfig {
            aggregate: AggregateMode::Max,
            ..Default::default()
        });
        let sei = nal(&[0x06], 8);
        assert!(plan(&mut p, std::slice::from_ref(&sei), true, false, false).is_empty());
        assert!(p.has_pending());
        let out = plan(&mut p, &[nal(&[0x41], 20)], true, true, true);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].0, sei);
        assert!(out[0].1, "the held unit closes its access unit");
        assert!(out[1].3, "the new input's first packet has DISCONT");
    }
}
