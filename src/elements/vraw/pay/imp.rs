//! `rtpfastvrawpay`: raw video in RTP (RFC 4175) on `GstRtpFastBasePay`,
//! the packets of rtpvrawpay.
//!
//! A `core::vraw::FrameCursor` walks each frame's packets (segments,
//! payload headers, list boundaries), a list at a time: only one list's
//! headers exist at once (a whole 1080p frame's plan would be ~400 KB per
//! stream). Where each packet's bytes are back to back in the input (packed
//! formats without line padding, progressive), packets are views of the
//! input; else (planar or converted formats, padded strides, interlaced
//! fields) a list's payloads are copied once, in packet order, into a
//! pooled block whose views the packets are.

use crate::core::vraw::{
    self, FrameCursor, Geometry, PlanError, PlaneLayout, PlannedPacket, Sampling, Segment,
};
use crate::elements::base::lock;
use crate::elements::base::pay::RtpFastBasePayExt as _;
use crate::elements::base::pay::RtpFastBasePayImplExt as _;
use crate::elements::base::pay::{
    marker_flag, OutPacket, PacketTiming, RtpFastBasePay, RtpFastBasePayImpl,
};
use crate::elements::base::warn_limit::warn_limited;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::ops::Range;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{LazyLock, Mutex};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rtpfastvrawpay",
        gst::DebugColorFlags::empty(),
        Some("rsrtpfast raw video payloader"),
    )
});

const DEFAULT_CHUNKS_PER_FRAME: i32 = 10;

/// Packets per buffer list at most (stock's lists can hold a whole frame):
/// bounds what one list's headers and segments keep resident.
const MAX_LIST: usize = 64;

/// What the cursor was made for.
#[derive(Clone, Copy, PartialEq, Eq)]
struct CursorKey {
    geometry: Geometry,
    mtu: usize,
    csrc_bytes: usize,
    chunks: u32,
}

/// One list being built, reused from list to list within a frame. Made
/// per frame and dropped after it, not kept: a list's plan is ~7 KB, which
/// an idle stream would otherwise carry (the per-stream budget is 1 KB),
/// for four allocations per frame (~0.001 per packet at 1080p).
struct Scratch {
    packets: Vec<PlannedPacket>,
    segments: Vec<Segment>,
    headers: Vec<u8>,
    ranges: Vec<Range<usize>>,
}

impl Scratch {
    /// Sized for a full list of packets spanning up to two lines each (a
    /// packet header is 2 bytes plus 6 per line segment): one allocation
    /// each, no growth, in the common case.
    fn for_frame() -> Self {
        Scratch {
            packets: Vec::with_capacity(MAX_LIST),
            segments: Vec::with_capacity(2 * MAX_LIST),
            headers: Vec::with_capacity(14 * MAX_LIST),
            ranges: Vec::with_capacity(MAX_LIST),
        }
    }
}

#[derive(Default)]
struct State {
    info: Option<gst_video::VideoInfo>,
    geometry: Option<Geometry>,
    /// At the start of a frame, for the current settings.
    cursor: Option<(CursorKey, FrameCursor)>,
}

pub struct RtpFastVRawPay {
    chunks_per_frame: AtomicI32,
    state: Mutex<State>,
}

impl Default for RtpFastVRawPay {
    fn default() -> Self {
        RtpFastVRawPay {
            chunks_per_frame: AtomicI32::new(DEFAULT_CHUNKS_PER_FRAME),
            state: Mutex::new(State::default()),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for RtpFastVRawPay {
    const NAME: &'static str = "GstRtpFastVRawPay";
    type Type = super::RtpFastVRawPay;
    type ParentType = RtpFastBasePay;
}

impl ObjectImpl for RtpFastVRawPay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![glib::ParamSpecInt::builder("chunks-per-frame")
                .nick("Chunks per Frame")
                .blurb("Split and send out each frame in multiple chunks to reduce overhead")
                .minimum(1)
                .maximum(i32::MAX)
                .default_value(DEFAULT_CHUNKS_PER_FRAME)
                .build()]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        match pspec.name() {
            "chunks-per-frame" => self
                .chunks_per_frame
                .store(value.get().unwrap(), Ordering::Relaxed),
            other => unreachable!("property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "chunks-per-frame" => self.chunks_per_frame.load(Ordering::Relaxed).to_value(),
            other => unreachable!("property {other}"),
        }
    }
}

impl GstObjectImpl for RtpFastVRawPay {}

impl ElementImpl for RtpFastVRawPay {
    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        self.base_change_state(transition)
    }

    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "RTP Raw Video payloader (rsrtpfast)",
                "Codec/Payloader/Network/RTP",
                "Payload raw video as RTP packets (RFC 4175), drop-in for rtpvrawpay",
                "rsrtpfast developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            crate::elements::base::pad_templates(
                &super::super::video_caps(),
                &super::super::rtp_caps(true),
            )
        });
        TEMPLATES.as_ref()
    }
}

/// The `colorimetry` field rtpvrawpay sends: one of the three the RFC
/// names, SMPTE240M for anything else (as stock).
fn rtp_colorimetry(info: &gst_video::VideoInfo) -> &'static str {
    let is = |name: &str| {
        name.parse::<gst_video::VideoColorimetry>()
            .is_ok_and(|c| c == info.colorimetry())
    };
    if is("bt601") {
        "BT601-5"
    } else if is("bt709") {
        "BT709-2"
    } else {
        "SMPTE240M"
    }
}

/// Where the planes are in `buffer`: its GstVideoMeta, else the default
/// layout of the caps. None for a layout we cannot address (negative
/// strides).
fn plane_layout(info: &gst_video::VideoInfo, buffer: &gst::BufferRef) -> Option<PlaneLayout> {
    let fill = |offsets: &[usize], strides: &[i32]| {
        let mut layout = PlaneLayout::default();
        for i in 0..(info.n_planes() as usize).min(3) {
            layout.offsets[i] = *offsets.get(i)?;
            layout.strides[i] = usize::try_from(*strides.get(i)?).ok()?;
        }
        Some(layout)
    };
    match buffer.meta::<gst_video::VideoMeta>() {
        Some(meta) => fill(meta.offset(), meta.stride()),
        None => fill(info.offset(), info.stride()),
    }
}

impl RtpFastVRawPay {
    /// A cursor at the start of a frame (made again when caps, MTU, CSRCs
    /// or chunks-per-frame changed).
    fn frame_cursor(
        &self,
        base: &RtpFastBasePay,
        st: &mut State,
        geometry: Geometry,
        buffer: &gst::BufferRef,
    ) -> Result<FrameCursor, gst::FlowError> {
        let imp = base.pay_base();
        let key = CursorKey {
            geometry,
            mtu: imp.plan_mtu(),
            csrc_bytes: 4 * imp.csrc_count(buffer),
            chunks: self.chunks_per_frame.load(Ordering::Relaxed).max(1) as u32,
        };
        if let Some((k, cursor)) = &st.cursor {
            if *k == key {
                return Ok(cursor.clone());
            }
        }
        st.cursor = None;
        match FrameCursor::new(geometry, key.mtu, key.csrc_bytes, key.chunks) {
            Ok(cursor) => {
                gst::debug!(CAT, imp = self, "{geometry:?}, MTU {}", key.mtu);
                st.cursor = Some((key, cursor.clone()));
                Ok(cursor)
            }
            Err(e) => {
                match e {
                    PlanError::TooSmall => {
                        gst::element_imp_error!(self, gst::ResourceError::NoSpaceLeft, ["{e}"])
                    }
                    PlanError::BadDimensions => {
                        gst::element_imp_error!(self, gst::StreamError::Format, ["{e}"])
                    }
                }
                Err(gst::FlowError::NotSupported)
            }
        }
    }

    fn drop_frame(
        &self,
        base: &RtpFastBasePay,
        why: &str,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        base.pay_base().count_malformed();
        warn_limited!(
            base.pay_base().drop_warnings(),
            CAT,
            imp = self,
            "dropping frame: {why}"
        );
        Ok(gst::FlowSuccess::Ok)
    }
}

impl RtpFastBasePayImpl for RtpFastVRawPay {
    fn set_sink_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        // Named here: the base lets caps wrong only in these through.
        if let Some(s) = caps.structure(0) {
            for field in ["width", "height"] {
                if !s
                    .get::<i32>(field)
                    .is_ok_and(|v| (1..=vraw::MAX_DIMENSION as i32).contains(&v))
                {
                    return Err(gst::loggable_error!(
                        CAT,
                        "not-negotiated: caps field '{field}' missing or not in 1..={} in {caps}",
                        vraw::MAX_DIMENSION
                    ));
                }
            }
        }
        let info = gst_video::VideoInfo::from_caps(caps).map_err(|_| {
            gst::loggable_error!(CAT, "not-negotiated: could not parse video caps {caps}")
        })?;
        let format = info.format().to_str();
        let sampling = Sampling::from_format(format).ok_or_else(|| {
            gst::loggable_error!(
                CAT,
                "not-negotiated: caps field 'format' is {format}, not one of RGB, RGBA, BGR, \
                 BGRA, AYUV, UYVY, I420, Y41B, UYVP"
            )
        })?;
        let geometry = Geometry {
            sampling,
            width: info.width(),
            height: info.height(),
            interlaced: info.is_interlaced(),
        };
        let mut fields = gst::Structure::builder("fields")
            .field("sampling", sampling.rtp_sampling())
            .field("depth", sampling.depth())
            .field("width", info.width().to_string())
            .field("height", info.height().to_string())
            .field("colorimetry", rtp_colorimetry(&info))
            .build();
        if geometry.interlaced {
            fields.set("interlace", "true");
        }
        gst::debug!(CAT, imp = self, "{caps} -> {fields}");
        let obj = self.obj();
        let base = obj.pay_base();
        base.set_options("video", "RAW", 90000);
        base.set_outcaps(&fields)?;
        let mut st = lock(&self.state);
        st.info = Some(info);
        st.geometry = Some(geometry);
        st.cursor = None;
        Ok(())
    }

    fn handle_buffer(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let obj = self.obj();
        let base = obj.upcast_ref::<RtpFastBasePay>();
        let imp = base.pay_base();
        let mut guard = lock(&self.state);
        let st = &mut *guard;
        let (Some(info), Some(geometry)) = (st.info.as_ref(), st.geometry) else {
            gst::element_imp_error!(
                self,
                gst::CoreError::Negotiation,
                ["not-negotiated: no caps before the first buffer"]
            );
            return Err(gst::FlowError::NotNegotiated);
        };
        let Some(layout) = plane_layout(info, &buffer) else {
            drop(guard);
            return self.drop_frame(base, "video meta with negative strides");
        };
        let mut cursor = self.frame_cursor(base, st, geometry, &buffer)?;
        drop(guard);
        let mut scratch = Scratch::for_frame();

        let size = buffer.size();
        let contiguous = vraw::contiguous_in(&geometry, &layout);
        // The end of the last line's bytes (the planar and copied paths
        // check every segment as they copy it).
        let frame_end = layout.offsets[0]
            + (geometry.height as usize - 1) * layout.strides[0]
            + geometry.bytes_of(geometry.width as usize);
        if contiguous && frame_end > size {
            return self.drop_frame(base, &format!("{size} bytes are too few for the caps"));
        }
        let map = if contiguous {
            None
        } else {
            match buffer.map_readable() {
                Ok(map) => Some(map),
                Err(_) => {
                    return self.drop_frame(base, "could not map the frame");
                }
            }
        };

        // As stock: the second field half a frame later; DISCONT on the
        // first packet.
        let pts = buffer.pts();
        let field_pts = match (pts, buffer.duration()) {
            (Some(p), Some(d)) => Some(p + d / 2),
            _ => pts,
        };
        let mut discont = buffer.flags().contains(gst::BufferFlags::DISCONT);
        let has_metas = buffer.iter_meta::<gst::Meta>().next().is_some();
        let mut ret = Ok(gst::FlowSuccess::Ok);
        loop {
            let sc = &mut scratch;
            sc.packets.clear();
            sc.segments.clear();
            sc.headers.clear();
            sc.ranges.clear();
            while let Some(p) = cursor.next_packet(&mut sc.segments, &mut sc.headers) {
                let end = p.list_end;
                sc.packets.push(p);
                if end || sc.packets.len() == MAX_LIST {
                    break;
                }
            }
            if sc.packets.is_empty() {
                break;
            }
            // The payloads: views of the input, or of one packed copy.
            let source = match &map {
                None => {
                    for p in &sc.packets {
                        let start =
                            vraw::packed_start(&geometry, &layout, &sc.segments[p.segments.start]);
                        sc.ranges.push(start..start + p.payload_len);
                    }
                    buffer.clone()
                }
                Some(map) => {
                    let total: usize = sc.packets.iter().map(|p| p.payload_len).sum();
                    let mut ok = true;
                    let block = crate::pool::acquire_filled(total, |dst| {
                        let mut at = 0;
                        for p in &sc.packets {
                            let segs = &sc.segments[p.segments.clone()];
                            let out = &mut dst[at..at + p.payload_len];
                            ok &= vraw::pack_packet(&geometry, &layout, segs, map, out);
                            sc.ranges.push(at..at + p.payload_len);
                            at += p.payload_len;
                        }
                    });
                    if !ok {
                        return self
                            .drop_frame(base, &format!("{size} bytes are too few for the caps"));
                    }
                    block
                }
            };
            let headers = &sc.headers;
            let packets = sc
                .packets
                .iter()
                .zip(&sc.ranges)
                .map(|(p, range)| OutPacket {
                    marker: p.marker,
                    inline: &headers[p.header.clone()],
                    payload: range.clone(),
                    timing: Some(PacketTiming {
                        pts: if p.field { field_pts } else { pts },
                        dts: None,
                        duration: None,
                        offset: None,
                        discont: std::mem::take(&mut discont),
                    }),
                    flags: marker_flag(p.marker),
                });
            ret = match imp.build_list(Some(&source), pts, None, packets) {
                Ok(Some(mut list)) => {
                    if has_metas {
                        // As stock: the input's video metas on every packet.
                        list.make_mut().foreach_mut(|mut b, _| {
                            super::super::copy_video_metas(&buffer, b.make_mut());
                            std::ops::ControlFlow::Continue(Some(b))
                        });
                    }
                    imp.push_list(list)
                }
                Ok(None) => Ok(gst::FlowSuccess::Ok),
                Err(e) => Err(e),
            };
            if ret.is_err() {
                break;
            }
        }
        drop(map);
        ret
    }
}
