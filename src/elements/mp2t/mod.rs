//! MPEG-2 transport stream (RFC 2250): `rtpfastmp2tpay`, `rtpfastmp2tdepay`.

use crate::core::mp2t;
use gst::glib;
use gst::prelude::*;

pub mod depay;
pub mod pay;

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "rtpfastmp2tpay",
        gst::Rank::SECONDARY,
        pay::RtpFastMp2tPay::static_type(),
    )?;
    gst::Element::register(
        Some(plugin),
        "rtpfastmp2tdepay",
        gst::Rank::SECONDARY,
        depay::RtpFastMp2tDepay::static_type(),
    )
}

/// The TS side of both elements' templates (the stock ones').
fn ts_caps() -> gst::Caps {
    gst::Caps::builder("video/mpegts")
        .field("packetsize", mp2t::TS_PACKET_LEN as i32)
        .field("systemstream", true)
        .build()
}
