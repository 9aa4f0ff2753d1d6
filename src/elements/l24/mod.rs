//! L24 raw audio (RFC 3190): `rtpfastL24depay`.

use gst::glib;
use gst::prelude::*;

pub mod depay;

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "rtpfastL24depay",
        gst::Rank::SECONDARY,
        depay::RtpFastL24Depay::static_type(),
    )
}
