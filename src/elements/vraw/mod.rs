//! Raw video (RFC 4175): `rtpfastvrawpay`, `rtpfastvrawdepay`.

use gst::glib;
use gst::prelude::*;

pub mod depay;
pub mod pay;

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "rtpfastvrawpay",
        gst::Rank::SECONDARY,
        pay::RtpFastVRawPay::static_type(),
    )?;
    gst::Element::register(
        Some(plugin),
        "rtpfastvrawdepay",
        // One above the stock twin: autoplugging picks ours (README).
        gst::Rank::SECONDARY + 1,
        depay::RtpFastVRawDepay::static_type(),
    )
}

/// The RTP side of the payloader's template (stock's; the depayloader's
/// has no colorimetry).
fn rtp_caps(with_colorimetry: bool) -> gst::Caps {
    let mut s = gst::Structure::builder("application/x-rtp")
        .field("media", "video")
        .field("clock-rate", 90000i32)
        .field("encoding-name", "RAW")
        .field(
            "sampling",
            gst::List::new([
                "RGB",
                "RGBA",
                "BGR",
                "BGRA",
                "YCbCr-4:4:4",
                "YCbCr-4:2:2",
                "YCbCr-4:2:0",
                "YCbCr-4:1:1",
            ]),
        )
        .field("depth", gst::List::new(["8", "10", "12", "16"]))
        .build();
    if with_colorimetry {
        s.set("payload", gst::IntRange::new(96, 127));
        s.set(
            "colorimetry",
            gst::List::new(["BT601-5", "BT709-2", "SMPTE240M"]),
        );
    }
    gst::Caps::from(s)
}

/// The video side: the nine formats stock takes.
fn video_caps() -> gst::Caps {
    gst::Caps::builder("video/x-raw")
        .field(
            "format",
            gst::List::new(
                crate::core::vraw::ALL_SAMPLINGS
                    .iter()
                    .map(|s| s.format_name()),
            ),
        )
        .field("width", gst::IntRange::new(1, 32767))
        .field("height", gst::IntRange::new(1, 32767))
        .build()
}

/// The input's metas a raw video payloader/depayloader passes on, as the
/// stock ones do (`gst_rtp_copy_video_meta`): untagged ones and those tagged
/// `video` only (GstVideoMeta, tagged more, stays behind). `to` is a fresh
/// buffer without metas of its own; costs nothing when `from` has none.
fn copy_video_metas(from: &gst::BufferRef, to: &mut gst::BufferRef) {
    super::base::copy_rtp_metas(from, to, Some("video"))
}
