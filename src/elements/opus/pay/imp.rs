//! `rtpfastopuspay`: one Opus packet per RTP packet (RFC 7587) on
//! `GstRtpFastBasePay`; the payload is a zero-copy view of the input.

use crate::core::opus::{self, PaySinkFields, TalkSpurt};
use crate::elements::base::lock;
use crate::elements::base::pay::RtpFastBasePayExt as _;
use crate::elements::base::pay::RtpFastBasePayImplExt as _;
use crate::elements::base::pay::{
    marker_flag, OutPacket, PacketTiming, RtpFastBasePay, RtpFastBasePayImpl,
};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rtpfastopuspay",
        gst::DebugColorFlags::empty(),
        Some("rsrtpfast Opus payloader"),
    )
});

const DEFAULT_DTX: bool = false;

#[derive(Default)]
pub struct RtpFastOpusPay {
    dtx: AtomicBool,
    spurt: Mutex<TalkSpurt>,
}

#[glib::object_subclass]
impl ObjectSubclass for RtpFastOpusPay {
    const NAME: &'static str = "GstRtpFastOpusPay";
    type Type = super::RtpFastOpusPay;
    type ParentType = RtpFastBasePay;
}

impl ObjectImpl for RtpFastOpusPay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![glib::ParamSpecBoolean::builder("dtx")
                .nick("Discontinuous Transmission")
                .blurb("If enabled, the payloader will not transmit empty packets")
                .default_value(DEFAULT_DTX)
                .mutable_playing()
                .build()]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        match pspec.name() {
            "dtx" => self.dtx.store(value.get().unwrap(), Ordering::Relaxed),
            other => unreachable!("property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "dtx" => self.dtx.load(Ordering::Relaxed).to_value(),
            other => unreachable!("property {other}"),
        }
    }
}

impl GstObjectImpl for RtpFastOpusPay {}

impl ElementImpl for RtpFastOpusPay {
    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        self.base_change_state(transition)
    }

    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "RTP Opus payloader (rsrtpfast)",
                "Codec/Payloader/Network/RTP",
                "Puts Opus audio in RTP packets (RFC 7587), drop-in for rtpopuspay",
                "rsrtpfast developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            crate::elements::base::pad_templates(&sink_template_caps(), &super::super::rtp_caps())
        });
        TEMPLATES.as_ref()
    }
}

/// The stock sink template: family 0 (any or 1–2 channels), family 1 with
/// 3–255 channels.
fn sink_template_caps() -> gst::Caps {
    gst::Caps::builder_full()
        .structure(
            gst::Structure::builder("audio/x-opus")
                .field("channel-mapping-family", 0)
                .build(),
        )
        .structure(family_caps(0, 1, 2))
        .structure(family_caps(1, 3, 255))
        .build()
}

fn family_caps(family: i32, min_channels: i32, max_channels: i32) -> gst::Structure {
    gst::Structure::builder("audio/x-opus")
        .field("channel-mapping-family", family)
        .field("channels", gst::IntRange::new(min_channels, max_channels))
        .build()
}

impl RtpFastBasePayImpl for RtpFastOpusPay {
    fn start(&self) {
        // As stock: a new stream starts a talk spurt (not a flush).
        lock(&self.spurt).restart();
    }

    fn set_sink_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let s = caps
            .structure(0)
            .ok_or_else(|| gst::loggable_error!(CAT, "not-negotiated: empty caps"))?;
        let sink = PaySinkFields {
            channels: s.get::<i32>("channels").ok(),
            stream_count: s.get::<i32>("stream-count").ok(),
            coupled_count: s.get::<i32>("coupled-count").ok(),
            channel_mapping: s.get::<gst::Array>("channel-mapping").ok().map(|a| {
                a.iter()
                    .map(|v| v.get::<i32>().unwrap_or_default())
                    .collect()
            }),
            rate: s.get::<i32>("rate").ok(),
        };
        // Named here: the base lets caps wrong only in these through (the
        // template's channel ranges per family; any positive rate).
        let family = s.get::<i32>("channel-mapping-family").unwrap_or(0);
        let channel_range = if family == 0 { 1..=2 } else { 3..=255 };
        if sink.channels.is_some_and(|c| !channel_range.contains(&c))
            || (sink.channels.is_none() && s.has_field("channels"))
        {
            return Err(gst::loggable_error!(
                CAT,
                "not-negotiated: caps field 'channels' not in {channel_range:?} \
                 (channel-mapping-family {family}) in {caps}"
            ));
        }
        if sink.rate.is_some_and(|r| r <= 0) || (sink.rate.is_none() && s.has_field("rate")) {
            return Err(gst::loggable_error!(
                CAT,
                "not-negotiated: caps field 'rate' must be a positive integer in {caps}"
            ));
        }
        // As stock: gst_value_can_intersect (a type check in 1.22, so OPUS
        // unless the field is not a string or list).
        let obj = self.obj();
        let base = obj.pay_base();
        let takes_opus = base
            .src_pad()
            .allowed_caps()
            .and_then(|allowed| {
                let v = allowed.structure(0)?.value("encoding-name").ok()?.clone();
                Some(v.can_intersect(&opus::ENCODING_OPUS.to_value()))
            })
            .unwrap_or(true);
        let out = opus::pay_out_caps(&sink, takes_opus);
        gst::debug!(CAT, imp = self, "{caps} -> {out:?}");
        let mut fields = gst::Structure::new_empty("unused");
        for (name, value) in &out.fields {
            fields.set(*name, value.as_str());
        }
        base.set_options("audio", out.encoding_name, opus::CLOCK_RATE);
        base.set_outcaps(&fields)
    }

    fn handle_buffer(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let len = buffer.size();
        let dtx = self.dtx.load(Ordering::Relaxed);
        let Some(marker) = lock(&self.spurt).frame(len, dtx) else {
            gst::log!(CAT, imp = self, "DTX: not sending {len}-byte frame");
            return Ok(gst::FlowSuccess::Ok);
        };
        let packet = OutPacket {
            marker,
            inline: &[],
            payload: 0..len,
            timing: None,
            // As rtpopuspay: the packet with the marker bit is flagged.
            flags: marker_flag(marker),
        };
        // As rtpopuspay, whose packets carry the input's PTS, DTS and
        // duration but not its offset: the RTP time comes from the PTS.
        let timing = PacketTiming {
            pts: buffer.pts(),
            dts: buffer.dts(),
            duration: buffer.duration(),
            offset: None,
            discont: false,
        };
        let obj = self.obj();
        obj.pay_base().push_packet(&buffer, timing, packet, |out| {
            super::super::copy_audio_metas(&buffer, out)
        })
    }

    /// As rtpopuspay: what downstream takes (OPUS/draft, MULTIOPUS) narrows
    /// the channel-mapping family, and a downstream `stereo` string
    /// (SDP `stereo=`) puts its channel count first.
    fn sink_caps(
        &self,
        template: &gst::Caps,
        allowed: Option<&gst::Caps>,
        filter: Option<&gst::Caps>,
    ) -> gst::Caps {
        let obj = self.obj();
        let src_template = obj.pay_base().src_pad().pad_template_caps();
        let peer = match allowed {
            Some(a) => src_template.intersect_with_mode(a, gst::CapsIntersectMode::First),
            None => src_template,
        };
        if peer.is_empty() {
            return peer;
        }
        let mut caps = template.clone();
        let opus_names = gst::Caps::builder("application/x-rtp")
            .field(
                "encoding-name",
                gst::List::new([opus::ENCODING_OPUS, opus::ENCODING_DRAFT]),
            )
            .build();
        if !peer.can_intersect(&opus_names) {
            let multi = gst::Caps::from(family_caps(1, 3, 255));
            caps = caps.intersect_with_mode(&multi, gst::CapsIntersectMode::First);
        }
        let multiopus = gst::Caps::builder("application/x-rtp")
            .field("encoding-name", opus::ENCODING_MULTIOPUS)
            .build();
        if !peer.can_intersect(&multiopus) {
            let mono_stereo = gst::Caps::from(family_caps(0, 1, 2));
            caps = caps.intersect_with_mode(&mono_stereo, gst::CapsIntersectMode::First);
        }
        let family = caps
            .structure(0)
            .and_then(|s| s.get::<i32>("channel-mapping-family").ok())
            .unwrap_or(0);
        if family == 0 {
            let channels = match peer.structure(0).and_then(|s| s.get::<&str>("stereo").ok()) {
                Some("1") => Some(2),
                Some("0") => Some(1),
                _ => None,
            };
            if let (Some(channels), Some(first)) = (channels, caps.structure(0)) {
                let mut preferred = gst::Caps::from(first.to_owned());
                preferred.make_mut().set("channels", channels);
                preferred.merge(caps);
                caps = preferred;
            }
        }
        match filter {
            Some(f) => caps.intersect_with_mode(f, gst::CapsIntersectMode::First),
            None => caps,
        }
    }
}
