//! Opus (RFC 7587): `rtpfastopuspay`, `rtpfastopusdepay`.

use crate::core::opus;
use gst::glib;
use gst::prelude::*;

pub mod depay;
pub mod pay;

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "rtpfastopuspay",
        gst::Rank::SECONDARY,
        pay::RtpFastOpusPay::static_type(),
    )?;
    gst::Element::register(
        Some(plugin),
        "rtpfastopusdepay",
        // Just above rtpopusdepay (PRIMARY): autoplugged in its place; opt out
        // with GST_PLUGIN_FEATURE_RANK=<name>:none.
        gst::Rank::PRIMARY + 1,
        depay::RtpFastOpusDepay::static_type(),
    )
}

/// The RTP side of both elements' templates (the stock ones').
fn rtp_caps() -> gst::Caps {
    gst::Caps::builder("application/x-rtp")
        .field("media", "audio")
        .field("payload", gst::IntRange::new(96, 127))
        .field("clock-rate", opus::CLOCK_RATE as i32)
        .field(
            "encoding-name",
            gst::List::new([
                opus::ENCODING_OPUS,
                opus::ENCODING_DRAFT,
                opus::ENCODING_MULTIOPUS,
            ]),
        )
        .build()
}

/// The input's metas an audio payloader/depayloader passes on, as the stock
/// ones do (`gst_rtp_copy_audio_meta` / `gst_rtp_drop_non_audio_meta`):
/// untagged ones and those tagged `audio` only (audio clipping, reference
/// timestamps, ...). Costs nothing when the input has none.
fn copy_audio_metas(from: &gst::BufferRef, to: &mut gst::BufferRef) {
    super::base::copy_rtp_metas(from, to, Some("audio"))
}
