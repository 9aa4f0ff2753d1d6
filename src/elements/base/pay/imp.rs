//! The GObject implementation of `GstRtpFastBasePay`. Behaviour follows
//! GstRTPBasePayload 1.22 (negotiation, numbering, timestamps, header
//! extensions, stats); the output path is ours: one bulk pass writes every
//! header of a list straight into pooled memory.

use super::super::hdrext;
use super::super::stats::ElementStats;
use super::super::{lock, pad_function, ElementCommon};
use super::Class;
use crate::core::rtp::HeaderFields;
use crate::core::simd::SimdLevel;
use crate::elements::base::warn_limit::warn_limited;
use crate::elements::SimdMode;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_rtp::prelude::*;
use smallvec::SmallVec;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Instant;

pub static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rtpfastbasepay",
        gst::DebugColorFlags::empty(),
        Some("rsrtpfast payloader base class"),
    )
});

const DEFAULT_MTU: u32 = 1400;
const DEFAULT_PT: u32 = 96;
const ONE_BYTE_MAX_SIZE: usize = 16;
const TWO_BYTE_MAX_SIZE: usize = 256;
const ONE_BYTE_MAX_ID: u32 = 14;
const TWO_BYTE_MAX_ID: u32 = 255;

/// One packet of a plan: the bytes written after the RTP header (payload
/// headers, aggregated units) and the range of the input carried after them
/// as a zero-copy view.
#[derive(Clone, Debug)]
pub struct OutPacket<'a> {
    pub marker: bool,
    pub inline: &'a [u8],
    pub payload: Range<usize>,
    /// Time of this packet, where the packets of one input span time (raw
    /// audio); None: the list's PTS/DTS and RTP timestamp.
    pub timing: Option<PacketTiming>,
    /// Buffer flags set on the packet (MARKER where the stock payloader
    /// flags the packet that carries the marker bit, DELTA_UNIT, ...).
    pub flags: gst::BufferFlags,
}

/// Timing of a packet: of all packets of one input
/// ([`RtpFastBasePay::push_packet`]), or of one packet of a plan
/// ([`OutPacket::timing`], what GstRTPBaseAudioPayload sets on each packet
/// it pushes).
#[derive(Clone, Copy, Debug, Default)]
pub struct PacketTiming {
    pub pts: Option<gst::ClockTime>,
    pub dts: Option<gst::ClockTime>,
    /// Set on the packet when Some.
    pub duration: Option<gst::ClockTime>,
    /// The offset perfect-rtptime counts from (RTP clock units); None: the
    /// RTP timestamp comes from the PTS.
    pub offset: Option<u64>,
    /// DISCONT on the packet (per-packet timing only).
    pub discont: bool,
}

/// Properties (GstRTPBasePayload's) and the stream state they feed.
struct State {
    mtu: u32,
    pt: u32,
    pt_set: bool,
    ssrc_prop: Option<u32>,
    ts_offset_prop: Option<u32>,
    seqnum_offset_prop: Option<u16>,
    prop_max_ptime: i64,
    caps_max_ptime: i64,
    max_ptime: i64,
    min_ptime: i64,
    ptime: u64,
    perfect_rtptime: bool,
    ptime_multiple: i64,
    source_info: bool,
    onvif_no_rate_control: bool,
    scale_rtptime: bool,
    auto_hdr_ext: bool,
    simd_mode: SimdMode,
    simd: SimdLevel,

    // Stream
    media: String,
    encoding_name: String,
    clock_rate: u32,
    seqnum_base: u16,
    next_seqnum: u16,
    /// Last pushed seqnum (the `seqnum` property).
    seqnum: u16,
    ts_base: u32,
    /// Last pushed RTP timestamp (the `timestamp` property).
    timestamp: u32,
    current_ssrc: u32,
    running_time: Option<u64>,
    base_offset: Option<u64>,
    base_rtime_hz: u64,
    segment: gst::FormattedSegment<gst::ClockTime>,
    pending_segment: Option<gst::Event>,
    subclass_srccaps: Option<gst::Caps>,
    sinkcaps: Option<gst::Caps>,
    /// Sink caps last refused with an error on the bus (upstream resends
    /// the caps event with every buffer it tries: one error for them).
    refused_caps: Option<gst::Caps>,
    /// Reused for header extension blocks (no allocation per packet).
    ext_scratch: Vec<u8>,
    stats: ElementStats,
}

impl Default for State {
    fn default() -> Self {
        State {
            mtu: DEFAULT_MTU,
            pt: DEFAULT_PT,
            pt_set: false,
            ssrc_prop: None,
            ts_offset_prop: None,
            seqnum_offset_prop: None,
            prop_max_ptime: -1,
            caps_max_ptime: -1,
            max_ptime: -1,
            min_ptime: 0,
            ptime: 0,
            perfect_rtptime: true,
            ptime_multiple: 0,
            source_info: false,
            onvif_no_rate_control: false,
            scale_rtptime: true,
            auto_hdr_ext: true,
            simd_mode: SimdMode::Auto,
            simd: SimdLevel::resolve(None).0,
            media: String::new(),
            encoding_name: String::new(),
            clock_rate: 0,
            seqnum_base: 0,
            next_seqnum: 0,
            seqnum: 0,
            ts_base: 0,
            timestamp: 0,
            current_ssrc: 0,
            running_time: None,
            base_offset: None,
            base_rtime_hz: 0,
            segment: gst::FormattedSegment::new(),
            pending_segment: None,
            subclass_srccaps: None,
            sinkcaps: None,
            refused_caps: None,
            ext_scratch: Vec::new(),
            stats: ElementStats::default(),
        }
    }
}

impl State {
    fn update_max_ptime(&mut self) {
        self.max_ptime = match (self.caps_max_ptime, self.prop_max_ptime) {
            (-1, p) => p,
            (c, -1) => c,
            (c, p) => c.min(p),
        };
    }

    /// RTP timestamp of an output list, as GstRTPBasePayload computes it:
    /// perfect from buffer offsets when it can, else from the PTS's running
    /// (or stream) time, else the previous one.
    fn rtptime(&mut self, pts: Option<gst::ClockTime>, offset: Option<u64>) -> u32 {
        if let (true, Some(offset), Some(base)) = (self.perfect_rtptime, offset, self.base_offset) {
            let diff = offset.wrapping_sub(base);
            self.running_time = Some(diff);
            return self
                .ts_base
                .wrapping_add(self.base_rtime_hz.wrapping_add(diff) as u32);
        }
        let Some(pts) = pts else {
            return self.timestamp;
        };
        let rtime_ns = if self.onvif_no_rate_control || !self.scale_rtptime {
            self.segment.to_stream_time(pts)
        } else {
            self.segment.to_running_time(pts)
        };
        let rtime_hz = match rtime_ns {
            Some(ns) => {
                let hz = ns
                    .nseconds()
                    .mul_div_floor(self.clock_rate as u64, gst::ClockTime::SECOND.nseconds())
                    .unwrap_or(0);
                self.base_offset = offset;
                self.base_rtime_hz = hz;
                hz
            }
            None => 0,
        };
        self.running_time = if self.perfect_rtptime {
            Some(rtime_hz)
        } else {
            rtime_ns.map(|t| t.nseconds())
        };
        self.ts_base.wrapping_add(rtime_hz as u32)
    }
}

pub struct RtpFastBasePay {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    /// Where output buffers go: set once by `rtpfastpay` holding this
    /// element to its own src pad (saves a proxy push per output), else
    /// our src pad. Events always take our src pad.
    pub(super) output: std::sync::OnceLock<gst::Pad>,
    state: Mutex<State>,
    /// Header extensions in use (GstRTPHeaderExtension objects).
    extensions: Mutex<Vec<gst_rtp::RTPHeaderExtension>>,
    negotiated: AtomicBool,
    /// `timestamp` / `seqnum` are notified once per start, as stock does.
    notify_first: AtomicBool,
    /// The last `set_outcaps` failed because downstream refused the caps
    /// (not because the sink caps were bad).
    downstream_refused: AtomicBool,
    common: ElementCommon,
}

#[glib::object_subclass]
impl ObjectSubclass for RtpFastBasePay {
    const NAME: &'static str = "GstRtpFastBasePay";
    const ABSTRACT: bool = true;
    type Type = super::RtpFastBasePay;
    type ParentType = gst::Element;
    type Class = Class;

    fn with_class(klass: &Self::Class) -> Self {
        let templ = klass
            .pad_template("sink")
            .expect("payloader has a sink template");
        let sinkpad = gst::Pad::builder_from_template(&templ)
            .chain_function(|pad, parent, buffer| {
                // SAFETY: only our own always sink pad, created in `with_class`
                // and added to this element in `constructed`, never removed,
                // gets this function: its parent is this element.
                unsafe { super::super::streaming::<Self>(parent, |this| this.chain(pad, buffer)) }
            })
            // SAFETY: `pad_function`'s contract, as for the chain function:
            // only set on our own always sink pad, whose parent is this
            // element.
            .event_function(|pad, parent, event| unsafe {
                pad_function::<Self, _>(
                    parent,
                    || false,
                    |this| {
                        crate::elements::base::test_panic_on_event(&event);
                        this.sink_event(pad, event)
                    },
                )
            })
            // SAFETY: `pad_function`'s contract, as for the chain function:
            // only set on our own always sink pad, whose parent is this
            // element.
            .query_function(|pad, parent, query| unsafe {
                pad_function::<Self, _>(parent, || false, |this| this.sink_query(pad, query))
            })
            .build();
        let templ = klass
            .pad_template("src")
            .expect("payloader has a src template");
        let srcpad = gst::Pad::builder_from_template(&templ)
            // SAFETY: our own always src pad, as the sink pad's functions.
            .event_function(|pad, parent, event| unsafe {
                pad_function::<Self, _>(parent, || false, |this| this.src_event(pad, event))
            })
            .build();
        RtpFastBasePay {
            sinkpad,
            srcpad,
            output: std::sync::OnceLock::new(),
            state: Mutex::new(State::default()),
            extensions: Mutex::new(Vec::new()),
            negotiated: AtomicBool::new(false),
            notify_first: AtomicBool::new(true),
            downstream_refused: AtomicBool::new(false),
            common: ElementCommon::default(),
        }
    }
}

impl ObjectImpl for RtpFastBasePay {
    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.sinkpad).unwrap();
        obj.add_pad(&self.srcpad).unwrap();
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut v = vec![
                glib::ParamSpecUInt::builder("mtu")
                    .nick("MTU")
                    .blurb("Maximum size of one packet")
                    .minimum(28)
                    .default_value(DEFAULT_MTU)
                    .build(),
                glib::ParamSpecUInt::builder("pt")
                    .nick("payload type")
                    .blurb("The payload type of the packets")
                    .maximum(0x7f)
                    .default_value(DEFAULT_PT)
                    .build(),
                glib::ParamSpecUInt::builder("ssrc")
                    .nick("SSRC")
                    .blurb("The SSRC of the packets (default == random)")
                    .default_value(u32::MAX)
                    .build(),
                glib::ParamSpecUInt::builder("timestamp-offset")
                    .nick("Timestamp Offset")
                    .blurb("Offset to add to all outgoing timestamps (default = random)")
                    .default_value(u32::MAX)
                    .build(),
                glib::ParamSpecInt::builder("seqnum-offset")
                    .nick("Sequence number Offset")
                    .blurb("Offset to add to all outgoing seqnum (-1 = random)")
                    .minimum(-1)
                    .maximum(u16::MAX as i32)
                    .default_value(-1)
                    .build(),
                glib::ParamSpecInt64::builder("max-ptime")
                    .nick("Max packet time")
                    .blurb("Maximum duration of the packet data in ns (-1 = unlimited up to MTU)")
                    .minimum(-1)
                    .default_value(-1)
                    .build(),
                glib::ParamSpecInt64::builder("min-ptime")
                    .nick("Min packet time")
                    .blurb("Minimum duration of the packet data in ns (can't go above MTU)")
                    .minimum(0)
                    .default_value(0)
                    .build(),
                glib::ParamSpecUInt::builder("timestamp")
                    .nick("Timestamp")
                    .blurb("The RTP timestamp of the last processed packet")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt::builder("seqnum")
                    .nick("Sequence number")
                    .blurb("The RTP sequence number of the last processed packet")
                    .maximum(u16::MAX as u32)
                    .read_only()
                    .build(),
                glib::ParamSpecBoolean::builder("perfect-rtptime")
                    .nick("Perfect RTP Time")
                    .blurb("Generate perfect RTP timestamps when possible")
                    .default_value(true)
                    .build(),
                glib::ParamSpecInt64::builder("ptime-multiple")
                    .nick("Packet time multiple")
                    .blurb("Force buffers to be multiples of this duration in ns (0 disables)")
                    .minimum(0)
                    .default_value(0)
                    .build(),
                glib::ParamSpecBoolean::builder("source-info")
                    .nick("RTP source information")
                    .blurb("Write CSRC based on buffer meta RTP source information")
                    .default_value(false)
                    .build(),
                glib::ParamSpecBoolean::builder("onvif-no-rate-control")
                    .nick("ONVIF no rate control")
                    .blurb("Enable ONVIF Rate-Control=no timestamping mode")
                    .default_value(false)
                    .build(),
                glib::ParamSpecBoolean::builder("scale-rtptime")
                    .nick("Scale RTP time")
                    .blurb("Whether the RTP timestamp should be scaled with the rate (speed)")
                    .default_value(true)
                    .build(),
                glib::ParamSpecBoolean::builder("auto-header-extension")
                    .nick("Automatic RTP header extension")
                    .blurb(
                        "Whether RTP header extensions should be automatically enabled, \
                         if an implementation is available",
                    )
                    .default_value(true)
                    .build(),
            ];
            v.extend(super::super::common_properties(
                "SIMD level for bulk work such as start-code scanning (auto honours RSRTPFAST_SIMD)",
                super::super::stats::PAY_STATS_BLURB,
            ));
            v
        });
        PROPS.as_ref()
    }

    fn signals() -> &'static [glib::subclass::Signal] {
        fn imp(e: &gst::Element) -> &RtpFastBasePay {
            e.downcast_ref::<super::RtpFastBasePay>().unwrap().imp()
        }
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            hdrext::signals(
                |e, id, uri| {
                    let auto = lock(&imp(e).state).auto_hdr_ext;
                    hdrext::create_for_uri(auto, id, uri)
                },
                |e, ext| {
                    lock(&imp(e).extensions).push(ext);
                    imp(e).srcpad.mark_reconfigure();
                },
                |e| lock(&imp(e).extensions).clear(),
            )
        });
        SIGNALS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if self
            .common
            .set_property(self.obj().upcast_ref(), value, pspec)
        {
            return;
        }
        let mut s = lock(&self.state);
        match pspec.name() {
            "mtu" => s.mtu = value.get().unwrap(),
            "pt" => {
                s.pt = value.get().unwrap();
                s.pt_set = true;
            }
            "ssrc" => s.ssrc_prop = Some(value.get().unwrap()),
            "timestamp-offset" => s.ts_offset_prop = Some(value.get().unwrap()),
            "seqnum-offset" => {
                let v: i32 = value.get().unwrap();
                s.seqnum_offset_prop = (v >= 0).then_some(v as u16);
            }
            "max-ptime" => {
                s.prop_max_ptime = value.get().unwrap();
                s.update_max_ptime();
            }
            "min-ptime" => s.min_ptime = value.get().unwrap(),
            "perfect-rtptime" => s.perfect_rtptime = value.get().unwrap(),
            "ptime-multiple" => s.ptime_multiple = value.get().unwrap(),
            "source-info" => s.source_info = value.get().unwrap(),
            "onvif-no-rate-control" => s.onvif_no_rate_control = value.get().unwrap(),
            "scale-rtptime" => s.scale_rtptime = value.get().unwrap(),
            "auto-header-extension" => s.auto_hdr_ext = value.get().unwrap(),
            "simd" => {
                s.simd_mode = value.get().unwrap();
                let (level, fell_back) = SimdLevel::resolve(s.simd_mode.requested());
                // With `auto` a fallback comes from RSRTPFAST_SIMD, which
                // the plugin names once when it loads (elements::register).
                if fell_back && s.simd_mode.requested().is_some() {
                    gst::warning!(
                        CAT,
                        imp = self,
                        "SIMD level {:?} not available here, using {}",
                        s.simd_mode,
                        level.nick()
                    );
                }
                s.simd = level;
            }
            other => unreachable!("property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if let Some(v) = self.common.property(pspec) {
            return v;
        }
        if pspec.name() == "stats" {
            return self.stats().to_value();
        }
        let s = lock(&self.state);
        match pspec.name() {
            "mtu" => s.mtu.to_value(),
            "pt" => s.pt.to_value(),
            "ssrc" => s.ssrc_prop.unwrap_or(u32::MAX).to_value(),
            "timestamp-offset" => s.ts_offset_prop.unwrap_or(u32::MAX).to_value(),
            "seqnum-offset" => s.seqnum_offset_prop.map_or(-1, i32::from).to_value(),
            "max-ptime" => s.max_ptime.to_value(),
            "min-ptime" => s.min_ptime.to_value(),
            "timestamp" => s.timestamp.to_value(),
            "seqnum" => (s.seqnum as u32).to_value(),
            "perfect-rtptime" => s.perfect_rtptime.to_value(),
            "ptime-multiple" => s.ptime_multiple.to_value(),
            "source-info" => s.source_info.to_value(),
            "onvif-no-rate-control" => s.onvif_no_rate_control.to_value(),
            "scale-rtptime" => s.scale_rtptime.to_value(),
            "auto-header-extension" => s.auto_hdr_ext.to_value(),
            "simd" => s.simd_mode.to_value(),
            other => unreachable!("property {other}"),
        }
    }
}

impl GstObjectImpl for RtpFastBasePay {}

impl ElementImpl for RtpFastBasePay {
    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::PlayingToPaused {
            super::super::test_panic_point(super::super::TestPanic::ChangeState);
        }
        self.common
            .change_state(self.obj().upcast_ref(), transition);
        if transition == gst::StateChange::ReadyToPaused {
            self.start();
            self.vfuncs(|k, o| k.start.map(|f| f(o)));
        }
        let ret = self.parent_change_state(transition)?;
        match transition {
            gst::StateChange::PlayingToPaused => self.notify_first.store(true, Ordering::Relaxed),
            gst::StateChange::PausedToReady => {
                let mut s = lock(&self.state);
                s.pending_segment = None;
                s.refused_caps = None;
                drop(s);
                self.vfuncs(|k, o| k.flush.map(|f| f(o)));
            }
            _ => {}
        }
        Ok(ret)
    }
}

// What a format calls.
impl RtpFastBasePay {
    /// Media, encoding name and clock rate of the output caps (call before
    /// `set_outcaps`).
    pub fn set_options(&self, media: &str, encoding_name: &str, clock_rate: u32) {
        let mut s = lock(&self.state);
        s.media = media.to_owned();
        s.encoding_name = encoding_name.to_owned();
        s.clock_rate = clock_rate;
    }

    /// Output caps: the options plus `fields`, negotiated with downstream.
    pub fn set_outcaps(&self, fields: &gst::StructureRef) -> Result<(), gst::LoggableError> {
        let mut s = lock(&self.state);
        let mut caps = gst::Caps::builder("application/x-rtp")
            .field("media", s.media.as_str())
            .field("clock-rate", s.clock_rate as i32)
            .field("encoding-name", s.encoding_name.as_str())
            .build();
        {
            let st = caps.make_mut().structure_mut(0).unwrap();
            for (name, value) in fields.iter() {
                st.set_value(name, value.clone());
            }
        }
        s.subclass_srccaps = Some(caps);
        drop(s);
        if self.negotiate() {
            Ok(())
        } else {
            self.downstream_refused.store(true, Ordering::Relaxed);
            Err(gst::loggable_error!(
                CAT,
                "not-negotiated: downstream refused {:?}",
                lock(&self.state).subclass_srccaps
            ))
        }
    }

    /// The payload type before the `pt` property is set (a format with a
    /// static payload type sets it at construction, as stock formats do).
    pub fn set_default_pt(&self, pt: u32) {
        let mut s = lock(&self.state);
        if !s.pt_set {
            s.pt = pt;
        }
    }

    /// Current MTU.
    pub fn mtu(&self) -> u32 {
        lock(&self.state).mtu
    }

    /// Largest packet a format may plan (header included), with room kept
    /// for the header extensions in use: stock lets an extension push a
    /// packet past the MTU, we keep every packet within it.
    pub fn plan_mtu(&self) -> usize {
        let mtu = lock(&self.state).mtu as usize;
        self.less_extensions(mtu)
    }

    /// `mtu` less the header extension block in use.
    fn less_extensions(&self, mtu: usize) -> usize {
        let exts = lock(&self.extensions);
        if exts.is_empty() {
            return mtu;
        }
        let empty = gst::Buffer::new();
        let (_, _, bytes) = extension_layout(&exts, &empty);
        mtu.saturating_sub(bytes)
            .max(crate::core::rtp::RTP_HEADER_LEN + 4)
    }

    /// CSRCs the header of a packet from `input` carries (`source-info`).
    pub fn csrc_count(&self, input: &gst::BufferRef) -> usize {
        if lock(&self.state).source_info {
            source_csrcs(input).len()
        } else {
            0
        }
    }

    /// Payload bytes one packet from `input` may carry (the MTU less the RTP
    /// header, the CSRCs of `source-info` and the header extensions in use)
    /// and the ptime settings: what sizes raw audio packets, in one lock.
    pub fn payload_room(
        &self,
        input: &gst::BufferRef,
    ) -> (usize, crate::core::pcm_packetizer::PtimeSettings) {
        let s = lock(&self.state);
        let csrcs = if s.source_info {
            source_csrcs(input).len()
        } else {
            0
        };
        let settings = crate::core::pcm_packetizer::PtimeSettings {
            min_ptime: s.min_ptime,
            max_ptime: s.max_ptime,
            ptime: s.ptime,
            ptime_multiple: s.ptime_multiple,
        };
        let mtu = s.mtu as usize;
        drop(s);
        let mtu = self.less_extensions(mtu);
        (
            mtu.saturating_sub(crate::core::rtp::RTP_HEADER_LEN + 4 * csrcs),
            settings,
        )
    }

    /// SIMD level the `simd` property resolved to.
    pub fn simd_level(&self) -> SimdLevel {
        lock(&self.state).simd
    }

    /// Running time of `pts` in the current segment.
    pub fn running_time(&self, pts: Option<gst::ClockTime>) -> Option<gst::ClockTime> {
        pts.and_then(|p| lock(&self.state).segment.to_running_time(p))
    }

    pub fn sink_pad(&self) -> &gst::Pad {
        &self.sinkpad
    }

    pub fn src_pad(&self) -> &gst::Pad {
        &self.srcpad
    }

    /// The element's limit on warnings about dropped input: formats log
    /// their drops through it (`warn_limited!`).
    pub fn drop_warnings(&self) -> &crate::elements::base::warn_limit::WarnLimit {
        &self.common.drop_warnings
    }

    /// A zero-length input a format sends nothing for: counted as
    /// dropped. (Not in the base: stock rtpopuspay sends an empty packet
    /// for one, rtpmp2tpay keeps its metas for the next packet.)
    #[cold]
    pub fn count_empty_input(&self) {
        lock(&self.state).stats.dropped += 1;
        warn_limited!(
            &self.common.drop_warnings,
            CAT,
            imp = self,
            "Empty input buffer: nothing to send"
        );
    }

    /// Count a dropped malformed input in `stats`.
    pub fn count_malformed(&self) {
        let mut s = lock(&self.state);
        s.stats.malformed += 1;
        s.stats.dropped += 1;
    }

    /// Count a malformed input whose usable part is still sent (a
    /// truncated unit, as stock sends it) in `stats`.
    #[cold]
    pub fn count_malformed_kept(&self) {
        lock(&self.state).stats.malformed += 1;
    }

    /// Count `n` units of an input that are not sent in `stats`.
    #[cold]
    pub fn count_dropped_units(&self, n: u64) {
        lock(&self.state).stats.dropped += n;
    }

    /// Build one buffer list from a plan and push it: every header is
    /// written in one pass (seq, timestamp, ssrc, pt, marker, CSRCs,
    /// extensions) into pooled memory followed by the inline bytes; the
    /// payload is a view of `input`. `input` None: packets are inline only.
    pub fn push_packets<'a>(
        &self,
        input: Option<&gst::Buffer>,
        pts: Option<gst::ClockTime>,
        dts: Option<gst::ClockTime>,
        packets: impl ExactSizeIterator<Item = OutPacket<'a>>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        match self.build_list(input, pts, dts, packets)? {
            Some(list) => self.push_list(list),
            None => Ok(gst::FlowSuccess::Ok),
        }
    }

    /// The first half of `push_packets`, for a format that must release its
    /// own lock before pushing: numbers and writes the packets (None when
    /// the plan is empty). Lists must be pushed in the order they were built.
    pub fn build_list<'a>(
        &self,
        input: Option<&gst::Buffer>,
        pts: Option<gst::ClockTime>,
        dts: Option<gst::ClockTime>,
        packets: impl ExactSizeIterator<Item = OutPacket<'a>>,
    ) -> Result<Option<gst::BufferList>, gst::FlowError> {
        if packets.len() == 0 {
            return Ok(None);
        }
        let mut list = crate::pool::acquire_list(packets.len());
        let list_ref = list.get_mut().unwrap();
        let timing = PacketTiming {
            pts,
            dts,
            duration: None,
            // Only raw audio (per-packet timing) counts RTP time from
            // offsets: what a parser or demuxer puts in the offset of a
            // coded frame is a byte position (stock's video payloaders
            // make their own buffers, whose offset is unset).
            offset: None,
            discont: false,
        };
        self.build_packets(input, timing, packets, |b| list_ref.add(b))?;
        Ok(Some(list))
    }

    /// One packet, pushed as a single buffer (no buffer list): for formats
    /// that make one packet per input buffer (Opus, ...), where a list per
    /// packet costs more than the push itself (measured on
    /// rtpfastopuspay: 4,728 -> 4,038 instructions per packet). The RTP
    /// timestamp comes from `timing` as for `push_packets` (its `offset`
    /// feeds perfect-rtptime); `duration` is set on the packet, and
    /// `decorate` may add to it (metas) before it is pushed.
    pub fn push_packet(
        &self,
        input: &gst::Buffer,
        timing: PacketTiming,
        packet: OutPacket<'_>,
        decorate: impl FnOnce(&mut gst::BufferRef),
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut out = None;
        self.build_packets(Some(input), timing, std::iter::once(packet), |b| {
            out = Some(b)
        })?;
        let Some(mut out) = out else {
            return Ok(gst::FlowSuccess::Ok);
        };
        decorate(out.make_mut());
        self.before_push();
        self.output.get().unwrap_or(&self.srcpad).push(out)
    }

    /// Number and write `packets` (see `push_packets`), handing each
    /// finished buffer to `emit` in order.
    fn build_packets<'a>(
        &self,
        input: Option<&gst::Buffer>,
        timing: PacketTiming,
        packets: impl ExactSizeIterator<Item = OutPacket<'a>>,
        mut emit: impl FnMut(gst::Buffer),
    ) -> Result<(), gst::FlowError> {
        let PacketTiming {
            pts,
            dts,
            duration,
            offset,
            ..
        } = timing;
        let exts = {
            let e = lock(&self.extensions);
            (!e.is_empty()).then(|| e.clone())
        };
        let mut guard = lock(&self.state);
        let s = &mut *guard;
        if s.clock_rate == 0 {
            drop(guard);
            gst::element_imp_error!(
                self,
                gst::StreamError::NotImplemented,
                ["subclass did not specify clock-rate"]
            );
            return Err(gst::FlowError::Error);
        }
        let timestamp = s.rtptime(pts, offset.filter(|o| *o != u64::MAX));
        let csrc = match (s.source_info, input) {
            (true, Some(b)) => source_csrcs(b),
            _ => SmallVec::new(),
        };
        let fields = HeaderFields {
            pt: s.pt as u8,
            ssrc: s.current_ssrc,
            timestamp,
            csrc: &csrc,
            extension: &[],
        };
        let mut ext_scratch = std::mem::take(&mut s.ext_scratch);
        let empty_meta;
        let input_meta = match input {
            Some(b) => b,
            None => {
                empty_meta = gst::Buffer::new();
                &empty_meta
            }
        };
        let ext_layout = exts.as_ref().map(|e| extension_layout(e, input_meta));
        let ext_placeholder = ext_layout.map(|(_, unit, block)| {
            let mut v = vec![0u8; block];
            let pattern: u16 = if unit == 1 { 0xBEDE } else { 0x1000 };
            v[..2].copy_from_slice(&pattern.to_be_bytes());
            v[2..4].copy_from_slice(&(((block - 4) / 4) as u16).to_be_bytes());
            v
        });

        // One memory (what encoders and parsers push): views on it.
        let views = input
            .filter(|b| b.n_memory() == 1)
            .map(|b| crate::pool::PayloadViews::new(b.peek_memory(0)));
        let mut seq = s.next_seqnum;
        let mut last_timestamp = timestamp;
        let mut bytes = 0u64;
        let n = packets.len() as u64;
        for pkt in packets {
            // With extensions: first a complete packet whose extension block
            // is a zeroed placeholder of the largest size (extensions such as
            // TWCC map the output as RTP while writing), then the real block.
            let hdr = match &ext_placeholder {
                Some(block) => HeaderFields {
                    extension: block,
                    ..fields
                },
                None => fields,
            };
            let hdr = match pkt.timing {
                Some(t) => HeaderFields {
                    timestamp: s.rtptime(t.pts, t.offset),
                    ..hdr
                },
                None => hdr,
            };
            last_timestamp = hdr.timestamp;
            let fill = |m: &mut [u8]| {
                let at = hdr.write(m, pkt.marker, seq);
                m[at..].copy_from_slice(pkt.inline);
            };
            let header_len = hdr.len() + pkt.inline.len();
            let mut out = match (&views, input) {
                // The common case: a recycled header + view packet buffer.
                (Some(views), Some(_)) if !pkt.payload.is_empty() => {
                    crate::pool::acquire_packet(header_len, fill, views, pkt.payload)
                }
                (None, Some(input)) if !pkt.payload.is_empty() => {
                    let mut out = crate::pool::acquire_filled(header_len, fill);
                    append_region(out.get_mut().unwrap(), input, pkt.payload)?;
                    out
                }
                _ => crate::pool::acquire_filled(header_len, fill),
            };
            let out_ref = out.get_mut().unwrap();
            if let (Some(exts), Some(layout)) = (&exts, ext_layout) {
                let ext_len = write_extensions(exts, layout, input_meta, out_ref, &mut ext_scratch)
                    .map_err(|err| {
                        gst::error!(CAT, imp = self, "{err}");
                        gst::FlowError::Error
                    })?;
                let with_ext = HeaderFields {
                    extension: &ext_scratch[..ext_len],
                    timestamp: hdr.timestamp,
                    ..fields
                };
                let len = with_ext.len() + pkt.inline.len();
                let mem = out_ref
                    .peek_memory_mut(0)
                    .map_err(|_| gst::FlowError::Error)?;
                {
                    let mut map = mem.map_writable().map_err(|_| gst::FlowError::Error)?;
                    let at = with_ext.write(&mut map, pkt.marker, seq);
                    map[at..len].copy_from_slice(pkt.inline);
                }
                mem.resize(0..len);
            }
            bytes += out_ref.size() as u64;
            match pkt.timing {
                Some(t) => {
                    out_ref.set_pts(t.pts);
                    out_ref.set_dts(t.dts);
                    out_ref.set_duration(t.duration);
                    if let Some(offset) = t.offset {
                        out_ref.set_offset(offset);
                    }
                    if t.discont {
                        out_ref.set_flags(gst::BufferFlags::DISCONT);
                    }
                }
                None => {
                    out_ref.set_pts(pts);
                    out_ref.set_dts(dts);
                    if duration.is_some() {
                        out_ref.set_duration(duration);
                    }
                }
            }
            if !pkt.flags.is_empty() {
                out_ref.set_flags(pkt.flags);
            }
            emit(out);
            seq = seq.wrapping_add(1);
        }
        s.ext_scratch = ext_scratch;
        s.seqnum = seq.wrapping_sub(1);
        s.next_seqnum = seq;
        s.timestamp = last_timestamp;
        s.stats.packets += n;
        s.stats.units_out += n;
        s.stats.bytes += bytes;
        Ok(())
    }

    /// Push a list from `build_list` (after a pending segment).
    pub fn push_list(&self, list: gst::BufferList) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.before_push();
        self.output.get().unwrap_or(&self.srcpad).push_list(list)
    }

    /// First-packet notifications and the held segment, before a push.
    fn before_push(&self) {
        if self.notify_first.swap(false, Ordering::Relaxed) {
            self.obj().notify("timestamp");
            self.obj().notify("seqnum");
        }
        let segment = lock(&self.state).pending_segment.take();
        if let Some(segment) = segment {
            self.srcpad.push_event(segment);
        }
    }
}

/// CSRCs for `source-info`: the input's GstRTPSourceMeta CSRCs, then its
/// SSRC, at most 15 (as GstRTPBasePayload).
fn source_csrcs(input: &gst::BufferRef) -> SmallVec<[u32; 15]> {
    let mut v = SmallVec::new();
    if let Some(meta) = input.meta::<gst_rtp::RTPSourceMeta>() {
        v.extend(meta.csrc().iter().copied().take(15));
        if let Some(ssrc) = meta.ssrc() {
            if v.len() < 15 {
                v.push(ssrc);
            }
        }
    }
    v
}

/// (flags, bytes per element header, bytes of the whole extension block at
/// most) for the extensions in use, as GstRTPBasePayload chooses them:
/// one-byte headers when every extension allows them, else two-byte.
fn extension_layout(
    exts: &[gst_rtp::RTPHeaderExtension],
    input_meta: &gst::Buffer,
) -> (gst_rtp::RTPHeaderExtensionFlags, usize, usize) {
    use gst_rtp::RTPHeaderExtensionFlags as F;
    let mut flags = F::ONE_BYTE | F::TWO_BYTE;
    let mut data = 0;
    for ext in exts {
        flags &= ext.supported_flags();
        let max = ext.max_size(input_meta);
        if max > ONE_BYTE_MAX_SIZE || ext.id() > ONE_BYTE_MAX_ID {
            flags.remove(F::ONE_BYTE);
        }
        if max > TWO_BYTE_MAX_SIZE || ext.id() > TWO_BYTE_MAX_ID {
            flags.remove(F::TWO_BYTE);
        }
        data += max;
    }
    let unit = if flags.contains(F::ONE_BYTE) {
        flags.remove(F::TWO_BYTE);
        1
    } else {
        2
    };
    let body = unit * exts.len() + data;
    (flags, unit, 4 + body.div_ceil(4) * 4)
}

/// Write the extension block (profile word, elements, zero padding) into
/// `scratch`; returns its length (0: no extension wrote anything).
fn write_extensions(
    exts: &[gst_rtp::RTPHeaderExtension],
    (flags, unit, block): (gst_rtp::RTPHeaderExtensionFlags, usize, usize),
    input_meta: &gst::Buffer,
    output: &gst::BufferRef,
    scratch: &mut Vec<u8>,
) -> Result<usize, String> {
    use gst_rtp::RTPHeaderExtensionFlags as F;
    if !flags.intersects(F::ONE_BYTE | F::TWO_BYTE) {
        return Err("Cannot add rtp header extensions with mixed header types".into());
    }
    scratch.clear();
    scratch.resize(block, 0);
    let mut written = 0;
    for ext in exts {
        let at = 4 + written + unit;
        let n = ext
            .write(input_meta, flags, output, &mut scratch[at..block])
            .map_err(|_| format!("{} failed to write extension data", ext.name()))?;
        if n == 0 {
            continue;
        }
        let max = if unit == 1 {
            ONE_BYTE_MAX_SIZE
        } else {
            TWO_BYTE_MAX_SIZE
        };
        if n > max || at + n > block {
            return Err(format!("{} wrote {n} bytes, more than it may", ext.name()));
        }
        let id = ext.id();
        if unit == 1 {
            scratch[4 + written] = ((id as u8 & 0x0f) << 4) | ((n - 1) as u8 & 0x0f);
        } else {
            scratch[4 + written] = id as u8;
            scratch[4 + written + 1] = n as u8;
        }
        written += n + unit;
    }
    if written == 0 {
        return Ok(0);
    }
    let words = written.div_ceil(4);
    let pattern: u16 = if unit == 1 { 0xBEDE } else { 0x1000 };
    scratch[..2].copy_from_slice(&pattern.to_be_bytes());
    scratch[2..4].copy_from_slice(&(words as u16).to_be_bytes());
    for b in &mut scratch[4 + written..4 + words * 4] {
        *b = 0;
    }
    Ok(4 + words * 4)
}

/// Append `input[range]` of a multi-memory input to `out` as shared
/// memories (no copy).
fn append_region(
    out: &mut gst::BufferRef,
    input: &gst::Buffer,
    range: Range<usize>,
) -> Result<(), gst::FlowError> {
    let region = input
        .copy_region(gst::BufferCopyFlags::MEMORY, range)
        .map_err(|_| gst::FlowError::Error)?;
    for mem in region.iter_memories_owned() {
        out.append_memory(mem);
    }
    Ok(())
}

/// `a-framerate` as GstRTPBasePayload writes it: g_ascii_dtostr, i.e.
/// `%.17g`.
fn dtostr(v: f64) -> String {
    let e = format!("{:.16e}", v);
    let (mantissa, exp) = e.split_once('e').unwrap();
    let exp: i32 = exp.parse().unwrap();
    let neg = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    };
    let body = if !(-4..17).contains(&exp) {
        let m = trim(format!("{}.{}", &digits[..1], &digits[1..]));
        format!("{m}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    } else if exp >= 0 {
        let point = exp as usize + 1;
        trim(format!("{}.{}", &digits[..point], &digits[point..]))
    } else {
        trim(format!("0.{}{}", "0".repeat((-exp - 1) as usize), digits))
    };
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

// Pads, negotiation, state.
impl RtpFastBasePay {
    /// Call into the format (the instance's class struct).
    fn vfuncs<R>(&self, f: impl FnOnce(&Class, &super::RtpFastBasePay) -> R) -> R {
        let obj = self.obj();
        f(obj.class().as_ref(), &obj)
    }

    fn start(&self) {
        let mut s = lock(&self.state);
        s.segment = gst::FormattedSegment::new();
        s.pending_segment = None;
        s.seqnum_base = s
            .seqnum_offset_prop
            .unwrap_or_else(|| rand_range(0, i16::MAX as u32) as u16);
        s.next_seqnum = s.seqnum_base;
        s.seqnum = s.seqnum_base;
        s.current_ssrc = s.ssrc_prop.unwrap_or_else(rand_u32);
        s.ts_base = s.ts_offset_prop.unwrap_or_else(rand_u32);
        s.timestamp = s.ts_base;
        s.running_time = None;
        s.base_offset = None;
        s.subclass_srccaps = None;
        s.sinkcaps = None;
        self.notify_first.store(true, Ordering::Relaxed);
        self.negotiated.store(false, Ordering::Relaxed);
    }

    fn stats(&self) -> gst::Structure {
        let s = lock(&self.state);
        let base = gst::Structure::builder("application/x-rtp-payload-stats")
            .field("clock-rate", s.clock_rate)
            .field("running-time", s.running_time.unwrap_or(u64::MAX))
            .field("seqnum", s.seqnum as u32)
            .field("timestamp", s.timestamp)
            .field("ssrc", s.current_ssrc)
            .field("pt", s.pt)
            .field("seqnum-offset", s.seqnum_base as u32)
            .field("timestamp-offset", s.ts_base)
            .build();
        s.stats.to_structure(Some(base), s.simd)
    }

    pub(super) fn chain(
        &self,
        _pad: &gst::Pad,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        if !self.negotiated.load(Ordering::Relaxed) {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                [
                    "No input format was negotiated, i.e. no caps event was received. \
                     Perhaps you need a parser or typefind element before the payloader"
                ]
            );
            return Err(gst::FlowError::NotNegotiated);
        }
        crate::elements::base::test_panic_point(crate::elements::base::TestPanic::PayChain);
        if self.srcpad.check_reconfigure() && !self.negotiate() {
            self.srcpad.mark_reconfigure();
            return Err(
                if self.srcpad.pad_flags().contains(gst::PadFlags::FLUSHING) {
                    gst::FlowError::Flushing
                } else {
                    gst::FlowError::NotNegotiated
                },
            );
        }
        // Payloaders get whole frames: timing each costs well under 2%.
        let (start, packets_before) = {
            let mut s = lock(&self.state);
            s.stats.buffers_in += 1;
            (Instant::now(), s.stats.packets)
        };
        let res = self.vfuncs(|k, o| match k.handle_buffer {
            Some(f) => f(o, buffer),
            None => Err(gst::FlowError::NotSupported),
        });
        let now = Instant::now();
        let mut s = lock(&self.state);
        let n = s.stats.packets - packets_before;
        if let Some(ns) = (now.duration_since(start).as_nanos() as u64).checked_div(n) {
            s.stats.window.record(ns.min(u32::MAX as u64) as u32);
        }
        drop(s);
        res
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        let obj = self.obj();
        match event.view() {
            gst::EventView::FlushStop(_) => {
                let res = gst::Pad::event_default(pad, Some(&*obj), event);
                let mut s = lock(&self.state);
                s.segment = gst::FormattedSegment::new();
                s.pending_segment = None;
                drop(s);
                if let Some(flush) = obj.class().as_ref().flush {
                    flush(&obj);
                }
                res
            }
            gst::EventView::Caps(c) => {
                let caps = c.caps_owned();
                gst::debug!(CAT, imp = self, "setting caps {caps}");
                lock(&self.state).sinkcaps = Some(caps.clone());
                self.downstream_refused.store(false, Ordering::Relaxed);
                let set_sink_caps = obj.class().as_ref().set_sink_caps;
                let res = match set_sink_caps {
                    Some(f) => f(&obj, &caps),
                    None => Err(gst::loggable_error!(CAT, "no format to take caps")),
                };
                match res {
                    Ok(()) => {
                        self.negotiated.store(true, Ordering::Relaxed);
                        lock(&self.state).refused_caps = None;
                        true
                    }
                    Err(err) => {
                        err.log_with_imp(self);
                        self.negotiated.store(false, Ordering::Relaxed);
                        // Downstream refusing our caps is only logged, as
                        // stock does: not always fatal (x264enc retries
                        // other caps when downstream's profile refuses its
                        // first ones). Sink caps we cannot work with (a
                        // field missing or absurd, garbage codec_data) are
                        // named on the bus: upstream only learns
                        // "not-negotiated" from the refused event.
                        let already_posted = {
                            let mut s = lock(&self.state);
                            let again = s.refused_caps.as_ref() == Some(&caps);
                            s.refused_caps = Some(caps.clone());
                            again
                        };
                        if !self.downstream_refused.swap(false, Ordering::Relaxed)
                            && !already_posted
                        {
                            let why = crate::elements::base::loggable_message(&err);
                            gst::element_imp_error!(
                                self,
                                gst::CoreError::Negotiation,
                                ("Unsupported input caps."),
                                ["not-negotiated: {why}"]
                            );
                        }
                        false
                    }
                }
            }
            gst::EventView::Segment(seg) => {
                let mut s = lock(&self.state);
                if let Ok(segment) = seg.segment().clone().downcast::<gst::ClockTime>() {
                    s.segment = segment;
                }
                s.base_offset = None;
                // Held until the first packet, so it follows our caps.
                s.pending_segment = Some(event);
                true
            }
            gst::EventView::Gap(_) => {
                self.push_pending_segment();
                gst::Pad::event_default(pad, Some(&*obj), event)
            }
            gst::EventView::CustomDownstream(ev) => {
                let custom = obj.class().as_ref().custom_downstream_event;
                if let (Some(f), Some(s)) = (custom, ev.structure()) {
                    f(&obj, s);
                }
                gst::Pad::event_default(pad, Some(&*obj), event)
            }
            gst::EventView::Eos(_) => {
                let drain = obj.class().as_ref().drain;
                if let Some(Err(err)) = drain.map(|f| f(&obj)) {
                    gst::debug!(CAT, imp = self, "drain on EOS: {err:?}");
                }
                self.push_pending_segment();
                self.common.post_final_stats(obj.upcast_ref());
                gst::Pad::event_default(pad, Some(&*obj), event)
            }
            _ => gst::Pad::event_default(pad, Some(&*obj), event),
        }
    }

    fn push_pending_segment(&self) {
        let segment = lock(&self.state).pending_segment.take();
        if let Some(segment) = segment {
            self.srcpad.push_event(segment);
        }
    }

    fn src_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        if let gst::EventView::CustomUpstream(ev) = event.view() {
            let st = ev.structure();
            if let Some(st) = st.filter(|s| s.name() == "GstRTPCollision") {
                let ssrc = st.get::<u32>("ssrc").unwrap_or(u32::MAX);
                let mut s = lock(&self.state);
                if ssrc == s.current_ssrc {
                    if let Ok(suggested) = st.get::<u32>("suggested-ssrc") {
                        s.current_ssrc = suggested;
                    }
                    while s.current_ssrc == ssrc {
                        s.current_ssrc = rand_u32();
                    }
                    let new_ssrc = s.current_ssrc;
                    drop(s);
                    gst::debug!(CAT, imp = self, "ssrc collision: now {new_ssrc:08x}");
                    if let Some(mut caps) = self.srcpad.current_caps() {
                        caps.make_mut().set("ssrc", new_ssrc);
                        return self.srcpad.push_event(gst::event::Caps::new(&caps));
                    }
                    return true;
                }
            }
        }
        gst::Pad::event_default(pad, Some(&*self.obj()), event)
    }

    fn sink_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        match query.view_mut() {
            gst::QueryViewMut::Caps(q) => {
                let template = pad.pad_template_caps();
                let peer = self.srcpad.peer_query_caps(None);
                let filter = q.filter_owned();
                let caps = self.vfuncs(|k, o| match k.sink_caps {
                    Some(f) => f(o, &template, Some(&peer), filter.as_ref()),
                    None => template.clone(),
                });
                q.set_result(&caps);
                true
            }
            // Offer upstream the shared pool and its recycling allocator.
            gst::QueryViewMut::Allocation(q) => {
                crate::pool::propose_allocation(q, pad);
                true
            }
            gst::QueryViewMut::AcceptCaps(q) => {
                let caps = q.caps_owned();
                q.set_result(self.accept_caps(pad, &caps));
                true
            }
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }

    /// What the default ACCEPT_CAPS handler answers (a subset of our CAPS
    /// query filtered by them), except that caps wrong only in a field the
    /// formats check themselves (missing, zero or out of range) are let
    /// through to `set_sink_caps`, which refuses them naming the field on
    /// the bus; the core would refuse them silently, upstream only seeing
    /// "not-negotiated".
    fn accept_caps(&self, pad: &gst::Pad, caps: &gst::Caps) -> bool {
        if caps.is_subset(&pad.query_caps(Some(caps))) {
            return true;
        }
        let strip = |c: &gst::Caps| {
            let mut c = c.copy();
            for st in c.make_mut().iter_mut() {
                st.remove_fields(CHECKED_FIELDS);
            }
            c
        };
        let loose = strip(caps).is_subset(&strip(&pad.query_caps(None)));
        if loose {
            gst::debug!(
                CAT,
                imp = self,
                "{caps}: only a checked field is wrong, for set_sink_caps to name"
            );
        }
        loose
    }

    /// GstRTPBasePayload's negotiation: downstream may fix pt, ssrc,
    /// timestamp-offset and seqnum-offset; properties win where downstream
    /// accepts them; fixed fields kept; header extensions from `extmap-N`.
    fn negotiate(&self) -> bool {
        let ok = self.try_negotiate();
        if !ok {
            self.srcpad.mark_reconfigure();
        }
        ok
    }

    fn try_negotiate(&self) -> bool {
        self.srcpad.check_reconfigure();
        let mut s = lock(&self.state);
        s.caps_max_ptime = -1;
        s.ptime = 0;
        let mut templ = self.srcpad.pad_template_caps();
        if let Some(sub) = &s.subclass_srccaps {
            templ = sub.intersect(&templ);
        }
        drop(s);
        let mut temp = self.srcpad.peer_query_caps(Some(&templ));
        if temp.is_empty() {
            return false;
        }
        let has_current = self.srcpad.has_current_caps();
        let mut s = lock(&self.state);
        let probe = |temp: &gst::Caps, field: &str, value: glib::SendValue| {
            let mut p = templ.copy();
            p.make_mut().set_value(field, value);
            let i = p.intersect(temp);
            (!i.is_empty()).then_some(i)
        };
        // pt: the property's (or current) if downstream takes it.
        let mut have_pt = false;
        if s.pt_set || has_current {
            if let Some(i) = probe(&temp, "payload", (s.pt as i32).to_send_value()) {
                temp = i;
                have_pt = true;
            } else {
                gst::warning!(CAT, imp = self, "Can't use selected pt {}", s.pt);
            }
        }
        {
            let st = temp.make_mut().structure_mut(0).unwrap();
            if !have_pt {
                if let Ok(pt) = st.get::<i32>("payload") {
                    s.pt = pt as u32;
                } else if st.has_field("payload") {
                    st.fixate_field_nearest_int("payload", s.pt as i32);
                    if let Ok(pt) = st.get::<i32>("payload") {
                        s.pt = pt as u32;
                    }
                } else {
                    st.set("payload", s.pt as i32);
                }
            }
            // ssrc: downstream's wins.
            if st.has_field_with_type("ssrc", u32::static_type()) {
                s.current_ssrc = st.get::<u32>("ssrc").unwrap();
            } else {
                st.set("ssrc", s.current_ssrc);
            }
        }
        let mut have_ts = false;
        if s.ts_offset_prop.is_some() || has_current {
            if let Some(i) = probe(&temp, "timestamp-offset", s.ts_base.to_send_value()) {
                temp = i;
                have_ts = true;
            } else {
                gst::warning!(CAT, imp = self, "Can't use selected timestamp-offset");
            }
        }
        if !have_ts {
            let st = temp.make_mut().structure_mut(0).unwrap();
            if st.has_field_with_type("timestamp-offset", u32::static_type()) {
                s.ts_base = st.get::<u32>("timestamp-offset").unwrap();
            } else {
                st.set("timestamp-offset", s.ts_base);
            }
        }
        let mut have_seq = false;
        if s.seqnum_offset_prop.is_some() || has_current {
            let v = (s.seqnum_base as u32).to_send_value();
            if let Some(i) = probe(&temp, "seqnum-offset", v) {
                temp = i;
                have_seq = true;
            } else {
                gst::warning!(CAT, imp = self, "Can't use selected seqnum-offset");
            }
        }
        if !have_seq {
            let st = temp.make_mut().structure_mut(0).unwrap();
            if st.has_field_with_type("seqnum-offset", u32::static_type()) {
                let v = st.get::<u32>("seqnum-offset").unwrap() as u16;
                s.seqnum_base = v;
                s.next_seqnum = v;
                s.seqnum = v;
            } else {
                st.set("seqnum-offset", s.seqnum_base as u32);
            }
        }
        temp.truncate();
        let st = temp.structure(0).unwrap();
        if let Ok(max) = st.get::<u32>("maxptime") {
            s.caps_max_ptime = max as i64 * 1_000_000;
        }
        if let Ok(ptime) = st.get::<u32>("ptime") {
            s.ptime = ptime as u64 * 1_000_000;
        }
        let mut out = gst::Structure::new_empty(st.name());
        for (name, value) in st.iter() {
            if value.is_fixed() {
                out.set_value(name, value.clone());
            }
        }
        if let Some(sink) = s.sinkcaps.as_ref().and_then(|c| c.structure(0)) {
            if sink.name().starts_with("video") {
                let fr = sink
                    .get::<gst::Fraction>("framerate")
                    .ok()
                    .filter(|f| !(f.numer() == 0 && f.denom() == 1))
                    .or_else(|| sink.get::<gst::Fraction>("max-framerate").ok());
                if let Some(fr) = fr {
                    let v = fr.numer() as f64 / fr.denom() as f64;
                    out.set("a-framerate", dtostr(v));
                }
            }
        }
        s.update_max_ptime();
        let sinkcaps = s.sinkcaps.clone();
        drop(s);
        let mut srccaps = gst::Caps::from(out);
        if !self.negotiate_extensions(&mut srccaps, sinkcaps.as_ref()) {
            return false;
        }
        gst::debug!(CAT, imp = self, "configuring caps {srccaps}");
        self.srcpad.push_event(gst::event::Caps::new(&srccaps))
    }

    /// Header extensions named by `extmap-N` fields of the caps (through
    /// `request-extension`), configured from the caps; then every
    /// extension's attributes written back into the caps.
    fn negotiate_extensions(&self, srccaps: &mut gst::Caps, sinkcaps: Option<&gst::Caps>) -> bool {
        let current = lock(&self.extensions).clone();
        let exts = match hdrext::reconcile(self.obj().upcast_ref(), &current, srccaps) {
            Ok(exts) => exts,
            Err(why) => {
                gst::warning!(CAT, imp = self, "{why}");
                return false;
            }
        };
        if let Some(sinkcaps) = sinkcaps {
            for ext in &exts {
                if !ext.set_non_rtp_sink_caps(sinkcaps) {
                    gst::warning!(CAT, imp = self, "{} refused the sink caps", ext.name());
                    return false;
                }
            }
        }
        let caps = srccaps.make_mut();
        for ext in &exts {
            if !ext.set_caps_from_attributes(caps) {
                gst::warning!(CAT, imp = self, "failed to set caps from {}", ext.name());
            }
        }
        *lock(&self.extensions) = exts;
        true
    }
}

/// Sink caps fields every format validates in `set_sink_caps`, refusing
/// bad values with a not-negotiated error that names the field.
const CHECKED_FIELDS: [&str; 4] = ["rate", "channels", "width", "height"];

fn rand_u32() -> u32 {
    glib::random_int()
}

fn rand_range(begin: u32, end: u32) -> u32 {
    glib::random_int_range(begin as i32, end as i32) as u32
}

#[cfg(test)]
mod tests {
    use super::dtostr;

    #[test]
    fn dtostr_matches_g_ascii_dtostr() {
        for (v, want) in [
            (30.0, "30"),
            (25.0, "25"),
            (30000.0 / 1001.0, "29.970029970029969"),
            (0.5, "0.5"),
            (1e-5, "1.0000000000000001e-05"),
            (123456789012345678.0, "1.2345678901234568e+17"),
        ] {
            // SAFETY: FFI edge. The buffer is large enough for any double.
            let reference = unsafe {
                let mut buf = [0 as std::ffi::c_char; 40];
                gst::glib::ffi::g_ascii_dtostr(buf.as_mut_ptr(), buf.len() as i32, v);
                std::ffi::CStr::from_ptr(buf.as_ptr())
                    .to_str()
                    .unwrap()
                    .to_owned()
            };
            assert_eq!(reference, want);
            assert_eq!(dtostr(v), want);
        }
    }
}
