use gst::glib;

mod imp;

glib::wrapper! {
    pub struct RtpFastL24Pay(ObjectSubclass<imp::RtpFastL24Pay>)
        @extends crate::elements::base::pay::RtpFastBasePay, gst::Element, gst::Object;
}
