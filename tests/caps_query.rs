//! The payloaders' sink CAPS query follows what downstream accepts, like
//! rtph264pay / rtph265pay: H.264 `profile-level-id` and H.265
//! `profile-id` / `level-id` / `tier-flag` in the RTP caps become the
//! `profile` / `level` / `tier` upstream may use, so an encoder negotiates
//! the same stream through our payloader as through the stock one.
//!
//! Two checks against the installed stock elements: the caps the sink pad
//! answers (many downstream caps, odd ones included), and what x264enc /
//! x265enc actually negotiate in a running pipeline.

mod common;

use common::{init, Codec};
use gst::prelude::*;

fn pay_names(codec: Codec) -> (&'static str, &'static str) {
    match codec {
        Codec::H264 => ("rtph264pay", "rtpfasth264pay"),
        Codec::H265 => ("rtph265pay", "rtpfasth265pay"),
    }
}

/// What `pay`'s sink pad answers to a CAPS query (with `filter`) when its
/// src pad is linked to a capsfilter with `downstream` (unlinked if `None`).
fn sink_query(pay: &str, downstream: Option<&gst::Caps>, filter: Option<&gst::Caps>) -> gst::Caps {
    init();
    let pay = gst::ElementFactory::make(pay).build().unwrap();
    // Kept alive until the query is done.
    let _capsfilter = downstream.map(|caps| {
        let cf = gst::ElementFactory::make("capsfilter")
            .property("caps", caps)
            .build()
            .unwrap();
        // No caps check, so EMPTY downstream links too.
        pay.static_pad("src")
            .unwrap()
            .link_full(&cf.static_pad("sink").unwrap(), gst::PadLinkCheck::empty())
            .unwrap();
        cf
    });
    pay.static_pad("sink").unwrap().query_caps(filter)
}

/// Compare our sink answer with stock's for `downstream` and `filter`.
fn assert_query_like_stock(codec: Codec, downstream: Option<&str>, filter: Option<&str>) {
    init();
    let (stock, ours) = pay_names(codec);
    let parse = |s: &str| {
        s.parse::<gst::Caps>()
            .unwrap_or_else(|e| panic!("caps `{s}`: {e}"))
    };
    let downstream = downstream.map(parse);
    let filter = filter.map(parse);
    let want = sink_query(stock, downstream.as_ref(), filter.as_ref());
    let got = sink_query(ours, downstream.as_ref(), filter.as_ref());
    // Our templates are supersets (H.264 `avc3`, H.265 `hev1`): narrow our
    // answer to stock's template, keeping our order.
    let stock_template = gst::ElementFactory::find(stock)
        .unwrap()
        .static_pad_templates()
        .iter()
        .find(|t| t.direction() == gst::PadDirection::Sink)
        .unwrap()
        .caps();
    let got = got.intersect_with_mode(&stock_template, gst::CapsIntersectMode::First);
    assert!(
        got.is_strictly_equal(&want),
        "{ours} vs {stock}, downstream {downstream:?}, filter {filter:?}:\n ours  {got}\n stock {want}"
    );
}

#[test]
fn h264_sink_query_like_stock() {
    let cases: &[Option<&str>] = &[
        None,
        Some("EMPTY"),
        Some("ANY"),
        Some("application/x-rtp"),
        Some("application/x-rtp,profile-level-id=42e01f"),
        Some("application/x-rtp,profile-level-id=4d0028"),
        Some("application/x-rtp,profile-level-id=640c1f"),
        Some("application/x-rtp,profile-level-id=64001f"),
        Some("application/x-rtp,profile-level-id=42e00a"), // level 1
        Some("application/x-rtp,profile-level-id=42f00b"), // 1b
        Some("application/x-rtp,profile-level-id=42e00b"), // 1.1
        Some("application/x-rtp,profile-level-id=(string)640034"), // 5.2: past the list
        Some("application/x-rtp,profile-level-id=f4001f"), // high-4:4:4
        Some("application/x-rtp,profile-level-id=ff001f"), // unknown profile
        Some("application/x-rtp,profile-level-id=4200ff"), // unknown level
        Some("application/x-rtp,profile-level-id=zzzzzz"),
        Some("application/x-rtp,profile-level-id=0x4d00"),
        Some("application/x-rtp,profile-level-id=-4d001"),
        Some("application/x-rtp,profile-level-id=(string)\" 4d01f\""),
        Some("application/x-rtp,profile-level-id=4d1f"),
        Some("application/x-rtp,profile-level-id=42e01f00"),
        Some("application/x-rtp,profile-level-id=(string)\"\""),
        Some("application/x-rtp,profile-level-id=(int)4325407"),
        Some("application/x-rtp,profile=main"),
        Some("application/x-rtp,profile=(int)3"),
        Some("application/x-rtp,profile-level-id=zz,profile=high"),
        Some("application/x-rtp,profile-level-id=4d0028,profile=high"),
        Some("application/x-rtp,profile-level-id=(string)4d00zz"),
        Some("application/x-rtp,profile-level-id=(string)+4d01f"),
        Some("application/x-rtp,profile-level-id={42e01f,4d0028}"),
        Some("application/x-rtp,profile-level-id=42e01f;application/x-rtp,profile-level-id=4d0028"),
        Some("application/x-rtp,profile-level-id=4d0028;application/x-rtp"),
        Some("application/x-rtp;application/x-rtp,profile-level-id=42e01f"),
        Some("application/x-rtp,profile-level-id=42e01f;application/x-rtp,profile-level-id=42e01f"),
    ];
    let filters: &[Option<&str>] = &[
        None,
        Some("video/x-h264,profile=main"),
        Some("video/x-h264,stream-format=avc;video/x-h264,stream-format=byte-stream"),
        Some("video/x-h264,level={3,2}"),
    ];
    for d in cases {
        for f in filters {
            assert_query_like_stock(Codec::H264, *d, *f);
        }
    }
}

#[test]
fn h265_sink_query_like_stock() {
    let cases: &[Option<&str>] = &[
        None,
        Some("EMPTY"),
        Some("ANY"),
        Some("application/x-rtp"),
        Some("application/x-rtp,profile-id=(string)1"),
        Some("application/x-rtp,profile-id=(string)2"),
        Some("application/x-rtp,profile-id=(string)3"),
        Some("application/x-rtp,profile-id=(string)4"),
        Some("application/x-rtp,profile-id=(string)5"),
        Some("application/x-rtp,profile-id=(string)0"),
        Some("application/x-rtp,profile-id=(string)31"),
        Some("application/x-rtp,profile-id=(string)32"),
        Some("application/x-rtp,profile-id=(string)-0"),
        Some("application/x-rtp,profile-id=(string)-1"),
        Some("application/x-rtp,profile-id=(string)+2"),
        Some("application/x-rtp,profile-id=(string)\" 1\""),
        Some("application/x-rtp,profile-id=(string)\"1 \""),
        Some("application/x-rtp,profile-id=(string)1x"),
        Some("application/x-rtp,profile-id=(string)\"\""),
        Some("application/x-rtp,profile-id=(string)99999999999999999999999"),
        Some("application/x-rtp,profile-id=(int)1"),
        Some("application/x-rtp,profile-id=(string)1,level-id=(string)93,tier-flag=(string)0"),
        Some("application/x-rtp,profile-id=(string)1,level-id=(string)30"),
        Some("application/x-rtp,profile-id=(string)1,level-id=(string)186,tier-flag=(string)1"),
        Some("application/x-rtp,level-id=(string)60"),
        Some("application/x-rtp,level-id=(string)255"),
        Some("application/x-rtp,level-id=(string)256"),
        Some("application/x-rtp,level-id=(string)0"),
        Some("application/x-rtp,tier-flag=(string)1"),
        Some("application/x-rtp,tier-flag=(string)2"),
        Some("application/x-rtp,profile-id=(string)1;application/x-rtp,profile-id=(string)2"),
        Some("application/x-rtp,profile-id=(string)1;application/x-rtp"),
        Some("application/x-rtp;application/x-rtp,profile-id=(string)1"),
    ];
    let filters: &[Option<&str>] = &[
        None,
        Some("video/x-h265,profile=main"),
        Some("video/x-h265,stream-format=hvc1;video/x-h265,stream-format=byte-stream"),
    ];
    for d in cases {
        for f in filters {
            assert_query_like_stock(Codec::H265, *d, *f);
        }
    }
}

/// What the encoder negotiates: its src caps' `profile`, `level`, `tier`,
/// or the error when the pipeline fails.
#[derive(Debug, PartialEq, Eq)]
enum Negotiated {
    Fields(Vec<(String, String)>),
    Failed {
        message: String,
        not_negotiated: bool,
    },
}

fn negotiate(codec: Codec, pay: &str, downstream: &str) -> Negotiated {
    init();
    let enc = match codec {
        Codec::H264 => "x264enc",
        Codec::H265 => "x265enc",
    };
    let desc = format!(
        "videotestsrc num-buffers=2 ! video/x-raw,width=320,height=240,framerate=30/1 ! \
         {enc} name=enc ! {pay} ! application/x-rtp{downstream} ! fakesink"
    );
    let pipeline = gst::parse::launch(&desc).unwrap();
    let bin = pipeline.downcast_ref::<gst::Bin>().unwrap();
    let enc_src = bin.by_name("enc").unwrap().static_pad("src").unwrap();
    let _ = pipeline.set_state(gst::State::Playing);
    let msg = pipeline
        .bus()
        .unwrap()
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(60),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .unwrap_or_else(|| panic!("`{desc}` timed out"));
    let caps = enc_src.current_caps();
    pipeline.set_state(gst::State::Null).unwrap();
    match msg.view() {
        gst::MessageView::Error(e) => Negotiated::Failed {
            message: e.error().to_string(),
            not_negotiated: e.debug().is_some_and(|d| d.contains("not-negotiated")),
        },
        _ => {
            let caps = caps.unwrap_or_else(|| panic!("`{desc}`: no encoder caps"));
            let s = caps.structure(0).unwrap();
            Negotiated::Fields(
                ["profile", "level", "tier"]
                    .iter()
                    .filter_map(|f| Some((f.to_string(), s.get::<String>(*f).ok()?)))
                    .collect(),
            )
        }
    }
}

fn assert_encoder_like_stock(codec: Codec, cases: &[&str]) {
    let (stock, ours) = pay_names(codec);
    for downstream in cases {
        let want = negotiate(codec, stock, downstream);
        let got = negotiate(codec, ours, downstream);
        eprintln!("{codec:?} downstream `application/x-rtp{downstream}`: {stock} {want:?} / {ours} {got:?}");
        assert_eq!(got, want, "{ours} vs {stock}, downstream `{downstream}`");
    }
}

#[test]
fn x264enc_negotiates_like_stock() {
    assert_encoder_like_stock(
        Codec::H264,
        &[
            "",
            ",profile-level-id=42e01f",
            ",profile-level-id=4d0028",
            ",profile-level-id=640c1f",
        ],
    );
}

#[test]
fn x265enc_negotiates_like_stock() {
    assert_encoder_like_stock(
        Codec::H265,
        &[
            "",
            ",profile-id=(string)1",
            ",profile-id=(string)1,level-id=(string)93,tier-flag=(string)0",
            ",profile-id=(string)2",
            // Not a string: stock ignores it.
            ",profile-id=1",
            ",tier-flag=(string)1",
            ",level-id=(string)60",
        ],
    );
}
