//! H.264 (RFC 6184): `rtpfasth264pay`, `rtpfasth264depay`.

use gst::glib;
use gst::prelude::*;

pub mod depay;
pub mod pay;

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "rtpfasth264pay",
        gst::Rank::SECONDARY,
        pay::RtpFastH264Pay::static_type(),
    )?;
    gst::Element::register(
        Some(plugin),
        "rtpfasth264depay",
        // Just above rtph264depay (SECONDARY): autoplugged in its place; opt out
        // with GST_PLUGIN_FEATURE_RANK=<name>:none.
        gst::Rank::SECONDARY + 1,
        depay::RtpFastH264Depay::static_type(),
    )
}
