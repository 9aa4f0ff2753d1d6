//! What every rsrtpfast element shares: `stats-interval` bus messages, the
//! ALLOCATION answer (our pool + recycling allocator), `pool-max-bytes`.

mod common;
use common::*;
use gst::prelude::*;

const ELEMENTS: [&str; 4] = [
    "rtpfasth264pay",
    "rtpfasth264depay",
    "rtpfasth265pay",
    "rtpfasth265depay",
];

/// `rtpfast-stats` messages on the bus until EOS, by source element name.
fn stats_messages(pipeline: &gst::Pipeline) -> Vec<(String, gst::Structure)> {
    let bus = pipeline.bus().unwrap();
    let mut out = Vec::new();
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(20)) {
        match msg.view() {
            gst::MessageView::Element(e) => {
                let s = e.structure().unwrap();
                if s.name() == "rtpfast-stats" {
                    out.push((msg.src().unwrap().name().to_string(), s.to_owned()));
                }
            }
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{}", e.error()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    out
}

#[test]
fn stats_interval_posts_element_messages() {
    let media = encode(Codec::H264, 40, 320, 240);
    let pipeline = play(
        "appsrc name=src ! rtpfasth264pay name=pay stats-interval=1 ! rtpfasth264depay name=depay stats-interval=1 ! fakesink",
        Some((&media.caps, &media.frames)),
    );
    let mut from = std::collections::HashSet::new();
    for (name, s) in stats_messages(&pipeline) {
        assert!(s.get::<u64>("packets").unwrap() > 0);
        assert!(s.has_field("processing-ns-p99"));
        assert!(s.has_field("pool-acquired"));
        from.insert(name);
    }
    assert!(from.contains("pay") && from.contains("depay"), "{from:?}");
}

#[test]
fn no_stats_messages_by_default() {
    let media = encode(Codec::H264, 10, 320, 240);
    let pipeline = play(
        "appsrc name=src ! rtpfasth264pay ! fakesink",
        Some((&media.caps, &media.frames)),
    );
    assert!(stats_messages(&pipeline).is_empty());
}

#[test]
fn allocation_query_is_answered_with_our_pool() {
    init();
    for name in ELEMENTS {
        let e = gst::ElementFactory::make(name).build().unwrap();
        // Queries arrive while streaming: pads active.
        e.set_state(gst::State::Paused).unwrap();
        let caps = e.static_pad("sink").unwrap().pad_template_caps();
        let mut fixed = caps.clone();
        fixed.fixate();
        let mut q = gst::query::Allocation::new(Some(&fixed), true);
        assert!(
            e.static_pad("sink").unwrap().query(&mut q),
            "{name} answers"
        );
        let mut pools = q.allocation_pools();
        assert!(
            pools.any(|(p, _, _, _)| p
                .as_ref()
                .is_some_and(|p| p.type_().name() == "GstRtpFastBufferPool")),
            "{name} proposes GstRtpFastBufferPool"
        );
        let mut allocators = q.allocation_params();
        assert!(
            allocators.any(|(a, _)| a
                .as_ref()
                .is_some_and(|a| a.type_().name() == "GstRtpFastAllocator")),
            "{name} proposes the recycling allocator"
        );
        e.set_state(gst::State::Null).unwrap();
    }
}

#[test]
fn filesrc_upstream_of_payloader_allocates_from_our_allocator() {
    init();
    let media = encode(Codec::H264, 10, 320, 240);
    let path = std::env::temp_dir().join(format!("rsrtpfast-alloc-{}.h264", std::process::id()));
    let mut bytes = Vec::new();
    for f in &media.frames {
        bytes.extend_from_slice(&f.map_readable().unwrap());
    }
    std::fs::write(&path, &bytes).unwrap();
    let pipeline = gst::parse::launch(&format!(
        "filesrc location={} ! capsfilter name=cf caps=video/x-h264,stream-format=byte-stream,alignment=au ! rtpfasth264pay ! fakesink",
        path.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let ours = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let total = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (o, t) = (ours.clone(), total.clone());
    pipeline
        .by_name("cf")
        .unwrap()
        .static_pad("src")
        .unwrap()
        .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            if let Some(gst::PadProbeData::Buffer(b)) = &info.data {
                t.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if b.peek_memory(0).is_type("RtpFastMemory") {
                    o.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            gst::PadProbeReturn::Ok
        });
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(20),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    pipeline.set_state(gst::State::Null).unwrap();
    let _ = std::fs::remove_file(&path);
    let (ours, total) = (
        ours.load(std::sync::atomic::Ordering::Relaxed),
        total.load(std::sync::atomic::Ordering::Relaxed),
    );
    assert!(total > 0);
    assert_eq!(ours, total, "every filesrc buffer came from our allocator");
}

#[test]
fn pool_max_bytes_is_process_wide() {
    init();
    let a = gst::ElementFactory::make("rtpfasth264pay").build().unwrap();
    let b = gst::ElementFactory::make("rtpfasth265depay")
        .build()
        .unwrap();
    let before: u64 = a.property("pool-max-bytes");
    a.set_property("pool-max-bytes", 64u64 << 20);
    assert_eq!(b.property::<u64>("pool-max-bytes"), 64 << 20);
    b.set_property("pool-max-bytes", before);
    assert_eq!(a.property::<u64>("pool-max-bytes"), before);
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    statm
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 4096
}

/// Packets split over several memories (header + payload, as payloaders in
/// the same process produce them) are depayloaded without keeping anything:
/// 20 000 packets of 1400 bytes would leak ~28 MB if the payload mapping
/// were never released.
#[test]
fn multi_memory_packets_do_not_leak() {
    init();
    for name in ["rtpfasth264depay", "rtpfasth265depay"] {
        let mut h = gst_check::Harness::new(name);
        h.set_sink_caps_str(if name.contains("264") {
            "video/x-h264,stream-format=byte-stream,alignment=au"
        } else {
            "video/x-h265,stream-format=byte-stream,alignment=au"
        });
        h.set_src_caps_str(&format!(
            "application/x-rtp,media=video,clock-rate=90000,encoding-name={},payload=96",
            if name.contains("264") { "H264" } else { "H265" }
        ));
        let nal: Vec<u8> = if name.contains("264") {
            std::iter::once(0x41)
                .chain((0..1400).map(|i| (i % 250) as u8 + 1))
                .collect()
        } else {
            [0x02, 0x01]
                .into_iter()
                .chain((0..1400).map(|i| (i % 250) as u8 + 1))
                .collect()
        };
        let mut push = |seq: u16| {
            let mut hdr = vec![0x80, 0x80 | 96];
            hdr.extend_from_slice(&seq.to_be_bytes());
            hdr.extend_from_slice(&(seq as u32 * 3000).to_be_bytes());
            hdr.extend_from_slice(&7u32.to_be_bytes());
            // As our payloader builds packets: the header memory also holds
            // the first payload bytes, the rest is another memory.
            hdr.extend_from_slice(&nal[..2]);
            let mut b = gst::Buffer::from_mut_slice(hdr);
            b.get_mut()
                .unwrap()
                .append_memory(gst::Memory::from_mut_slice(nal[2..].to_vec()));
            h.push(b).unwrap();
            h.try_pull().expect("one unit per packet")
        };
        for seq in 0..2000u16 {
            push(seq);
        }
        let before = rss_bytes();
        for seq in 2000..22000u16 {
            push(seq);
        }
        let grown = rss_bytes().saturating_sub(before);
        assert!(
            grown < 8 << 20,
            "{name}: resident grew {grown} bytes over 20000 packets"
        );
    }
}

/// Every format is a standard gstreamer-rs subclass: its class has
/// gstreamer-rs's GstElement trampolines for the format (its own
/// `ElementImpl` is called, and chains to the base's), not copies of its
/// base class's vfuncs. Covers every element of the plugin that derives
/// from one of the bases.
#[test]
fn formats_have_gstreamer_rs_element_trampolines_of_their_own() {
    use gst::glib::translate::IntoGlib;
    init();
    let bases = ["GstRtpFastBasePay", "GstRtpFastBaseDepay"]
        .map(|n| gst::glib::Type::from_name(n).unwrap_or_else(|| panic!("{n} is registered")));
    let features = gst::Registry::get().features_by_plugin("rsrtpfast");
    let mut checked = 0;
    for f in features {
        let Ok(factory) = f.downcast::<gst::ElementFactory>() else {
            continue;
        };
        let t = factory.load().unwrap().element_type();
        let Some(&base) = bases.iter().find(|b| t.is_a(**b) && t != **b) else {
            continue;
        };
        // SAFETY: FFI edge. Both are registered GstElement subtypes; their
        // class structs start with GstElementClass and stay referenced while
        // read.
        unsafe {
            let k = gst::glib::gobject_ffi::g_type_class_ref(t.into_glib())
                as *const gst::ffi::GstElementClass;
            let b = gst::glib::gobject_ffi::g_type_class_ref(base.into_glib())
                as *const gst::ffi::GstElementClass;
            let vfuncs = |c: *const gst::ffi::GstElementClass| {
                [
                    (*c).change_state.map(|f| f as usize),
                    (*c).send_event.map(|f| f as usize),
                    (*c).query.map(|f| f as usize),
                    (*c).provide_clock.map(|f| f as usize),
                    (*c).post_message.map(|f| f as usize),
                ]
            };
            let (own, base) = (vfuncs(k), vfuncs(b));
            for (i, (own, base)) in own.iter().zip(base.iter()).enumerate() {
                assert!(own.is_some(), "{}: vfunc {i} set", factory.name());
                assert_ne!(own, base, "{}: vfunc {i} is the format's", factory.name());
            }
            gst::glib::gobject_ffi::g_type_class_unref(k as *mut _);
            gst::glib::gobject_ffi::g_type_class_unref(b as *mut _);
        }
        checked += 1;
    }
    // 7 formats, a payloader and a depayloader each.
    assert_eq!(checked, 14, "elements on the two bases");
}

/// `stats-interval` posts on the clock, not only on timed buffers: under a
/// storm of garbage (no valid packet ever reaches the timed path) the
/// messages keep coming and the last one carries the drops.
#[test]
fn stats_interval_keeps_posting_under_garbage() {
    init();
    let pipeline = gst::parse::launch(
        "appsrc name=src is-live=true format=time \
         caps=application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=96 \
         ! rtpfastopusdepay name=depay stats-interval=20 ! fakesink",
    )
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let src = pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    for i in 0..200u64 {
        // Version 0: never RTP.
        let mut b = gst::Buffer::from_slice(vec![0u8; 40]);
        b.get_mut()
            .unwrap()
            .set_pts(gst::ClockTime::from_mseconds(2 * i));
        src.push_buffer(b).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    std::thread::sleep(std::time::Duration::from_millis(150));
    let bus = pipeline.bus().unwrap();
    let mut malformed = Vec::new();
    while let Some(msg) = bus.pop() {
        if let gst::MessageView::Element(e) = msg.view() {
            let s = e.structure().unwrap();
            if s.name() == "rtpfast-stats" {
                malformed.push(s.get::<u64>("malformed").unwrap());
            }
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(
        malformed.len() >= 5,
        "messages under garbage: {malformed:?}"
    );
    assert_eq!(malformed.last(), Some(&200), "{malformed:?}");
}

/// gst-inspect documents `stats`: every field a payloader, depayloader or
/// wrapper reports is named in the property's blurb, after streaming (so the
/// format's own fields are there too).
#[test]
fn stats_blurb_names_every_field() {
    let media = encode(Codec::H264, 5, 320, 240);
    let pipeline = play(
        "appsrc name=src ! rtpfasth264pay name=pay ! rtpfasth264depay name=depay ! fakesink",
        Some((&media.caps, &media.frames)),
    );
    let _ = stats_messages(&pipeline);
    let mut elements: Vec<gst::Element> = vec![
        pipeline.by_name("pay").unwrap(),
        pipeline.by_name("depay").unwrap(),
    ];
    let registry = gst::Registry::get();
    for f in registry.features_by_plugin("rsrtpfast") {
        let Ok(f) = f.downcast::<gst::ElementFactory>() else {
            continue;
        };
        let klass = f.metadata(gst::ELEMENT_METADATA_KLASS).unwrap_or_default();
        if klass.contains("Payloader") || klass.contains("Depayloader") {
            elements.push(f.create().build().unwrap());
        }
    }
    assert!(elements.len() >= 16, "{} elements", elements.len());
    for e in elements {
        let blurb = e
            .find_property("stats")
            .unwrap()
            .blurb()
            .unwrap_or_default()
            .to_string();
        let stats = e.property::<Option<gst::Structure>>("stats").unwrap();
        for (field, _) in stats.iter() {
            assert!(
                blurb.contains(field.as_str()),
                "{}: stats field {field} not in the blurb: {blurb}",
                e.name()
            );
        }
    }
}
