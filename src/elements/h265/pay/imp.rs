use crate::elements::base::element_macros::nal_payloader_imp;

nal_payloader_imp! {
    type: RtpFastH265Pay,
    codec: crate::core::nal::H265,
    gtype: "GstRtpFastH265Pay",
    aggregate_enum: super::AggregateMode,
    aggregate_blurb: "Bundle suitable SPS/PPS NAL units into aggregate packets.",
    long_name: "RTP H265 payloader (rsrtpfast)",
    description: "Payload-encode H265 video into RTP packets (RFC 7798), drop-in for rtph265pay",
    extra_properties: [],
}
