use crate::core::nal::H264;
use crate::elements::base::nal_depay::{properties, NalDepayBase};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_rtp::subclass::prelude::*;
use std::sync::LazyLock;

#[derive(Default)]
pub struct RtpFastH264Depay {
    base: NalDepayBase<H264>,
}

#[glib::object_subclass]
impl ObjectSubclass for RtpFastH264Depay {
    const NAME: &'static str = "GstRtpFastH264Depay";
    type Type = super::RtpFastH264Depay;
    type ParentType = gst_rtp::RTPBaseDepayload;
}

impl ObjectImpl for RtpFastH264Depay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(properties);
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        self.base.set_property(value, pspec)
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        self.base.property(self.obj().upcast_ref(), pspec)
    }

    fn constructed(&self) {
        self.parent_constructed();
        NalDepayBase::<H264>::install_validation_probe(self.obj().upcast_ref(), |obj| {
            let this = obj.downcast_ref::<super::RtpFastH264Depay>().unwrap();
            this.imp().base.count_malformed(obj);
        });
    }
}

impl GstObjectImpl for RtpFastH264Depay {}

impl ElementImpl for RtpFastH264Depay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "RTP H264 depayloader (rsrtpfast)",
                "Codec/Depayloader/Network/RTP",
                "Extracts H264 video from RTP packets (RFC 6184), drop-in for rtph264depay",
                "rsrtpfast developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let sink = gst::Caps::builder("application/x-rtp")
                .field("media", "video")
                .field("clock-rate", 90000)
                .field("encoding-name", "H264")
                .build();
            let src = gst::Caps::builder_full()
                .structure(
                    gst::Structure::builder("video/x-h264")
                        .field("stream-format", "avc")
                        .field("alignment", "au")
                        .build(),
                )
                .structure(
                    gst::Structure::builder("video/x-h264")
                        .field("stream-format", "byte-stream")
                        .field("alignment", gst::List::new(["nal", "au"]))
                        .build(),
                )
                .build();
            vec![
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &src,
                )
                .unwrap(),
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &sink,
                )
                .unwrap(),
            ]
        });
        TEMPLATES.as_ref()
    }
}

impl RTPBaseDepayloadImpl for RtpFastH264Depay {
    fn set_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        self.base.set_caps(self.obj().upcast_ref(), caps)
    }

    fn process_rtp_packet(
        &self,
        rtp_buffer: &gst_rtp::RTPBuffer<gst_rtp::rtp_buffer::Readable>,
    ) -> Option<gst::Buffer> {
        self.base
            .process_rtp_packet(self.obj().upcast_ref(), rtp_buffer)
    }

    fn packet_lost(&self, event: &gst::EventRef) -> bool {
        self.base.packet_lost();
        self.parent_packet_lost(event)
    }

    fn handle_event(&self, event: gst::Event) -> bool {
        self.base.handle_event(&event);
        self.parent_handle_event(event)
    }
}
