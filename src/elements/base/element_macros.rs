//! The GObject boilerplate of a NAL payloader / depayloader element, written
//! once: each element's `imp.rs` names its type, codec and metadata, and all
//! behaviour lives in `NalPayBase` / `NalDepayBase`.

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
                if pad.direction() == gst::PadDirection::Sink {
                    match query.view_mut() {
                        // Offer upstream the shared pool and its recycling allocator.
                        gst::QueryViewMut::Allocation(q) => {
                            crate::pool::propose_allocation(q);
                            return true;
                        }
                        // Sink caps follow downstream's profile / level, like stock.
                        gst::QueryViewMut::Caps(q) => {
                            let obj = self.obj();
                            let allowed = gst_rtp::prelude::RTPBasePayloadExtManual::src_pad(&*obj)
                                .peer_query_caps(None);
                            let caps = crate::elements::base::profile_caps::nal_sink_caps::<
                                $codec,
                            >(
                                &pad.pad_template_caps(),
                                Some(&allowed),
                                q.filter_owned().as_ref(),
                            );
                            q.set_result(&caps);
                            return true;
                        }
                        _ => {}
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

/// The whole `imp` of a NAL depayloader element.
macro_rules! nal_depayloader_imp {
    (
        type: $ty:ident,
        codec: $codec:ty,
        gtype: $gtype:literal,
        long_name: $long:literal,
        description: $desc:literal $(,)?
    ) => {
        use crate::elements::base::nal_depay::{pad_templates, properties, NalDepayBase};
        use gst::glib;
        use gst::prelude::*;
        use gst::subclass::prelude::*;
        use gst_rtp::subclass::prelude::*;
        use std::sync::LazyLock;

        #[derive(Default)]
        pub struct $ty {
            base: NalDepayBase<$codec>,
        }

        #[glib::object_subclass]
        impl ObjectSubclass for $ty {
            const NAME: &'static str = $gtype;
            type Type = super::$ty;
            type ParentType = gst_rtp::RTPBaseDepayload;
        }

        impl ObjectImpl for $ty {
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
                NalDepayBase::<$codec>::install_allocation_answer(self.obj().upcast_ref());
            }
        }

        impl GstObjectImpl for $ty {}

        impl ElementImpl for $ty {
            fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
                static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
                    gst::subclass::ElementMetadata::new(
                        $long,
                        "Codec/Depayloader/Network/RTP",
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

            fn post_message(&self, msg: gst::Message) -> bool {
                self.base.note_message(self.obj().upcast_ref(), &msg);
                self.parent_post_message(msg)
            }
        }

        impl RTPBaseDepayloadImpl for $ty {
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
    };
}

pub(crate) use {nal_depayloader_imp, nal_payloader_imp};
