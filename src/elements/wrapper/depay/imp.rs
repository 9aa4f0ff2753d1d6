//! `rtpfastdepay`: depayloaders share no RTP properties worth passing on;
//! the child's own are reached through GstChildProxy.

use super::super::bin::WrapperCore;
use super::super::select::Role;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::LazyLock;

pub struct RtpFastDepay {
    pub(in crate::elements::wrapper) core: WrapperCore,
}

#[glib::object_subclass]
impl ObjectSubclass for RtpFastDepay {
    const NAME: &'static str = "GstRtpFastDepay";
    type Type = super::RtpFastDepay;
    type ParentType = gst::Bin;

    fn with_class(klass: &Self::Class) -> Self {
        let sink = klass.pad_template("sink").unwrap();
        let src = klass.pad_template("src").unwrap();
        RtpFastDepay {
            core: WrapperCore::new(Role::Depay, &sink, &src),
        }
    }
}

impl ObjectImpl for RtpFastDepay {
    fn constructed(&self) {
        self.parent_constructed();
        self.core.add_pads(self.obj().upcast_ref());
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut v: Vec<glib::ParamSpec> = super::super::identity_properties().into();
            v.extend(crate::elements::base::common_properties(
                "SIMD level of the rsrtpfast depayloader inside (stock ones have none)",
                crate::elements::base::stats::WRAPPER_STATS_BLURB,
            ));
            v
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if !self.core.set_common_property(value, pspec) {
            unreachable!("property {}", pspec.name());
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        self.core
            .common_property(pspec)
            .unwrap_or_else(|| unreachable!("property {}", pspec.name()))
    }
}

impl GstObjectImpl for RtpFastDepay {}

impl ElementImpl for RtpFastDepay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "RTP depayloader (rsrtpfast, any format)",
                "Codec/Depayloader/Network/RTP",
                "Depayloads whatever RTP arrives: with the rsrtpfast depayloader for the caps \
                 when there is one (any registered rtpfast*depay whose sink caps fit: H.264, \
                 H.265, L16, L24, Opus, MP2T, raw video, and formats added later), else with \
                 the highest-ranked installed stock depayloader that accepts them (VP8, VP9, \
                 AV1, PCMU, ...). A caps change to another encoding swaps the element inside. The \
                 child's properties are reached through it (rtpfastdepay0::rtpfasth264depay0::...). \
                 Read active-element and native to see what was chosen. Rank none: never \
                 autoplugged (our depayloaders themselves rank just above stock).",
                "rsrtpfast developers",
            )
        });
        Some(&*META)
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        self.core
            .change_state(transition, || self.parent_change_state(transition))
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            crate::elements::base::pad_templates(
                &gst::Caps::new_empty_simple("application/x-rtp"),
                &gst::Caps::new_any(),
            )
        });
        TEMPLATES.as_ref()
    }
}

impl BinImpl for RtpFastDepay {}
