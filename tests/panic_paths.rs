//! Panics outside the chain function: in a sink pad event handler and in a
//! state change. With `RSRTPFAST_TEST_PANIC=sink-event,change-state` (read
//! once per process, so this file is its own test binary) the bases panic
//! on a custom downstream event and on PLAYING→PAUSED. The process
//! survives, an element ERROR naming the panic reaches the bus, buffers get
//! a flow error from then on, and the element still shuts down.
//!
//! Our bases catch these themselves (not gstreamer-rs's trampolines), so
//! these paths are ours to prove.

mod common;
use gst::prelude::*;

fn init() {
    // Before the plugin's first use reads it.
    std::env::set_var("RSRTPFAST_TEST_PANIC", "sink-event,change-state");
    common::init();
}

const PCM_CAPS: &str = "audio/x-raw,format=S16BE,layout=interleaved,rate=48000,channels=2";
const RTP_L16_CAPS: &str =
    "application/x-rtp,media=audio,clock-rate=48000,encoding-name=L16,channels=2,payload=96";

fn pcm_buffer() -> gst::Buffer {
    init();
    let mut b = gst::Buffer::from_mut_slice(vec![0u8; 3840]);
    b.get_mut().unwrap().set_pts(gst::ClockTime::ZERO);
    b
}

fn rtp_l16_packet() -> gst::Buffer {
    init();
    let mut v = vec![0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0x12, 0x34];
    v.extend_from_slice(&[0u8; 320]);
    gst::Buffer::from_mut_slice(v)
}

/// A harness around `factory` whose messages go to a bus of our own.
fn harness(factory: &str, src_caps: &str) -> (gst_check::Harness, gst::Bus) {
    init();
    let mut h = gst_check::Harness::new(factory);
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    h.set_src_caps_str(src_caps);
    (h, bus)
}

/// The text of the first ERROR on `bus`, if any.
fn error_on_bus(bus: &gst::Bus) -> Option<String> {
    while let Some(msg) = bus.pop() {
        if let gst::MessageView::Error(e) = msg.view() {
            return Some(format!("{} {:?}", e.error(), e.debug()));
        }
    }
    None
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
    assert!(error_on_bus(&bus).is_none());
    // The handler panics: the event is refused, nothing unwinds into the
    // harness.
    assert!(!h.push_event(panicking_event()), "{factory}: event refused");
    let error = error_on_bus(&bus).expect("an ERROR message on the bus");
    assert!(error.contains("Panicked"), "{factory}: {error}");
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
    assert!(error_on_bus(&bus).is_none(), "{factory}: one ERROR only");
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
    let error = error_on_bus(&bus).expect("an ERROR message on the bus");
    assert!(error.contains("Panicked"), "{factory}: {error}");
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
