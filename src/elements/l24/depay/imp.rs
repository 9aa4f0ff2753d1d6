//! `rtpfastL24depay`: L24 raw audio (RFC 3190) on `GstRtpFastBaseDepay`.

use crate::core::audio::SampleFormat;
use crate::elements::base::depay::RtpFastBaseDepayImplExt as _;
use crate::elements::base::depay::{RtpFastBaseDepay, RtpFastBaseDepayImpl, RtpPacket};
use crate::elements::base::raw_audio_depay::{self, RawAudioDepay};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::LazyLock;

pub struct RtpFastL24Depay {
    base: RawAudioDepay,
}

impl Default for RtpFastL24Depay {
    fn default() -> Self {
        RtpFastL24Depay {
            base: RawAudioDepay::new(SampleFormat::S24),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for RtpFastL24Depay {
    const NAME: &'static str = "GstRtpFastL24Depay";
    type Type = super::RtpFastL24Depay;
    type ParentType = RtpFastBaseDepay;
}

impl ObjectImpl for RtpFastL24Depay {}

impl GstObjectImpl for RtpFastL24Depay {}

impl ElementImpl for RtpFastL24Depay {
    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        self.base_change_state(transition)
    }

    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "RTP audio depayloader (rsrtpfast)",
                "Codec/Depayloader/Network/RTP",
                "Extracts raw L24 audio from RTP packets (RFC 3190), drop-in for rtpL24depay",
                "rsrtpfast developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> =
            LazyLock::new(|| raw_audio_depay::pad_templates(SampleFormat::S24));
        TEMPLATES.as_ref()
    }
}

impl RtpFastBaseDepayImpl for RtpFastL24Depay {
    // One output buffer per packet: lists in, lists out.
    const LIST_OUTPUT: bool = true;

    fn set_sink_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        self.base.set_caps(self.obj().upcast_ref(), caps)
    }

    fn handle_packet(&self, packet: &RtpPacket<'_>) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.base.handle_packet(self.obj().upcast_ref(), packet)
    }

    fn extend_stats(&self, stats: &mut gst::Structure) {
        self.base.extend_stats(stats)
    }
}
