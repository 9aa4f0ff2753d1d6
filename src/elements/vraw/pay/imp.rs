//! `rtpfastvrawpay`: raw video in RTP (RFC 4175) on `GstRtpFastBasePay`,
//! the packets of rtpvrawpay.
//!
//! The frame plan (`core::vraw::FramePlan`: segments, payload headers,
//! list boundaries) depends only on the caps, the MTU and
//! `chunks-per-frame`, so it is made once and replayed for every frame.
//! Where each packet's bytes are back to back in the input (packed formats
//! without line padding, progressive), packets are views of the input; else
//! (planar or converted formats, padded strides, interlaced fields) the
//! frame is copied once, in packet order, into a pooled block whose views
//! the packets are.

use crate::core::vraw::{FramePlan, Geometry, PlanError, PlaneLayout, Sampling};
use crate::elements::base::lock;
use crate::elements::base::pay::{OutPacket, PacketTiming, RtpFastBasePay, RtpFastBasePayImpl};
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

/// What the plan was made for.
#[derive(Clone, Copy, PartialEq, Eq)]
struct PlanKey {
    geometry: Geometry,
    mtu: usize,
    csrc_bytes: usize,
    chunks: u32,
}

#[derive(Default)]
struct State {
    info: Option<gst_video::VideoInfo>,
    geometry: Option<Geometry>,
    plan: FramePlan,
    key: Option<PlanKey>,
    /// Per packet: its payload in the input when the frame is laid out as
    /// `ranges_layout` (None: not contiguous there, copy).
    input_ranges: Vec<Range<usize>>,
    ranges_layout: Option<(PlaneLayout, bool)>,
    /// Per packet: its payload in a packed copy of the frame.
    packed_ranges: Vec<Range<usize>>,
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
    /// The plan for this input (made again when caps, MTU, CSRCs or
    /// chunks-per-frame changed).
    fn ensure_plan(
        &self,
        base: &RtpFastBasePay,
        st: &mut State,
        geometry: Geometry,
        buffer: &gst::BufferRef,
    ) -> Result<(), gst::FlowError> {
        let imp = base.imp();
        let key = PlanKey {
            geometry,
            mtu: imp.plan_mtu(),
            csrc_bytes: 4 * imp.csrc_count(buffer),
            chunks: self.chunks_per_frame.load(Ordering::Relaxed).max(1) as u32,
        };
        if st.key == Some(key) {
            return Ok(());
        }
        st.key = None;
        st.ranges_layout = None;
        if let Err(e) = st.plan.plan(geometry, key.mtu, key.csrc_bytes, key.chunks) {
            match e {
                PlanError::TooSmall => {
                    gst::element_imp_error!(self, gst::ResourceError::NoSpaceLeft, ["{e}"])
                }
                PlanError::BadDimensions => {
                    gst::element_imp_error!(self, gst::StreamError::Format, ["{e}"])
                }
            }
            return Err(gst::FlowError::NotSupported);
        }
        st.packed_ranges.clear();
        let mut at = 0;
        for p in &st.plan.packets {
            st.packed_ranges.push(at..at + p.payload_len);
            at += p.payload_len;
        }
        gst::debug!(
            CAT,
            imp = self,
            "{} packets per frame for {:?}, MTU {}",
            st.plan.packets.len(),
            geometry,
            key.mtu
        );
        st.key = Some(key);
        Ok(())
    }

    fn drop_frame(
        &self,
        base: &RtpFastBasePay,
        why: &str,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        gst::warning!(CAT, imp = self, "dropping frame: {why}");
        base.imp().count_malformed();
        Ok(gst::FlowSuccess::Ok)
    }
}

impl RtpFastBasePayImpl for RtpFastVRawPay {
    fn set_sink_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
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
        let base = obj.upcast_ref::<RtpFastBasePay>().imp();
        base.set_options("video", "RAW", 90000);
        base.set_outcaps(&fields)?;
        let mut st = lock(&self.state);
        st.info = Some(info);
        st.geometry = Some(geometry);
        st.key = None;
        Ok(())
    }

    fn handle_buffer(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let obj = self.obj();
        let base = obj.upcast_ref::<RtpFastBasePay>();
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
        self.ensure_plan(base, st, geometry, &buffer)?;

        // Views of the input where the plan allows, else one packed copy.
        let contiguous = match st.ranges_layout {
            Some((l, c)) if l == layout => c,
            _ => {
                let c = st.plan.contiguous_ranges(&layout, &mut st.input_ranges);
                st.ranges_layout = Some((layout, c));
                c
            }
        };
        let size = buffer.size();
        let (source, ranges) = if contiguous {
            if st.input_ranges.last().is_some_and(|r| r.end > size) {
                drop(guard);
                return self.drop_frame(base, &format!("{size} bytes are too few for the caps"));
            }
            (buffer.clone(), &st.input_ranges)
        } else {
            let Ok(map) = buffer.map_readable() else {
                drop(guard);
                return self.drop_frame(base, "could not map the frame");
            };
            let mut ok = false;
            let block = crate::pool::acquire_filled(st.plan.payload_bytes(), |dst| {
                ok = st.plan.pack_frame(&map, &layout, dst);
            });
            drop(map);
            if !ok {
                drop(guard);
                return self.drop_frame(base, &format!("{size} bytes are too few for the caps"));
            }
            (block, &st.packed_ranges)
        };

        // As stock: the second field half a frame later; DISCONT on the
        // first packet.
        let pts = buffer.pts();
        let field_pts = match (pts, buffer.duration()) {
            (Some(p), Some(d)) => Some(p + d / 2),
            _ => pts,
        };
        let mut discont = buffer.flags().contains(gst::BufferFlags::DISCONT);
        let imp = base.imp();
        let mut lists: smallvec::SmallVec<[gst::BufferList; 16]> = smallvec::SmallVec::new();
        let plan = &st.plan;
        let mut start = 0;
        while start < plan.packets.len() {
            let end = start
                + plan.packets[start..]
                    .iter()
                    .position(|p| p.list_end)
                    .map_or(plan.packets.len() - start, |i| i + 1);
            let packets = plan.packets[start..end]
                .iter()
                .zip(&ranges[start..end])
                .map(|(p, range)| {
                    let timing = PacketTiming {
                        pts: if p.field { field_pts } else { pts },
                        dts: None,
                        duration: None,
                        offset: None,
                        discont: std::mem::take(&mut discont),
                    };
                    OutPacket {
                        marker: p.marker,
                        inline: &plan.headers[p.header.clone()],
                        payload: range.clone(),
                        timing: Some(timing),
                    }
                });
            if let Some(list) = imp.build_list(Some(&source), pts, None, packets)? {
                lists.push(list);
            }
            start = end;
        }
        drop(guard);
        for list in lists {
            imp.push_list(list)?;
        }
        Ok(gst::FlowSuccess::Ok)
    }
}
