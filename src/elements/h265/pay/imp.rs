//! `rtpfasth265pay`: a NAL payloader on `GstRtpFastBasePay`.

use crate::core::nal::H265;
use crate::elements::base::nal_pay::{self, NalPay};
use crate::elements::base::pay::RtpFastBasePayImplExt as _;
use crate::elements::base::pay::{RtpFastBasePay, RtpFastBasePayImpl};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::LazyLock;

#[derive(Default)]
pub struct RtpFastH265Pay {
    nal: NalPay<H265>,
}

#[glib::object_subclass]
impl ObjectSubclass for RtpFastH265Pay {
    const NAME: &'static str = "GstRtpFastH265Pay";
    type Type = super::RtpFastH265Pay;
    type ParentType = RtpFastBasePay;
}

impl ObjectImpl for RtpFastH265Pay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let aggregate = glib::ParamSpecEnum::builder_with_default(
                "aggregate-mode",
                super::AggregateMode::default(),
            )
            .nick("Attempt to use aggregate packets")
            .blurb("Bundle suitable SPS/PPS NAL units into aggregate packets.")
            .build();
            let mut v = nal_pay::properties(aggregate);
            v.extend([]);
            v
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        self.nal.set_property(value, pspec);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        self.nal.property(pspec)
    }
}

impl GstObjectImpl for RtpFastH265Pay {}

impl ElementImpl for RtpFastH265Pay {
    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        self.base_change_state(transition)
    }

    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "RTP H265 payloader (rsrtpfast)",
                "Codec/Payloader/Network/RTP",
                "Payload-encode H265 video into RTP packets (RFC 7798), drop-in for rtph265pay",
                "rsrtpfast developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> =
            LazyLock::new(nal_pay::pad_templates::<H265>);
        TEMPLATES.as_ref()
    }
}

impl RtpFastBasePayImpl for RtpFastH265Pay {
    fn set_sink_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        self.nal.set_caps(self.obj().upcast_ref(), caps)
    }

    fn handle_buffer(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.nal.handle_buffer(self.obj().upcast_ref(), buffer)
    }

    fn drain(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.nal.drain(self.obj().upcast_ref())
    }

    fn flush(&self) {
        self.nal.flush()
    }

    fn custom_downstream_event(&self, structure: &gst::StructureRef) {
        self.nal.custom_downstream_event(structure)
    }

    fn sink_caps(
        &self,
        template: &gst::Caps,
        allowed: Option<&gst::Caps>,
        filter: Option<&gst::Caps>,
    ) -> gst::Caps {
        NalPay::<H265>::sink_caps(template, allowed, filter)
    }
}
