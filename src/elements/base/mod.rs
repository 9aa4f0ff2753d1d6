//! Shared machinery of all rsrtpfast payloaders and depayloaders.

pub mod element_macros;
pub mod nal_depay;
pub mod nal_pay;
#[cfg(test)]
pub mod pay_fast_path_tests;
pub mod stats;

use crate::core::nal::NalCodec;
use crate::elements::SimdMode;
use gst::glib;
use gst::prelude::*;
use std::sync::{Mutex, MutexGuard};

/// A poisoned lock still holds consistent counters and settings here.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Elementary-stream caps of codec `C`: the given length-prefixed formats
/// (access units) and byte-stream (NAL units or access units).
pub(crate) fn elementary_caps<C: NalCodec>(packed_formats: &[&str]) -> gst::Caps {
    // A single format is a plain string, as in the stock templates.
    let packed = match packed_formats {
        [one] => one.to_send_value(),
        many => gst::List::new(many.iter().copied()).to_send_value(),
    };
    gst::Caps::builder_full()
        .structure(
            gst::Structure::builder(C::CAPS_MEDIA)
                .field("stream-format", packed)
                .field("alignment", "au")
                .build(),
        )
        .structure(
            gst::Structure::builder(C::CAPS_MEDIA)
                .field("stream-format", "byte-stream")
                .field("alignment", gst::List::new(["nal", "au"]))
                .build(),
        )
        .build()
}

/// An element's always-present sink and src pad templates.
pub(crate) fn pad_templates(sink: &gst::Caps, src: &gst::Caps) -> Vec<gst::PadTemplate> {
    [
        ("sink", gst::PadDirection::Sink, sink),
        ("src", gst::PadDirection::Src, src),
    ]
    .into_iter()
    .map(|(name, dir, caps)| {
        gst::PadTemplate::new(name, dir, gst::PadPresence::Always, caps).unwrap()
    })
    .collect()
}

/// The `simd` and `stats` properties every rsrtpfast element has.
pub(crate) fn simd_and_stats_properties(simd_blurb: &str) -> [glib::ParamSpec; 2] {
    [
        glib::ParamSpecEnum::builder_with_default("simd", SimdMode::Auto)
            .nick("SIMD level")
            .blurb(simd_blurb)
            .mutable_ready()
            .build(),
        glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
            .nick("Statistics")
            .blurb(
                "Base-class statistics plus packets, bytes, drops, SIMD level and processing time",
            )
            .read_only()
            .build(),
    ]
}
