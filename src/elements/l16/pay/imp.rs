//! `rtpfastL16pay`: L16 (RFC 3551) on `GstRtpFastBasePay`.

use crate::elements::base::pay::RtpFastBasePayImplExt as _;
use crate::elements::base::pay::{RtpFastBasePay, RtpFastBasePayImpl};
use crate::elements::base::pcm_pay::{self, PcmPay};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::LazyLock;

pub struct RtpFastL16Pay {
    pcm: PcmPay,
}

impl Default for RtpFastL16Pay {
    fn default() -> Self {
        RtpFastL16Pay {
            pcm: PcmPay::new(&pcm_pay::L16),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for RtpFastL16Pay {
    const NAME: &'static str = "GstRtpFastL16Pay";
    type Type = super::RtpFastL16Pay;
    type ParentType = RtpFastBasePay;
}

impl ObjectImpl for RtpFastL16Pay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(pcm_pay::properties);
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        self.pcm.set_property(value, pspec);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        self.pcm.property(pspec)
    }
}

impl GstObjectImpl for RtpFastL16Pay {}

impl ElementImpl for RtpFastL16Pay {
    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        self.base_change_state(transition)
    }

    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "RTP audio payloader (rsrtpfast)",
                "Codec/Payloader/Network/RTP",
                "Payload-encode Raw audio into RTP packets (RFC 3551), drop-in for rtpL16pay; \
                 also takes S16LE",
                "rsrtpfast developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> =
            LazyLock::new(|| pcm_pay::pad_templates(&pcm_pay::L16));
        TEMPLATES.as_ref()
    }
}

impl RtpFastBasePayImpl for RtpFastL16Pay {
    fn set_sink_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        self.pcm.set_caps(self.obj().upcast_ref(), caps)
    }

    fn handle_buffer(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.pcm.handle_buffer(self.obj().upcast_ref(), buffer)
    }

    fn drain(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.pcm.drain(self.obj().upcast_ref())
    }

    fn flush(&self) {
        self.pcm.flush()
    }

    fn start(&self) {
        self.pcm.start();
    }

    fn sink_caps(
        &self,
        template: &gst::Caps,
        allowed: Option<&gst::Caps>,
        filter: Option<&gst::Caps>,
    ) -> gst::Caps {
        self.pcm.sink_caps(template, allowed, filter)
    }
}
