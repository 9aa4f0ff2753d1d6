//! L16 raw audio (RFC 3551): `rtpfastL16depay`.

use gst::glib;
use gst::prelude::*;

pub mod depay;

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "rtpfastL16depay",
        gst::Rank::SECONDARY,
        depay::RtpFastL16Depay::static_type(),
    )
}
