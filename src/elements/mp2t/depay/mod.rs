use gst::glib;

mod imp;

glib::wrapper! {
    pub struct RtpFastMp2tDepay(ObjectSubclass<imp::RtpFastMp2tDepay>)
        @extends crate::elements::base::depay::RtpFastBaseDepay, gst::Element, gst::Object;
}
