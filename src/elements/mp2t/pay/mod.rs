use gst::glib;

mod imp;

glib::wrapper! {
    pub struct RtpFastMp2tPay(ObjectSubclass<imp::RtpFastMp2tPay>)
        @extends crate::elements::base::pay::RtpFastBasePay, gst::Element, gst::Object;
}
