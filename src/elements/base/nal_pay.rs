//! What the NAL-unit payloaders (H.264, H.265) share on top of
//! `GstRtpFastBasePay`: their properties, input formats, and turning the
//! core packetizer's plan into `OutPacket`s for the base class to push.

use super::lock;
use super::pay::RtpFastBasePayExt as _;
use super::pay::{marker_flag, OutPacket, RtpFastBasePay};
use crate::core::nal::{length_prefixed_nals, NalCodec};
use crate::core::packetizer::{AggregateMode, NalPacketizer, Packet, PayConfig, PlanStorage};
use crate::core::startcode::nal_units_with_header;
use crate::elements::base::warn_limit::warn_limited;
use gst::glib;
use gst::prelude::*;
use std::sync::{LazyLock, Mutex};

/// Plans kept for reuse at most (beyond, a returned plan is freed): more
/// than the payloaders that can be building a plan at the same moment.
const PLAN_CACHE_SLOTS: usize = 16;

/// Packet plan storage shared by every NAL payloader of the process, taken
/// for the length of one input buffer and given back before the list is
/// pushed. A stream keeps no plan between frames (a 1080p frame's is ~2 KB,
/// most of what a payloader cost per extra stream over `identity`), the
/// process keeps about as many as payloaders run at once, whatever thread
/// each stream runs on, and steady state still allocates nothing. Lock-free:
/// a pop and a push per input buffer.
static PLAN_CACHE: LazyLock<crossbeam_queue::ArrayQueue<PlanStorage>> =
    LazyLock::new(|| crossbeam_queue::ArrayQueue::new(PLAN_CACHE_SLOTS));

fn borrow_plan() -> PlanStorage {
    PLAN_CACHE.pop().unwrap_or_default()
}

fn return_plan(plan: PlanStorage) {
    // A full cache frees the plan.
    let _ = PLAN_CACHE.push(plan);
}

pub static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rtpfastnalpay",
        gst::DebugColorFlags::empty(),
        Some("rsrtpfast NAL-unit payloaders"),
    )
});

#[derive(Clone, Debug, Default)]
pub struct PaySettings {
    pub aggregate: AggregateMode,
    pub config_interval: i32,
    /// H.264 only: `sprop-parameter-sets` forced by the application.
    pub sprop: Option<String>,
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
    /// The input the unit held for aggregation came from (its metas go on
    /// the unit if it goes out alone).
    held_source: Option<gst::Buffer>,
    /// The caps wait for the first packet (no parameter set known at the
    /// caps event).
    caps_deferred: bool,
    /// PTS/DTS of the last input, for packets pushed at EOS.
    last_pts: Option<gst::ClockTime>,
    last_dts: Option<gst::ClockTime>,
}

/// The NAL payloader part of an element (its imp holds one).
pub struct NalPay<C: NalCodec> {
    pub settings: Mutex<PaySettings>,
    pub state: Mutex<PayState<C>>,
}

impl<C: NalCodec> Default for NalPay<C> {
    fn default() -> Self {
        NalPay {
            state: Mutex::new(PayState {
                packetizer: NalPacketizer::new(PayConfig::default()),
                forced_sprop: None,
                profile_level: None,
                input: InputFormat::ByteStream,
                au_aligned: true,
                held_source: None,
                caps_deferred: false,
                last_pts: None,
                last_dts: None,
            }),
            settings: Mutex::new(PaySettings::default()),
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
/// `aggregate-mode` (its enum type is per codec) and `config-interval`.
pub fn properties(aggregate_mode: glib::ParamSpec) -> Vec<glib::ParamSpec> {
    vec![
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
            .build(),
    ]
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

impl<C: NalCodec> NalPay<C> {
    pub fn set_property(&self, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut settings = lock(&self.settings);
        match pspec.name() {
            "aggregate-mode" => {
                let v = glib::EnumValue::from_value(value).map_or(0, |(_, v)| v.value());
                settings.aggregate = AggregateMode::from_value(v);
            }
            "config-interval" => settings.config_interval = value.get().unwrap(),
            "sprop-parameter-sets" => settings.sprop = value.get().unwrap(),
            other => unreachable!("property {other}"),
        }
        let mut state = lock(&self.state);
        let mut cfg = state.packetizer.config();
        cfg.aggregate = settings.aggregate;
        cfg.config_interval = settings.config_interval;
        state.packetizer.set_config(cfg);
        state.forced_sprop.clone_from(&settings.sprop);
    }

    pub fn property(&self, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = lock(&self.settings);
        match pspec.name() {
            "aggregate-mode" => {
                // The element's own enum type, same values as ours.
                let class = glib::EnumClass::with_type(pspec.value_type()).expect("enum type");
                class
                    .to_value(settings.aggregate as i32)
                    .expect("aggregate-mode value")
            }
            "config-interval" => settings.config_interval.to_value(),
            "sprop-parameter-sets" => settings.sprop.to_value(),
            other => unreachable!("property {other}"),
        }
    }

    pub fn set_caps(
        &self,
        obj: &RtpFastBasePay,
        caps: &gst::Caps,
    ) -> Result<(), gst::LoggableError> {
        let base = obj.pay_base();
        let s = caps
            .structure(0)
            .ok_or_else(|| gst::loggable_error!(CAT, "not-negotiated: empty caps"))?;
        let format = s.get::<&str>("stream-format").unwrap_or("byte-stream");
        let alignment = s.get::<&str>("alignment").unwrap_or("au");
        let mut state = lock(&self.state);
        state.packetizer.reset();
        state.held_source = None;
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
        state.packetizer.take_params_changed();
        // As the stock payloaders: caps now when codec_data (or the
        // property) gave parameter sets, else with the first packet.
        let outcaps = outcaps_structure(&state);
        // (Caps already sent stay until a parameter set changes them.)
        let deferred = outcaps.n_fields() == 0;
        state.caps_deferred = deferred && !base.src_pad().has_current_caps();
        drop(state);
        base.set_options("video", C::ENCODING_NAME, 90000);
        if deferred {
            return Ok(());
        }
        base.set_outcaps(&outcaps)
    }

    pub fn handle_buffer(
        &self,
        obj: &RtpFastBasePay,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let base = obj.pay_base();
        let mtu = base.plan_mtu();
        let simd = base.simd_level();
        let mut guard = lock(&self.state);
        let state = &mut *guard;
        let byte_stream = state.input == InputFormat::ByteStream;
        // Byte-stream input goes through an adapter in stock, whose
        // timestamps are the last ones it saw: a unit without (what a
        // NAL-aligned parser pushes after the first of an access unit)
        // takes its access unit's.
        let (pts, dts) = if byte_stream {
            (
                buffer.pts().or(state.last_pts),
                buffer.dts().or(state.last_dts),
            )
        } else {
            (buffer.pts(), buffer.dts())
        };
        let running_time = base.running_time(pts).map(|t| t.nseconds());
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
        if data.is_empty() {
            // Still goes through: with alignment=nal its MARKER ends the
            // access unit.
            base.count_empty_input();
        }
        // No larger than what our depayloaders reassemble.
        if data.len() > NalPacketizer::<C>::MAX_INPUT.min(super::nal_depay::MAX_AU_BYTES) {
            base.count_malformed();
            warn_limited!(
                base.drop_warnings(),
                CAT,
                obj = obj,
                "Dropping a {} byte input buffer: too large",
                data.len()
            );
            return Ok(gst::FlowSuccess::Ok);
        }
        let discont = buffer.flags().contains(gst::BufferFlags::DISCONT);
        // As the stock payloaders: a unit held for aggregation belongs to
        // the previous access unit once the timestamps change (or the
        // stream is discontinuous), so it goes out first, with its own
        // timestamps and the marker, not in this input's packets.
        let held = if state.packetizer.has_pending()
            && (discont || (pts, dts) != (state.last_pts, state.last_dts))
        {
            Self::pending_list(base, state)?
        } else {
            None
        };
        // The input of units held from before (their aggregate goes out
        // first if anything of this input leaves it).
        let carried = state
            .packetizer
            .has_pending()
            .then(|| state.held_source.take())
            .flatten();
        state.last_pts = pts;
        state.last_dts = dts;
        state.packetizer.lend_plan(borrow_plan());
        state.packetizer.begin_for(data.len());
        state.packetizer.set_input_flags(
            buffer.flags().contains(gst::BufferFlags::DELTA_UNIT),
            discont,
            byte_stream,
        );
        let mut reserved = 0usize;
        match state.input {
            InputFormat::ByteStream => {
                for range in nal_units_with_header(data, simd, C::NAL_HEADER_LEN) {
                    reserved += usize::from(!state.packetizer.push_nal(data, range, running_time));
                }
            }
            InputFormat::LengthPrefixed(len_size) => {
                for range in length_prefixed_nals(data, len_size) {
                    let range = range.unwrap_or_else(|cut| {
                        // What is there is sent, as stock sends it.
                        base.count_malformed_kept();
                        warn_limited!(
                            base.drop_warnings(),
                            CAT,
                            obj = obj,
                            "NAL length past the end of the buffer: sending the {} bytes there are",
                            cut.len()
                        );
                        cut
                    });
                    reserved += usize::from(!state.packetizer.push_nal(data, range, running_time));
                }
            }
        }
        if reserved > 0 {
            base.count_dropped_units(reserved as u64);
            warn_limited!(
                base.drop_warnings(),
                CAT,
                obj = obj,
                "Dropped {} NAL unit(s) of a type RTP reserves for aggregation/fragmentation",
                reserved
            );
        }
        state.packetizer.end_input();
        if state.au_aligned || buffer.flags().contains(gst::BufferFlags::MARKER) {
            state.packetizer.end_au();
        }
        // (The base may have negotiated caps by now: the first input makes
        // it answer the src pad's reconfigure flag.)
        let first_caps =
            std::mem::take(&mut state.caps_deferred) && !base.src_pad().has_current_caps();
        let new_caps = (state.packetizer.take_params_changed() || first_caps)
            .then(|| outcaps_structure(state));
        let mut list = base.build_list(
            Some(&buffer),
            pts,
            dts,
            plan_packets(&state.packetizer, true),
        );
        if let Ok(Some(list)) = list.as_mut() {
            copy_input_metas(&buffer, carried.as_ref(), list, state.packetizer.packets());
        }
        // The units held now are those carried in (no aggregate went out)
        // or this input's.
        state.held_source = if !state.packetizer.has_pending() {
            None
        } else if carried.is_some() && !state.packetizer.packets().iter().any(|p| p.agg_units > 0) {
            carried
        } else {
            Some(buffer.clone())
        };
        state.packetizer.release_large();
        return_plan(state.packetizer.take_plan());
        let list = list?;
        drop(map);
        // Caps and the push happen without our lock: downstream may call
        // back into the element (properties, upstream events).
        drop(guard);
        if let Some(caps) = new_caps {
            if base.set_outcaps(&caps).is_err() {
                gst::warning!(
                    CAT,
                    obj = obj,
                    "Failed to update caps with new parameter sets"
                );
                // Nothing can be pushed without caps (stock: not-negotiated);
                // the next input tries again.
                if first_caps {
                    lock(&self.state).caps_deferred = true;
                    return Err(gst::FlowError::NotNegotiated);
                }
            }
        }
        if let Some(held) = held {
            base.push_list(held)?;
        }
        match list {
            Some(list) => base.push_list(list),
            None => Ok(gst::FlowSuccess::Ok),
        }
    }

    /// The units held for aggregation as a list of their own, closing their
    /// access unit (marker), with the timestamps of the input they came
    /// from. Aggregated bytes are all inline: no input buffer to share.
    fn pending_list(
        base: &super::pay::imp::RtpFastBasePay,
        state: &mut PayState<C>,
    ) -> Result<Option<gst::BufferList>, gst::FlowError> {
        state.packetizer.lend_plan(borrow_plan());
        state.packetizer.end_au();
        let mut list = base.build_list(
            None,
            state.last_pts,
            state.last_dts,
            plan_packets(&state.packetizer, false),
        );
        if let (Ok(Some(list)), Some(source)) = (list.as_mut(), state.held_source.take()) {
            copy_input_metas(&source, None, list, state.packetizer.packets());
        }
        return_plan(state.packetizer.take_plan());
        list
    }

    /// Push a pending aggregation packet (EOS).
    pub fn drain(&self, obj: &RtpFastBasePay) -> Result<gst::FlowSuccess, gst::FlowError> {
        let base = obj.pay_base();
        let mut guard = lock(&self.state);
        let list = Self::pending_list(base, &mut guard)?;
        drop(guard);
        match list {
            Some(list) => base.push_list(list),
            None => Ok(gst::FlowSuccess::Ok),
        }
    }

    /// `GstForceKeyUnit` with `all-headers=true`: the stored parameter sets
    /// go out again before the next unit, as the stock payloaders resend
    /// them.
    pub fn custom_downstream_event(&self, structure: &gst::StructureRef) {
        if structure.name() == "GstForceKeyUnit"
            && structure.get::<bool>("all-headers").unwrap_or(false)
        {
            lock(&self.state).packetizer.request_params();
        }
    }

    pub fn flush(&self) {
        let mut state = lock(&self.state);
        state.packetizer.reset();
        state.held_source = None;
        state.last_pts = None;
        state.last_dts = None;
    }

    /// The sink CAPS query: downstream's profile fields decide the
    /// profiles and levels upstream may use, as rtph264pay/rtph265pay do.
    pub fn sink_caps(
        template: &gst::Caps,
        allowed: Option<&gst::Caps>,
        filter: Option<&gst::Caps>,
    ) -> gst::Caps {
        super::profile_caps::nal_sink_caps::<C>(template, allowed, filter)
    }
}

/// The base's packets for the packetizer's current plan; `with_input`:
/// payload ranges of the input buffer, else inline bytes only.
fn plan_packets<C: NalCodec>(
    packetizer: &NalPacketizer<C>,
    with_input: bool,
) -> impl ExactSizeIterator<Item = OutPacket<'_>> {
    let scratch = packetizer.scratch();
    packetizer.packets().iter().map(move |p| {
        let mut flags = marker_flag(p.marker);
        if p.delta {
            flags |= gst::BufferFlags::DELTA_UNIT;
        }
        if p.discont && C::DISCONT_ON_OUTPUT {
            flags |= gst::BufferFlags::DISCONT;
        }
        OutPacket {
            marker: p.marker,
            inline: &scratch[p.inline()],
            payload: if with_input { p.payload() } else { 0..0 },
            timing: None,
            flags,
        }
    })
}

/// As stock (gst_rtp_copy_video_meta): the untagged and video metas of the
/// input a unit came from on each packet of a single unit or a fragment;
/// aggregation packets of two units or more get none. The first packet
/// made by aggregating carries units of `carried` when held from an
/// earlier input. Costs nothing when the inputs have no metas.
fn copy_input_metas(
    input: &gst::Buffer,
    carried: Option<&gst::Buffer>,
    list: &mut gst::BufferList,
    packets: &[Packet],
) {
    let has_metas = |b: &gst::Buffer| b.iter_meta::<gst::Meta>().next().is_some();
    if !has_metas(input) && !carried.is_some_and(has_metas) {
        return;
    }
    let mut carried = carried;
    let mut packets = packets.iter();
    list.make_mut().foreach_mut(|mut b, _| {
        if let Some(p) = packets.next() {
            let source = match p.agg_units {
                0 => input,
                _ => carried.take().unwrap_or(input),
            };
            if p.agg_units <= 1 {
                super::copy_rtp_metas(source, b.make_mut(), Some("video"));
            }
        }
        std::ops::ControlFlow::Continue(Some(b))
    });
}

/// RTP caps fields for the stored (or forced) parameter sets.
fn outcaps_structure<C: NalCodec>(state: &PayState<C>) -> gst::Structure {
    let mut s = gst::Structure::new_empty("application/x-rtp");
    let params = state.packetizer.params();
    let forced = state.forced_sprop.as_ref();
    // As the stock payloaders: nothing until a parameter set is known, then
    // every field, listing the sets known so far (rtph265pay writes an
    // empty field for a kind not seen yet).
    let has_sprop = forced.is_some() || C::PARAM_SETS.iter().any(|k| params.get(*k).is_some());
    if !has_sprop {
        return s;
    }
    for (field, value) in C::RTP_CAPS_FIXED {
        s.set(*field, *value);
    }
    for (field, kinds) in C::SPROP_FIELDS {
        match forced.filter(|_| *field == "sprop-parameter-sets") {
            Some(sprop) => s.set(*field, sprop),
            None => {
                let encoded: Vec<String> = kinds
                    .iter()
                    .filter_map(|k| params.get(*k))
                    .map(|n| glib::base64_encode(n).to_string())
                    .collect();
                s.set(*field, encoded.join(","));
            }
        }
    }
    // Like rtph264pay: only next to parameter sets.
    if let Some(id) = state.profile_level {
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
