use crate::elements::base::element_macros::nal_payloader_imp;

nal_payloader_imp! {
    type: RtpFastH264Pay,
    codec: crate::core::nal::H264,
    gtype: "GstRtpFastH264Pay",
    aggregate_enum: super::AggregateMode,
    aggregate_blurb: "Bundle suitable SPS/PPS NAL units into STAP-A aggregate packets",
    long_name: "RTP H264 payloader (rsrtpfast)",
    description: "Payload-encode H264 video into RTP packets (RFC 6184), drop-in for rtph264pay",
    extra_properties: [crate::elements::base::nal_pay::sprop_parameter_sets_property()],
}
