//! `rtpfastmp2tdepay`: the TS packets of each RTP packet (RFC 2250) as one
//! buffer, on `GstRtpFastBaseDepay`, as rtpmp2tdepay 1.22 outputs them:
//! `skip-first-bytes` skipped, a partial TS packet at the end cut off, no
//! sync-byte check. The output is a zero-copy view of the payload in a
//! recycled buffer: nothing is allocated per packet.

use crate::core::mp2t::{self, DepayCut};
use crate::elements::base::depay::RtpFastBaseDepayImplExt as _;
use crate::elements::base::depay::{
    RtpFastBaseDepay, RtpFastBaseDepayExt, RtpFastBaseDepayImpl, RtpPacket,
};
use crate::elements::base::warn_limit::warn_limited;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::LazyLock;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rtpfastmp2tdepay",
        gst::DebugColorFlags::empty(),
        Some("rsrtpfast MPEG-TS depayloader"),
    )
});

const DEFAULT_SKIP_FIRST_BYTES: u32 = 0;

#[derive(Default)]
pub struct RtpFastMp2tDepay {
    skip_first_bytes: AtomicU32,
    /// Packets dropped for their payload: nothing after the skipped bytes,
    /// or less than one TS packet.
    dropped: AtomicU64,
    /// Packets whose payload ended in a partial TS packet (cut off).
    trimmed: AtomicU64,
    /// The bus warning for an empty packet was posted (once per stream: a
    /// flood of them must not fill an unread bus).
    warned_empty: AtomicBool,
}

#[glib::object_subclass]
impl ObjectSubclass for RtpFastMp2tDepay {
    const NAME: &'static str = "GstRtpFastMp2tDepay";
    type Type = super::RtpFastMp2tDepay;
    type ParentType = RtpFastBaseDepay;
}

impl ObjectImpl for RtpFastMp2tDepay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![glib::ParamSpecUInt::builder("skip-first-bytes")
                .nick("Skip first bytes")
                .blurb(
                    "The amount of bytes that need to be skipped at the beginning of the payload",
                )
                .default_value(DEFAULT_SKIP_FIRST_BYTES)
                .build()]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        match pspec.name() {
            "skip-first-bytes" => self.skip_first_bytes.store(value.get().unwrap(), Relaxed),
            other => unreachable!("property {other}"),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "skip-first-bytes" => self.skip_first_bytes.load(Relaxed).to_value(),
            other => unreachable!("property {other}"),
        }
    }
}

impl GstObjectImpl for RtpFastMp2tDepay {}

impl ElementImpl for RtpFastMp2tDepay {
    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        self.base_change_state(transition)
    }

    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "RTP MPEG Transport Stream depayloader (rsrtpfast)",
                "Codec/Depayloader/Network/RTP",
                "Extracts MPEG2 TS from RTP packets (RFC 2250), drop-in for rtpmp2tdepay",
                "rsrtpfast developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let sink = gst::Caps::builder_full()
                .structure(
                    gst::Structure::builder("application/x-rtp")
                        .field("media", "video")
                        .field("clock-rate", gst::IntRange::new(1, i32::MAX))
                        .field("encoding-name", gst::List::new(["MP2T", "MP2T-ES"]))
                        .build(),
                )
                .structure(
                    gst::Structure::builder("application/x-rtp")
                        .field("media", "video")
                        .field("payload", mp2t::PAYLOAD_TYPE as i32)
                        .field("clock-rate", gst::IntRange::new(1, i32::MAX))
                        .build(),
                )
                .build();
            crate::elements::base::pad_templates(&sink, &super::super::ts_caps())
        });
        TEMPLATES.as_ref()
    }
}

impl RtpFastMp2tDepay {
    #[cold]
    fn drop_packet(&self, packet: &RtpPacket<'_>, cut: &DepayCut) {
        self.dropped.store(self.dropped.load(Relaxed) + 1, Relaxed);
        match cut {
            DepayCut::Empty => {
                warn_limited!(
                    self.obj().drop_warnings(),
                    CAT,
                    imp = self,
                    "Packet {} was empty",
                    packet.seq
                );
                // Stock posts this warning for every such packet.
                if !self.warned_empty.swap(true, Relaxed) {
                    gst::element_imp_warning!(self, gst::StreamError::Decode, ["Packet was empty"]);
                }
            }
            _ => warn_limited!(
                self.obj().drop_warnings(),
                CAT,
                imp = self,
                "Dropping packet {}: {:?} (no whole TS packet)",
                packet.seq,
                cut
            ),
        }
    }
}

impl RtpFastBaseDepayImpl for RtpFastMp2tDepay {
    // One output buffer per packet: lists in, lists out.
    const LIST_OUTPUT: bool = true;

    fn start(&self) {
        self.warned_empty.store(false, Relaxed);
    }

    fn set_sink_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        // As stock: any clock rate (90 kHz when absent), the same output.
        gst::debug!(CAT, imp = self, "sink caps {caps}");
        let src = super::super::ts_caps();
        if self.obj().set_src_caps(&src) {
            Ok(())
        } else {
            Err(gst::loggable_error!(
                CAT,
                "not-negotiated: downstream refused {src}"
            ))
        }
    }

    fn handle_packet(&self, packet: &RtpPacket<'_>) -> Result<gst::FlowSuccess, gst::FlowError> {
        let skip = self.skip_first_bytes.load(Relaxed) as usize;
        let cut = mp2t::depay_cut(packet.payload.len(), skip);
        let DepayCut::Ts { range, leftover } = cut else {
            self.drop_packet(packet, &cut);
            return Ok(gst::FlowSuccess::Ok);
        };
        if leftover > 0 {
            self.trimmed.store(self.trimmed.load(Relaxed) + 1, Relaxed);
            warn_limited!(
                self.obj().drop_warnings(),
                CAT,
                imp = self,
                "We don't have an integral number of buffers (leftover: {leftover})"
            );
        }
        let at = packet.payload_offset();
        let input = packet.buffer;
        let region = at + range.start..at + range.end;
        let mut out = match packet.payload_views() {
            Some(views) => crate::pool::acquire_view_buffer(&views, region),
            // Several memories: share the region (allocates; unusual input).
            None => input
                .copy_region(gst::BufferCopyFlags::MEMORY, region)
                .map_err(|_| gst::FlowError::Error)?,
        };
        // Fresh, so writable. As stock's payload sub-buffer: the input's
        // flags and duration (the base sets PTS/DTS and DISCONT), and its
        // untagged metas.
        let b = out.make_mut();
        b.set_duration(input.duration());
        let flags = input.flags() - gst::BufferFlags::TAG_MEMORY;
        if !flags.is_empty() {
            b.set_flags(flags);
        }
        super::super::copy_untagged_metas(input, b);
        self.obj().push(out)
    }

    fn extend_stats(&self, stats: &mut gst::Structure) {
        let dropped = self.dropped.load(Relaxed);
        let trimmed = self.trimmed.load(Relaxed);
        let add = |stats: &mut gst::Structure, field: &str, n: u64| {
            let old = stats.get::<u64>(field).unwrap_or(0);
            stats.set(field, old + n);
        };
        // A cut-off partial TS packet is malformed input, though the rest
        // of the packet is delivered.
        add(stats, "malformed", dropped + trimmed);
        add(stats, "dropped", dropped);
        stats.set("trimmed", trimmed);
    }
}
