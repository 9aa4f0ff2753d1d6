use gst::glib;

mod imp;

glib::wrapper! {
    pub struct RtpFastVRawDepay(ObjectSubclass<imp::RtpFastVRawDepay>)
        @extends crate::elements::base::depay::RtpFastBaseDepay, gst::Element, gst::Object;
}
