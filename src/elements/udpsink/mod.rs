//! `rtpfastudpsink`: udpsink / multiudpsink with batched sends (sendmmsg +
//! UDP GSO) over [`crate::io::send`].

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct RtpFastUdpSink(ObjectSubclass<imp::RtpFastUdpSink>)
        @extends gst_base::BaseSink, gst::Element, gst::Object,
        @implements gst::URIHandler;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "rtpfastudpsink",
        // udpsink is NONE: never autoplugged in its place.
        gst::Rank::NONE,
        RtpFastUdpSink::static_type(),
    )
}
