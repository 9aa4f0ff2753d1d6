//! Implementation of `GstRtpFastBaseDepay`.
//!
//! Hot path (`sink_chain`): one memory map, `core::rtp::parse`, seqnum
//! tracking in atomics written only by the streaming thread (readers are the
//! `stats` property), then one call into the format. No lock is taken here
//! unless the packet spans several memories or `source-info` / header
//! extensions are in use.

use super::{Class, HandlePacketFn, RtpPacket};
use crate::core::rtp;
use crate::core::simd::SimdLevel;
use crate::elements::base::stats::ElementStats;
use crate::elements::base::warn_limit::{warn_limited, WarnLimit};
use crate::elements::base::{
    common_properties, hdrext, lock, loggable_message, pad_function, ElementCommon,
};
use crate::elements::SimdMode;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_rtp::prelude::*;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{LazyLock, Mutex};
use std::time::Instant;

pub static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rtpfastbasedepay",
        gst::DebugColorFlags::empty(),
        Some("rsrtpfast depayloader base class"),
    )
});

const DEFAULT_SOURCE_INFO: bool = false;
const DEFAULT_MAX_REORDER: i32 = 100;
const DEFAULT_AUTO_HEADER_EXTENSION: bool = true;
/// `next_seqnum` before the first packet (and after a flush).
const NO_SEQNUM: u32 = u32::MAX;
const NO_TIME: u64 = u64::MAX;

/// Per-packet state. Written only by the streaming thread (chain and
/// serialized events hold the sink pad's stream lock), read by `stats`:
/// plain relaxed loads and stores, no read-modify-write.
struct Hot {
    negotiated: AtomicBool,
    next_seqnum: AtomicU32,
    last_ssrc: AtomicU32,
    last_pt: AtomicU32,
    last_seqnum: AtomicU32,
    last_rtptime: AtomicU32,
    pts: AtomicU64,
    dts: AtomicU64,
    /// The current input's PTS/DTS went onto an output already: as in the
    /// stock base class, only the first output of an input gets them where
    /// the format set none (a second NAL unit of an aggregation packet has
    /// no DTS).
    times_given: AtomicBool,
    /// The next output buffer gets DISCONT.
    discont: AtomicBool,
    /// A segment must be made from the next packet.
    need_segment: AtomicBool,
    /// `Stream::segment_event` holds a segment to push before the next buffer.
    segment_pending: AtomicBool,
    /// `source-info` on or extensions registered: keep the current packet's
    /// ssrc/CSRCs/extension for the output.
    decorate: AtomicBool,
    clock_rate: AtomicU32,
    malformed: AtomicU64,
    dropped: AtomicU64,
    /// Valid packets handed to the format, their payload bytes, and the
    /// buffers pushed out.
    packets: AtomicU64,
    bytes: AtomicU64,
    units_out: AtomicU64,
    /// The last NTP reference timestamp seen on a packet (NO_TIME: none).
    ref_ts: AtomicU64,
    /// An input list is being worked through by a `LIST_OUTPUT` format:
    /// `push` collects into `RtpFastBaseDepay::collected`.
    collecting: AtomicBool,
    /// A flow error met while flushing the collected list before an event
    /// (`set_src_caps` cannot return it): the list loop returns it.
    deferred: AtomicI32,
}

impl Default for Hot {
    fn default() -> Self {
        Hot {
            negotiated: AtomicBool::new(false),
            next_seqnum: AtomicU32::new(NO_SEQNUM),
            last_ssrc: AtomicU32::new(0),
            last_pt: AtomicU32::new(0),
            last_seqnum: AtomicU32::new(0),
            last_rtptime: AtomicU32::new(0),
            pts: AtomicU64::new(NO_TIME),
            dts: AtomicU64::new(NO_TIME),
            times_given: AtomicBool::new(false),
            discont: AtomicBool::new(false),
            need_segment: AtomicBool::new(true),
            segment_pending: AtomicBool::new(false),
            decorate: AtomicBool::new(false),
            clock_rate: AtomicU32::new(0),
            malformed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            packets: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            units_out: AtomicU64::new(0),
            ref_ts: AtomicU64::new(NO_TIME),
            collecting: AtomicBool::new(false),
            deferred: AtomicI32::new(0),
        }
    }
}

/// What the caps and upstream segment said (touched per caps/segment event,
/// once per stream for the output segment, and by `stats`).
struct Stream {
    npt_start: u64,
    npt_stop: Option<u64>,
    play_speed: f64,
    play_scale: f64,
    clock_base: Option<u32>,
    onvif_mode: bool,
    last_caps: Option<gst::Caps>,
    /// Upstream's segment (not forwarded unless onvif-mode).
    segment: gst::Segment,
    segment_seqnum: Option<gst::Seqnum>,
    segment_event: Option<gst::Event>,
}

impl Default for Stream {
    fn default() -> Self {
        Stream {
            npt_start: 0,
            npt_stop: None,
            play_speed: 1.0,
            play_scale: 1.0,
            clock_base: None,
            onvif_mode: false,
            last_caps: None,
            segment: gst::Segment::new(),
            segment_seqnum: None,
            segment_event: None,
        }
    }
}

/// The current packet's source and extension data, for the output (only
/// kept while `Hot::decorate`).
#[derive(Default)]
struct Decoration {
    valid: bool,
    ssrc: u32,
    csrcs: smallvec::SmallVec<[u32; 15]>,
    ext_profile: u16,
    ext: Vec<u8>,
}

/// `f` on the bytes of the first memory of `buffer` (which has one), mapped
/// for reading; None when it cannot be mapped. gstreamer-rs's
/// `peek_memory(0).map_readable()` counts the memories again for its bounds
/// check and moves the 104-byte GstMapInfo into its guard: ~25 instructions
/// per packet more (callgrind), on a path that costs ~2,500 in all.
#[inline]
fn map_only_memory<R>(buffer: &gst::BufferRef, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    use gst::ffi;
    let mut info = std::mem::MaybeUninit::<ffi::GstMapInfo>::uninit();
    // SAFETY: FFI edge. The caller saw n_memory() == 1, so memory 0 exists;
    // peek_memory borrows it (no ref) for as long as `buffer` is borrowed.
    // gst_memory_map fills `info` when it returns TRUE; the slice is only
    // used inside `f`, before the matching gst_memory_unmap.
    unsafe {
        let mem = ffi::gst_buffer_peek_memory(buffer.as_mut_ptr(), 0);
        if mem.is_null() || ffi::gst_memory_map(mem, info.as_mut_ptr(), ffi::GST_MAP_READ) == 0 {
            return None;
        }
        let info = info.assume_init_mut();
        let data: &[u8] = if info.size == 0 {
            &[]
        } else {
            std::slice::from_raw_parts(info.data, info.size)
        };
        // Unmapped even if `f` unwinds (the chain entry catches panics).
        struct Unmap<'a>(*mut ffi::GstMemory, &'a mut ffi::GstMapInfo);
        impl Drop for Unmap<'_> {
            fn drop(&mut self) {
                // SAFETY: mapped above, unmapped once here.
                unsafe { ffi::gst_memory_unmap(self.0, self.1) }
            }
        }
        let _unmap = Unmap(mem, info);
        Some(f(data))
    }
}

/// What differs in `process` between a packet pushed alone and one of a
/// list: where valid packets and their payload bytes are counted (straight
/// into `Hot`, so `stats` sees each packet; in locals for a list, stored
/// once at its end) and how the format's `handle_packet` is reached (looked
/// up per packet as before lists existed, so that path's code is what it
/// was; once per list).
trait PacketCtx {
    /// Count one packet; its index.
    fn count(&mut self, hot: &Hot, bytes: u64) -> u64;
    fn handle(&self, imp: &RtpFastBaseDepay, packet: &RtpPacket<'_>) -> Flow;
}

/// A packet pushed alone.
struct OneByOne;

impl PacketCtx for OneByOne {
    #[inline(always)]
    fn count(&mut self, hot: &Hot, bytes: u64) -> u64 {
        let n = hot.packets.load(Relaxed);
        hot.packets.store(n + 1, Relaxed);
        hot.bytes.store(hot.bytes.load(Relaxed) + bytes, Relaxed);
        n
    }

    #[inline(always)]
    fn handle(&self, imp: &RtpFastBaseDepay, packet: &RtpPacket<'_>) -> Flow {
        let obj = imp.obj();
        let handle = vtable(&obj)
            .handle_packet
            .expect("subclass sets handle_packet");
        handle(&obj, packet)
    }
}

/// A packet of a list.
struct InList<'a> {
    obj: &'a super::RtpFastBaseDepay,
    handle: HandlePacketFn,
    packets: u64,
    bytes: u64,
}

impl PacketCtx for InList<'_> {
    #[inline(always)]
    fn count(&mut self, _hot: &Hot, bytes: u64) -> u64 {
        let n = self.packets;
        self.packets = n + 1;
        self.bytes += bytes;
        n
    }

    #[inline(always)]
    fn handle(&self, _imp: &RtpFastBaseDepay, packet: &RtpPacket<'_>) -> Flow {
        (self.handle)(self.obj, packet)
    }
}

type Flow = Result<gst::FlowSuccess, gst::FlowError>;

/// `Hot::deferred` holds a GstFlowReturn (never 0 = OK there).
fn deferred_error(code: i32) -> Result<gst::FlowSuccess, gst::FlowError> {
    use gst::glib::translate::FromGlib;
    // SAFETY: FFI edge. `code` was made by `into_glib` of a FlowReturn
    // (`defer_error`), so it is a valid GstFlowReturn value.
    unsafe { gst::FlowReturn::from_glib(code) }.into_result()
}

/// The virtual methods of `obj`'s class.
fn vtable(obj: &super::RtpFastBaseDepay) -> &Class {
    obj.class().as_ref()
}

pub struct RtpFastBaseDepay {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    /// Where output buffers go: set once by `rtpfastdepay` holding this
    /// element to its own src pad (saves a proxy push per output), else
    /// our src pad. Events always take our src pad.
    pub(super) output: std::sync::OnceLock<gst::Pad>,
    hot: Hot,
    stream: Mutex<Stream>,
    source_info: AtomicBool,
    max_reorder: AtomicI32,
    auto_header_extension: AtomicBool,
    extensions: Mutex<Vec<gst_rtp::RTPHeaderExtension>>,
    /// Only allocated once a stream decorates (source-info, extensions):
    /// ~100 bytes an idle or plain stream does not carry.
    decoration: Mutex<Option<Box<Decoration>>>,
    /// Reused to gather packets that span several memories.
    gathered: Mutex<Vec<u8>>,
    /// The output list being collected while `Hot::collecting`.
    collected: Mutex<Option<gst::BufferList>>,
    /// `stats-interval`, `pool-max-bytes` and the pool handle.
    common: ElementCommon,
    simd: Mutex<(SimdMode, SimdLevel)>,
    /// The processing-time window (touched on every 16th packet only).
    timing: Mutex<ElementStats>,
}

impl RtpFastBaseDepay {
    pub fn src_pad(&self) -> &gst::Pad {
        &self.srcpad
    }

    pub fn sink_pad(&self) -> &gst::Pad {
        &self.sinkpad
    }

    pub fn clock_rate(&self) -> u32 {
        self.hot.clock_rate.load(Relaxed)
    }

    /// The element's limit on warnings about dropped input.
    pub fn drop_warnings(&self) -> &WarnLimit {
        &self.common.drop_warnings
    }

    pub fn simd_level(&self) -> SimdLevel {
        lock(&self.simd).1
    }

    // ---- hot path ----

    pub(super) fn sink_chain(
        &self,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        if !self.hot.negotiated.load(Relaxed) {
            return self.not_negotiated();
        }
        crate::elements::base::test_panic_point(crate::elements::base::TestPanic::DepayChain);
        // One list walk when the packet carries metas (udpsrc's address),
        // none without.
        let buffer = if buffer.meta::<gst::ReferenceTimestampMeta>().is_some() {
            self.drop_repeated_ntp_reference(buffer)
        } else {
            buffer
        };
        match buffer.n_memory() {
            1 => {
                match map_only_memory(&buffer, |data| self.process(&buffer, data, &mut OneByOne)) {
                    Some(ret) => ret,
                    None => self.malformed(None),
                }
            }
            _ => self.process_unusual(&buffer, &mut OneByOne),
        }
    }

    /// A whole input list in one call (a batching source pushes one per
    /// socket wake-up): the entry guard, negotiation check, vtable lookup
    /// and the packet/byte counters once per list; per packet the same
    /// `process` as `sink_chain` (seqnum tracking, DISCONT, drops,
    /// malformed counting), so the output is the same. A `LIST_OUTPUT`
    /// format's pushes are collected into one output list (see `collect`).
    ///
    /// Headers are parsed packet by packet inside the loop rather than in
    /// a separate pass first: a separate pass would map every packet twice
    /// or hold all the maps at once, and mapping is the larger cost.
    ///
    /// Measured (callgrind, instructions per RTP packet, `rtp_perf_compare
    /// --instructions --input-lists 32` against one push per packet, SIMD
    /// sse2, 30 frames): L16 3,575 -> 2,688, Opus 3,449 -> 2,623, MP2T
    /// 3,464 -> 2,654, raw video 2,669 -> 2,012, H.264 2,485 -> 1,828
    /// (docs/depay_lists.md).
    pub(super) fn sink_chain_list(
        &self,
        list: gst::BufferList,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        if list.len() < 2 {
            return match list.get_owned(0) {
                Some(buffer) => self.sink_chain(buffer),
                None => Ok(gst::FlowSuccess::Ok),
            };
        }
        if !self.hot.negotiated.load(Relaxed) {
            return self.not_negotiated();
        }
        crate::elements::base::test_panic_point(crate::elements::base::TestPanic::DepayChain);
        let obj = self.obj();
        let class = vtable(&obj);
        let handle = class.handle_packet.expect("subclass sets handle_packet");
        let collect = class.list_output;
        if collect {
            self.hot.collecting.store(true, Relaxed);
        }
        let mut ctx = InList {
            obj: &obj,
            handle,
            packets: self.hot.packets.load(Relaxed),
            bytes: self.hot.bytes.load(Relaxed),
        };
        let mut ret = Ok(gst::FlowSuccess::Ok);
        for buffer in list.iter() {
            if buffer.meta::<gst::ReferenceTimestampMeta>().is_some() {
                // A buffer in a list is not ours to change: the meta stays,
                // as it does in stock and in our per-buffer path when the
                // buffer is shared.
                self.note_ntp_reference(buffer);
            }
            ret = match buffer.n_memory() {
                1 => match map_only_memory(buffer, |data| self.process(buffer, data, &mut ctx)) {
                    Some(ret) => ret,
                    None => self.malformed(None),
                },
                _ => self.process_unusual(buffer, &mut ctx),
            };
            if collect {
                let deferred = self.hot.deferred.swap(0, Relaxed);
                if deferred != 0 {
                    ret = deferred_error(deferred);
                }
            }
            if ret.is_err() {
                break;
            }
        }
        self.hot.packets.store(ctx.packets, Relaxed);
        self.hot.bytes.store(ctx.bytes, Relaxed);
        if collect {
            self.hot.collecting.store(false, Relaxed);
            // What was collected before an error still goes out, as it
            // would have one by one.
            let flushed = self.flush_collected();
            if ret.is_ok() {
                ret = flushed;
            }
        }
        ret
    }

    #[cold]
    fn not_negotiated(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        gst::element_imp_error!(
            self,
            gst::CoreError::Negotiation,
            ("No RTP format was negotiated."),
            ["Input buffers need to have RTP caps set on them (set the caps on the upstream source or a capsfilter)."]
        );
        Err(gst::FlowError::NotNegotiated)
    }

    /// A packet of no memory or of several (gathered into one slice).
    #[cold]
    #[inline(never)]
    fn process_unusual(&self, buffer: &gst::BufferRef, ctx: &mut impl PacketCtx) -> Flow {
        if buffer.n_memory() == 0 {
            return self.malformed(Some(rtp::RtpError::Truncated));
        }
        let mut gathered = lock(&self.gathered);
        gathered.resize(buffer.size(), 0);
        if buffer.copy_to_slice(0, &mut gathered).is_err() {
            return self.malformed(None);
        }
        self.process(buffer, &gathered, ctx)
    }

    #[inline]
    fn process(
        &self,
        buffer: &gst::BufferRef,
        data: &[u8],
        ctx: &mut impl PacketCtx,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let info = match rtp::parse(data) {
            Ok(info) => info,
            Err(e) => return self.malformed(Some(e)),
        };
        let hot = &self.hot;
        // Like the stock base class: the last seen seqnum/time, even of a
        // packet dropped below.
        hot.last_seqnum.store(info.seq as u32, Relaxed);
        hot.last_rtptime.store(info.timestamp, Relaxed);
        hot.pts
            .store(buffer.pts().map_or(NO_TIME, |t| t.nseconds()), Relaxed);
        hot.dts
            .store(buffer.dts().map_or(NO_TIME, |t| t.nseconds()), Relaxed);
        hot.times_given.store(false, Relaxed);
        let mut discont = buffer.flags().contains(gst::BufferFlags::DISCONT);
        let next = hot.next_seqnum.load(Relaxed);
        // The common case inline: the expected seqnum from the same sender.
        if next != NO_SEQNUM
            && (next as u16 != info.seq
                || info.ssrc != hot.last_ssrc.load(Relaxed)
                || info.payload_type as u32 != hot.last_pt.load(Relaxed))
        {
            match self.irregular_packet(&info, next) {
                ControlFlow::Break(()) => return Ok(gst::FlowSuccess::Ok),
                ControlFlow::Continue(()) => discont = true,
            }
        }
        hot.next_seqnum
            .store(info.seq.wrapping_add(1) as u32, Relaxed);
        hot.last_ssrc.store(info.ssrc, Relaxed);
        hot.last_pt.store(info.payload_type as u32, Relaxed);
        if discont {
            hot.discont.store(true, Relaxed);
        }
        if hot.need_segment.load(Relaxed) {
            self.prepare_segment(info.timestamp, buffer.pts());
        }
        if hot.decorate.load(Relaxed) {
            self.keep_decoration(&info, data);
        }
        let packet = RtpPacket {
            marker: info.marker,
            payload_type: info.payload_type,
            seq: info.seq,
            timestamp: info.timestamp,
            ssrc: info.ssrc,
            discont,
            payload: &data[info.payload.clone()],
            buffer,
            data,
            csrcs: info.csrcs.clone(),
        };
        let n = ctx.count(hot, packet.payload.len() as u64);
        // Timing every packet would cost more than the 2% budget: every 16th,
        // from the 16th on (a stream that stopped after a few packets does
        // not allocate the window).
        if n % 16 != 15 {
            return ctx.handle(self, &packet);
        }
        let start = Instant::now();
        let res = ctx.handle(self, &packet);
        self.record_timing(start);
        res
    }

    /// A packet that is not the next one from the same sender: a new ssrc
    /// or pt (sender restarted), missing packets, or an older seqnum (within
    /// `max-reorder`: dropped, Break; beyond: a restarted sender). Continue
    /// means: process it, with DISCONT.
    #[cold]
    #[inline(never)]
    fn irregular_packet(&self, info: &rtp::RtpInfo, next: u32) -> ControlFlow<()> {
        let hot = &self.hot;
        if info.ssrc != hot.last_ssrc.load(Relaxed)
            || info.payload_type as u32 != hot.last_pt.load(Relaxed)
        {
            gst::debug!(
                CAT,
                imp = self,
                "New ssrc {:08x} / pt {}: sender restarted",
                info.ssrc,
                info.payload_type
            );
            return ControlFlow::Continue(());
        }
        // > 0: older than expected; < 0: packets are missing.
        let gap = (next as u16).wrapping_sub(info.seq) as i16;
        if gap < 0 {
            gst::log!(
                CAT,
                imp = self,
                "{} missing packets before {}",
                -(gap as i32),
                info.seq
            );
            return ControlFlow::Continue(());
        }
        if gap as i32 <= self.max_reorder.load(Relaxed) {
            warn_limited!(
                &self.common.drop_warnings,
                CAT,
                imp = self,
                "got old packet {}, expected {}, gap {} <= max-reorder, dropping",
                info.seq,
                next,
                gap
            );
            hot.dropped.store(hot.dropped.load(Relaxed) + 1, Relaxed);
            return ControlFlow::Break(());
        }
        warn_limited!(
            &self.common.drop_warnings,
            CAT,
            imp = self,
            "got old packet {}, expected {}: sender restarted, marking discont",
            info.seq,
            next
        );
        ControlFlow::Continue(())
    }

    /// As the stock base class: an NTP reference timestamp meta
    /// (`timestamp/x-ntp`, RFC 7273, rtpjitterbuffer's
    /// `add-reference-timestamp-meta`) equal to the previous packet's is
    /// removed, so each reference time reaches the output once. As in
    /// stock, only from a writable packet: one shared with another element,
    /// or in a buffer list, keeps it (stock removes the meta from the
    /// buffer it made writable, not its copy).
    #[cold]
    #[inline(never)]
    fn drop_repeated_ntp_reference(&self, mut buffer: gst::Buffer) -> gst::Buffer {
        let ntp = gst::Caps::new_empty_simple("timestamp/x-ntp");
        let Some(ts) = buffer
            .iter_meta::<gst::ReferenceTimestampMeta>()
            .find(|m| m.reference().is_subset(&ntp))
            .map(|m| m.timestamp().nseconds())
        else {
            return buffer;
        };
        if self.hot.ref_ts.swap(ts, Relaxed) != ts {
            return buffer;
        }
        let Some(b) = buffer.get_mut() else {
            return buffer;
        };
        let mut removed = false;
        b.foreach_meta_mut(|mut meta| {
            let this = !removed
                && meta
                    .downcast_ref::<gst::ReferenceTimestampMeta>()
                    .is_some_and(|m| m.reference().is_subset(&ntp));
            removed |= this;
            ControlFlow::Continue(if this {
                gst::buffer::BufferMetaForeachAction::Remove
            } else {
                gst::buffer::BufferMetaForeachAction::Keep
            })
        });
        buffer
    }

    /// A list's packet with an NTP reference meta: remember its time, as
    /// `drop_repeated_ntp_reference` does (which cannot remove the meta
    /// from a buffer the list holds).
    #[cold]
    #[inline(never)]
    fn note_ntp_reference(&self, buffer: &gst::BufferRef) {
        let ntp = gst::Caps::new_empty_simple("timestamp/x-ntp");
        if let Some(ts) = buffer
            .iter_meta::<gst::ReferenceTimestampMeta>()
            .find(|m| m.reference().is_subset(&ntp))
        {
            self.hot.ref_ts.store(ts.timestamp().nseconds(), Relaxed);
        }
    }

    /// `source-info` / extensions: the current packet's ssrc, CSRCs and
    /// extension block, for the output.
    #[cold]
    #[inline(never)]
    fn keep_decoration(&self, info: &rtp::RtpInfo, data: &[u8]) {
        let mut guard = lock(&self.decoration);
        let d = guard.get_or_insert_with(Box::default);
        d.valid = true;
        d.ssrc = info.ssrc;
        d.csrcs.clear();
        d.csrcs
            .extend((0..info.csrc_count()).map(|i| info.csrc(data, i)));
        d.ext.clear();
        if let Some((profile, range)) = &info.extension {
            d.ext_profile = *profile;
            d.ext.extend_from_slice(&data[range.clone()]);
        }
    }

    /// One timed packet: into the window.
    #[cold]
    fn record_timing(&self, start: Instant) {
        let now = Instant::now();
        let ns = now.duration_since(start).as_nanos().min(u32::MAX as u128) as u32;
        let mut t = lock(&self.timing);
        t.window.record(ns);
        drop(t);
    }

    #[cold]
    fn malformed(&self, why: Option<rtp::RtpError>) -> Result<gst::FlowSuccess, gst::FlowError> {
        let hot = &self.hot;
        hot.malformed
            .store(hot.malformed.load(Relaxed) + 1, Relaxed);
        hot.dropped.store(hot.dropped.load(Relaxed) + 1, Relaxed);
        warn_limited!(
            &self.common.drop_warnings,
            CAT,
            imp = self,
            "Dropping malformed RTP packet ({})",
            why.map_or("unmappable".to_string(), |e| format!("{e:?}"))
        );
        Ok(gst::FlowSuccess::Ok)
    }

    // ---- output ----

    /// Timestamps, DISCONT and (when enabled) source meta and header
    /// extensions of the current packet on an output buffer. True when a
    /// header extension asked to update the src caps.
    fn decorate_output(&self, b: &mut gst::BufferRef) -> bool {
        let hot = &self.hot;
        if !hot.times_given.load(Relaxed) {
            hot.times_given.store(true, Relaxed);
            if b.pts().is_none() {
                let pts = hot.pts.load(Relaxed);
                if pts != NO_TIME {
                    b.set_pts(gst::ClockTime::from_nseconds(pts));
                }
            }
            if b.dts().is_none() {
                let dts = hot.dts.load(Relaxed);
                if dts != NO_TIME {
                    b.set_dts(gst::ClockTime::from_nseconds(dts));
                }
            }
        }
        if hot.discont.load(Relaxed) {
            hot.discont.store(false, Relaxed);
            b.set_flags(gst::BufferFlags::DISCONT);
        }
        if !hot.decorate.load(Relaxed) {
            return false;
        }
        let guard = lock(&self.decoration);
        let Some(d) = guard.as_deref().filter(|d| d.valid) else {
            return false;
        };
        if self.source_info.load(Relaxed) {
            while let Some(m) = b.meta_mut::<gst_rtp::RTPSourceMeta>() {
                m.remove().ok();
            }
            gst_rtp::RTPSourceMeta::add(b, Some(d.ssrc), &d.csrcs);
        }
        if d.ext.is_empty() {
            return false;
        }
        self.read_extensions(d.ext_profile, &d.ext, b)
    }

    fn invalidate_decoration(&self) {
        if let Some(d) = lock(&self.decoration).as_mut() {
            d.valid = false;
        }
    }

    /// Hand each extension element to the registered extension of its id,
    /// as the stock base class does (one- and two-byte forms, RFC 8285).
    fn read_extensions(&self, profile: u16, data: &[u8], out: &mut gst::BufferRef) -> bool {
        let (unit, flags) = if profile == 0xBEDE {
            (1, gst_rtp::RTPHeaderExtensionFlags::ONE_BYTE)
        } else if profile >> 4 == 0x100 {
            (2, gst_rtp::RTPHeaderExtensionFlags::TWO_BYTE)
        } else {
            gst::debug!(CAT, imp = self, "Unknown extension profile {:04x}", profile);
            return false;
        };
        let exts = lock(&self.extensions);
        let mut update_caps = false;
        let mut at = 0;
        while at + unit < data.len() {
            let (id, len) = if unit == 1 {
                let b = data[at];
                at += 1;
                if b >> 4 == 0 {
                    continue; // padding
                }
                if b >> 4 == 15 {
                    break; // reserved
                }
                ((b >> 4) as u32, (b & 0x0f) as usize + 1)
            } else {
                let id = data[at];
                at += 1;
                if id == 0 {
                    continue;
                }
                let len = data[at] as usize;
                at += 1;
                (id as u32, len)
            };
            if at + len > data.len() {
                gst::warning!(
                    CAT,
                    imp = self,
                    "Extension element past the end of the extension data"
                );
                break;
            }
            if let Some(ext) = exts.iter().find(|e| e.id() == id) {
                if !ext.read(flags, &data[at..at + len], out) {
                    gst::warning!(
                        CAT,
                        imp = self,
                        "RTP header extension ({}) could not read payloaded data",
                        ext.name()
                    );
                    break;
                }
                update_caps |= ext.wants_update_non_rtp_src_caps();
            }
            at += len;
        }
        update_caps
    }

    fn update_src_caps_from_extensions(&self) -> bool {
        let Some(current) = self.srcpad.current_caps() else {
            return true;
        };
        let mut caps = current.copy();
        for ext in lock(&self.extensions).iter() {
            if !ext.update_non_rtp_src_caps(caps.make_mut()) {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Decode,
                    (
                        "RTP header extension ({}) could not update src caps",
                        ext.name()
                    )
                );
                return false;
            }
        }
        if caps != current {
            self.srcpad.push_event(gst::event::Caps::new(&caps));
        }
        true
    }

    fn push_pending_segment(&self) {
        if self.hot.segment_pending.load(Relaxed) {
            self.hot.segment_pending.store(false, Relaxed);
            if let Some(ev) = lock(&self.stream).segment_event.take() {
                gst::debug!(CAT, imp = self, "Pushing segment before the first buffer");
                self.srcpad.push_event(ev);
            }
        }
    }

    pub fn push(&self, mut buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        if self.hot.collecting.load(Relaxed) {
            return self.collect(buffer);
        }
        if self.decorate_output(buffer.make_mut()) && !self.update_src_caps_from_extensions() {
            return Err(gst::FlowError::Error);
        }
        self.push_pending_segment();
        self.count_out(1);
        self.output.get().unwrap_or(&self.srcpad).push(buffer)
    }

    fn count_out(&self, n: u64) {
        let out = &self.hot.units_out;
        out.store(out.load(Relaxed) + n, Relaxed);
    }

    /// `push` while an input list is worked through by a `LIST_OUTPUT`
    /// format: decorated now (the current packet's times, DISCONT, metas),
    /// added to the output list. What was collected is pushed first when
    /// this buffer needs an event before it (segment, caps from a header
    /// extension) or is DISCONT (so a DISCONT buffer starts an output list,
    /// and an element that looks at a list's first buffer sees it).
    #[inline(never)]
    fn collect(&self, mut buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let update = self.decorate_output(buffer.make_mut());
        if update
            || self.hot.segment_pending.load(Relaxed)
            || buffer.flags().contains(gst::BufferFlags::DISCONT)
        {
            self.flush_collected()?;
        }
        if update && !self.update_src_caps_from_extensions() {
            return Err(gst::FlowError::Error);
        }
        self.push_pending_segment();
        self.count_out(1);
        lock(&self.collected)
            .get_or_insert_with(|| crate::pool::acquire_list(32))
            .get_mut()
            .expect("the collected list is only ours")
            .add(buffer);
        Ok(gst::FlowSuccess::Ok)
    }

    /// Push what `collect` gathered: one list (one buffer alone).
    fn flush_collected(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        let Some(list) = lock(&self.collected).take() else {
            return Ok(gst::FlowSuccess::Ok);
        };
        let out = self.output.get().unwrap_or(&self.srcpad);
        match list.len() {
            0 => Ok(gst::FlowSuccess::Ok),
            1 => out.push(list.get_owned(0).expect("one buffer")),
            _ => out.push_list(list),
        }
    }

    /// Before an event mid-list: push what was collected; a flow error is
    /// kept for the list loop to return.
    fn flush_before_event(&self) {
        if self.hot.collecting.load(Relaxed) {
            if let Err(err) = self.flush_collected() {
                let code: gst::FlowReturn = err.into();
                self.hot
                    .deferred
                    .store(gst::glib::translate::IntoGlib::into_glib(code), Relaxed);
            }
        }
    }

    pub fn push_list(&self, mut list: gst::BufferList) -> Result<gst::FlowSuccess, gst::FlowError> {
        if self.hot.collecting.load(Relaxed) {
            self.flush_collected()?;
        }
        let mut update = false;
        list.make_mut().foreach_mut(|mut b, _| {
            update |= self.decorate_output(b.make_mut());
            ControlFlow::Continue(Some(b))
        });
        if update && !self.update_src_caps_from_extensions() {
            return Err(gst::FlowError::Error);
        }
        self.push_pending_segment();
        self.count_out(list.len() as u64);
        self.output.get().unwrap_or(&self.srcpad).push_list(list)
    }

    pub fn set_src_caps(&self, caps: &gst::Caps) -> bool {
        self.flush_before_event();
        self.srcpad.push_event(gst::event::Caps::new(caps))
    }

    // ---- segment ----

    /// The output segment, made from the caps (npt-*, play-*, clock-base)
    /// and upstream's segment at the first packet, as the stock base class
    /// does; pushed before the first output buffer.
    #[cold]
    fn prepare_segment(&self, rtptime: u32, position: Option<gst::ClockTime>) {
        self.hot.need_segment.store(false, Relaxed);
        let clock_rate = self.clock_rate() as u64;
        let mut st = lock(&self.stream);
        let upstream = st
            .segment
            .downcast_ref::<gst::ClockTime>()
            .cloned()
            .unwrap_or_else(gst::FormattedSegment::<gst::ClockTime>::new);
        let mut start = upstream.start().unwrap_or(gst::ClockTime::ZERO);
        if let (Some(base), Some(pos)) = (st.clock_base, position) {
            // RTP time elapsed since clock-base (first wraparound handled).
            let elapsed = rtptime.wrapping_sub(base) as u64;
            let gap = gst::ClockTime::from_nseconds(
                elapsed
                    .mul_div_floor(gst::ClockTime::SECOND.nseconds(), clock_rate.max(1))
                    .unwrap_or(0),
            );
            if pos > gap {
                start = pos - gap;
            }
        }
        let stop = match st.npt_stop {
            Some(npt_stop) => {
                Some(start + gst::ClockTime::from_nseconds(npt_stop.saturating_sub(st.npt_start)))
            }
            None => upstream.stop(),
        };
        let running_time = upstream
            .to_running_time(start)
            .unwrap_or(gst::ClockTime::ZERO);
        let mut seg = gst::FormattedSegment::<gst::ClockTime>::new();
        seg.set_rate(st.play_speed);
        seg.set_applied_rate(st.play_scale);
        seg.set_start(start);
        seg.set_stop(stop);
        seg.set_time(gst::ClockTime::from_nseconds(st.npt_start));
        seg.set_position(position.unwrap_or(start));
        seg.set_base(running_time);
        gst::debug!(CAT, imp = self, "Output segment {:?}", seg);
        let mut builder = gst::event::Segment::builder(&seg);
        if let Some(seqnum) = st.segment_seqnum {
            builder = builder.seqnum(seqnum);
        }
        st.segment_event = Some(builder.build());
        self.hot.segment_pending.store(true, Relaxed);
    }

    // ---- caps ----

    fn set_sink_caps(&self, caps: &gst::Caps) -> bool {
        let mut st = lock(&self.stream);
        if st.last_caps.as_ref() == Some(caps) {
            gst::debug!(CAT, imp = self, "Caps did not change");
            return true;
        }
        st.last_caps = None;
        let Some(s) = caps.structure(0) else {
            self.caps_refused("empty caps".into());
            return false;
        };
        let rate = match s.get::<i32>("clock-rate") {
            Ok(rate) if rate > 0 => rate as u32,
            _ => {
                self.caps_refused(format!("clock-rate missing or invalid in {caps}"));
                return false;
            }
        };
        st.onvif_mode = s.get::<bool>("onvif-mode").unwrap_or(false);
        st.npt_start = s.get::<u64>("npt-start").unwrap_or(0);
        st.npt_stop = s.get::<u64>("npt-stop").ok();
        st.play_speed = s.get::<f64>("play-speed").unwrap_or(1.0);
        st.play_scale = s.get::<f64>("play-scale").unwrap_or(1.0);
        st.clock_base = s.get::<u32>("clock-base").ok();
        if st.onvif_mode {
            self.hot.need_segment.store(false, Relaxed);
        }
        drop(st);
        self.hot.clock_rate.store(rate, Relaxed);
        if !self.configure_extensions(caps) {
            return false;
        }
        let obj = self.obj();
        let set_caps = vtable(&obj)
            .set_sink_caps
            .expect("subclass sets set_sink_caps");
        match set_caps(&obj, caps) {
            Ok(()) => {
                self.hot.negotiated.store(true, Relaxed);
                lock(&self.stream).last_caps = Some(caps.clone());
                true
            }
            Err(err) => {
                // In the format's own debug category too.
                err.log_with_imp(self);
                self.caps_refused(loggable_message(&err));
                self.hot.negotiated.store(false, Relaxed);
                false
            }
        }
    }

    /// Sink caps we cannot work with: say which field, on the bus. Upstream
    /// only learns "not-negotiated" from the refused event, and the stock
    /// elements leave it at that (the field only in the debug log).
    #[cold]
    fn caps_refused(&self, why: String) {
        gst::warning!(CAT, imp = self, "not-negotiated: {why}");
        gst::element_imp_error!(
            self,
            gst::CoreError::Negotiation,
            ("Unsupported RTP caps."),
            ["not-negotiated: {why}"]
        );
    }

    /// extmap-N fields: keep the extensions still mapped the same way,
    /// request the others (`request-extension`; by default created from
    /// the URI when `auto-header-extension` is on). Extensions not in the
    /// caps are kept, as stock does.
    fn configure_extensions(&self, caps: &gst::Caps) -> bool {
        let current: Vec<_> = lock(&self.extensions).clone();
        match hdrext::reconcile(self.obj().upcast_ref(), &current, caps) {
            Ok(exts) => {
                let mut guard = lock(&self.extensions);
                *guard = exts;
                self.update_decorate(&guard);
                true
            }
            Err(why) => {
                self.caps_refused(why.to_string());
                false
            }
        }
    }

    fn update_decorate(&self, exts: &[gst_rtp::RTPHeaderExtension]) {
        self.hot
            .decorate
            .store(self.source_info.load(Relaxed) || !exts.is_empty(), Relaxed);
    }

    // ---- events and queries ----

    fn reset_streaming(&self) {
        let hot = &self.hot;
        hot.next_seqnum.store(NO_SEQNUM, Relaxed);
        hot.discont.store(false, Relaxed);
        hot.segment_pending.store(false, Relaxed);
        // Left set only by a panic mid-list.
        hot.collecting.store(false, Relaxed);
        hot.deferred.store(0, Relaxed);
        *lock(&self.collected) = None;
        let mut st = lock(&self.stream);
        st.segment = gst::Segment::new();
        st.segment_event = None;
        hot.need_segment.store(!st.onvif_mode, Relaxed);
        self.invalidate_decoration();
    }

    pub fn default_sink_event(&self, event: gst::Event) -> bool {
        use gst::EventView;
        match event.view() {
            EventView::Caps(c) => return self.set_sink_caps(&c.caps_owned()),
            EventView::Segment(s) => {
                let mut st = lock(&self.stream);
                let segment = s.segment().clone();
                if segment.format() != gst::Format::Time {
                    gst::error!(
                        CAT,
                        imp = self,
                        "Segment with non-TIME format not supported"
                    );
                    return false;
                }
                st.segment = segment;
                st.segment_seqnum = Some(event.seqnum());
                if !st.onvif_mode {
                    // We send our own, from the caps, before the first buffer.
                    return true;
                }
            }
            EventView::FlushStop(_) => {
                self.reset_streaming();
                let obj = self.obj();
                if let Some(flush) = vtable(&obj).flush {
                    flush(&obj);
                }
            }
            EventView::Eos(_) => {
                // What is drained has no current packet (as stock: no
                // source meta or extensions on it).
                if self.hot.decorate.load(Relaxed) {
                    self.invalidate_decoration();
                }
                let obj = self.obj();
                if let Some(drain) = vtable(&obj).drain {
                    if let Err(err) = drain(&obj) {
                        gst::debug!(CAT, imp = self, "drain at EOS: {:?}", err);
                    }
                }
                self.common.post_final_stats(obj.upcast_ref());
            }
            EventView::CustomDownstream(_) if event.has_name("GstRTPPacketLost") => {
                let obj = self.obj();
                let lost = vtable(&obj).packet_lost.expect("subclass sets packet_lost");
                return lost(&obj, &event);
            }
            _ => {}
        }
        self.srcpad.push_event(event)
    }

    pub fn default_src_event(&self, event: gst::Event) -> bool {
        gst::Pad::event_default(&self.srcpad, Some(&*self.obj()), event)
    }

    /// The stock default: a GAP event for the lost time, once there is a
    /// segment downstream.
    pub fn default_packet_lost(&self, event: &gst::EventRef) -> bool {
        let Some(s) = event.structure() else {
            return false;
        };
        let (Ok(Some(ts)), Ok(Some(duration))) = (
            s.get::<Option<gst::ClockTime>>("timestamp"),
            s.get::<Option<gst::ClockTime>>("duration"),
        ) else {
            gst::error!(
                CAT,
                imp = self,
                "Packet loss event without timestamp or duration"
            );
            return false;
        };
        if self.srcpad.sticky_event::<gst::event::Segment>(0).is_none() {
            gst::debug!(
                CAT,
                imp = self,
                "Ignoring packet loss before the first segment"
            );
            return false;
        }
        if s.get::<bool>("might-have-been-fec").unwrap_or(false) {
            return true;
        }
        let gap = gst::event::Gap::builder(ts)
            .duration(duration)
            .gap_flags(gst::GapFlags::DATA)
            .build();
        self.srcpad.push_event(gap)
    }

    fn sink_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        if let gst::QueryViewMut::Allocation(q) = query.view_mut() {
            crate::pool::propose_allocation(q, pad);
            return true;
        }
        gst::Pad::query_default(pad, Some(&*self.obj()), query)
    }

    // ---- stats ----

    pub fn stats(&self) -> gst::Structure {
        let hot = &self.hot;
        let (npt_start, npt_stop, speed, scale, segment) = {
            let st = lock(&self.stream);
            (
                st.npt_start,
                st.npt_stop,
                st.play_speed,
                st.play_scale,
                st.segment.clone(),
            )
        };
        let running = |v: u64| -> u64 {
            if v == NO_TIME {
                return NO_TIME;
            }
            segment
                .downcast_ref::<gst::ClockTime>()
                .and_then(|s| s.to_running_time(gst::ClockTime::from_nseconds(v)))
                .map_or(NO_TIME, |t| t.nseconds())
        };
        let s = gst::Structure::builder("application/x-rtp-depayload-stats")
            // The stock structure's spelling, and the documented one.
            .field("clock_rate", self.clock_rate())
            .field("clock-rate", self.clock_rate())
            .field("npt-start", npt_start)
            .field("npt-stop", npt_stop.unwrap_or(u64::MAX))
            .field("play-speed", speed)
            .field("play-scale", scale)
            .field("running-time-dts", running(hot.dts.load(Relaxed)))
            .field("running-time-pts", running(hot.pts.load(Relaxed)))
            .field("seqnum", hot.last_seqnum.load(Relaxed))
            .field("timestamp", hot.last_rtptime.load(Relaxed))
            .build();
        let mut ours = lock(&self.timing).clone();
        ours.buffers_in = hot.packets.load(Relaxed);
        ours.packets = ours.buffers_in;
        ours.bytes = hot.bytes.load(Relaxed);
        ours.units_out = hot.units_out.load(Relaxed);
        ours.malformed = hot.malformed.load(Relaxed);
        ours.dropped = hot.dropped.load(Relaxed);
        let mut s = ours.to_structure(Some(s), lock(&self.simd).1);
        let obj = self.obj();
        if let Some(extend) = vtable(&obj).extend_stats {
            extend(&obj, &mut s);
        }
        s
    }
}

#[glib::object_subclass]
impl ObjectSubclass for RtpFastBaseDepay {
    const NAME: &'static str = "GstRtpFastBaseDepay";
    const ABSTRACT: bool = true;
    type Type = super::RtpFastBaseDepay;
    type ParentType = gst::Element;
    type Class = Class;

    fn with_class(klass: &Self::Class) -> Self {
        let templ = klass
            .pad_template("sink")
            .expect("subclass has a sink pad template");
        let sinkpad = gst::Pad::builder_from_template(&templ)
            // Caps that only lack a field (e.g. clock-rate) reach
            // `set_sink_caps`, which names it in its error; a plain subset
            // check would refuse them with a bare not-negotiated.
            .flags(gst::PadFlags::ACCEPT_INTERSECT)
            // SAFETY: `streaming`'s contract (= `pad_function`'s): only our
            // own always sink pad, created here and added to this element in
            // `constructed`, never removed, gets this function, so GStreamer
            // calls it with this element, a `Self::Type`, as the parent.
            .chain_function(|_pad, parent, buffer| unsafe {
                super::super::streaming::<Self>(parent, |imp| imp.sink_chain(buffer))
            })
            // SAFETY: as for the chain function: only set on our own always
            // sink pad, whose parent is this element.
            .chain_list_function(|_pad, parent, list| unsafe {
                super::super::streaming::<Self>(parent, |imp| imp.sink_chain_list(list))
            })
            // SAFETY: `pad_function`'s contract, as for the chain function:
            // only set on our own always sink pad, whose parent is this
            // element.
            .event_function(|_pad, parent, event| unsafe {
                pad_function::<Self, _>(
                    parent,
                    || false,
                    |imp| {
                        crate::elements::base::test_panic_on_event(&event);
                        let obj = imp.obj();
                        let f = vtable(&obj).sink_event.expect("subclass sets sink_event");
                        f(&obj, event)
                    },
                )
            })
            // SAFETY: `pad_function`'s contract, as for the chain function:
            // only set on our own always sink pad, whose parent is this
            // element.
            .query_function(|pad, parent, query| unsafe {
                pad_function::<Self, _>(parent, || false, |imp| imp.sink_query(pad, query))
            })
            .build();
        let templ = klass
            .pad_template("src")
            .expect("subclass has a src pad template");
        let srcpad = gst::Pad::builder_from_template(&templ)
            // SAFETY: our own always src pad, as the sink pad's functions.
            .event_function(|_pad, parent, event| unsafe {
                pad_function::<Self, _>(
                    parent,
                    || false,
                    |imp| {
                        let obj = imp.obj();
                        let f = vtable(&obj).src_event.expect("subclass sets src_event");
                        f(&obj, event)
                    },
                )
            })
            .build();
        srcpad.use_fixed_caps();
        RtpFastBaseDepay {
            sinkpad,
            srcpad,
            output: std::sync::OnceLock::new(),
            hot: Hot::default(),
            stream: Mutex::new(Stream::default()),
            source_info: AtomicBool::new(DEFAULT_SOURCE_INFO),
            max_reorder: AtomicI32::new(DEFAULT_MAX_REORDER),
            auto_header_extension: AtomicBool::new(DEFAULT_AUTO_HEADER_EXTENSION),
            extensions: Mutex::new(Vec::new()),
            decoration: Mutex::new(None),
            gathered: Mutex::new(Vec::new()),
            collected: Mutex::new(None),
            common: ElementCommon::default(),
            simd: Mutex::new((SimdMode::Auto, SimdLevel::resolve(None).0)),
            timing: Mutex::new(ElementStats::default()),
        }
    }
}

impl ObjectImpl for RtpFastBaseDepay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb(super::super::stats::DEPAY_STATS_BLURB)
                    .read_only()
                    .build(),
                glib::ParamSpecBoolean::builder("source-info")
                    .nick("RTP source information")
                    .blurb("Add RTP source information as buffer meta")
                    .default_value(DEFAULT_SOURCE_INFO)
                    .build(),
                glib::ParamSpecInt::builder("max-reorder")
                    .nick("Max Reorder")
                    .blurb("Max seqnum reorder before assuming sender has restarted")
                    .minimum(0)
                    .maximum(i32::MAX)
                    .default_value(DEFAULT_MAX_REORDER)
                    .build(),
                glib::ParamSpecBoolean::builder("auto-header-extension")
                    .nick("Automatic RTP header extension")
                    .blurb("Whether RTP header extensions should be automatically enabled, if an implementation is available")
                    .default_value(DEFAULT_AUTO_HEADER_EXTENSION)
                    .build(),
            ]
            .into_iter()
            // Ours: simd, stats-interval, pool-max-bytes (`stats` is above).
            .chain(
                common_properties(
                    "SIMD level for bulk work (auto honours RSRTPFAST_SIMD)",
                    super::super::stats::DEPAY_STATS_BLURB,
                )
                    .into_iter()
                    .filter(|p| p.name() != "stats"),
            )
            .collect()
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if self
            .common
            .set_property(self.obj().upcast_ref(), value, pspec)
        {
            return;
        }
        match pspec.name() {
            "simd" => {
                let mode: SimdMode = value.get().unwrap();
                *lock(&self.simd) = (mode, SimdLevel::resolve(mode.requested()).0);
            }
            "source-info" => {
                self.source_info.store(value.get().unwrap(), Relaxed);
                self.update_decorate(&lock(&self.extensions));
            }
            "max-reorder" => self.max_reorder.store(value.get().unwrap(), Relaxed),
            "auto-header-extension" => self
                .auto_header_extension
                .store(value.get().unwrap(), Relaxed),
            name => unimplemented!("property {name}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if let Some(v) = self.common.property(pspec) {
            return v;
        }
        match pspec.name() {
            "simd" => lock(&self.simd).0.to_value(),
            "stats" => self.stats().to_value(),
            "source-info" => self.source_info.load(Relaxed).to_value(),
            "max-reorder" => self.max_reorder.load(Relaxed).to_value(),
            "auto-header-extension" => self.auto_header_extension.load(Relaxed).to_value(),
            name => unimplemented!("property {name}"),
        }
    }

    fn signals() -> &'static [glib::subclass::Signal] {
        fn imp(e: &gst::Element) -> &RtpFastBaseDepay {
            e.downcast_ref::<super::RtpFastBaseDepay>().unwrap().imp()
        }
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            hdrext::signals(
                |e, id, uri| {
                    let auto = imp(e).auto_header_extension.load(Relaxed);
                    hdrext::create_for_uri(auto, id, uri)
                },
                |e, ext| {
                    let mut exts = lock(&imp(e).extensions);
                    exts.push(ext);
                    imp(e).update_decorate(&exts);
                },
                |e| {
                    let mut exts = lock(&imp(e).extensions);
                    exts.clear();
                    imp(e).update_decorate(&exts);
                },
            )
        });
        SIGNALS.as_ref()
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.sinkpad).unwrap();
        obj.add_pad(&self.srcpad).unwrap();
    }
}

impl GstObjectImpl for RtpFastBaseDepay {}

impl ElementImpl for RtpFastBaseDepay {
    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::PlayingToPaused {
            crate::elements::base::test_panic_point(crate::elements::base::TestPanic::ChangeState);
        }
        self.common
            .change_state(self.obj().upcast_ref(), transition);
        if transition == gst::StateChange::ReadyToPaused {
            *lock(&self.stream) = Stream::default();
            self.reset_streaming();
            let hot = &self.hot;
            hot.negotiated.store(false, Relaxed);
            hot.need_segment.store(true, Relaxed);
            hot.pts.store(NO_TIME, Relaxed);
            hot.dts.store(NO_TIME, Relaxed);
            hot.ref_ts.store(NO_TIME, Relaxed);
            let obj = self.obj();
            if let Some(start) = vtable(&obj).start {
                start(&obj);
            }
        }
        let ret = self.parent_change_state(transition)?;
        if transition == gst::StateChange::PausedToReady {
            let mut st = lock(&self.stream);
            st.last_caps = None;
            st.segment_event = None;
            self.hot.segment_pending.store(false, Relaxed);
            drop(st);
            let obj = self.obj();
            if let Some(flush) = vtable(&obj).flush {
                flush(&obj);
            }
        }
        Ok(ret)
    }
}
