//! `rtpfastudpsrc`: udpsrc's properties and output, received in batches
//! (recvmmsg + UDP GRO, see `crate::io::recv`) and pushed as one buffer
//! list per wake-up.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct RtpFastUdpSrc(ObjectSubclass<imp::RtpFastUdpSrc>)
        @extends gst_base::PushSrc, gst_base::BaseSrc, gst::Element, gst::Object,
        @implements gst::URIHandler;
}

/// `socket-timestamp`: udpsrc's GstSocketTimestampMode, same values and
/// nicks under our own type name (the stock type lives in the udp plugin,
/// which may not be loaded, and a type name can be registered once).
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(i32)]
#[enum_type(name = "GstRtpFastSocketTimestampMode")]
pub enum SocketTimestampMode {
    #[default]
    #[enum_value(name = "Disable additional timestamps", nick = "disabled")]
    Disabled = 0,
    #[enum_value(
        name = "Timestamp with realtime clock (nsec resolution, may not be monotonic)",
        nick = "realtime"
    )]
    Realtime = 1,
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    SocketTimestampMode::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "rtpfastudpsrc",
        gst::Rank::NONE,
        RtpFastUdpSrc::static_type(),
    )
}
