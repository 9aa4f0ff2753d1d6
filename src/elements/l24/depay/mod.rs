use gst::glib;

mod imp;

glib::wrapper! {
    pub struct RtpFastL24Depay(ObjectSubclass<imp::RtpFastL24Depay>)
        @extends crate::elements::base::depay::RtpFastBaseDepay, gst::Element, gst::Object;
}
