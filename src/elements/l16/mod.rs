//! L16 raw audio: `rtpfastL16pay`.

use gst::glib;
use gst::prelude::*;

pub mod pay;

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "rtpfastL16pay",
        gst::Rank::SECONDARY,
        pay::RtpFastL16Pay::static_type(),
    )
}
