//! The pool can be seen: with `GST_DEBUG=rtpfastpool:4` the ALLOCATION
//! offer names the element and its upstream, and upstream taking (activating)
//! the pool is logged too (issue 23, item 7).

mod common;

use gst::prelude::*;
use std::sync::{Arc, Mutex};

#[test]
fn offer_and_take_are_logged_at_info_naming_both_elements() {
    common::init();
    gst::log::set_active(true);
    // Also applies to the category when it is registered later.
    gst::log::set_threshold_from_string("rtpfastpool:4", false);
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let l = lines.clone();
    let f = gst::log::add_log_function(move |c, level, _, _, _, _, msg| {
        if c.name() == "rtpfastpool" && level == gst::DebugLevel::Info {
            if let Some(m) = msg.get() {
                l.lock().unwrap().push(m.to_string());
            }
        }
    });
    // videotestsrc (a GstBaseSrc) takes the first pool it is offered.
    let pipeline = gst::parse::launch(
        "videotestsrc name=cam num-buffers=3 ! video/x-raw,format=UYVY,width=320,height=240 \
         ! rtpfastvrawpay name=pay ! fakesink",
    )
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let msg = pipeline.bus().unwrap().timed_pop_filtered(
        gst::ClockTime::from_seconds(20),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    assert_eq!(msg.map(|m| m.type_()), Some(gst::MessageType::Eos));
    pipeline.set_state(gst::State::Null).unwrap();
    gst::log::remove_log_function(f);
    // recycled counts the acquisitions a returned buffer served: never more
    // than all acquisitions.
    let s = gstrsrtpfast::pool::stats();
    assert!(s.recycled <= s.acquired, "{s:?}");
    let lines = lines.lock().unwrap().clone();
    assert!(
        lines.iter().any(
            |m| m.contains("ALLOCATION") && m.contains("offered by pay to cam via capsfilter0")
        ),
        "no offer logged: {lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|m| m.contains("Upstream took the pool (offered by pay to cam via capsfilter0)")),
        "no take logged: {lines:?}"
    );
}
