//! Shared implementation of the raw-audio depayloaders (L16, L24) on
//! `GstRtpFastBaseDepay`: output caps from the RTP caps (the layout logic is
//! in `core::audio`), one audio buffer per packet.
//!
//! Big-endian output (what the stock elements produce) is zero-copy: the
//! output buffer's only memory is a view of the packet's payload, and the
//! buffer itself is recycled (`pool::acquire_view_buffer`). Little-endian
//! output (offered beyond stock) and the stock channel reordering of some
//! multichannel layouts copy the payload once into a pooled buffer.

use super::depay::{RtpFastBaseDepay, RtpFastBaseDepayExt, RtpPacket};
use super::lock;
use crate::core::audio::{self, AudioLayout, FieldValue, RtpAudioFields, SampleFormat};
use crate::core::byteswap;
use crate::elements::base::warn_limit::warn_limited;
use gst::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{LazyLock, Mutex};

pub static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rtpfastrawaudiodepay",
        gst::DebugColorFlags::empty(),
        Some("rsrtpfast raw audio (L16/L24) depayloaders"),
    )
});

#[derive(Default)]
struct State {
    layout: Option<AudioLayout>,
    little_endian: bool,
}

pub struct RawAudioDepay {
    format: SampleFormat,
    state: Mutex<State>,
    /// Packets dropped here for their payload (empty, partial frames),
    /// added to the base class's `malformed` and `dropped`.
    malformed: AtomicU64,
}

impl RawAudioDepay {
    pub fn new(format: SampleFormat) -> Self {
        RawAudioDepay {
            format,
            state: Mutex::new(State::default()),
            malformed: AtomicU64::new(0),
        }
    }

    pub fn extend_stats(&self, s: &mut gst::Structure) {
        let ours = self.malformed.load(Relaxed);
        for field in ["malformed", "dropped"] {
            let n = s.get::<u64>(field).unwrap_or(0);
            s.set(field, n + ours);
        }
    }

    pub fn set_caps(
        &self,
        obj: &RtpFastBaseDepay,
        caps: &gst::Caps,
    ) -> Result<(), gst::LoggableError> {
        let s = caps
            .structure(0)
            .ok_or_else(|| gst::loggable_error!(CAT, "not-negotiated: empty caps"))?;
        let int_or_str = |field: &str| -> Option<FieldValue<'_>> {
            if let Ok(v) = s.get::<&str>(field) {
                Some(FieldValue::Str(v))
            } else {
                s.get::<i32>(field).ok().map(|v| FieldValue::Int(v as i64))
            }
        };
        let fields = RtpAudioFields {
            payload: s.get::<i32>("payload").ok(),
            clock_rate: int_or_str("clock-rate"),
            encoding_params: int_or_str("encoding-params"),
            channels: int_or_str("channels"),
            channel_order: s.get::<&str>("channel-order").ok(),
        };
        // The sink pad accepts caps that merely lack template fields (so
        // that what is missing gets named): check the encoding here.
        let name = match self.format {
            SampleFormat::S16 => "L16",
            SampleFormat::S24 => "L24",
        };
        match s.get::<&str>("encoding-name") {
            Ok(n) if n.eq_ignore_ascii_case(name) => {}
            Err(_)
                if self.format == SampleFormat::S16 && matches!(fields.payload, Some(10 | 11)) => {}
            other => {
                let found = match other {
                    Ok(n) => format!("is {n}"),
                    Err(_) => "missing".to_string(),
                };
                return Err(gst::loggable_error!(
                    CAT,
                    "not-negotiated: encoding-name {} ({} expected) in {}",
                    found,
                    name,
                    caps
                ));
            }
        }
        let layout = AudioLayout::from_rtp_caps(self.format, &fields)
            .map_err(|e| gst::loggable_error!(CAT, "not-negotiated: {} in {}", e, caps))?;
        if layout.unpositioned {
            gst::element_warning!(
                obj,
                gst::StreamError::Decode,
                [
                    "Unknown channel order '{}' for {} channels",
                    fields.channel_order.unwrap_or("(NULL)"),
                    layout.channels
                ]
            );
        }
        let little_endian = self.choose_little_endian(obj, &layout);
        let out = self.output_caps(&layout, little_endian);
        gst::debug!(CAT, obj = obj, "Output caps {}", out);
        let mut state = lock(&self.state);
        state.layout = Some(layout);
        state.little_endian = little_endian;
        drop(state);
        if !obj.set_src_caps(&out) {
            return Err(gst::loggable_error!(
                CAT,
                "not-negotiated: downstream refused {}",
                out
            ));
        }
        Ok(())
    }

    fn output_caps(&self, layout: &AudioLayout, little_endian: bool) -> gst::Caps {
        let (be, le) = self.format.format_names();
        let mut b = gst::Caps::builder("audio/x-raw")
            .field("format", if little_endian { le } else { be })
            .field("layout", "interleaved")
            .field("rate", layout.rate as i32)
            .field("channels", layout.channels as i32);
        if let Some(mask) = layout.channel_mask {
            b = b.field("channel-mask", gst::Bitmask::new(mask));
        }
        b.build()
    }

    /// Big-endian unless downstream does not take it or prefers
    /// little-endian: the first format of downstream's caps (in its order)
    /// that we can output for this layout.
    fn choose_little_endian(&self, obj: &RtpFastBaseDepay, layout: &AudioLayout) -> bool {
        let (be, le) = self.format.format_names();
        let mut ours = self.output_caps(layout, false);
        ours.make_mut()
            .structure_mut(0)
            .unwrap()
            .set("format", gst::List::new([be, le]));
        // Unfiltered: a filter would put our order first.
        let peer = obj.src_pad().peer_query_caps(None);
        let both = peer.intersect_with_mode(&ours, gst::CapsIntersectMode::First);
        let first = both.structure(0).and_then(|s| {
            s.get::<&str>("format")
                .ok()
                .map(str::to_string)
                .or_else(|| {
                    let list = s.get::<gst::List>("format").ok()?;
                    list.first()?.get::<String>().ok()
                })
        });
        gst::debug!(CAT, obj = obj, "Downstream takes {} -> {:?}", peer, first);
        first.as_deref() == Some(le)
    }

    pub fn handle_packet(
        &self,
        obj: &RtpFastBaseDepay,
        packet: &RtpPacket<'_>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        if obj.src_pad().check_reconfigure() {
            self.renegotiate(obj);
        }
        let state = lock(&self.state);
        let Some(layout) = state.layout.as_ref() else {
            return Err(gst::FlowError::NotNegotiated);
        };
        let payload = packet.payload;
        if let Err(why) = audio::check_payload(payload.len(), layout.frame_bytes()) {
            drop(state);
            self.malformed
                .store(self.malformed.load(Relaxed) + 1, Relaxed);
            warn_limited!(
                obj.drop_warnings(),
                CAT,
                obj = obj,
                "Dropping packet seq {}: {:?}",
                packet.seq,
                why
            );
            return Ok(gst::FlowSuccess::Ok);
        }
        let swap = state.little_endian;
        let mut buffer = match (&layout.reorder, swap) {
            (None, false) => match packet.payload_views() {
                Some(views) => {
                    let start = packet.payload_offset();
                    crate::pool::acquire_view_buffer(&views, start..start + payload.len())
                }
                None => crate::pool::acquire_filled(payload.len(), |d| d.copy_from_slice(payload)),
            },
            (None, true) => {
                let level = obj.simd_level();
                crate::pool::acquire_filled(payload.len(), |d| match self.format {
                    SampleFormat::S16 => byteswap::swap16_copy(level, payload, d),
                    SampleFormat::S24 => byteswap::swap24_copy(level, payload, d),
                })
            }
            (Some(map), swap) => crate::pool::acquire_filled(payload.len(), |d| {
                audio::reorder_copy(payload, d, self.format.bytes(), map, swap)
            }),
        };
        drop(state);
        let b = buffer.get_mut().expect("a fresh buffer is writable");
        // The stock base class gives the output the input's duration.
        b.set_duration(packet.buffer.duration());
        // As stock's payload sub-buffer after gst_rtp_drop_non_audio_meta:
        // the packet's untagged and audio metas (nothing to do without).
        super::copy_rtp_metas(packet.buffer, b, Some("audio"));
        if packet.marker {
            // A talk spurt starts (RFC 3551 §4.1), as stock marks it.
            b.set_flags(gst::BufferFlags::RESYNC);
        }
        obj.push(buffer)
    }

    /// Downstream asked to renegotiate (e.g. a capsfilter changed): pick
    /// the byte order again and resend caps.
    fn renegotiate(&self, obj: &RtpFastBaseDepay) {
        let Some(layout) = lock(&self.state).layout.clone() else {
            return;
        };
        let little_endian = self.choose_little_endian(obj, &layout);
        let out = self.output_caps(&layout, little_endian);
        if obj.src_pad().current_caps().as_ref() == Some(&out) {
            // Nothing changed (the flag was only the link's or an upstream
            // element's): no second caps event, as stock sends none.
            return;
        }
        if obj.set_src_caps(&out) {
            lock(&self.state).little_endian = little_endian;
        } else {
            gst::warning!(CAT, obj = obj, "Downstream refused {}", out);
            obj.src_pad().mark_reconfigure();
        }
    }
}

/// The stock element's pad templates, with little-endian added to src.
pub fn pad_templates(format: SampleFormat) -> Vec<gst::PadTemplate> {
    let (be, le) = format.format_names();
    let rtp = |name: &str| {
        gst::Structure::builder("application/x-rtp")
            .field("media", "audio")
            .field("clock-rate", gst::IntRange::new(1, i32::MAX))
            .field("encoding-name", name.to_string())
            .build()
    };
    let sink = match format {
        SampleFormat::S16 => gst::Caps::builder_full()
            .structure(rtp("L16"))
            .structure(
                gst::Structure::builder("application/x-rtp")
                    .field("media", "audio")
                    .field("payload", gst::List::new([10i32, 11]))
                    .field("clock-rate", gst::IntRange::new(1, i32::MAX))
                    .build(),
            )
            .build(),
        SampleFormat::S24 => gst::Caps::builder_full().structure(rtp("L24")).build(),
    };
    let src = gst::Caps::builder("audio/x-raw")
        .field("format", gst::List::new([be, le]))
        .field("layout", "interleaved")
        .field("rate", gst::IntRange::new(1, i32::MAX))
        .field("channels", gst::IntRange::new(1, i32::MAX))
        .build();
    super::pad_templates(&sink, &src)
}
