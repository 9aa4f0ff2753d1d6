//! L24 raw audio: `rtpfastL24pay`.

use gst::glib;
use gst::prelude::*;

pub mod pay;

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "rtpfastL24pay",
        gst::Rank::SECONDARY,
        pay::RtpFastL24Pay::static_type(),
    )
}
