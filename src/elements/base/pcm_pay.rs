//! What the raw PCM payloaders (L16, L24) share on top of
//! `GstRtpFastBasePay`: caps, the `buffer-list` property, and cutting input
//! into packets as `core::pcm_packetizer` plans them.
//!
//! Big-endian input is sent as views of the input memory (no copy). A
//! little-endian input (S16LE / S24LE, which stock refuses) is byte-swapped
//! in one SIMD pass into a pooled block whose views the packets become.
//! Packets that span two inputs (min-ptime, ptime) are copied into a pooled
//! block of their own.

use super::lock;
use super::pay::RtpFastBasePayExt as _;
use super::pay::{OutPacket, PacketTiming, RtpFastBasePay};
use super::queued_bytes::{self, Queue};
use crate::core::audio::{self, ChannelPosition};
use crate::core::byteswap;
use crate::core::pcm_packetizer::{
    packet_limits, Clamp, PacketLimits, PacketPlan, PcmFormat, PcmPacketizer, PtimeSettings,
};
use gst::glib;
use gst::prelude::*;
use std::collections::VecDeque;
use std::ops::Range;
use std::sync::{LazyLock, Mutex};

pub static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rtpfastpcmpay",
        gst::DebugColorFlags::empty(),
        Some("rsrtpfast raw PCM payloaders"),
    )
});

/// One PCM encoding: L16 or L24.
pub struct PcmEncoding {
    pub name: &'static str,
    pub sample_bytes: usize,
    /// Network order (what stock takes) and the host order we also take.
    pub big_endian: &'static str,
    pub little_endian: &'static str,
    /// RFC 3551 static payload types with their channels (L16: 10, 11).
    pub static_payloads: &'static [(i32, i32)],
}

pub const L16: PcmEncoding = PcmEncoding {
    name: "L16",
    sample_bytes: 2,
    big_endian: "S16BE",
    little_endian: "S16LE",
    static_payloads: &[(10, 2), (11, 1)],
};

pub const L24: PcmEncoding = PcmEncoding {
    name: "L24",
    sample_bytes: 3,
    big_endian: "S24BE",
    little_endian: "S24LE",
    static_payloads: &[],
};

/// Pad templates: stock's, with the little-endian format added on the sink.
pub fn pad_templates(enc: &PcmEncoding) -> Vec<gst::PadTemplate> {
    let sink = gst::Caps::builder("audio/x-raw")
        .field(
            "format",
            gst::List::new([enc.big_endian, enc.little_endian]),
        )
        .field("layout", "interleaved")
        .field("rate", gst::IntRange::new(1, i32::MAX))
        .field("channels", gst::IntRange::new(1, i32::MAX))
        .build();
    let mut src = gst::Caps::builder_full().structure(
        gst::Structure::builder("application/x-rtp")
            .field("media", "audio")
            .field("payload", gst::IntRange::new(96, 127))
            .field("clock-rate", gst::IntRange::new(1, i32::MAX))
            .field("encoding-name", enc.name)
            .field("channels", gst::IntRange::new(1, i32::MAX))
            .build(),
    );
    for (pt, _) in enc.static_payloads {
        src = src.structure(
            gst::Structure::builder("application/x-rtp")
                .field("media", "audio")
                .field("encoding-name", enc.name)
                .field("payload", *pt)
                .field("clock-rate", 44100)
                .build(),
        );
    }
    super::pad_templates(&sink, &src.build())
}

/// `buffer-list`: GstRTPBaseAudioPayload's (default false). We always push
/// buffer lists (that is where the speed comes from); the property is kept
/// so pipelines that set it still parse.
pub fn properties() -> Vec<glib::ParamSpec> {
    vec![glib::ParamSpecBoolean::builder("buffer-list")
        .nick("Buffer List")
        .blurb("Use Buffer Lists")
        .default_value(false)
        .build()]
}

/// Negotiated input.
#[derive(Clone, Debug)]
struct Input {
    fmt: PcmFormat,
    /// Host-order input: swap to network order.
    swap: bool,
    /// RTP channel `k` is input channel `reorder[k]` (RFC 3551 order
    /// differs from GStreamer's); None: same order.
    reorder: Option<Vec<u8>>,
}

/// Input channel positions from `channel-mask`, or GStreamer's defaults
/// (mono, front left/right) where caps may leave it out.
fn input_positions(s: &gst::StructureRef, channels: usize) -> Option<Vec<ChannelPosition>> {
    match s.get::<gst::Bitmask>("channel-mask") {
        Ok(mask) => audio::positions_from_mask(channels, mask.0),
        Err(_) => match channels {
            1 => Some(vec![ChannelPosition::Mono]),
            2 => Some(vec![
                ChannelPosition::FrontLeft,
                ChannelPosition::FrontRight,
            ]),
            _ => None,
        },
    }
}

struct PayState {
    input: Option<Input>,
    packetizer: PcmPacketizer,
    /// Limits and what they were computed from.
    limits: Option<(usize, PtimeSettings, PacketLimits)>,
    warned_clamp: bool,
    /// Pending input bytes, in order: (buffer, unsent range).
    queue: Queue,
    /// Reused per input: the plans, and the packets cut from them.
    plans: Vec<PacketPlan>,
    cuts: Vec<Cut>,
    sources: Vec<gst::Buffer>,
}

/// A planned packet: which source buffer and which of its bytes.
struct Cut {
    source: usize,
    range: Range<usize>,
    plan: PacketPlan,
}

/// The PCM payloader part of an element (its imp holds one).
pub struct PcmPay {
    enc: &'static PcmEncoding,
    buffer_list: Mutex<bool>,
    state: Mutex<PayState>,
}

impl PcmPay {
    pub fn new(enc: &'static PcmEncoding) -> Self {
        PcmPay {
            enc,
            buffer_list: Mutex::new(false),
            state: Mutex::new(PayState {
                input: None,
                packetizer: PcmPacketizer::new(),
                limits: None,
                warned_clamp: false,
                queue: VecDeque::new(),
                plans: Vec::new(),
                cuts: Vec::new(),
                sources: Vec::new(),
            }),
        }
    }

    pub fn set_property(&self, value: &glib::Value, pspec: &glib::ParamSpec) {
        if pspec.name() == "buffer-list" {
            *lock(&self.buffer_list) = value.get().unwrap_or(false);
        }
    }

    pub fn property(&self, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "buffer-list" => lock(&self.buffer_list).to_value(),
            _ => unreachable!("unknown property {}", pspec.name()),
        }
    }

    /// The sink CAPS query, as rtpL16pay/rtpL24pay answer it: channels and
    /// rate from what downstream fixed (`channels`, `clock-rate`, or an L16
    /// static payload type).
    pub fn sink_caps(
        &self,
        template: &gst::Caps,
        allowed: Option<&gst::Caps>,
        filter: Option<&gst::Caps>,
    ) -> gst::Caps {
        let mut caps = template.clone();
        if let Some(s) = allowed.and_then(|a| a.structure(0)) {
            let static_pt = s
                .get::<i32>("payload")
                .ok()
                .and_then(|pt| self.enc.static_payloads.iter().find(|(p, _)| *p == pt));
            let caps = caps.make_mut();
            match (s.get::<i32>("channels"), static_pt) {
                (Ok(ch), _) => caps.set("channels", ch),
                (Err(_), Some((_, ch))) => caps.set("channels", *ch),
                _ => {}
            }
            match (s.get::<i32>("clock-rate"), static_pt) {
                (Ok(rate), _) => caps.set("rate", rate),
                (Err(_), Some(_)) => caps.set("rate", 44100),
                _ => {}
            }
        }
        match filter {
            Some(f) => f.intersect_with_mode(&caps, gst::CapsIntersectMode::First),
            None => caps,
        }
    }

    pub fn set_caps(
        &self,
        base: &RtpFastBasePay,
        caps: &gst::Caps,
    ) -> Result<(), gst::LoggableError> {
        let s = caps
            .structure(0)
            .ok_or_else(|| gst::loggable_error!(CAT, "not-negotiated: empty caps"))?;
        let field = |name: &str| {
            s.get::<i32>(name).ok().filter(|v| *v > 0).ok_or_else(|| {
                gst::loggable_error!(
                    CAT,
                    "not-negotiated: caps field '{name}' missing or invalid in {caps}"
                )
            })
        };
        let rate = field("rate")?;
        let channels = field("channels")?;
        let format = s.get::<&str>("format").unwrap_or("");
        let swap = if format == self.enc.big_endian {
            false
        } else if format == self.enc.little_endian {
            true
        } else {
            return Err(gst::loggable_error!(
                CAT,
                "not-negotiated: caps field 'format' is {format:?}, expected {} or {}",
                self.enc.big_endian,
                self.enc.little_endian
            ));
        };
        if s.get::<&str>("layout").is_ok_and(|l| l != "interleaved") {
            return Err(gst::loggable_error!(
                CAT,
                "not-negotiated: caps field 'layout' must be interleaved"
            ));
        }
        let frame_bytes = self.enc.sample_bytes * channels as usize;
        // The RFC 3551 order of the input's positions, as rtpL16pay picks it.
        let positions = input_positions(s, channels as usize);
        let order = positions.as_deref().and_then(audio::order_by_positions);
        if order.is_none() && channels > 2 {
            // Stock says the same and sends the channels as they come.
            gst::element_warning!(
                base,
                gst::StreamError::Decode,
                ["Unknown channel order for {channels} channels"]
            );
        }
        let reorder = match (order, &positions) {
            (Some(order), Some(input)) if order.positions != input.as_slice() => Some(
                order
                    .positions
                    .iter()
                    .map(|p| input.iter().position(|q| q == p).unwrap_or(0) as u8)
                    .collect(),
            ),
            _ => None,
        };
        let imp = base.pay_base();
        imp.set_options("audio", self.enc.name, rate as u32);
        let mut fields = gst::Structure::builder("fields")
            .field("encoding-params", channels.to_string())
            .field("channels", channels)
            .build();
        if let Some(name) = order.and_then(|o| o.name) {
            fields.set("channel-order", name);
        }
        imp.set_outcaps(&fields)?;
        let mut st = lock(&self.state);
        st.input = Some(Input {
            fmt: PcmFormat {
                frame_bytes,
                clock_rate: rate as u32,
            },
            swap,
            reorder,
        });
        st.limits = None;
        Ok(())
    }

    /// One input buffer: cut it (with what is pending) into packets and push
    /// them.
    pub fn handle_buffer(
        &self,
        base: &RtpFastBasePay,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let imp = base.pay_base();
        let mut guard = lock(&self.state);
        let st = &mut *guard;
        let Some(input) = st.input.clone() else {
            gst::element_error!(
                base,
                gst::CoreError::Negotiation,
                ["not-negotiated: no caps before the first buffer"]
            );
            return Err(gst::FlowError::NotNegotiated);
        };
        if buffer.size() == 0 {
            // Still goes through: its DISCONT and time count, as stock.
            imp.count_empty_input();
        }
        let limits = self.limits(base, st, &buffer, input.fmt)?;
        let buffer = match (&input.reorder, input.swap) {
            (Some(map), swap) => reordered(&buffer, self.enc.sample_bytes, map, swap)?,
            (None, true) => to_network_order(buffer, self.enc.sample_bytes, imp.simd_level())?,
            (None, false) => buffer,
        };
        let discont = buffer
            .flags()
            .intersects(gst::BufferFlags::DISCONT | gst::BufferFlags::RESYNC);
        let len = buffer.size();
        let pts = buffer.pts().map(|t| t.nseconds());
        st.plans.clear();
        st.packetizer
            .push(input.fmt, &limits, len, pts, discont, &mut st.plans);
        if st.queue.is_empty() {
            // Nothing was pending (the common case): every packet is cut
            // from this input in order, one list, a remainder queued.
            let used: usize = st.plans.iter().map(|p| p.len).sum();
            let mut at = 0;
            let list = imp.build_list(
                Some(&buffer),
                None,
                None,
                st.plans.iter().map(|plan| {
                    at += plan.len;
                    out_packet(plan, at - plan.len..at)
                }),
            )?;
            if used < len {
                st.queue.push_back((buffer, used..len));
            }
            drop(guard);
            return match list {
                Some(list) => imp.push_list(list),
                None => Ok(gst::FlowSuccess::Ok),
            };
        }
        if len > 0 {
            st.queue.push_back((buffer, 0..len));
        }
        self.cut_and_push(base, guard)
    }

    /// EOS: what is pending as one last packet.
    pub fn drain(&self, base: &RtpFastBasePay) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = lock(&self.state);
        let st = &mut *guard;
        let Some(fmt) = st.input.as_ref().map(|i| i.fmt) else {
            return Ok(gst::FlowSuccess::Ok);
        };
        st.plans.clear();
        st.packetizer.flush(fmt, &mut st.plans);
        self.cut_and_push(base, guard)
    }

    pub fn flush(&self) {
        let mut st = lock(&self.state);
        st.packetizer.clear();
        st.queue.clear();
    }

    /// READY -> PAUSED: a new stream.
    pub fn start(&self) {
        let mut st = lock(&self.state);
        st.packetizer.reset();
        st.queue.clear();
        st.limits = None;
        st.warned_clamp = false;
    }

    fn limits(
        &self,
        base: &RtpFastBasePay,
        st: &mut PayState,
        buffer: &gst::BufferRef,
        fmt: PcmFormat,
    ) -> Result<PacketLimits, gst::FlowError> {
        let (room, settings) = base.pay_base().payload_room(buffer);
        if let Some((r, s, l)) = st.limits {
            if r == room && s == settings {
                return Ok(l);
            }
        }
        let limits = packet_limits(fmt, room, settings).map_err(|e| {
            gst::element_error!(base, gst::StreamError::Format, ["{e}"]);
            gst::FlowError::Error
        })?;
        if let (Some(clamp), false) = (limits.clamped, st.warned_clamp) {
            st.warned_clamp = true;
            let msg = match clamp {
                Clamp::MultipleOverMtu { wanted, align } => format!(
                    "ptime-multiple needs {wanted} bytes per packet but the MTU leaves room for \
                     {align}: packets are {align} bytes (stock would stall here)"
                ),
                Clamp::MaxPtimeUnderAlign {
                    max_ptime_bytes,
                    align,
                } => format!(
                    "max-ptime allows {max_ptime_bytes} bytes, less than one {align}-byte unit: \
                     packets are {align} bytes (stock would stall here)"
                ),
            };
            gst::warning!(CAT, obj = base, "{msg}");
            gst::element_warning!(base, gst::StreamError::Format, ["{msg}"]);
        }
        st.limits = Some((room, settings, limits));
        Ok(limits)
    }

    /// Cut `plans` from the front of the queue, build one list per source
    /// buffer run and push them (without our lock).
    fn cut_and_push(
        &self,
        base: &RtpFastBasePay,
        mut guard: std::sync::MutexGuard<'_, PayState>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let imp = base.pay_base();
        let st = &mut *guard;
        st.cuts.clear();
        st.sources.clear();
        for plan in st.plans.iter().copied() {
            let Some((front, range)) = st.queue.front_mut() else {
                break;
            };
            if range.len() >= plan.len {
                // Within one input: a view of it.
                if st
                    .sources
                    .last()
                    .is_none_or(|b| b.as_ptr() != front.as_ptr())
                {
                    st.sources.push(front.clone());
                }
                let start = range.start;
                range.start += plan.len;
                st.cuts.push(Cut {
                    source: st.sources.len() - 1,
                    range: start..start + plan.len,
                    plan,
                });
                if range.start >= range.end {
                    st.queue.pop_front();
                }
                continue;
            }
            // Across inputs: copy into a pooled block of its own.
            let block = queued_bytes::copy_front(&mut st.queue, plan.len, None)?;
            st.sources.push(block);
            st.cuts.push(Cut {
                source: st.sources.len() - 1,
                range: 0..plan.len,
                plan,
            });
        }
        let mut lists: smallvec::SmallVec<[gst::BufferList; 2]> = smallvec::SmallVec::new();
        let mut i = 0;
        while i < st.cuts.len() {
            let source = st.cuts[i].source;
            let end = i + st.cuts[i..]
                .iter()
                .take_while(|c| c.source == source)
                .count();
            let packets = st.cuts[i..end]
                .iter()
                .map(|c| out_packet(&c.plan, c.range.clone()));
            if let Some(list) = imp.build_list(Some(&st.sources[source]), None, None, packets)? {
                lists.push(list);
            }
            i = end;
        }
        st.sources.clear();
        drop(guard);
        let mut ret = Ok(gst::FlowSuccess::Ok);
        for list in lists {
            ret = imp.push_list(list);
            if ret.is_err() {
                break;
            }
        }
        ret
    }
}

/// The base's packet for a plan: payload `range` of its source, the plan's
/// time (GstRTPBaseAudioPayload's PTS, duration, offset, DISCONT + marker).
fn out_packet(plan: &PacketPlan, range: Range<usize>) -> OutPacket<'static> {
    OutPacket {
        marker: plan.marker,
        inline: &[],
        payload: range,
        timing: Some(PacketTiming {
            pts: plan.pts.map(gst::ClockTime::from_nseconds),
            dts: None,
            duration: Some(gst::ClockTime::from_nseconds(plan.duration)),
            offset: Some(plan.rtp_offset),
            discont: plan.marker,
        }),
        // GstRTPBaseAudioPayload sets the marker bit only, not the flag.
        flags: gst::BufferFlags::empty(),
    }
}

/// `buffer` in network byte order: swapped in place when it is ours alone
/// (what sources push; packets are then views of it, as for big-endian
/// input), else copied swapped into a pooled block. Measured on 20 ms of
/// S16LE stereo: the pooled copy cost ~2,200 instructions per input more
/// than big-endian input (block acquire, map, copy), in place ~1,100.
fn to_network_order(
    mut buffer: gst::Buffer,
    sample_bytes: usize,
    level: crate::core::simd::SimdLevel,
) -> Result<gst::Buffer, gst::FlowError> {
    let mut swapped = false;
    if buffer.is_writable() && buffer.n_memory() == 1 {
        let buf = buffer.get_mut().expect("checked writable");
        // Only when the memory is ours alone and not read-only (else
        // mapping it writable would copy it, or fail).
        if let Ok(mem) = buf.peek_memory_mut(0) {
            if !mem.flags().contains(gst::MemoryFlags::READONLY) {
                if let Ok(mut map) = mem.map_writable() {
                    if sample_bytes == 2 {
                        byteswap::swap16_in_place(level, &mut map);
                    } else {
                        byteswap::swap24_in_place(level, &mut map);
                    }
                    swapped = true;
                }
            }
        }
    }
    if swapped {
        Ok(buffer)
    } else {
        swap_to_network_order(&buffer, sample_bytes, level)
    }
}

/// A pooled copy of `buffer` with its channels in RTP order (and swapped to
/// network order with `swap`). Multichannel layouts whose RFC 3551 order
/// differs from GStreamer's only: scalar, one pass.
fn reordered(
    buffer: &gst::Buffer,
    sample_bytes: usize,
    map: &[u8],
    swap: bool,
) -> Result<gst::Buffer, gst::FlowError> {
    let src = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
    let mut out = crate::pool::acquire_filled(src.len(), |dst| {
        audio::reorder_copy(&src, dst, sample_bytes, map, swap);
        // A trailing partial frame (stock leaves it as it is).
        let whole = src.len() - src.len() % (sample_bytes * map.len()).max(1);
        dst[whole..].copy_from_slice(&src[whole..]);
    });
    drop(src);
    copy_metadata(
        buffer,
        out.get_mut().expect("a fresh pool buffer is writable"),
    );
    Ok(out)
}

fn copy_metadata(from: &gst::BufferRef, to: &mut gst::BufferRef) {
    to.set_pts(from.pts());
    to.set_dts(from.dts());
    to.set_offset(from.offset());
    to.set_flags(from.flags() & (gst::BufferFlags::DISCONT | gst::BufferFlags::RESYNC));
    if let Some(meta) = from.meta::<gst_rtp::RTPSourceMeta>() {
        let csrc: Vec<u32> = meta.csrc().to_vec();
        gst_rtp::RTPSourceMeta::add(to, meta.ssrc(), &csrc);
    }
}

/// A pooled copy of `buffer` in network byte order.
fn swap_to_network_order(
    buffer: &gst::Buffer,
    sample_bytes: usize,
    level: crate::core::simd::SimdLevel,
) -> Result<gst::Buffer, gst::FlowError> {
    let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
    let mut out = crate::pool::acquire_filled(map.len(), |dst| {
        if sample_bytes == 2 {
            byteswap::swap16_copy(level, &map, dst)
        } else {
            byteswap::swap24_copy(level, &map, dst)
        }
    });
    drop(map);
    copy_metadata(
        buffer,
        out.get_mut().expect("a fresh pool buffer is writable"),
    );
    Ok(out)
}
