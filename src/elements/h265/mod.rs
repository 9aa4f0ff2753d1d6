//! H.265 (RFC 7798): `rtpfasth265pay`, `rtpfasth265depay`.

use gst::glib;
use gst::prelude::*;

pub mod depay;
pub mod pay;

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "rtpfasth265pay",
        gst::Rank::SECONDARY,
        pay::RtpFastH265Pay::static_type(),
    )?;
    gst::Element::register(
        Some(plugin),
        "rtpfasth265depay",
        // Just above rtph265depay (SECONDARY): autoplugged in its place; opt out
        // with GST_PLUGIN_FEATURE_RANK=<name>:none.
        gst::Rank::SECONDARY + 1,
        depay::RtpFastH265Depay::static_type(),
    )
}
