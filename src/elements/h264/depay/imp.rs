use crate::elements::base::element_macros::nal_depayloader_imp;

nal_depayloader_imp! {
    type: RtpFastH264Depay,
    codec: crate::core::nal::H264,
    gtype: "GstRtpFastH264Depay",
    long_name: "RTP H264 depayloader (rsrtpfast)",
    description: "Extracts H264 video from RTP packets (RFC 6184), drop-in for rtph264depay",
}
