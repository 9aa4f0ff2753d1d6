//! `rtpfastL16depay`: L16 raw audio (RFC 3551) on `GstRtpFastBaseDepay`.

use crate::core::audio::SampleFormat;
use crate::elements::base::depay::RtpFastBaseDepayImplExt as _;
use crate::elements::base::depay::{RtpFastBaseDepay, RtpFastBaseDepayImpl, RtpPacket};
use crate::elements::base::raw_audio_depay::{self, RawAudioDepay};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::LazyLock;

pub struct RtpFastL16Depay {
    base: RawAudioDepay,
}

impl Default for RtpFastL16Depay {
    fn default() -> Self {
        RtpFastL16Depay {
            base: RawAudioDepay::new(SampleFormat::S16),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for RtpFastL16Depay {
    const NAME: &'static str = "GstRtpFastL16Depay";
    type Type = super::RtpFastL16Depay;
    type ParentType = RtpFastBaseDepay;
}

impl ObjectImpl for RtpFastL16Depay {}

impl GstObjectImpl for RtpFastL16Depay {}

impl ElementImpl for RtpFastL16Depay {
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
                "Extracts raw L16 audio from RTP packets (RFC 3551), drop-in for rtpL16depay",
                "rsrtpfast developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> =
            LazyLock::new(|| raw_audio_depay::pad_templates(SampleFormat::S16));
        TEMPLATES.as_ref()
    }
}

impl RtpFastBaseDepayImpl for RtpFastL16Depay {
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
