use gst::glib;

mod imp;

glib::wrapper! {
    pub struct RtpFastVRawPay(ObjectSubclass<imp::RtpFastVRawPay>)
        @extends crate::elements::base::pay::RtpFastBasePay, gst::Element, gst::Object;
}
