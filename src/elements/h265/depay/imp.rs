use crate::elements::base::element_macros::nal_depayloader_imp;

nal_depayloader_imp! {
    type: RtpFastH265Depay,
    codec: crate::core::nal::H265,
    gtype: "GstRtpFastH265Depay",
    long_name: "RTP H265 depayloader (rsrtpfast)",
    description: "Extracts H265 video from RTP packets (RFC 7798), drop-in for rtph265depay",
}
