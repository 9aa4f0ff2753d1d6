use gst::glib;

mod imp;

glib::wrapper! {
    pub struct RtpFastH264Depay(ObjectSubclass<imp::RtpFastH264Depay>)
        @extends gst_rtp::RTPBaseDepayload, gst::Element, gst::Object;
}
