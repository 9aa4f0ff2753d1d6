use gst::glib;

mod imp;

glib::wrapper! {
    pub struct RtpFastOpusPay(ObjectSubclass<imp::RtpFastOpusPay>)
        @extends crate::elements::base::pay::RtpFastBasePay, gst::Element, gst::Object;
}
