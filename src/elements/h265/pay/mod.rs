use gst::glib;

mod imp;
#[cfg(test)]
mod performance;

glib::wrapper! {
    pub struct RtpFastH265Pay(ObjectSubclass<imp::RtpFastH265Pay>)
        @extends crate::elements::base::pay::RtpFastBasePay, gst::Element, gst::Object;
}

/// `aggregate-mode`, same values and nicks as rtph265pay's.
#[derive(Debug, Eq, PartialEq, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstRtpFastH265AggregateMode")]
pub enum AggregateMode {
    #[default]
    #[enum_value(name = "Do not aggregate NAL units", nick = "none")]
    None = 0,
    #[enum_value(
        name = "Aggregate NAL units until a VCL or suffix unit is included",
        nick = "zero-latency"
    )]
    ZeroLatency = 1,
    #[enum_value(
        name = "Aggregate all NAL units with the same timestamp (adds one frame of latency)",
        nick = "max"
    )]
    Max = 2,
}
