//! Shared implementation of the NAL-unit payloaders (H.264, H.265): caps,
//! properties, and building one buffer list per input buffer from the core
//! packetizer's plan — pooled header memory + the input's memory shared.

use super::stats::{parent_stats, ElementStats};
use super::{lock, ElementCommon};
use crate::core::nal::{length_prefixed_nals, NalCodec};

use crate::core::packetizer::{AggregateMode, NalPacketizer, Packet, PayConfig};
use crate::core::rtp::{write_header, RTP_HEADER_LEN};
use crate::core::simd::SimdLevel;
use crate::core::startcode::nal_units;
use crate::elements::SimdMode;
use gst::glib;
use gst::prelude::*;
use gst_rtp::prelude::*;
use std::sync::{LazyLock, Mutex};
use std::time::Instant;

pub static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rtpfastnalpay",
        gst::DebugColorFlags::empty(),
        Some("rsrtpfast NAL-unit payloaders"),
    )
});

#[derive(Clone, Debug)]
pub struct PaySettings {
    pub aggregate: AggregateMode,
    pub config_interval: i32,
    pub simd: SimdMode,
    /// H.264 only: `sprop-parameter-sets` forced by the application.
    pub sprop: Option<String>,
}

impl Default for PaySettings {
    fn default() -> Self {
        PaySettings {
            aggregate: AggregateMode::None,
            config_interval: 0,
            simd: SimdMode::Auto,
            sprop: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InputFormat {
    ByteStream,
    LengthPrefixed(usize),
}

pub struct PayState<C: NalCodec> {
    packetizer: NalPacketizer<C>,
    /// Copy of the `sprop-parameter-sets` setting, so caps can be made
    /// under the state lock alone (lock order is settings, then state).
    forced_sprop: Option<String>,
    /// From `codec_data` (H.264 avc input), for `profile-level-id` and
    /// `profile` in the RTP caps, as rtph264pay does.
    profile_level: Option<[u8; 3]>,
    input: InputFormat,
    au_aligned: bool,
    segment: gst::FormattedSegment<gst::ClockTime>,
    simd: SimdLevel,
    pub stats: ElementStats,
}

pub struct NalPayBase<C: NalCodec> {
    pub common: ElementCommon,
    pub settings: Mutex<PaySettings>,
    pub state: Mutex<PayState<C>>,
}

impl<C: NalCodec> Default for NalPayBase<C> {
    fn default() -> Self {
        let settings = PaySettings::default();
        NalPayBase {
            common: ElementCommon::default(),
            state: Mutex::new(PayState {
                packetizer: NalPacketizer::new(PayConfig::default()),
                forced_sprop: None,
                profile_level: None,
                input: InputFormat::ByteStream,
                au_aligned: true,
                segment: gst::FormattedSegment::new(),
                simd: SimdLevel::resolve(settings.simd.requested()).0,
                stats: ElementStats::default(),
            }),
            settings: Mutex::new(settings),
        }
    }
}

/// Pad templates: the stock payloader's, for codec `C`.
pub fn pad_templates<C: NalCodec>() -> Vec<gst::PadTemplate> {
    let src = gst::Caps::builder("application/x-rtp")
        .field("media", "video")
        .field("payload", gst::IntRange::new(96, 127))
        .field("clock-rate", 90000)
        .field("encoding-name", C::ENCODING_NAME)
        .build();
    super::pad_templates(&super::elementary_caps::<C>(C::PACKED_FORMATS), &src)
}

/// Properties every NAL payloader has besides the base class's:
/// `aggregate-mode` (its enum type is per codec) comes first, then ours.
pub fn properties(aggregate_mode: glib::ParamSpec) -> Vec<glib::ParamSpec> {
    let mut v = vec![
        aggregate_mode,
        glib::ParamSpecInt::builder("config-interval")
            .nick("Parameter set interval")
            .blurb(
                "Send parameter sets in-band every this many seconds (0 = disabled, \
                 -1 = send with every IDR/IRAP frame)",
            )
            .minimum(-1)
            .maximum(3600)
            .default_value(0)
            .mutable_playing()
            .build(),
    ];
    v.extend(super::common_properties(
        "SIMD level for start-code scanning (auto honours RSRTPFAST_SIMD)",
    ));
    v
}

/// The deprecated `sprop-parameter-sets` property rtph264pay has.
pub fn sprop_parameter_sets_property() -> glib::ParamSpec {
    glib::ParamSpecString::builder("sprop-parameter-sets")
        .nick("sprop-parameter-sets")
        .blurb(
            "The base64 sprop-parameter-sets to set in out caps (set to NULL to extract from stream)",
        )
        .flags(glib::ParamFlags::READWRITE | glib::ParamFlags::DEPRECATED)
        .build()
}

impl<C: NalCodec> NalPayBase<C> {
    /// `aggregate-mode` as a value of the element's own enum type.
    pub fn aggregate_value(&self, pspec: &glib::ParamSpec) -> glib::Value {
        let class = glib::EnumClass::with_type(pspec.value_type()).expect("aggregate-mode enum");
        class
            .to_value(lock(&self.settings).aggregate as i32)
            .expect("aggregate-mode value")
    }

    pub fn set_aggregate_value(&self, value: &glib::Value) {
        let v = glib::EnumValue::from_value(value).map_or(0, |(_, v)| v.value());
        self.set_aggregate(AggregateMode::from_value(v));
    }

    pub fn set_common_property(
        &self,
        obj: &gst_rtp::RTPBasePayload,
        value: &glib::Value,
        pspec: &glib::ParamSpec,
    ) {
        if self.common.set_property(value, pspec) {
            return;
        }
        let mut settings = lock(&self.settings);
        match pspec.name() {
            "config-interval" => settings.config_interval = value.get().unwrap(),
            "simd" => {
                settings.simd = value.get().unwrap();
                let (level, fell_back) = SimdLevel::resolve(settings.simd.requested());
                if fell_back {
                    gst::warning!(
                        CAT,
                        obj = obj,
                        "SIMD level {:?} not available here, using {}",
                        settings.simd,
                        level.nick()
                    );
                }
                lock(&self.state).simd = level;
            }
            "sprop-parameter-sets" => settings.sprop = value.get().unwrap(),
            _ => unimplemented!("property {}", pspec.name()),
        }
        self.apply_settings(&settings);
    }

    pub fn set_aggregate(&self, mode: AggregateMode) {
        let mut settings = lock(&self.settings);
        settings.aggregate = mode;
        self.apply_settings(&settings);
    }

    fn apply_settings(&self, settings: &PaySettings) {
        let mut state = lock(&self.state);
        let mut cfg = state.packetizer.config();
        cfg.aggregate = settings.aggregate;
        cfg.config_interval = settings.config_interval;
        state.packetizer.set_config(cfg);
        state.forced_sprop.clone_from(&settings.sprop);
    }

    pub fn common_property(
        &self,
        obj: &gst_rtp::RTPBasePayload,
        pspec: &glib::ParamSpec,
    ) -> glib::Value {
        if let Some(v) = self.common.property(pspec) {
            return v;
        }
        let settings = lock(&self.settings);
        match pspec.name() {
            "config-interval" => settings.config_interval.to_value(),
            "simd" => settings.simd.to_value(),
            "sprop-parameter-sets" => settings.sprop.to_value(),
            "stats" => self.stats(obj).to_value(),
            _ => unimplemented!("property {}", pspec.name()),
        }
    }

    fn stats(&self, obj: &gst_rtp::RTPBasePayload) -> gst::Structure {
        let base = parent_stats(obj, gst_rtp::RTPBasePayload::static_type());
        let state = lock(&self.state);
        state.stats.to_structure(base, state.simd)
    }

    pub fn set_caps(
        &self,
        obj: &gst_rtp::RTPBasePayload,
        caps: &gst::Caps,
    ) -> Result<(), gst::LoggableError> {
        let s = caps
            .structure(0)
            .ok_or_else(|| gst::loggable_error!(CAT, "not-negotiated: empty caps"))?;
        let format = s.get::<&str>("stream-format").unwrap_or("byte-stream");
        let alignment = s.get::<&str>("alignment").unwrap_or("au");
        let mut state = lock(&self.state);
        state.packetizer.reset();
        state.profile_level = None;
        state.input = match format {
            "byte-stream" => InputFormat::ByteStream,
            packed if C::PACKED_FORMATS.contains(&packed) => {
                let codec_data = s.get::<gst::Buffer>("codec_data").ok();
                match codec_data {
                    Some(cd) => {
                        let map = cd
                            .map_readable()
                            .map_err(|_| gst::loggable_error!(CAT, "unreadable codec_data"))?;
                        let (len_size, nals) = C::parse_codec_data(&map).ok_or_else(|| {
                            gst::loggable_error!(
                                CAT,
                                "not-negotiated: malformed codec_data in caps {}",
                                caps
                            )
                        })?;
                        for nal in nals {
                            if let Some(kind) = C::param_set(C::nal_type(&nal)) {
                                state.packetizer.set_param(kind, &nal);
                            }
                        }
                        state.profile_level = C::profile_level_id(&map);
                        InputFormat::LengthPrefixed(len_size)
                    }
                    // Formats after the first carry parameter sets in-band.
                    None if format != C::PACKED_FORMATS[0] => InputFormat::LengthPrefixed(4),
                    None => {
                        return Err(gst::loggable_error!(
                            CAT,
                            "not-negotiated: stream-format={} needs codec_data",
                            format
                        ))
                    }
                }
            }
            other => {
                return Err(gst::loggable_error!(
                    CAT,
                    "not-negotiated: unsupported stream-format '{}'",
                    other
                ));
            }
        };
        state.au_aligned = alignment != "nal";
        obj.set_options("video", true, C::ENCODING_NAME, 90000);
        state.packetizer.take_params_changed();
        let outcaps = outcaps_structure(&state);
        drop(state);
        obj.set_outcaps(Some(&outcaps)).map_err(|_| {
            gst::loggable_error!(CAT, "not-negotiated: downstream refused {}", outcaps)
        })
    }

    pub fn handle_buffer(
        &self,
        obj: &gst_rtp::RTPBasePayload,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        // One buffer is a whole frame here: timing each costs well under 2%.
        let timer = state.stats.sample_now(1).then(Instant::now);
        state.stats.buffers_in += 1;
        let mtu = obj.mtu() as usize;
        if state.packetizer.config().mtu != mtu {
            let mut cfg = state.packetizer.config();
            cfg.mtu = mtu;
            state.packetizer.set_config(cfg);
        }
        let map = buffer.map_readable().map_err(|_| {
            gst::element_error!(
                obj,
                gst::StreamError::Failed,
                ["Failed to map input buffer"]
            );
            gst::FlowError::Error
        })?;
        let data = map.as_slice();
        if data.len() > NalPacketizer::<C>::MAX_INPUT {
            state.stats.malformed += 1;
            gst::warning!(
                CAT,
                obj = obj,
                "Dropping a {} byte input buffer: too large",
                data.len()
            );
            return Ok(gst::FlowSuccess::Ok);
        }
        let running_time = buffer
            .pts()
            .and_then(|pts| state.segment.to_running_time(pts))
            .map(|t| t.nseconds());
        state.packetizer.begin_for(data.len());
        match state.input {
            InputFormat::ByteStream => {
                for range in nal_units(data, state.simd) {
                    state.packetizer.push_nal(data, range, running_time);
                }
            }
            InputFormat::LengthPrefixed(len_size) => {
                for range in length_prefixed_nals(data, len_size) {
                    match range {
                        Ok(range) => state.packetizer.push_nal(data, range, running_time),
                        Err(()) => {
                            state.stats.malformed += 1;
                            gst::warning!(
                                CAT,
                                obj = obj,
                                "NAL length past the end of the buffer, rest of buffer dropped"
                            );
                        }
                    }
                }
            }
        }
        if state.au_aligned || buffer.flags().contains(gst::BufferFlags::MARKER) {
            state.packetizer.end_au();
        }
        let new_caps = state
            .packetizer
            .take_params_changed()
            .then(|| outcaps_structure(state));
        let list = build_list(
            state.packetizer.packets(),
            state.packetizer.scratch(),
            Some(&buffer),
            &mut state.stats,
        )?;
        state.packetizer.release_large();
        let n_packets = list.len();
        let mut post = false;
        if let Some(t) = timer {
            let now = Instant::now();
            if n_packets > 0 {
                let ns = now.duration_since(t).as_nanos() as u64 / n_packets as u64;
                state.stats.window.record(ns.min(u32::MAX as u64) as u32);
            }
            post = state.stats.post_due(self.common.stats_interval_ms(), now);
        }
        drop(map);
        drop(guard);
        if post {
            self.common.post_stats(obj.upcast_ref(), self.stats(obj));
        }
        if let Some(caps) = new_caps {
            if obj.set_outcaps(Some(&caps)).is_err() {
                gst::warning!(
                    CAT,
                    obj = obj,
                    "Failed to update caps with new parameter sets"
                );
            }
        }
        if n_packets == 0 {
            return Ok(gst::FlowSuccess::Ok);
        }
        obj.push_list(list)
    }

    /// Called before the base class handles the event.
    pub fn sink_event(
        &self,
        obj: &gst_rtp::RTPBasePayload,
        event: &gst::Event,
    ) -> Option<Result<gst::FlowSuccess, gst::FlowError>> {
        match event.view() {
            gst::EventView::Segment(seg) => {
                if let Ok(seg) = seg.segment().clone().downcast::<gst::ClockTime>() {
                    lock(&self.state).segment = seg;
                }
                None
            }
            gst::EventView::FlushStop(_) => {
                lock(&self.state).packetizer.reset();
                None
            }
            gst::EventView::Eos(_) => Some(self.drain(obj)),
            _ => None,
        }
    }

    /// Push a pending aggregation packet (EOS).
    fn drain(&self, obj: &gst_rtp::RTPBasePayload) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        state.packetizer.begin();
        state.packetizer.end_au();
        if state.packetizer.packets().is_empty() {
            return Ok(gst::FlowSuccess::Ok);
        }
        // Aggregated bytes are all inline: no input buffer to share from.
        let list = build_list(
            state.packetizer.packets(),
            state.packetizer.scratch(),
            None,
            &mut state.stats,
        )?;
        drop(guard);
        obj.push_list(list)
    }
}

/// RTP caps fields for the stored (or forced) parameter sets.
fn outcaps_structure<C: NalCodec>(state: &PayState<C>) -> gst::Structure {
    let mut s = gst::Structure::new_empty("application/x-rtp");
    for (field, value) in C::RTP_CAPS_FIXED {
        s.set(*field, *value);
    }
    let params = state.packetizer.params();
    let mut has_sprop = false;
    for (field, kinds) in C::SPROP_FIELDS {
        let forced = state
            .forced_sprop
            .as_ref()
            .filter(|_| *field == "sprop-parameter-sets");
        if let Some(sprop) = forced {
            s.set(*field, sprop);
            has_sprop = true;
        } else if let Some(encoded) = kinds
            .iter()
            .map(|k| params.get(*k).map(|n| glib::base64_encode(n).to_string()))
            .collect::<Option<Vec<_>>>()
        {
            s.set(*field, encoded.join(","));
            has_sprop = true;
        }
    }
    // Like rtph264pay: only next to parameter sets.
    if let Some(id) = state.profile_level.filter(|_| has_sprop) {
        s.set(
            "profile-level-id",
            format!("{:02x}{:02x}{:02x}", id[0], id[1], id[2]),
        );
        if let Ok(profile) = gst_pbutils::codec_utils_h264_get_profile(&id[..2]) {
            s.set("profile", profile);
        }
    }
    s
}

/// One buffer list of RTP packets from the packetizer's plan: pooled header
/// memory (RTP header + inline bytes), then `input[payload]` as a recycled
/// zero-copy view (see `pool::PayloadViews`).
fn build_list(
    packets: &[Packet],
    scratch: &[u8],
    input: Option<&gst::Buffer>,
    stats: &mut ElementStats,
) -> Result<gst::BufferList, gst::FlowError> {
    let mut list = gst::BufferList::new_sized(packets.len());
    let list_ref = list.get_mut().unwrap();
    // One memory (what encoders and parsers push): views on it. Several:
    // `copy_region` finds the memories each range spans.
    let views = input
        .filter(|b| b.n_memory() == 1)
        .map(|b| crate::pool::PayloadViews::new(b.peek_memory(0)));
    for pkt in packets {
        // Pooled header memory: seq/timestamp/ssrc/pt are the base class's
        // to write in push_list.
        let mut out = crate::pool::acquire_filled(RTP_HEADER_LEN + pkt.inline().len(), |m| {
            write_header(m, pkt.marker, 0, 0, 0, 0);
            m[RTP_HEADER_LEN..].copy_from_slice(&scratch[pkt.inline()]);
        });
        let out_ref = out.get_mut().unwrap();
        if let Some(input) = input {
            let payload = pkt.payload();
            if !payload.is_empty() {
                match &views {
                    Some(views) => out_ref.append_memory(views.view(payload)),
                    None => append_region(out_ref, input, payload)?,
                }
            }
            out_ref.set_pts(input.pts());
            out_ref.set_dts(input.dts());
        }
        stats.bytes += (RTP_HEADER_LEN + pkt.payload_len()) as u64;
        list_ref.add(out);
    }
    stats.packets += packets.len() as u64;
    stats.units_out += packets.len() as u64;
    Ok(list)
}

/// Append `input[range]` of a multi-memory input to `out` as shared
/// memories (no copy).
fn append_region(
    out: &mut gst::BufferRef,
    input: &gst::Buffer,
    range: std::ops::Range<usize>,
) -> Result<(), gst::FlowError> {
    let region = input
        .copy_region(gst::BufferCopyFlags::MEMORY, range)
        .map_err(|_| gst::FlowError::Error)?;
    for mem in region.iter_memories_owned() {
        out.append_memory(mem);
    }
    Ok(())
}
