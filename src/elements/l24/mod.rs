//! L24 raw audio (RFC 3190): `rtpfastL24pay`, `rtpfastL24depay`.

use gst::glib;
use gst::prelude::*;

pub mod depay;
pub mod pay;

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "rtpfastL24pay",
        gst::Rank::SECONDARY,
        pay::RtpFastL24Pay::static_type(),
    )?;
    gst::Element::register(
        Some(plugin),
        "rtpfastL24depay",
        // Just above rtpL24depay (SECONDARY): autoplugged in its place; opt out
        // with GST_PLUGIN_FEATURE_RANK=<name>:none.
        gst::Rank::SECONDARY + 1,
        depay::RtpFastL24Depay::static_type(),
    )
}
