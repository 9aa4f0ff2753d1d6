use gst::glib;

mod imp;

glib::wrapper! {
    pub struct RtpFastH264Depay(ObjectSubclass<imp::RtpFastH264Depay>)
        @extends crate::elements::base::depay::RtpFastBaseDepay, gst::Element, gst::Object;
}
