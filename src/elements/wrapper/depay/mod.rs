use gst::glib;

pub(super) mod imp;

glib::wrapper! {
    /// A depayloader for whatever RTP caps arrive: see `imp` for the choice.
    pub struct RtpFastDepay(ObjectSubclass<imp::RtpFastDepay>)
        @extends gst::Bin, gst::Element, gst::Object,
        @implements gst::ChildProxy;
}
