use gst::glib;

mod imp;

glib::wrapper! {
    pub struct RtpFastH265Depay(ObjectSubclass<imp::RtpFastH265Depay>)
        @extends gst_rtp::RTPBaseDepayload, gst::Element, gst::Object;
}
