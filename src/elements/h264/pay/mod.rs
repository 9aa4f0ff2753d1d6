use gst::glib;

mod imp;
#[cfg(test)]
mod performance;

glib::wrapper! {
    pub struct RtpFastH264Pay(ObjectSubclass<imp::RtpFastH264Pay>)
        @extends crate::elements::base::pay::RtpFastBasePay, gst::Element, gst::Object;
}

/// `aggregate-mode`, same values and nicks as rtph264pay's.
#[derive(Debug, Eq, PartialEq, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstRtpFastH264AggregateMode")]
pub enum AggregateMode {
    #[default]
    #[enum_value(name = "Do not aggregate NAL units", nick = "none")]
    None = 0,
    #[enum_value(
        name = "Aggregate NAL units until a VCL unit is included",
        nick = "zero-latency"
    )]
    ZeroLatency = 1,
    #[enum_value(
        name = "Aggregate all NAL units with the same timestamp (adds one frame of latency)",
        nick = "max-stap"
    )]
    MaxStap = 2,
}
