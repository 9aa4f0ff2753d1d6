use gst::glib;

pub(super) mod imp;

glib::wrapper! {
    /// A payloader for whatever caps arrive: see `imp` for the choice.
    pub struct RtpFastPay(ObjectSubclass<imp::RtpFastPay>)
        @extends gst::Bin, gst::Element, gst::Object,
        @implements gst::ChildProxy;
}
