//! `rtpfastopusdepay`: one `audio/x-opus` buffer per RTP packet (RFC 7587)
//! on `GstRtpFastBaseDepay`. The output is a zero-copy view of the packet's
//! payload in a recycled buffer: nothing is allocated per packet.

use crate::core::opus;
use crate::elements::base::depay::RtpFastBaseDepayImplExt as _;
use crate::elements::base::depay::{
    RtpFastBaseDepay, RtpFastBaseDepayExt, RtpFastBaseDepayImpl, RtpPacket,
};
use gst::glib;
use gst::subclass::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::LazyLock;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rtpfastopusdepay",
        gst::DebugColorFlags::empty(),
        Some("rsrtpfast Opus depayloader"),
    )
});

#[derive(Default)]
pub struct RtpFastOpusDepay {
    /// Packets without payload (pushed as 0-byte buffers, as stock does).
    empty: AtomicU64,
}

#[glib::object_subclass]
impl ObjectSubclass for RtpFastOpusDepay {
    const NAME: &'static str = "GstRtpFastOpusDepay";
    type Type = super::RtpFastOpusDepay;
    type ParentType = RtpFastBaseDepay;
}

impl ObjectImpl for RtpFastOpusDepay {}

impl GstObjectImpl for RtpFastOpusDepay {}

impl ElementImpl for RtpFastOpusDepay {
    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        self.base_change_state(transition)
    }

    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "RTP Opus packet depayloader (rsrtpfast)",
                "Codec/Depayloader/Network/RTP",
                "Extracts Opus audio from RTP packets (RFC 7587), drop-in for rtpopusdepay",
                "rsrtpfast developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let src = gst::Caps::builder("audio/x-opus")
                .field("channel-mapping-family", gst::IntRange::new(0, 1))
                .build();
            crate::elements::base::pad_templates(&super::super::rtp_caps(), &src)
        });
        TEMPLATES.as_ref()
    }
}

impl RtpFastBaseDepayImpl for RtpFastOpusDepay {
    // One output buffer per packet: lists in, lists out.
    const LIST_OUTPUT: bool = true;

    fn set_sink_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let s = caps
            .structure(0)
            .ok_or_else(|| gst::loggable_error!(CAT, "not-negotiated: empty caps"))?;
        let encoding_name = s.get::<&str>("encoding-name").ok();
        let clock_rate = s.get::<i32>("clock-rate").ok();
        if clock_rate != Some(opus::CLOCK_RATE as i32) {
            return Err(gst::loggable_error!(
                CAT,
                "not-negotiated: clock-rate must be {} for Opus, caps have {:?}",
                opus::CLOCK_RATE,
                clock_rate
            ));
        }
        let known = [
            opus::ENCODING_OPUS,
            opus::ENCODING_DRAFT,
            opus::ENCODING_MULTIOPUS,
        ];
        if !encoding_name.is_some_and(|n| known.contains(&n)) {
            return Err(gst::loggable_error!(
                CAT,
                "not-negotiated: encoding-name must be one of {known:?}, caps have {encoding_name:?}"
            ));
        }
        let out = opus::depay_out_caps(encoding_name, |name| s.get::<&str>(name).ok())
            .map_err(|e| gst::loggable_error!(CAT, "not-negotiated: {e} in {caps}"))?;
        if let Some(why) = &out.ignored {
            gst::warning!(CAT, imp = self, "ignoring {why}");
        }
        let mut src = gst::Caps::builder("audio/x-opus")
            .field("channel-mapping-family", out.channel_mapping_family)
            .build();
        {
            let st = src.make_mut().structure_mut(0).unwrap();
            if let Some(c) = out.channels {
                st.set("channels", c);
            }
            if let Some(n) = out.stream_count {
                st.set("stream-count", n);
            }
            if let Some(n) = out.coupled_count {
                st.set("coupled-count", n);
            }
            if let Some(map) = &out.channel_mapping {
                st.set("channel-mapping", gst::Array::new(map.iter().copied()));
            }
            if let Some(rate) = out.rate {
                st.set("rate", rate);
            }
        }
        gst::debug!(CAT, imp = self, "{caps} -> {src}");
        if self.obj().set_src_caps(&src) {
            Ok(())
        } else {
            Err(gst::loggable_error!(
                CAT,
                "not-negotiated: downstream refused {src}"
            ))
        }
    }

    fn handle_packet(&self, packet: &RtpPacket<'_>) -> Result<gst::FlowSuccess, gst::FlowError> {
        let len = packet.payload.len();
        if len == 0 {
            return self.empty_payload(packet);
        }
        let at = packet.payload_offset();
        let input = packet.buffer;
        let mut out = if let Some(views) = packet.payload_views() {
            crate::pool::acquire_view_buffer(&views, at..at + len)
        } else {
            // Several memories: share the region (allocates; unusual input).
            input
                .copy_region(gst::BufferCopyFlags::MEMORY, at..at + len)
                .map_err(|_| gst::FlowError::Error)?
        };
        // Fresh, so writable: no copy.
        like_stock_payload_buffer(input, out.make_mut());
        self.obj().push(out)
    }

    fn extend_stats(&self, stats: &mut gst::Structure) {
        stats.set("empty-payloads", self.empty.load(Relaxed));
    }
}

impl RtpFastOpusDepay {
    /// A packet without payload: rtpopusdepay 1.22 pushes it as a 0-byte
    /// buffer (opusdec conceals a lost frame for it), with the packet's
    /// timestamps, duration and flags like any other.
    #[cold]
    fn empty_payload(&self, packet: &RtpPacket<'_>) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.empty.store(self.empty.load(Relaxed) + 1, Relaxed);
        gst::log!(CAT, imp = self, "Packet {} without payload", packet.seq);
        let mut out = gst::Buffer::new();
        like_stock_payload_buffer(packet.buffer, out.get_mut().unwrap());
        self.obj().push(out)
    }
}

/// What rtpopusdepay 1.22's `gst_rtp_buffer_get_payload_buffer` (a
/// `GST_BUFFER_COPY_ALL` region of the RTP buffer) and the base class give
/// the output besides the bytes: every flag of the RTP buffer (MARKER as
/// rtpopuspay sets it on a talk spurt's first packet, DELTA_UNIT, ...; not
/// the RTP marker bit) and its duration (the base class's, since a region
/// at a non-zero offset has none of its own). Audio metas too.
#[inline]
fn like_stock_payload_buffer(input: &gst::BufferRef, out: &mut gst::BufferRef) {
    out.set_flags(input.flags());
    out.set_duration(input.duration());
    super::super::copy_audio_metas(input, out);
}
