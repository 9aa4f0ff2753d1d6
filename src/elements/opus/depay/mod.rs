use gst::glib;

mod imp;

glib::wrapper! {
    pub struct RtpFastOpusDepay(ObjectSubclass<imp::RtpFastOpusDepay>)
        @extends crate::elements::base::depay::RtpFastBaseDepay, gst::Element, gst::Object;
}
