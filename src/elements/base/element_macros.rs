//! The GObject boilerplate of a NAL payloader element, written once: each
//! element's `imp.rs` names its type, codec and metadata, and all behaviour
//! lives in `NalPayBase`. (The depayloaders are small
//! `RtpFastBaseDepayImpl`s over `NalDepayBase`.)

/// The whole `imp` of a NAL payloader element.
macro_rules! nal_payloader_imp {
    (
        type: $ty:ident,
        codec: $codec:ty,
        gtype: $gtype:literal,
        aggregate_enum: $agg:ty,
        aggregate_blurb: $agg_blurb:literal,
        long_name: $long:literal,
        description: $desc:literal,
        extra_properties: [$($extra:expr),* $(,)?] $(,)?
    ) => {
        use crate::elements::base::nal_pay::{pad_templates, properties, NalPayBase};
        use gst::glib;
        use gst::prelude::*;
        use gst::subclass::prelude::*;
        use gst_rtp::subclass::prelude::*;
        use std::sync::LazyLock;

        #[derive(Default)]
        pub struct $ty {
            base: NalPayBase<$codec>,
        }

        #[glib::object_subclass]
        impl ObjectSubclass for $ty {
            const NAME: &'static str = $gtype;
            type Type = super::$ty;
            type ParentType = gst_rtp::RTPBasePayload;
        }

        impl ObjectImpl for $ty {
            fn properties() -> &'static [glib::ParamSpec] {
                static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
                    let aggregate = glib::ParamSpecEnum::builder_with_default(
                        "aggregate-mode",
                        <$agg>::default(),
                    )
                    .nick("Attempt to use aggregate packets")
                    .blurb($agg_blurb)
                    .mutable_playing()
                    .build();
                    let mut v = properties(aggregate);
                    v.extend([$($extra),*]);
                    v
                });
                PROPS.as_ref()
            }

            fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
                if pspec.name() == "aggregate-mode" {
                    self.base.set_aggregate_value(value);
                } else {
                    self.base.set_common_property(self.obj().upcast_ref(), value, pspec);
                }
            }

            fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
                if pspec.name() == "aggregate-mode" {
                    self.base.aggregate_value(pspec)
                } else {
                    self.base.common_property(self.obj().upcast_ref(), pspec)
                }
            }
        }

        impl GstObjectImpl for $ty {}

        impl ElementImpl for $ty {
            fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
                static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
                    gst::subclass::ElementMetadata::new(
                        $long,
                        "Codec/Payloader/Network/RTP",
                        $desc,
                        "rsrtpfast developers",
                    )
                });
                Some(&*META)
            }

            fn pad_templates() -> &'static [gst::PadTemplate] {
                static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> =
                    LazyLock::new(pad_templates::<$codec>);
                TEMPLATES.as_ref()
            }

            fn change_state(
                &self,
                transition: gst::StateChange,
            ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
                self.base.common.change_state(transition);
                self.parent_change_state(transition)
            }
        }

        impl RTPBasePayloadImpl for $ty {
            fn set_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
                self.base.set_caps(self.obj().upcast_ref(), caps)
            }

            fn handle_buffer(
                &self,
                buffer: gst::Buffer,
            ) -> Result<gst::FlowSuccess, gst::FlowError> {
                self.base.handle_buffer(self.obj().upcast_ref(), buffer)
            }

            fn query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
                // Offer upstream the shared pool and its recycling allocator.
                if pad.direction() == gst::PadDirection::Sink {
                    if let gst::QueryViewMut::Allocation(q) = query.view_mut() {
                        crate::pool::propose_allocation(q);
                        return true;
                    }
                }
                RTPBasePayloadImplExt::parent_query(self, pad, query)
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
    };
}

pub(crate) use nal_payloader_imp;
