use gst::glib;

mod imp;

glib::wrapper! {
    pub struct RtpFastL16Depay(ObjectSubclass<imp::RtpFastL16Depay>)
        @extends crate::elements::base::depay::RtpFastBaseDepay, gst::Element, gst::Object;
}
