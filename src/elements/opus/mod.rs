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
        gst::Rank::SECONDARY,
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
