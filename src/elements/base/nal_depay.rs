//! Shared implementation of the NAL-unit depayloaders (H.264, H.265): RTP
//! validation before the base class sees a packet, output negotiation
//! (byte-stream or avc/hvc1), and access-unit assembly straight into the
//! output buffer.

use super::pooled_au::PooledAu;
use super::stats::{parent_stats, ElementStats};
use super::{lock, ElementCommon};
use crate::core::depacketizer::{
    AuInfo, AuSink, DepayConfig, NalDepacketizer, PacketIn, StreamFormat,
};
use crate::core::nal::NalCodec;
use crate::core::simd::SimdLevel;
use crate::elements::SimdMode;
use gst::glib;
use gst::prelude::*;
use gst_rtp::prelude::*;
use smallvec::SmallVec;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Instant;

pub static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rtpfastnaldepay",
        gst::DebugColorFlags::empty(),
        Some("rsrtpfast NAL-unit depayloaders"),
    )
});

#[derive(Clone, Debug, Default)]
pub struct DepaySettings {
    pub wait_for_keyframe: bool,
    pub request_keyframe: bool,
    pub simd: SimdMode,
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
    /// Reused to gather packets that arrive split over several memories.
    gathered: Vec<u8>,
    /// Copy of the setting, read on the streaming thread under the state
    /// lock alone (lock order is settings, then state).
    request_keyframe: bool,
    simd: SimdLevel,
    pub stats: ElementStats,
}

pub struct NalDepayBase<C: NalCodec> {
    pub common: ElementCommon,
    pub settings: Mutex<DepaySettings>,
    pub state: Mutex<DepayState<C>>,
    /// No access unit is being assembled: the output format may change
    /// before the next packet (read without the state lock).
    at_boundary: AtomicBool,
}

impl<C: NalCodec> Default for NalDepayBase<C> {
    fn default() -> Self {
        NalDepayBase {
            common: ElementCommon::default(),
            settings: Mutex::new(DepaySettings::default()),
            state: Mutex::new(DepayState {
                depacketizer: NalDepacketizer::new(DepayConfig::default()),
                assembly: PooledAu::default(),
                au_pts: None,
                au_dts: None,
                caps_dirty: true,
                pending_sprop: false,
                loss_pending: false,
                gathered: Vec::new(),
                request_keyframe: false,
                simd: SimdLevel::resolve(None).0,
                stats: ElementStats::default(),
            }),
            at_boundary: AtomicBool::new(true),
        }
    }
}

pub fn properties() -> Vec<glib::ParamSpec> {
    let mut v = vec![
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
    ];
    v.extend(super::common_properties(
        "SIMD level for bulk work (auto honours RSRTPFAST_SIMD)",
    ));
    v
}

impl<C: NalCodec> NalDepayBase<C> {
    pub fn set_property(&self, value: &glib::Value, pspec: &glib::ParamSpec) {
        if self.common.set_property(value, pspec) {
            return;
        }
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
            "simd" => {
                settings.simd = value.get().unwrap();
                lock(&self.state).simd = SimdLevel::resolve(settings.simd.requested()).0;
            }
            _ => unimplemented!("property {}", pspec.name()),
        }
    }

    pub fn property(
        &self,
        obj: &gst_rtp::RTPBaseDepayload,
        pspec: &glib::ParamSpec,
    ) -> glib::Value {
        if let Some(v) = self.common.property(pspec) {
            return v;
        }
        let settings = lock(&self.settings);
        match pspec.name() {
            "wait-for-keyframe" => settings.wait_for_keyframe.to_value(),
            "request-keyframe" => settings.request_keyframe.to_value(),
            "simd" => settings.simd.to_value(),
            "stats" => self.stats(obj).to_value(),
            _ => unimplemented!("property {}", pspec.name()),
        }
    }

    fn stats(&self, obj: &gst_rtp::RTPBaseDepayload) -> gst::Structure {
        let base = parent_stats(obj, gst_rtp::RTPBaseDepayload::static_type());
        let state = lock(&self.state);
        let mut st = state.stats.clone();
        let core = state.depacketizer.stats();
        st.units_out = core.units_out;
        st.lost_fragments = core.lost_fragments;
        st.dropped += core.dropped + core.dropped_units;
        st.to_structure(base, state.simd)
    }

    /// Count the packets the base class drops as invalid RTP. It validates
    /// every packet when it maps it and posts this warning for each one it
    /// rejects, so watching our own messages counts them at no cost to
    /// valid packets. (Validating again in a pad probe cost ~90 ns/packet:
    /// any probe sends every push down GStreamer's slow path; wrapping the
    /// chain function still cost ~45 ns for the second map.)
    pub fn note_message(&self, obj: &gst_rtp::RTPBaseDepayload, msg: &gst::Message) {
        if let gst::MessageView::Warning(w) = msg.view() {
            let invalid_rtp = w
                .debug()
                .is_some_and(|d| d.contains("Received invalid RTP payload"));
            if invalid_rtp && msg.src() == Some(obj.upcast_ref()) {
                self.count_malformed(obj);
            }
        }
    }

    /// Offer upstream the shared pool and its recycling allocator. The base
    /// class has no propose_allocation hook, so its sink pad query function
    /// is wrapped: a pad probe would cost every packet ~20 ns (any probe
    /// sends all pushes down GStreamer's slow path).
    pub fn install_allocation_answer(obj: &gst_rtp::RTPBaseDepayload) {
        let pad = obj.sink_pad();
        // SAFETY: FFI edge. The base class installed this function on its own
        // sink pad with no user data (GStreamer 1.22: gst_pad_query_default);
        // we call it with the arguments GStreamer hands us, as the pad would.
        let Some(original) = (unsafe { (*pad.as_ptr()).queryfunc }) else {
            return;
        };
        // SAFETY: see above; `query` stays owned by the caller throughout.
        unsafe {
            pad.set_query_function(move |pad, parent, query| {
                if let gst::QueryViewMut::Allocation(alloc) = query.view_mut() {
                    crate::pool::propose_allocation(alloc);
                    return true;
                }
                use glib::translate::*;
                from_glib(original(
                    pad.to_glib_none().0,
                    parent.to_glib_none().0,
                    query.as_mut_ptr(),
                ))
            });
        }
    }

    pub fn count_malformed(&self, obj: &gst_rtp::RTPBaseDepayload) {
        let mut state = lock(&self.state);
        state.stats.malformed += 1;
        state.stats.dropped += 1;
        drop(state);
        gst::warning!(CAT, obj = obj, "Dropping malformed RTP packet");
    }

    pub fn set_caps(
        &self,
        obj: &gst_rtp::RTPBaseDepayload,
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
            if !obj.src_pad().push_event(gst::event::Caps::new(&out)) {
                return Err(gst::loggable_error!(
                    CAT,
                    "not-negotiated: downstream refused {}",
                    out
                ));
            }
        }
        Ok(())
    }

    /// Output format downstream prefers, like the stock element: the first
    /// structure of the peer's caps filtered by our template.
    fn downstream_config(
        &self,
        obj: &gst_rtp::RTPBaseDepayload,
    ) -> Result<DepayConfig, gst::LoggableError> {
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
    fn renegotiate(&self, obj: &gst_rtp::RTPBaseDepayload) {
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

    pub fn process_rtp_packet(
        &self,
        obj: &gst_rtp::RTPBaseDepayload,
        rtp: &gst_rtp::RTPBuffer<gst_rtp::rtp_buffer::Readable>,
    ) -> Option<gst::Buffer> {
        let inbuf = rtp.buffer();
        // Checked between access units only (the flag test takes the pad's
        // lock), so a unit is never assembled in two formats.
        if self.at_boundary.load(Ordering::Relaxed) && obj.src_pad().check_reconfigure() {
            self.renegotiate(obj);
        }
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        // Not `rtp.payload()`: gstreamer-rs hands subclasses a copy of the
        // C GstRTPBuffer that is never unmapped, so each payload mapping
        // (a merged copy when the payload spans memories, as it does for
        // packets from an in-process payloader) leaked: ~1.5 KB per packet.
        // Map it ourselves instead; a multi-memory packet is gathered into a
        // reused scratch buffer (no allocation).
        let mut gathered = std::mem::take(&mut state.gathered);
        let single;
        let packet: &[u8] = if inbuf.n_memory() == 1 {
            single = inbuf.peek_memory(0).map_readable().ok()?;
            &single
        } else {
            gathered.resize(inbuf.size(), 0);
            inbuf.copy_to_slice(0, &mut gathered).ok()?;
            &gathered
        };
        // The base class validated the packet; this only locates the payload.
        let payload = &packet[crate::core::rtp::parse(packet).ok()?.payload];
        let timer = state.stats.sample_now(16).then(Instant::now);
        state.stats.buffers_in += 1;
        state.stats.packets += 1;
        state.stats.bytes += payload.len() as u64;
        let discont = inbuf.flags().contains(gst::BufferFlags::DISCONT)
            || std::mem::take(&mut state.loss_pending);
        let pkt = PacketIn {
            payload,
            timestamp: rtp.timestamp(),
            marker: rtp.is_marker(),
            discont,
        };
        let was_empty = state.assembly.is_empty();
        let (au_pts, au_dts) = (state.au_pts, state.au_dts);
        let mut units: SmallVec<[(gst::Buffer, AuInfo); 2]> = SmallVec::new();
        let result = state.depacketizer.push(
            pkt,
            &mut state.assembly,
            &mut |sink: &mut PooledAu, info| {
                if let Some(unit) = sink.take() {
                    units.push((unit, info));
                }
            },
        );
        if let Err(reason) = result {
            // Counted in the core's stats (`dropped`).
            gst::warning!(
                CAT,
                obj = obj,
                "Dropping packet seq {}: {:?}",
                rtp.seq(),
                reason
            );
        }
        if !state.assembly.is_empty() && (was_empty || !units.is_empty()) {
            state.au_pts = inbuf.pts();
            state.au_dts = inbuf.dts();
        }
        let request = state.depacketizer.take_loss() && state.request_keyframe;
        let caps = if units.is_empty() {
            None
        } else {
            output_caps(state)
        };
        let needs_caps = state.caps_dirty;
        let sprop = if state.pending_sprop && !units.is_empty() {
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
        let mut post = false;
        if let Some(t) = timer {
            let now = Instant::now();
            let ns = now.duration_since(t).as_nanos().min(u32::MAX as u128) as u32;
            state.stats.window.record(ns);
            post = state.stats.post_due(self.common.stats_interval_ms(), now);
        }
        state.gathered = gathered;
        self.at_boundary
            .store(state.assembly.is_empty(), Ordering::Relaxed);
        drop(guard);
        if post {
            self.common.post_stats(obj.upcast_ref(), self.stats(obj));
        }

        if request {
            gst::debug!(CAT, obj = obj, "Loss detected, requesting a keyframe");
            let ev = gst::event::CustomUpstream::new(
                gst::Structure::builder("GstForceKeyUnit")
                    .field("all-headers", true)
                    .build(),
            );
            obj.sink_pad().push_event(ev);
        }
        if let Some(caps) = caps {
            obj.src_pad().push_event(gst::event::Caps::new(&caps));
        }
        if units.is_empty() {
            return None;
        }
        if needs_caps {
            gst::warning!(
                CAT,
                obj = obj,
                "No parameter sets yet for codec_data, dropping {} unit(s)",
                units.len()
            );
            return None;
        }
        let mut sprop = sprop;
        for (i, (unit, info)) in units.into_iter().enumerate() {
            let mut buf = match sprop.take() {
                // Once per stream: the caps' parameter sets go in-band ahead
                // of the first unit (copied, so the pooled buffer stays whole).
                Some(mut params) => {
                    params.extend_from_slice(&unit.map_readable().unwrap());
                    gst::Buffer::from_mut_slice(params)
                }
                None => unit,
            };
            {
                let b = buf.get_mut().unwrap();
                // The first unit, when it was begun by earlier packets, carries
                // their time; a unit begun by this packet carries this one's.
                if i == 0 && !was_empty && au_pts.is_some() {
                    b.set_pts(au_pts);
                    b.set_dts(au_dts);
                } else {
                    b.set_pts(inbuf.pts());
                    b.set_dts(inbuf.dts());
                }
                if !info.keyframe {
                    b.set_flags(gst::BufferFlags::DELTA_UNIT);
                }
                if info.discont {
                    b.set_flags(gst::BufferFlags::DISCONT);
                }
            }
            if let Err(err) = obj.push(buf) {
                gst::debug!(CAT, obj = obj, "push failed: {:?}", err);
                break;
            }
        }
        None
    }

    pub fn packet_lost(&self) {
        lock(&self.state).loss_pending = true;
    }

    pub fn handle_event(&self, event: &gst::Event) {
        if let gst::EventView::FlushStop(_) = event.view() {
            let mut state = lock(&self.state);
            let state = &mut *state;
            state.depacketizer.reset(&mut state.assembly);
            state.au_pts = None;
        }
    }
}

/// Output caps when they can be made now (avc/hvc1 need parameter sets).
fn output_caps<C: NalCodec>(state: &mut DepayState<C>) -> Option<gst::Caps> {
    if !state.caps_dirty && !state.depacketizer.take_params_changed() {
        return None;
    }
    let cfg = state.depacketizer.config();
    let caps = match cfg.format {
        StreamFormat::ByteStream => gst::Caps::builder(C::CAPS_MEDIA)
            .field("stream-format", "byte-stream")
            .field("alignment", if cfg.au_alignment { "au" } else { "nal" })
            .build(),
        StreamFormat::LengthPrefixed => {
            let codec_data = C::build_codec_data(state.depacketizer.params())?;
            gst::Caps::builder(C::CAPS_MEDIA)
                .field("stream-format", C::PACKED_FORMATS[0])
                .field("alignment", "au")
                .field("codec_data", gst::Buffer::from_mut_slice(codec_data))
                .build()
        }
    };
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
