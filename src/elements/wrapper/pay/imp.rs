//! `rtpfastpay`: the RTP properties every payloader shares, kept and passed
//! on to the child; the rest through GstChildProxy.

use super::super::bin::WrapperCore;
use super::super::select::Role;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::LazyLock;

pub struct RtpFastPay {
    pub(in crate::elements::wrapper) core: WrapperCore,
}

#[glib::object_subclass]
impl ObjectSubclass for RtpFastPay {
    const NAME: &'static str = "GstRtpFastPay";
    type Type = super::RtpFastPay;
    type ParentType = gst::Bin;

    fn with_class(klass: &Self::Class) -> Self {
        let sink = klass.pad_template("sink").unwrap();
        let src = klass.pad_template("src").unwrap();
        RtpFastPay {
            core: WrapperCore::new(Role::Pay, &sink, &src),
        }
    }
}

/// `aggregate-mode` on the wrapper: the nicks every stock and rsrtpfast
/// NAL payloader's enum has, plus `default` (leave the child's own). An enum,
/// not a string, so that a bad value fails where it is set, as it fails on
/// the stock payloaders (gst-launch: "could not set property").
#[derive(Debug, Eq, PartialEq, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstRtpFastPayAggregateMode")]
pub enum AggregateMode {
    #[default]
    #[enum_value(name = "The payloader's own default", nick = "default")]
    Default = 0,
    #[enum_value(name = "Not aggregating", nick = "none")]
    None = 1,
    #[enum_value(
        name = "Aggregate what arrives together (zero latency)",
        nick = "zero-latency"
    )]
    ZeroLatency = 2,
    #[enum_value(name = "Aggregate into the largest STAP-A (H.264)", nick = "max-stap")]
    MaxStap = 3,
    #[enum_value(name = "Aggregate as much as fits", nick = "max")]
    Max = 4,
}

impl AggregateMode {
    fn from_nick(nick: &str) -> AggregateMode {
        match nick {
            "none" => Self::None,
            "zero-latency" => Self::ZeroLatency,
            "max-stap" => Self::MaxStap,
            "max" => Self::Max,
            _ => Self::Default,
        }
    }

    fn nick(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::None => "none",
            Self::ZeroLatency => "zero-latency",
            Self::MaxStap => "max-stap",
            Self::Max => "max",
        }
    }
}

/// The wrapper's own names for the properties it passes on.
const FORWARDED: [&str; 7] = [
    "mtu",
    "pt",
    "ssrc",
    "timestamp-offset",
    "seqnum-offset",
    "config-interval",
    "aggregate-mode",
];

impl ObjectImpl for RtpFastPay {
    fn constructed(&self) {
        self.parent_constructed();
        self.core.add_pads(self.obj().upcast_ref());
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut v = vec![
                glib::ParamSpecUInt::builder("mtu")
                    .nick("MTU")
                    .blurb("Maximum size of one packet (passed on to the payloader inside)")
                    .minimum(28)
                    .default_value(1400)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("pt")
                    .nick("payload type")
                    .blurb("The payload type of the packets (passed on)")
                    .maximum(0x7f)
                    .default_value(96)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("ssrc")
                    .nick("SSRC")
                    .blurb("The SSRC of the packets, default == random (passed on)")
                    .default_value(u32::MAX)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("timestamp-offset")
                    .nick("Timestamp Offset")
                    .blurb("Offset to add to all outgoing timestamps, default = random (passed on)")
                    .default_value(u32::MAX)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecInt::builder("seqnum-offset")
                    .nick("Sequence number Offset")
                    .blurb("Offset to add to all outgoing seqnum, -1 = random (passed on)")
                    .minimum(-1)
                    .maximum(65535)
                    .default_value(-1)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecInt::builder("config-interval")
                    .nick("SPS PPS Send Interval")
                    .blurb(
                        "Send parameter sets every this many seconds, 0 = off, -1 = with every \
                         IDR (passed on to payloaders that have it: H.264, H.265, ...)",
                    )
                    .minimum(-1)
                    .maximum(3600)
                    .default_value(0)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder::<AggregateMode>("aggregate-mode")
                    .nick("Aggregate mode")
                    .blurb(
                        "aggregate-mode of the payloader inside when it has one (H.264: none, \
                         zero-latency, max-stap; H.265: none, zero-latency, max), default = \
                         the payloader's own default",
                    )
                    .mutable_playing()
                    .build(),
                // gst-rtsp-server reads these from its payloader (RTP-Info).
                glib::ParamSpecUInt::builder("seqnum")
                    .nick("Sequence number")
                    .blurb("The RTP sequence number of the last processed packet (the child's)")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt::builder("timestamp")
                    .nick("Timestamp")
                    .blurb("The RTP timestamp of the last processed packet (the child's)")
                    .read_only()
                    .build(),
            ];
            v.extend(super::super::identity_properties());
            v.extend(crate::elements::base::common_properties(
                "SIMD level of the rsrtpfast payloader inside (stock ones have none)",
                crate::elements::base::stats::WRAPPER_STATS_BLURB,
            ));
            v
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        match pspec.name() {
            // Passed on by nick: the child's enum type is its own.
            "aggregate-mode" => {
                let mode = value.get::<AggregateMode>().unwrap_or_default();
                if mode == AggregateMode::Default {
                    self.core.unset_forwarded("aggregate-mode");
                } else {
                    self.core
                        .set_forwarded("aggregate-mode", &mode.nick().to_value());
                }
            }
            name if FORWARDED.contains(&name) => self.core.set_forwarded(name, value),
            _ if self.core.set_common_property(value, pspec) => {}
            other => unreachable!("property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "aggregate-mode" => self
                .core
                .forwarded_nick("aggregate-mode")
                .map(|n| AggregateMode::from_nick(&n))
                .unwrap_or_default()
                .to_value(),
            name if FORWARDED.contains(&name) => self.core.forwarded(pspec),
            "seqnum" | "timestamp" => self.core.forwarded(pspec),
            other => self
                .core
                .common_property(pspec)
                .unwrap_or_else(|| unreachable!("property {other}")),
        }
    }
}

impl GstObjectImpl for RtpFastPay {}

impl ElementImpl for RtpFastPay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "RTP payloader (rsrtpfast, any format)",
                "Codec/Payloader/Network/RTP",
                "Payloads whatever media arrives: with the rsrtpfast payloader for it when \
                 there is one (any registered rtpfast*pay whose sink caps fit: H.264, H.265, \
                 L16, L24, Opus, MP2T, raw video, and formats added later), else with the \
                 highest-ranked installed stock payloader that accepts the caps (VP8, VP9, \
                 AV1, PCMU, ...). \
                 A caps change to another format swaps the element inside. mtu, pt, ssrc, \
                 timestamp-offset, seqnum-offset, config-interval and aggregate-mode are \
                 passed on; other properties through the child, by its name (rtpfastpay rtpfasth264pay0::aggregate-mode=max-stap). \
                 Read active-element and native to see what was chosen. Rank none: never \
                 autoplugged.",
                "rsrtpfast developers",
            )
        });
        Some(&*META)
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        self.core
            .change_state(transition, || self.parent_change_state(transition))
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            crate::elements::base::pad_templates(&gst::Caps::new_any(), &gst::Caps::new_any())
        });
        TEMPLATES.as_ref()
    }
}

impl BinImpl for RtpFastPay {}
