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
        // One above the stock twin: autoplugging picks ours (README).
        gst::Rank::SECONDARY + 1,
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

/// Metas without tags (udpsrc's GstNetAddressMeta, reference timestamps),
/// as stock passes them on: the payloader from the input its packet starts
/// in (gst_rtp_copy_meta), the depayloader from the RTP packet
/// (gst_rtp_drop_meta keeps them). Costs nothing when the input has none.
fn copy_untagged_metas(from: &gst::BufferRef, to: &mut gst::BufferRef) {
    super::base::copy_rtp_metas(from, to, None)
}
