use gst::glib;

mod imp;

glib::wrapper! {
    pub struct RtpFastL16Pay(ObjectSubclass<imp::RtpFastL16Pay>)
        @extends crate::elements::base::pay::RtpFastBasePay, gst::Element, gst::Object;
}
