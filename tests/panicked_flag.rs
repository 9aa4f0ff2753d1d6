//! The bases use gstreamer-rs's own panicked flag and its standard
//! subclassing (default instance struct, chained `instance_init`, its
//! GstElement trampolines): gstreamer-rs APIs that ask an element whether it
//! `panicked()` work on our elements and their subclasses after a panic
//! instead of hitting the "instance not initialized correctly" `expect`
//! (which, inside one of its `extern "C"` trampolines, aborts the process).
//!
//! A subclass defined here panics in `handle_packet` (no `test-panic`
//! feature needed): the base catches it with gstreamer-rs's flag, the
//! element ERROR reaches the bus, and then the subclass's own
//! `ElementImplExt::panicked()` / `catch_panic`, and state changes, events
//! and queries through gstreamer-rs's trampolines, all answer.

mod common;
use common::{bus_error, rtp_l16_packet, RTP_L16_CAPS};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gstrsrtpfast::elements::base::depay::{
    RtpFastBaseDepay, RtpFastBaseDepayExt, RtpFastBaseDepayImpl, RtpFastBaseDepayImplExt, RtpPacket,
};
use std::sync::atomic::Ordering;
use std::sync::LazyLock;

mod imp {
    use super::*;

    #[derive(Default)]
    pub struct PanickyDepay;

    #[glib::object_subclass]
    impl ObjectSubclass for PanickyDepay {
        const NAME: &'static str = "RsRtpFastTestPanickyDepay";
        type Type = super::PanickyDepay;
        type ParentType = RtpFastBaseDepay;
    }

    impl ObjectImpl for PanickyDepay {}
    impl GstObjectImpl for PanickyDepay {}

    impl ElementImpl for PanickyDepay {
        fn pad_templates() -> &'static [gst::PadTemplate] {
            static T: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
                vec![
                    gst::PadTemplate::new(
                        "sink",
                        gst::PadDirection::Sink,
                        gst::PadPresence::Always,
                        &gst::Caps::new_empty_simple("application/x-rtp"),
                    )
                    .unwrap(),
                    gst::PadTemplate::new(
                        "src",
                        gst::PadDirection::Src,
                        gst::PadPresence::Always,
                        &gst::Caps::new_any(),
                    )
                    .unwrap(),
                ]
            });
            T.as_ref()
        }

        fn change_state(
            &self,
            transition: gst::StateChange,
        ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
            // Reached: gstreamer-rs's trampoline for this class calls it.
            super::CHANGE_STATES.fetch_add(1, Ordering::Relaxed);
            self.base_change_state(transition)
        }
    }

    impl RtpFastBaseDepayImpl for PanickyDepay {
        fn handle_packet(
            &self,
            _packet: &RtpPacket<'_>,
        ) -> Result<gst::FlowSuccess, gst::FlowError> {
            panic!("PanickyDepay: deliberate panic in handle_packet");
        }
    }
}

glib::wrapper! {
    pub struct PanickyDepay(ObjectSubclass<imp::PanickyDepay>)
        @extends RtpFastBaseDepay, gst::Element, gst::Object;
}

static CHANGE_STATES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[test]
fn gstreamer_rs_panicked_apis_answer_after_a_panic() {
    common::init();
    let element: PanickyDepay = glib::Object::new();
    let bus = gst::Bus::new();
    element.set_bus(Some(&bus));
    let mut h = gst_check::Harness::with_element(&element, Some("sink"), Some("src"));
    h.set_src_caps_str(RTP_L16_CAPS);
    assert!(
        CHANGE_STATES.load(Ordering::Relaxed) > 0,
        "change_state called"
    );

    // Before: no level of the element has panicked.
    assert!(!element.has_panicked());
    assert!(!element.imp().panicked().load(Ordering::Relaxed));

    // handle_packet panics: the base's guard catches it.
    assert_eq!(h.push(rtp_l16_packet()), Err(gst::FlowError::Error));
    let (error, debug) = bus_error(&bus).expect("an ERROR message on the bus");
    assert!(error.contains("Panicked") || debug.contains("Panicked"));
    // gstreamer-rs's flag at the base's level is what the guard set.
    assert!(element.has_panicked());
    assert_eq!(h.push(rtp_l16_packet()), Err(gst::FlowError::Error));

    // gstreamer-rs's API on the subclass's own level: its per-instance
    // data exists (this `expect`ed before the bases chained instance_init).
    assert!(!element.imp().panicked().load(Ordering::Relaxed));
    assert_eq!(element.imp().catch_panic(|| 0, |_| 1), 1);

    // Through gstreamer-rs's trampolines (send_event, query, change_state
    // each ask `panicked()` first): no abort.
    let _ = element.send_event(gst::event::FlushStart::new());
    let mut q = gst::query::Latency::new();
    let _ = element.query(&mut q);
    let before = CHANGE_STATES.load(Ordering::Relaxed);
    // Same-state and downward: succeed after the panic.
    assert!(element.set_state(gst::State::Playing).is_ok());
    assert!(element.set_state(gst::State::Null).is_ok());
    assert!(element.set_state(gst::State::Null).is_ok());
    // Upward: refused (the base's trampoline reads the flag).
    assert!(element.set_state(gst::State::Ready).is_err());
    assert!(element.set_state(gst::State::Null).is_ok());
    assert!(CHANGE_STATES.load(Ordering::Relaxed) > before);
    drop(h);
}

/// The factory elements go through gstreamer-rs's trampolines (state
/// change, event, query), which read the flag at each level.
#[test]
fn factory_elements_answer_through_gstreamer_rs_trampolines() {
    common::init();
    let element = gst::ElementFactory::make("rtpfastL16depay")
        .build()
        .unwrap();
    let bus = gst::Bus::new();
    element.set_bus(Some(&bus));
    let depay = element.downcast_ref::<RtpFastBaseDepay>().unwrap();
    assert!(!depay.has_panicked());
    let mut h = gst_check::Harness::with_element(&element, Some("sink"), Some("src"));
    h.set_src_caps_str(RTP_L16_CAPS);
    // (A panic in a factory element needs the `test-panic` feature:
    // tests/panic_paths.rs.) The trampolines answer on a healthy one.
    assert_eq!(h.push(rtp_l16_packet()), Ok(gst::FlowSuccess::Ok));
    let mut q = gst::query::Latency::new();
    let _ = element.query(&mut q);
    assert!(element.send_event(gst::event::FlushStart::new()));
    assert!(element.set_state(gst::State::Null).is_ok());
    assert!(element.set_state(gst::State::Null).is_ok());
    assert!(!depay.has_panicked());
    drop(h);
}
