//! `rtpfastvrawdepay`: RFC 4175 raw video out of RTP on
//! `GstRtpFastBaseDepay`, the frames of rtpvrawdepay.
//!
//! Each line segment is copied once, from the packet straight into a pooled
//! frame (default GstVideoInfo layout) kept mapped until it is pushed: at
//! the marker, or when a packet of another RTP timestamp starts the next
//! frame (an incomplete frame is pushed as stock pushes it; after lost
//! packets the base flags it DISCONT). Line headers are checked in
//! `core::vraw::parse_payload`: a bad packet or segment is dropped and
//! counted, never written outside the frame.

use crate::core::vraw::{self, Geometry, PlaneLayout, ReceivedSegment, Sampling};
use crate::elements::base::depay::RtpFastBaseDepayImplExt as _;
use crate::elements::base::depay::{
    RtpFastBaseDepay, RtpFastBaseDepayExt, RtpFastBaseDepayImpl, RtpPacket,
};
use crate::elements::base::lock;
use crate::elements::base::warn_limit::warn_limited;
use gst::glib;
use gst::subclass::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{LazyLock, Mutex};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rtpfastvrawdepay",
        gst::DebugColorFlags::empty(),
        Some("rsrtpfast raw video depayloader"),
    )
});

/// A frame being filled.
struct Frame {
    map: gst::MappedBuffer<gst::buffer::Writable>,
    timestamp: u32,
    pts: Option<gst::ClockTime>,
    /// Segments of the second field seen (interlaced).
    second_field: bool,
    /// The untagged and video metas of the frame's packets, in order (stock
    /// copies each packet's onto the frame); only made when one has some.
    metas: Option<gst::Buffer>,
}

#[derive(Default)]
struct State {
    geometry: Option<Geometry>,
    layout: PlaneLayout,
    frame_size: usize,
    frame: Option<Frame>,
    /// Reused per packet.
    segments: Vec<ReceivedSegment>,
}

#[derive(Default)]
pub struct RtpFastVRawDepay {
    state: Mutex<State>,
    /// Packets (or segments of them) dropped for their payload.
    malformed: AtomicU64,
}

#[glib::object_subclass]
impl ObjectSubclass for RtpFastVRawDepay {
    const NAME: &'static str = "GstRtpFastVRawDepay";
    type Type = super::RtpFastVRawDepay;
    type ParentType = RtpFastBaseDepay;
}

impl ObjectImpl for RtpFastVRawDepay {}

impl GstObjectImpl for RtpFastVRawDepay {}

impl ElementImpl for RtpFastVRawDepay {
    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        self.base_change_state(transition)
    }

    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "RTP Raw Video depayloader (rsrtpfast)",
                "Codec/Depayloader/Network/RTP",
                "Extracts raw video from RTP packets (RFC 4175), drop-in for rtpvrawdepay",
                "rsrtpfast developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            crate::elements::base::pad_templates(
                &super::super::rtp_caps(false),
                &gst::Caps::new_empty_simple("video/x-raw"),
            )
        });
        TEMPLATES.as_ref()
    }
}

/// An integer caps field sent as a string (as RFC 4175's SDP has them);
/// an int is taken too.
fn int_field(s: &gst::StructureRef, name: &str) -> Option<i64> {
    match s.get::<&str>(name) {
        Ok(v) => v.trim().parse().ok(),
        Err(_) => s.get::<i32>(name).ok().map(i64::from),
    }
}

fn video_format(sampling: Sampling) -> gst_video::VideoFormat {
    use gst_video::VideoFormat as F;
    match sampling {
        Sampling::Rgb => F::Rgb,
        Sampling::Rgba => F::Rgba,
        Sampling::Bgr => F::Bgr,
        Sampling::Bgra => F::Bgra,
        Sampling::Ayuv => F::Ayuv,
        Sampling::Uyvy => F::Uyvy,
        Sampling::I420 => F::I420,
        Sampling::Y41b => F::Y41b,
        Sampling::Uyvp => F::Uyvp,
    }
}

impl RtpFastVRawDepay {
    fn count_malformed(&self) {
        self.malformed.fetch_add(1, Relaxed);
    }

    /// Push a finished (or abandoned) frame.
    fn push_frame(&self, frame: Frame) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut buffer = frame.map.into_buffer();
        {
            let b = buffer.get_mut().expect("our frame is writable");
            b.set_pts(frame.pts);
            if let Some(metas) = &frame.metas {
                super::super::copy_video_metas(metas, b);
            }
        }
        self.obj().push(buffer)
    }
}

impl RtpFastBaseDepayImpl for RtpFastVRawDepay {
    /// (PAUSED→READY drops the frame through `flush`.)
    fn start(&self) {
        lock(&self.state).frame = None;
    }

    fn set_sink_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let s = caps
            .structure(0)
            .ok_or_else(|| gst::loggable_error!(CAT, "not-negotiated: empty caps"))?;
        let missing = |name: &str| {
            gst::loggable_error!(
                CAT,
                "not-negotiated: caps field '{name}' missing or invalid in {caps}"
            )
        };
        let dimension = |name: &str| {
            int_field(s, name)
                .filter(|v| (1..=vraw::MAX_DIMENSION as i64).contains(v))
                .map(|v| v as u32)
                .ok_or_else(|| missing(name))
        };
        let width = dimension("width")?;
        let height = dimension("height")?;
        let depth = int_field(s, "depth").ok_or_else(|| missing("depth"))?;
        let sampling_name = s.get::<&str>("sampling").map_err(|_| missing("sampling"))?;
        let sampling = Sampling::from_rtp(sampling_name, depth as u32).ok_or_else(|| {
            gst::loggable_error!(
                CAT,
                "not-negotiated: caps field 'sampling' {sampling_name} with depth {depth} is \
                 not supported"
            )
        })?;
        // Stock refuses interlaced streams; we take those our payloader
        // sends (the line numbers address the whole frame).
        let interlaced = s
            .get::<&str>("interlace")
            .is_ok_and(|v| !v.eq_ignore_ascii_case("false"));
        let geometry = Geometry {
            sampling,
            width,
            height,
            interlaced,
        };
        let mut builder = gst_video::VideoInfo::builder(video_format(sampling), width, height)
            .fps(gst::Fraction::new(0, 1));
        if interlaced {
            builder = builder.interlace_mode(gst_video::VideoInterlaceMode::Interleaved);
        }
        let info = builder
            .build()
            .map_err(|_| gst::loggable_error!(CAT, "not-negotiated: no video layout for {caps}"))?;
        let mut layout = PlaneLayout::default();
        for i in 0..(info.n_planes() as usize).min(3) {
            layout.offsets[i] = info.offset()[i];
            layout.strides[i] = info.stride()[i] as usize;
        }
        let out = info
            .to_caps()
            .map_err(|_| gst::loggable_error!(CAT, "not-negotiated: no caps for {caps}"))?;
        // A frame in progress belongs to the old caps: push it first.
        let pending = {
            let mut st = lock(&self.state);
            st.geometry = Some(geometry);
            st.layout = layout;
            st.frame_size = info.size();
            st.frame.take()
        };
        if let Some(frame) = pending {
            let _ = self.push_frame(frame);
        }
        gst::debug!(CAT, imp = self, "{caps} -> {out}");
        if !self.obj().set_src_caps(&out) {
            return Err(gst::loggable_error!(
                CAT,
                "not-negotiated: downstream refused {out}"
            ));
        }
        Ok(())
    }

    fn handle_packet(&self, packet: &RtpPacket<'_>) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut guard = lock(&self.state);
        let st = &mut *guard;
        let Some(geometry) = st.geometry else {
            return Err(gst::FlowError::NotNegotiated);
        };
        let mut bad = None;
        if let Err(why) = vraw::parse_payload(&geometry, packet.payload, &mut st.segments, &mut bad)
        {
            drop(guard);
            self.count_malformed();
            warn_limited!(
                self.obj().drop_warnings(),
                CAT,
                imp = self,
                "dropping packet seq {}: {why}",
                packet.seq
            );
            return Ok(gst::FlowSuccess::Ok);
        }
        if let Some(why) = bad {
            self.count_malformed();
            warn_limited!(
                self.obj().drop_warnings(),
                CAT,
                imp = self,
                "packet seq {}: skipping {why}",
                packet.seq
            );
        }
        let second_field = st.segments.first().is_some_and(|s| s.segment.field);
        // A packet of another timestamp starts a new frame, except the
        // second field of an interlaced frame (half a frame later).
        let mut finished = None;
        let continues = st.frame.as_ref().is_some_and(|f| {
            f.timestamp == packet.timestamp
                || (geometry.interlaced && second_field && !f.second_field)
        });
        if !continues {
            finished = st.frame.take();
            let buffer = crate::pool::acquire(st.frame_size);
            let Ok(map) = buffer.into_mapped_buffer_writable() else {
                drop(guard);
                gst::element_imp_error!(self, gst::ResourceError::Write, ["could not map frame"]);
                return Err(gst::FlowError::Error);
            };
            st.frame = Some(Frame {
                map,
                timestamp: packet.timestamp,
                pts: packet.pts(),
                second_field: false,
                metas: None,
            });
        }
        let frame = st.frame.as_mut().expect("just made");
        frame.second_field |= second_field;
        frame.timestamp = packet.timestamp;
        if packet.buffer.iter_meta::<gst::Meta>().next().is_some() {
            keep_metas(&mut frame.metas, packet.buffer);
        }
        let mut outside = false;
        for r in &st.segments {
            let data = &packet.payload[r.data.clone()];
            outside |=
                !vraw::unpack_segment(&geometry, &st.layout, &r.segment, data, &mut frame.map);
        }
        if outside {
            self.count_malformed();
            gst::warning!(
                CAT,
                imp = self,
                "packet seq {}: segment outside the frame",
                packet.seq
            );
        }
        let complete = packet.marker && (!geometry.interlaced || frame.second_field);
        let done = if complete { st.frame.take() } else { None };
        drop(guard);
        if let Some(f) = finished {
            gst::debug!(CAT, imp = self, "pushing incomplete frame");
            self.push_frame(f)?;
        }
        match done {
            Some(f) => self.push_frame(f),
            None => Ok(gst::FlowSuccess::Ok),
        }
    }

    fn drain(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        // Stock drops an unfinished frame at EOS.
        lock(&self.state).frame = None;
        Ok(gst::FlowSuccess::Ok)
    }

    fn flush(&self) {
        lock(&self.state).frame = None;
    }

    fn extend_stats(&self, s: &mut gst::Structure) {
        let ours = self.malformed.load(Relaxed);
        for field in ["malformed", "dropped"] {
            let n = s.get::<u64>(field).unwrap_or(0);
            s.set(field, n + ours);
        }
    }
}

/// The packet's untagged and video metas onto `metas` (made on first use).
#[cold]
fn keep_metas(metas: &mut Option<gst::Buffer>, packet: &gst::BufferRef) {
    let carrier = metas.get_or_insert_with(gst::Buffer::new);
    if let Some(c) = carrier.get_mut() {
        super::super::copy_video_metas(packet, c);
    }
}
