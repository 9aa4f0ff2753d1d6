use super::AggregateMode;
use crate::core::nal::H265;
use crate::elements::base::nal_pay::{common_properties, NalPayBase};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_rtp::subclass::prelude::*;
use std::sync::{LazyLock, Mutex};

#[derive(Default)]
pub struct RtpFastH265Pay {
    base: NalPayBase<H265>,
    aggregate: Mutex<AggregateMode>,
}

#[glib::object_subclass]
impl ObjectSubclass for RtpFastH265Pay {
    const NAME: &'static str = "GstRtpFastH265Pay";
    type Type = super::RtpFastH265Pay;
    type ParentType = gst_rtp::RTPBasePayload;
}

impl ObjectImpl for RtpFastH265Pay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut v = common_properties();
            v.push(
                glib::ParamSpecEnum::builder_with_default("aggregate-mode", AggregateMode::None)
                    .nick("Attempt to use aggregate packets")
                    .blurb("Bundle suitable SPS/PPS NAL units into aggregate packets.")
                    .mutable_playing()
                    .build(),
            );
            v
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if pspec.name() == "aggregate-mode" {
            let mode: AggregateMode = value.get().unwrap();
            *self.aggregate.lock().unwrap() = mode;
            self.base.set_aggregate(mode.into());
        } else {
            self.base
                .set_common_property(self.obj().upcast_ref(), value, pspec);
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        if pspec.name() == "aggregate-mode" {
            self.aggregate.lock().unwrap().to_value()
        } else {
            self.base.common_property(self.obj().upcast_ref(), pspec)
        }
    }
}

impl GstObjectImpl for RtpFastH265Pay {}

impl ElementImpl for RtpFastH265Pay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "RTP H265 payloader (rsrtpfast)",
                "Codec/Payloader/Network/RTP",
                "Payload-encode H265 video into RTP packets (RFC 7798), drop-in for rtph265pay",
                "rsrtpfast developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let sink = gst::Caps::builder_full()
                .structure(
                    gst::Structure::builder("video/x-h265")
                        .field("stream-format", gst::List::new(["hvc1", "hev1"]))
                        .field("alignment", "au")
                        .build(),
                )
                .structure(
                    gst::Structure::builder("video/x-h265")
                        .field("stream-format", "byte-stream")
                        .field("alignment", gst::List::new(["nal", "au"]))
                        .build(),
                )
                .build();
            let src = gst::Caps::builder("application/x-rtp")
                .field("media", "video")
                .field("payload", gst::IntRange::new(96, 127))
                .field("clock-rate", 90000)
                .field("encoding-name", "H265")
                .build();
            vec![
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &sink,
                )
                .unwrap(),
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &src,
                )
                .unwrap(),
            ]
        });
        TEMPLATES.as_ref()
    }
}

impl RTPBasePayloadImpl for RtpFastH265Pay {
    fn set_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        self.base.set_caps(self.obj().upcast_ref(), caps)
    }

    fn handle_buffer(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.base.handle_buffer(self.obj().upcast_ref(), buffer)
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        if let Some(Err(err)) = self.base.sink_event(self.obj().upcast_ref(), &event) {
            gst::debug!(
                crate::elements::base::nal_pay::CAT,
                imp = self,
                "drain on EOS failed: {:?}",
                err
            );
        }
        self.parent_sink_event(event)
    }
}
