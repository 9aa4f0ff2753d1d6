//! The payloaders' zero-copy fast path: a pad-to-pad harness and the checks
//! the NAL payloaders' own `performance` test modules run
//! (`cargo test h264::pay::performance`, `cargo test h265::pay::performance`):
//! one buffer list per input frame, payloads that are views of the input.

use gst::prelude::*;
use std::sync::{Arc, Mutex};

pub fn init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        crate::plugin_register_static().unwrap();
    });
}

/// An access unit: parameter sets and one `slice_len`-byte keyframe slice, in
/// one memory, Annex-B.
pub fn access_unit(h265: bool, slice_len: usize) -> Vec<u8> {
    let (params, idr): (Vec<&[u8]>, &[u8]) = if h265 {
        (
            vec![
                &[0x40, 0x01, 0x0c][..],
                &[0x42, 0x01, 0x01][..],
                &[0x44, 0x01, 0xc1][..],
            ],
            &[0x26, 0x01],
        )
    } else {
        (
            vec![&[0x67, 0x42, 0xc0, 0x15][..], &[0x68, 0xcb, 0x8c][..]],
            &[0x65],
        )
    };
    let mut v = Vec::new();
    for p in params {
        v.extend_from_slice(&[0, 0, 0, 1]);
        v.extend_from_slice(p);
    }
    v.extend_from_slice(&[0, 0, 0, 1]);
    v.extend_from_slice(idr);
    v.extend((0..slice_len).map(|i| (i % 253) as u8 + 1));
    v
}

pub struct Output {
    pub lists: usize,
    pub single_buffers: usize,
    pub packets: Vec<gst::Buffer>,
}

/// Push `frames` copies of `au` through `element` pad to pad and collect
/// what it pushes, distinguishing buffer lists from single buffers.
pub fn run(element: &str, caps: &str, au: &[u8], frames: usize) -> (Output, Vec<gst::Buffer>) {
    init();
    let pay = gst::ElementFactory::make(element)
        .property("mtu", 1400u32)
        .build()
        .unwrap();
    let srcpad = gst::Pad::builder(gst::PadDirection::Src)
        .name("src")
        .build();
    let out = Arc::new(Mutex::new(Output {
        lists: 0,
        single_buffers: 0,
        packets: Vec::new(),
    }));
    let (o1, o2) = (out.clone(), out.clone());
    let sinkpad = gst::Pad::builder(gst::PadDirection::Sink)
        .name("sink")
        .chain_function(move |_, _, buf| {
            let mut o = o1.lock().unwrap();
            o.single_buffers += 1;
            o.packets.push(buf);
            Ok(gst::FlowSuccess::Ok)
        })
        .chain_list_function(move |_, _, list| {
            let mut o = o2.lock().unwrap();
            o.lists += 1;
            o.packets.extend(list.iter_owned());
            Ok(gst::FlowSuccess::Ok)
        })
        .build();
    srcpad.link(&pay.static_pad("sink").unwrap()).unwrap();
    pay.static_pad("src").unwrap().link(&sinkpad).unwrap();
    srcpad.set_active(true).unwrap();
    sinkpad.set_active(true).unwrap();
    pay.set_state(gst::State::Playing).unwrap();
    srcpad.push_event(gst::event::StreamStart::new("perf"));
    srcpad.push_event(gst::event::Caps::new(&caps.parse::<gst::Caps>().unwrap()));
    srcpad.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
        gst::ClockTime,
    >::new()));
    let mut inputs = Vec::new();
    for i in 0..frames {
        let mut b = gst::Buffer::from_mut_slice(au.to_vec());
        b.get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(33 * i as u64));
        inputs.push(b.clone());
        srcpad.push(b).unwrap();
    }
    pay.set_state(gst::State::Null).unwrap();
    let out = std::mem::replace(
        &mut *out.lock().unwrap(),
        Output {
            lists: 0,
            single_buffers: 0,
            packets: Vec::new(),
        },
    );
    (out, inputs)
}

/// One buffer list per input frame, never single-buffer pushes.
pub fn pushes_one_list_per_frame(element: &str, caps: &str, h265: bool) {
    let au = access_unit(h265, 50_000);
    let (out, _) = run(element, caps, &au, 5);
    assert_eq!(out.lists, 5);
    assert_eq!(out.single_buffers, 0);
    assert!(out.packets.len() > 5 * 30);
}

/// FU payloads are the input's memory, shared, not copied: every packet is
/// [pooled header memory][slice of the input memory].
pub fn payload_memory_is_shared_not_copied(element: &str, caps: &str, h265: bool) {
    let au = access_unit(h265, 50_000);
    let (out, inputs) = run(element, caps, &au, 1);
    let input = inputs[0].map_readable().unwrap();
    let range = input.as_ptr() as usize..input.as_ptr() as usize + input.len();
    let mut shared = 0;
    for pkt in &out.packets {
        if pkt.n_memory() == 2 {
            let payload = pkt.peek_memory(1).map_readable().unwrap();
            let p = payload.as_ptr() as usize;
            assert!(
                range.contains(&p) && range.contains(&(p + payload.len() - 1)),
                "payload memory points into the input"
            );
            shared += 1;
        }
    }
    // All fragments of the 50 KB slice share the input.
    assert!(shared >= 50_000 / 1400, "{shared} shared packets");
}
