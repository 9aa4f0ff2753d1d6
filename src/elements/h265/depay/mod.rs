use gst::glib;

mod imp;

glib::wrapper! {
    pub struct RtpFastH265Depay(ObjectSubclass<imp::RtpFastH265Depay>)
        @extends crate::elements::base::depay::RtpFastBaseDepay, gst::Element, gst::Object;
}
