//! No panic escapes a streaming thread: with `RSRTPFAST_TEST_PANIC` set
//! (read once per process, so this file is its own test binary), the
//! payloader and depayloader bases panic inside their chain function. The
//! host process survives, an element ERROR naming the panic reaches the
//! bus, and later buffers get a flow error, never a crash.

mod common;
use common::{bus_error, pcm_buffer, rtp_l16_packet, PCM_CAPS, RTP_L16_CAPS};
use gst::prelude::*;

fn init() {
    // Before the plugin's first chain call reads it.
    std::env::set_var("RSRTPFAST_TEST_PANIC", "pay-chain,depay-chain");
    common::init();
}

/// A harness (with a bus of its own) once the panic sites are set.
fn harness(
    factory: &str,
    src_caps: &str,
    sink_caps: Option<&str>,
) -> (gst_check::Harness, gst::Bus) {
    init();
    common::harness_with_bus(factory, src_caps, sink_caps)
}

fn panics_into_an_error(mut h: gst_check::Harness, bus: gst::Bus, buffer: gst::Buffer) {
    // The chain panics: the push fails with a flow error, nothing unwinds
    // into the harness (this thread is GStreamer's caller, as a streaming
    // thread would be).
    assert_eq!(h.push(buffer.clone()), Err(gst::FlowError::Error));
    let (error, debug) = bus_error(&bus).expect("an ERROR message on the bus");
    assert!(
        error.contains("Panicked") || debug.contains("Panicked"),
        "error names the panic: {error} / {debug}"
    );
    // Later buffers: a flow error again, and no second panic or message.
    for _ in 0..3 {
        assert_eq!(h.push(buffer.clone()), Err(gst::FlowError::Error));
    }
    assert!(h.try_pull().is_none(), "nothing came out");
    // Dropping the harness takes the element to NULL and asserts that
    // succeeds: a panicked element still shuts down (gstreamer-rs lets
    // downward state changes through after a panic).
    drop(h);
}

#[test]
fn payloader_chain_panic_becomes_an_element_error() {
    let (h, bus) = harness("rtpfastL16pay", PCM_CAPS, None);
    panics_into_an_error(h, bus, pcm_buffer());
}

#[test]
fn depayloader_chain_panic_becomes_an_element_error() {
    let (h, bus) = harness("rtpfastL16depay", RTP_L16_CAPS, None);
    panics_into_an_error(h, bus, rtp_l16_packet());
}

#[test]
fn h264_depayloader_chain_panic_becomes_an_element_error() {
    let (h, bus) = harness(
        "rtpfasth264depay",
        "application/x-rtp,media=video,clock-rate=90000,encoding-name=H264,payload=96",
        Some("video/x-h264,stream-format=byte-stream,alignment=au"),
    );
    let mut v = vec![0x80, 0x80 | 96, 0, 1, 0, 0, 0, 0, 0, 0, 0x12, 0x34];
    v.extend_from_slice(&[0x65, 0x88, 0x84, 0x21]);
    panics_into_an_error(h, bus, gst::Buffer::from_mut_slice(v));
}

#[test]
fn wrapper_pay_bin_inner_panic_becomes_an_element_error() {
    let (h, bus) = harness("rtpfastpay", PCM_CAPS, None);
    panics_into_an_error(h, bus, pcm_buffer());
}

#[test]
fn wrapper_depay_bin_inner_panic_becomes_an_element_error() {
    let (h, bus) = harness("rtpfastdepay", RTP_L16_CAPS, None);
    panics_into_an_error(h, bus, rtp_l16_packet());
}

/// The same through the list entry (the depayloader base's own, and
/// `rtpfastdepay`'s direct one): a list of packets gets the flow error.
fn list_panics_into_an_error(h: gst_check::Harness, bus: gst::Bus, buffer: gst::Buffer) {
    let list = || {
        let mut l = gst::BufferList::new();
        for seq in 1u16..4 {
            let mut b = buffer.copy_deep().unwrap();
            b.make_mut().map_writable().unwrap()[2..4].copy_from_slice(&seq.to_be_bytes());
            l.get_mut().unwrap().add(b);
        }
        l
    };
    let pad = h.srcpad().unwrap();
    assert_eq!(pad.push_list(list()), Err(gst::FlowError::Error));
    let (error, debug) = bus_error(&bus).expect("an ERROR message on the bus");
    assert!(
        error.contains("Panicked") || debug.contains("Panicked"),
        "error names the panic: {error} / {debug}"
    );
    for _ in 0..3 {
        assert_eq!(pad.push_list(list()), Err(gst::FlowError::Error));
    }
    let mut h = h;
    assert!(h.try_pull().is_none(), "nothing came out");
}

#[test]
fn depayloader_chain_list_panic_becomes_an_element_error() {
    let (h, bus) = harness("rtpfastL16depay", RTP_L16_CAPS, None);
    list_panics_into_an_error(h, bus, rtp_l16_packet());
}

#[test]
fn wrapper_depay_bin_inner_list_panic_becomes_an_element_error() {
    let (h, bus) = harness("rtpfastdepay", RTP_L16_CAPS, None);
    list_panics_into_an_error(h, bus, rtp_l16_packet());
}

/// A whole pipeline: the error stops it like any other element error, and
/// the process goes on to tear it down.
#[test]
fn pipeline_with_panicking_payloader_stops_with_an_error() {
    init();
    let pipeline = gst::parse::launch(
        "audiotestsrc num-buffers=50 ! audio/x-raw,format=S16BE,rate=48000,channels=2 \
         ! rtpfastL16pay ! fakesink",
    )
    .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(10),
            &[gst::MessageType::Error, gst::MessageType::Eos],
        )
        .expect("a message within 10 s");
    match msg.view() {
        gst::MessageView::Error(e) => {
            let text = format!("{} {:?}", e.error(), e.debug());
            assert!(text.contains("Panicked"), "{text}");
            assert!(e
                .src()
                .is_some_and(|s| s.name().starts_with("rtpfastl16pay")));
        }
        other => panic!("expected an error, got {other:?}"),
    }
    pipeline.set_state(gst::State::Null).unwrap();
}
