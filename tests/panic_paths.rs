//! Panics outside the chain function: in a sink pad event handler and in a
//! state change. With `RSRTPFAST_TEST_PANIC=sink-event,change-state` (read
//! once per process, so this file is its own test binary) the bases panic
//! on a custom downstream event and on PLAYING→PAUSED. The process
//! survives, an element ERROR naming the panic reaches the bus, buffers get
//! a flow error from then on, and the element still shuts down.
//!
//! The sink event panic is caught by our bases' pad functions, the state
//! change one by gstreamer-rs's change_state trampoline; both mark
//! gstreamer-rs's own per-instance flag.

mod common;
use common::{bus_error, pcm_buffer, rtp_l16_packet, PCM_CAPS, RTP_L16_CAPS};
use gst::prelude::*;
use gstrsrtpfast::elements::base::depay::{RtpFastBaseDepay, RtpFastBaseDepayExt};
use gstrsrtpfast::elements::base::pay::{RtpFastBasePay, RtpFastBasePayExt};

fn init() {
    // Before the plugin's first use reads it.
    std::env::set_var("RSRTPFAST_TEST_PANIC", "sink-event,change-state");
    common::init();
}

/// A harness (with a bus of its own) once the panic sites are set.
fn harness(factory: &str, src_caps: &str) -> (gst_check::Harness, gst::Bus) {
    init();
    common::harness_with_bus(factory, src_caps, None)
}

fn panicking_event() -> gst::Event {
    gst::event::CustomDownstream::new(gst::Structure::new_empty("rsrtpfast-test"))
}

fn event_panic_becomes_an_error(factory: &str, caps: &str, buffer: gst::Buffer) {
    let (mut h, bus) = harness(factory, caps);
    // Streaming works before.
    assert_eq!(
        h.push(buffer.clone()),
        Ok(gst::FlowSuccess::Ok),
        "{factory}"
    );
    assert!(bus_error(&bus).is_none());
    // The handler panics: the event is refused, nothing unwinds into the
    // harness.
    assert!(!h.push_event(panicking_event()), "{factory}: event refused");
    let (error, debug) = bus_error(&bus).expect("an ERROR message on the bus");
    assert!(
        error.contains("Panicked") || debug.contains("Panicked"),
        "{factory}: {error} / {debug}"
    );
    // From then on buffers get a flow error and events are refused.
    for _ in 0..3 {
        assert_eq!(
            h.push(buffer.clone()),
            Err(gst::FlowError::Error),
            "{factory}"
        );
    }
    assert!(
        !h.push_event(gst::event::Eos::new()),
        "{factory}: EOS refused"
    );
    assert!(bus_error(&bus).is_none(), "{factory}: one ERROR only");
    // gstreamer-rs's own flag is the one set, and its trampolines, which
    // ask `panicked()` (a query, an event on the element), answer.
    let element = h.element().unwrap();
    let flagged = match element.downcast_ref::<RtpFastBasePay>() {
        Some(pay) => pay.has_panicked(),
        None => element
            .downcast_ref::<RtpFastBaseDepay>()
            .unwrap()
            .has_panicked(),
    };
    assert!(flagged, "{factory}: gstreamer-rs's flag set");
    let mut q = gst::query::Latency::new();
    let _ = element.query(&mut q);
    let _ = element.send_event(gst::event::FlushStart::new());
    // Dropping the harness takes the element to NULL and asserts success.
    drop(h);
}

#[test]
fn payloader_event_panic_becomes_an_element_error() {
    event_panic_becomes_an_error("rtpfastL16pay", PCM_CAPS, pcm_buffer());
}

#[test]
fn depayloader_event_panic_becomes_an_element_error() {
    event_panic_becomes_an_error("rtpfastL16depay", RTP_L16_CAPS, rtp_l16_packet());
}

fn state_change_panic_becomes_an_error(factory: &str, caps: &str, buffer: gst::Buffer) {
    let (mut h, bus) = harness(factory, caps);
    assert_eq!(
        h.push(buffer.clone()),
        Ok(gst::FlowSuccess::Ok),
        "{factory}"
    );
    let element = h.element().unwrap();
    // PLAYING→PAUSED panics: a downward change still succeeds.
    assert!(
        element.set_state(gst::State::Paused).is_ok(),
        "{factory}: downward change after a panic succeeds"
    );
    let (error, debug) = bus_error(&bus).expect("an ERROR message on the bus");
    assert!(
        error.contains("Panicked") || debug.contains("Panicked"),
        "{factory}: {error} / {debug}"
    );
    // An upward change is refused from then on.
    assert!(
        element.set_state(gst::State::Playing).is_err(),
        "{factory}: upward change refused after a panic"
    );
    assert_eq!(h.push(buffer), Err(gst::FlowError::Error), "{factory}");
    assert!(
        element.set_state(gst::State::Null).is_ok(),
        "{factory}: to NULL"
    );
    // Again (gst_harness_teardown does it on drop): a same-state change
    // after a panic succeeds too.
    assert!(
        element.set_state(gst::State::Null).is_ok(),
        "{factory}: NULL again"
    );
    drop(h);
}

#[test]
fn payloader_state_change_panic_becomes_an_element_error() {
    state_change_panic_becomes_an_error("rtpfastL16pay", PCM_CAPS, pcm_buffer());
}

#[test]
fn depayloader_state_change_panic_becomes_an_element_error() {
    state_change_panic_becomes_an_error("rtpfastL16depay", RTP_L16_CAPS, rtp_l16_packet());
}
