//! L16 raw audio (RFC 3551): `rtpfastL16pay`, `rtpfastL16depay`.

use gst::glib;
use gst::prelude::*;

pub mod depay;
pub mod pay;

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "rtpfastL16pay",
        gst::Rank::SECONDARY,
        pay::RtpFastL16Pay::static_type(),
    )?;
    gst::Element::register(
        Some(plugin),
        "rtpfastL16depay",
        // Just above rtpL16depay (SECONDARY): autoplugged in its place; opt out
        // with GST_PLUGIN_FEATURE_RANK=<name>:none.
        gst::Rank::SECONDARY + 1,
        depay::RtpFastL16Depay::static_type(),
    )
}
