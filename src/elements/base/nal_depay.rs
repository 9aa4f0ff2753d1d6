//! Shared implementation of the NAL-unit depayloaders (H.264, H.265) on
//! `GstRtpFastBaseDepay`: output negotiation (byte-stream or avc/hvc1) and
//! access-unit assembly straight into the output buffer. The base class has
//! parsed and validated each packet before it gets here.

use super::depay::{RtpFastBaseDepay, RtpFastBaseDepayExt, RtpPacket};
use super::lock;
use super::pooled_au::PooledAu;
use crate::core::depacketizer::{
    AuInfo, AuSink, DepayConfig, DropReason, NalDepacketizer, PacketIn, StreamFormat,
};
use crate::core::nal::{NalCodec, ParamSet};
use crate::elements::base::warn_limit::warn_limited;
use gst::glib;
use gst::prelude::*;
use smallvec::SmallVec;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};

pub static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rtpfastnaldepay",
        gst::DebugColorFlags::empty(),
        Some("rsrtpfast NAL-unit depayloaders"),
    )
});

/// Largest access unit assembled: a sender that never ends its unit (no
/// marker, no timestamp change) cannot make us hold more than this. The
/// unit in progress is dropped and counted in `dropped`. (64 MiB: over
/// twice an uncompressed 8K 4:2:0 frame.)
pub const MAX_AU_BYTES: usize = 64 << 20;

#[derive(Clone, Debug, Default)]
pub struct DepaySettings {
    pub wait_for_keyframe: bool,
    pub request_keyframe: bool,
}

pub struct DepayState<C: NalCodec> {
    depacketizer: NalDepacketizer<C>,
    assembly: PooledAu,
    au_pts: Option<gst::ClockTime>,
    au_dts: Option<gst::ClockTime>,
    /// Output caps must be (re)sent before the next unit.
    caps_dirty: bool,
    /// Parameter sets from sprop-* still to be sent in-band (byte-stream).
    pending_sprop: bool,
    loss_pending: bool,
    /// Copy of the setting, read on the streaming thread under the state
    /// lock alone (lock order is settings, then state).
    request_keyframe: bool,
    /// Units dropped for growing past [`MAX_AU_BYTES`].
    oversized: u64,
}

pub struct NalDepayBase<C: NalCodec> {
    pub settings: Mutex<DepaySettings>,
    pub state: Mutex<DepayState<C>>,
    /// No access unit is being assembled: the output format may change
    /// before the next packet (read without the state lock).
    at_boundary: AtomicBool,
    /// Downstream offered an allocator of its own (not system memory) in
    /// its ALLOCATION answer: access units are output in its memory.
    out_alloc: Mutex<Option<(gst::Allocator, gst::AllocationParams)>>,
    has_out_alloc: AtomicBool,
}

impl<C: NalCodec> Default for NalDepayBase<C> {
    fn default() -> Self {
        NalDepayBase {
            settings: Mutex::new(DepaySettings::default()),
            state: Mutex::new(DepayState {
                depacketizer: NalDepacketizer::new(DepayConfig::default()),
                assembly: PooledAu::default(),
                au_pts: None,
                au_dts: None,
                caps_dirty: true,
                pending_sprop: false,
                loss_pending: false,
                request_keyframe: false,
                oversized: 0,
            }),
            at_boundary: AtomicBool::new(true),
            out_alloc: Mutex::new(None),
            has_out_alloc: AtomicBool::new(false),
        }
    }
}

/// Besides the base class's.
pub fn properties() -> Vec<glib::ParamSpec> {
    vec![
        glib::ParamSpecBoolean::builder("wait-for-keyframe")
            .nick("Wait for Keyframe")
            .blurb("Wait for the next keyframe after packet loss, meaningful only when outputting access units")
            .default_value(false)
            .build(),
        glib::ParamSpecBoolean::builder("request-keyframe")
            .nick("Request Keyframe")
            .blurb("Request new keyframe when packet loss is detected")
            .default_value(false)
            .build(),
    ]
}

/// Loss seen with `request-keyframe`: ask upstream for a key unit (as
/// stock, a GstForceKeyUnit with all-headers).
#[cold]
fn request_keyframe(obj: &RtpFastBaseDepay) {
    gst::debug!(CAT, obj = obj, "Loss detected, requesting a keyframe");
    let ev = gst::event::CustomUpstream::new(
        gst::Structure::builder("GstForceKeyUnit")
            .field("all-headers", true)
            .build(),
    );
    obj.sink_pad().push_event(ev);
}

impl<C: NalCodec> NalDepayBase<C> {
    pub fn set_property(&self, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = lock(&self.settings);
        match pspec.name() {
            "wait-for-keyframe" => {
                settings.wait_for_keyframe = value.get().unwrap();
                let mut state = lock(&self.state);
                let mut cfg = state.depacketizer.config();
                cfg.wait_for_keyframe = settings.wait_for_keyframe;
                state.depacketizer.set_config(cfg);
            }
            "request-keyframe" => {
                settings.request_keyframe = value.get().unwrap();
                lock(&self.state).request_keyframe = settings.request_keyframe;
            }
            _ => unimplemented!("property {}", pspec.name()),
        }
    }

    pub fn property(&self, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = lock(&self.settings);
        match pspec.name() {
            "wait-for-keyframe" => settings.wait_for_keyframe.to_value(),
            "request-keyframe" => settings.request_keyframe.to_value(),
            _ => unimplemented!("property {}", pspec.name()),
        }
    }

    /// Our counters added to the base class's `stats` (which already
    /// counts the packets it dropped as malformed or reordered).
    pub fn extend_stats(&self, s: &mut gst::Structure) {
        let state = lock(&self.state);
        let core = state.depacketizer.stats();
        s.set("lost-fragments", core.lost_fragments);
        let dropped = s.get::<u64>("dropped").unwrap_or(0);
        s.set(
            "dropped",
            dropped + core.dropped + core.dropped_units + state.oversized,
        );
    }

    pub fn set_caps(
        &self,
        obj: &RtpFastBaseDepay,
        caps: &gst::Caps,
    ) -> Result<(), gst::LoggableError> {
        let s = caps
            .structure(0)
            .ok_or_else(|| gst::loggable_error!(CAT, "not-negotiated: empty caps"))?;
        match s.get::<&str>("encoding-name") {
            Ok(name) if name.eq_ignore_ascii_case(C::ENCODING_NAME) => {}
            other => {
                return Err(gst::loggable_error!(
                    CAT,
                    "not-negotiated: encoding-name must be {} (got {:?})",
                    C::ENCODING_NAME,
                    other.ok()
                ))
            }
        }
        // Present: the base class requires it.
        if let Ok(rate) = s.get::<i32>("clock-rate") {
            if rate != 90000 {
                return Err(gst::loggable_error!(
                    CAT,
                    "not-negotiated: clock-rate must be 90000 (got {})",
                    rate
                ));
            }
        }
        let cfg = self.downstream_config(obj)?;
        let mut state = lock(&self.state);
        state.depacketizer.set_config(cfg);
        let format = cfg.format;
        let mut any_sprop = false;
        for (field, _) in C::SPROP_FIELDS {
            if let Ok(value) = s.get::<&str>(*field) {
                for part in value.split(',') {
                    let nal = glib::base64_decode(part);
                    if let Some(kind) = C::param_set(C::nal_type(&nal)) {
                        state.depacketizer.set_param(kind, &nal);
                        any_sprop = true;
                    }
                }
            }
        }
        state.pending_sprop = any_sprop && format == StreamFormat::ByteStream;
        state.caps_dirty = true;
        let out = output_caps(&mut state);
        drop(state);
        if let Some(out) = out {
            if !obj.set_src_caps(&out) {
                return Err(gst::loggable_error!(
                    CAT,
                    "not-negotiated: downstream refused {}",
                    out
                ));
            }
            self.decide_allocation(obj, &out);
        }
        Ok(())
    }

    /// Output format downstream prefers, like the stock element: the first
    /// structure of the peer's caps filtered by our template.
    fn downstream_config(&self, obj: &RtpFastBaseDepay) -> Result<DepayConfig, gst::LoggableError> {
        let template = obj.src_pad().pad_template_caps();
        let mut peer = obj.src_pad().peer_query_caps(Some(&template));
        if peer.is_empty() {
            return Err(gst::loggable_error!(
                CAT,
                "not-negotiated: downstream accepts none of {}",
                template
            ));
        }
        peer.fixate();
        let p = peer.structure(0).unwrap();
        let fmt = p.get::<&str>("stream-format").unwrap_or("avc");
        let align = p.get::<&str>("alignment").unwrap_or("au");
        let format = if fmt == "byte-stream" {
            StreamFormat::ByteStream
        } else {
            StreamFormat::LengthPrefixed
        };
        Ok(DepayConfig {
            format,
            au_alignment: format == StreamFormat::LengthPrefixed || align != "nal",
            wait_for_keyframe: lock(&self.settings).wait_for_keyframe,
        })
    }

    /// Downstream asked for renegotiation (RECONFIGURE): pick its preferred
    /// format again, effective from the next access unit.
    fn renegotiate(&self, obj: &RtpFastBaseDepay) {
        let cfg = match self.downstream_config(obj) {
            Ok(cfg) => cfg,
            Err(err) => {
                err.log_with_object(obj);
                gst::warning!(
                    CAT,
                    obj = obj,
                    "Renegotiation failed, keeping the current format"
                );
                return;
            }
        };
        let mut state = lock(&self.state);
        if cfg == state.depacketizer.config() {
            return;
        }
        gst::debug!(CAT, obj = obj, "Renegotiated output: {:?}", cfg);
        state.depacketizer.set_config(cfg);
        state.caps_dirty = true;
        // A byte-stream decoder gets the parameter sets in-band, once.
        state.pending_sprop = cfg.format == StreamFormat::ByteStream
            && C::PARAM_SETS
                .iter()
                .all(|k| state.depacketizer.params().get(*k).is_some());
    }

    #[inline(never)]
    pub fn handle_packet(
        &self,
        obj: &RtpFastBaseDepay,
        packet: &RtpPacket<'_>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        // Checked between access units only (the flag test takes the pad's
        // lock), so a unit is never assembled in two formats.
        if self.at_boundary.load(Ordering::Relaxed) && obj.src_pad().check_reconfigure() {
            self.renegotiate(obj);
        }
        let payload = packet.payload;
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let discont = packet.discont || std::mem::take(&mut state.loss_pending);
        let pkt = PacketIn {
            payload,
            timestamp: packet.timestamp,
            marker: packet.marker,
            discont,
        };
        // A unit without a picture yet (parameter sets sent ahead) takes
        // the time of the packets that bring its picture, as in stock.
        let was_empty = state.assembly.is_empty() || state.depacketizer.au_without_picture();
        let mut units: SmallVec<[(gst::Buffer, AuInfo); 2]> = SmallVec::new();
        state.assembly.begin_packet(packet.buffer);
        let result = state.depacketizer.push(
            pkt,
            &mut state.assembly,
            &mut |sink: &mut PooledAu, info| {
                if let Some(unit) = sink.take() {
                    units.push((unit, info));
                }
            },
        );
        state.assembly.end_packet();
        if let Err(reason) = result {
            self.dropped_packet(obj, packet, reason);
        }
        if state.assembly.len() > MAX_AU_BYTES {
            self.oversized_unit(obj, state, packet);
        }
        if units.is_empty() {
            // Most packets: a unit goes on (no output, no caps, no sprop).
            if !state.assembly.is_empty() && was_empty {
                state.au_pts = packet.pts();
                state.au_dts = packet.dts();
            }
            let request = state.depacketizer.take_loss() && state.request_keyframe;
            self.at_boundary
                .store(state.assembly.is_empty(), Ordering::Relaxed);
            drop(guard);
            if request {
                request_keyframe(obj);
            }
            return Ok(gst::FlowSuccess::Ok);
        }
        self.units_completed(obj, guard, units, was_empty, packet)
    }

    /// `handle_packet` once units are complete (once per access unit):
    /// output caps, in-band parameter sets, the push.
    #[inline(never)]
    fn units_completed(
        &self,
        obj: &RtpFastBaseDepay,
        mut guard: std::sync::MutexGuard<'_, DepayState<C>>,
        units: SmallVec<[(gst::Buffer, AuInfo); 2]>,
        was_empty: bool,
        packet: &RtpPacket<'_>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let state = &mut *guard;
        // The time of the unit that was in progress before this packet.
        let (au_pts, au_dts) = (state.au_pts, state.au_dts);
        if !state.assembly.is_empty() {
            state.au_pts = packet.pts();
            state.au_dts = packet.dts();
        }
        let request = state.depacketizer.take_loss() && state.request_keyframe;
        let caps = output_caps(state);
        let needs_caps = state.caps_dirty;
        let sprop = if state.pending_sprop {
            state.pending_sprop = false;
            let mut v = Vec::new();
            for &kind in C::PARAM_SETS {
                if let Some(n) = state.depacketizer.params().get(kind) {
                    v.extend_from_slice(&[0, 0, 0, 1]);
                    v.extend_from_slice(n);
                }
            }
            Some(v)
        } else {
            None
        };
        self.at_boundary
            .store(state.assembly.is_empty(), Ordering::Relaxed);
        drop(guard);

        if request {
            request_keyframe(obj);
        }
        if let Some(caps) = caps {
            if obj.set_src_caps(&caps) {
                self.decide_allocation(obj, &caps);
            }
        }
        if needs_caps {
            warn_limited!(
                obj.drop_warnings(),
                CAT,
                obj = obj,
                "No parameter sets yet for codec_data, dropping {} unit(s)",
                units.len()
            );
            return Ok(gst::FlowSuccess::Ok);
        }
        self.push_units(obj, units, sprop, was_empty, au_pts, au_dts, Some(packet))
    }

    /// Ask downstream how to allocate, as rtph264depay/rtph265depay 1.22
    /// do once their caps are set: with alignment=au, an allocator other
    /// than system memory in its first allocation param is where access
    /// units go (stock ignores pools, and so do we). Otherwise our own
    /// pooled memory.
    #[cold]
    fn decide_allocation(&self, obj: &RtpFastBaseDepay, caps: &gst::Caps) {
        let au = caps
            .structure(0)
            .and_then(|s| s.get::<&str>("alignment").ok())
            != Some("nal");
        let mut query = gst::query::Allocation::new(Some(caps), true);
        let chosen = if au && obj.src_pad().peer_query(&mut query) {
            query
                .allocation_params()
                .next()
                .and_then(|(allocator, params)| Some((allocator?, params)))
                .filter(|(a, _)| a.type_().name() != "GstAllocatorSysmem")
        } else {
            None
        };
        gst::debug!(
            CAT,
            obj = obj,
            "Output allocator: {:?}",
            chosen.as_ref().map(|(a, _)| a.type_().name())
        );
        self.has_out_alloc
            .store(chosen.is_some(), Ordering::Relaxed);
        *lock(&self.out_alloc) = chosen;
    }

    /// `unit` copied into memory of downstream's allocator, when it offered
    /// one (None: keep ours, also when that allocator fails).
    #[cold]
    fn in_downstream_memory(&self, unit: &gst::Buffer) -> Option<gst::Buffer> {
        let guard = lock(&self.out_alloc);
        let (allocator, params) = guard.as_ref()?;
        let mem = allocator.alloc(unit.size(), Some(params)).ok()?;
        drop(guard);
        let mut out = gst::Buffer::new();
        {
            let b = out.get_mut().unwrap();
            b.append_memory(mem);
            let mut map = b.map_writable().ok()?;
            map.copy_from_slice(&unit.map_readable().ok()?);
        }
        Some(out)
    }

    #[cold]
    fn dropped_packet(&self, obj: &RtpFastBaseDepay, packet: &RtpPacket<'_>, reason: DropReason) {
        // Counted in the core's stats (`dropped`).
        warn_limited!(
            obj.drop_warnings(),
            CAT,
            obj = obj,
            "Dropping packet seq {}: {:?}",
            packet.seq,
            reason
        );
    }

    #[cold]
    fn oversized_unit(
        &self,
        obj: &RtpFastBaseDepay,
        state: &mut DepayState<C>,
        packet: &RtpPacket<'_>,
    ) {
        state.depacketizer.reset(&mut state.assembly);
        state.assembly.release();
        state.oversized += 1;
        state.loss_pending = true;
        warn_limited!(
            obj.drop_warnings(),
            CAT,
            obj = obj,
            "Dropping an access unit past {} bytes (seq {})",
            MAX_AU_BYTES,
            packet.seq
        );
    }

    /// Push completed units. The first unit, when it was begun by earlier
    /// packets, carries their time; a unit begun by this packet carries
    /// this one's (`packet` None at EOS: the assembled unit's time).
    #[allow(clippy::too_many_arguments)]
    fn push_units(
        &self,
        obj: &RtpFastBaseDepay,
        units: SmallVec<[(gst::Buffer, AuInfo); 2]>,
        sprop: Option<Vec<u8>>,
        was_empty: bool,
        au_pts: Option<gst::ClockTime>,
        au_dts: Option<gst::ClockTime>,
        packet: Option<&RtpPacket<'_>>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut sprop = sprop;
        for (i, (mut unit, info)) in units.into_iter().enumerate() {
            let mut key = info.keyframe || info.param_sets;
            if self.has_out_alloc.load(Ordering::Relaxed) {
                if let Some(mut copy) = self.in_downstream_memory(&unit) {
                    keep_metas(&unit, &mut copy);
                    unit = copy;
                }
            }
            let mut buf = match sprop.take() {
                // Once per stream: the caps' parameter sets go in-band ahead
                // of the first unit (copied, so the pooled buffer stays whole;
                // in downstream's memory, appended after them).
                Some(mut params) => {
                    key = true;
                    if self.has_out_alloc.load(Ordering::Relaxed) {
                        let mut b = gst::Buffer::from_mut_slice(params);
                        keep_metas(&unit, &mut b);
                        b.append(unit);
                        b
                    } else {
                        params.extend_from_slice(&unit.map_readable().unwrap());
                        let mut b = gst::Buffer::from_mut_slice(params);
                        keep_metas(&unit, &mut b);
                        b
                    }
                }
                None => unit,
            };
            {
                let b = buf.get_mut().unwrap();
                // The first unit, when it was begun by earlier packets, carries
                // their time; a unit begun by this packet carries this one's.
                match packet {
                    Some(p) if !(i == 0 && !was_empty && au_pts.is_some()) => {
                        b.set_pts(p.pts());
                        // As stock: the packet's DTS goes on its first output
                        // only (a later NAL unit of the same aggregation
                        // packet has none).
                        if i == 0 {
                            b.set_dts(p.dts());
                        }
                    }
                    _ => {
                        b.set_pts(au_pts);
                        b.set_dts(au_dts);
                    }
                }
                // As stock: parameter sets are key units too, so downstream
                // waiting for a key unit can start there.
                if !key {
                    b.set_flags(gst::BufferFlags::DELTA_UNIT);
                }
                if info.marker {
                    b.set_flags(gst::BufferFlags::MARKER);
                }
                if info.discont {
                    b.set_flags(gst::BufferFlags::DISCONT);
                }
            }
            if let Err(err) = obj.push(buf) {
                gst::debug!(CAT, obj = obj, "push failed: {:?}", err);
                return Err(err);
            }
        }
        Ok(gst::FlowSuccess::Ok)
    }

    /// EOS: output the access unit in progress if it is complete.
    pub fn drain(&self, obj: &RtpFastBaseDepay) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let mut units: SmallVec<[(gst::Buffer, AuInfo); 2]> = SmallVec::new();
        state
            .depacketizer
            .drain(&mut state.assembly, &mut |sink: &mut PooledAu, info| {
                if let Some(unit) = sink.take() {
                    units.push((unit, info));
                }
            });
        let (au_pts, au_dts) = (state.au_pts.take(), state.au_dts.take());
        self.at_boundary.store(true, Ordering::Relaxed);
        if units.is_empty() || state.caps_dirty {
            return Ok(gst::FlowSuccess::Ok);
        }
        drop(guard);
        self.push_units(obj, units, None, false, au_pts, au_dts, None)
    }

    /// Flush: drop the unit in progress.
    pub fn flush(&self) {
        let mut state = lock(&self.state);
        let state = &mut *state;
        state.depacketizer.reset(&mut state.assembly);
        state.au_pts = None;
        state.au_dts = None;
        self.at_boundary.store(true, Ordering::Relaxed);
    }
}

/// Output caps when they can be made now (avc/hvc1 need parameter sets).
fn output_caps<C: NalCodec>(state: &mut DepayState<C>) -> Option<gst::Caps> {
    if !state.caps_dirty && !state.depacketizer.take_params_changed() {
        return None;
    }
    let cfg = state.depacketizer.config();
    let (mut caps, sps) = match cfg.format {
        StreamFormat::ByteStream => (
            gst::Caps::builder(C::CAPS_MEDIA)
                .field("stream-format", "byte-stream")
                .field("alignment", if cfg.au_alignment { "au" } else { "nal" })
                .build(),
            None,
        ),
        StreamFormat::LengthPrefixed => {
            let codec_data = C::build_codec_data(state.depacketizer.params())?;
            (
                gst::Caps::builder(C::CAPS_MEDIA)
                    .field("stream-format", C::PACKED_FORMATS[0])
                    .field("alignment", "au")
                    .field("codec_data", gst::Buffer::from_mut_slice(codec_data))
                    .build(),
                state.depacketizer.params().get(ParamSet::Sps),
            )
        }
    };
    // rtph264depay 1.22 puts the SPS's profile and level in its avc caps
    // (not in byte-stream caps: there the sprop SPS goes in-band only;
    // rtph265depay sets no profile, tier or level).
    if let (Some(sps), "video/x-h264") = (sps, C::CAPS_MEDIA) {
        if sps.len() > 1 {
            let _ = gst_pbutils::codec_utils_h264_caps_set_level_and_profile(
                caps.make_mut(),
                &sps[1..],
            );
        }
    }
    state.caps_dirty = false;
    Some(caps)
}

/// Pad templates: the stock depayloader's, for codec `C`.
pub fn pad_templates<C: NalCodec>() -> Vec<gst::PadTemplate> {
    let sink = gst::Caps::builder("application/x-rtp")
        .field("media", "video")
        .field("clock-rate", 90000)
        .field("encoding-name", C::ENCODING_NAME)
        .build();
    super::pad_templates(&sink, &super::elementary_caps::<C>(&C::PACKED_FORMATS[..1]))
}

/// The unit's metas onto the buffer that replaces it (as stock copies the
/// access unit's onto the codec data it prepends).
#[inline]
fn keep_metas(unit: &gst::Buffer, to: &mut gst::Buffer) {
    if unit.iter_meta::<gst::Meta>().next().is_some() {
        super::copy_rtp_metas(unit, to.make_mut(), Some("video"));
    }
}
