//! `rtpfasth264depay`: the H.264 format on `GstRtpFastBaseDepay`.

use crate::core::nal::H264 as Codec;
use crate::elements::base::depay::RtpFastBaseDepayImplExt as _;
use crate::elements::base::depay::{RtpFastBaseDepay, RtpFastBaseDepayImpl, RtpPacket};
use crate::elements::base::nal_depay::{self, NalDepayBase};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::LazyLock;

#[derive(Default)]
pub struct RtpFastH264Depay {
    base: NalDepayBase<Codec>,
}

#[glib::object_subclass]
impl ObjectSubclass for RtpFastH264Depay {
    const NAME: &'static str = "GstRtpFastH264Depay";
    type Type = super::RtpFastH264Depay;
    type ParentType = RtpFastBaseDepay;
}

impl ObjectImpl for RtpFastH264Depay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(nal_depay::properties);
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        self.base.set_property(value, pspec)
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        self.base.property(pspec)
    }
}

impl GstObjectImpl for RtpFastH264Depay {}

impl ElementImpl for RtpFastH264Depay {
    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        self.base_change_state(transition)
    }

    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "RTP H264 depayloader (rsrtpfast)",
                "Codec/Depayloader/Network/RTP",
                "Extracts H264 video from RTP packets (RFC 6184), drop-in for rtph264depay",
                "rsrtpfast developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> =
            LazyLock::new(nal_depay::pad_templates::<Codec>);
        TEMPLATES.as_ref()
    }
}

impl RtpFastBaseDepayImpl for RtpFastH264Depay {
    fn set_sink_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        self.base.set_caps(self.obj().upcast_ref(), caps)
    }

    fn handle_packet(&self, packet: &RtpPacket<'_>) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.base.handle_packet(self.obj().upcast_ref(), packet)
    }

    fn drain(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.base.drain(self.obj().upcast_ref())
    }

    fn flush(&self) {
        self.base.flush()
    }

    fn extend_stats(&self, stats: &mut gst::Structure) {
        self.base.extend_stats(stats)
    }
}
