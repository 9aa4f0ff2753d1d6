//! Buffer lists through the depayloaders (issue 22): the same RTP packets,
//! made by the stock payloaders from real encoder/parser output, fed once
//! one buffer at a time and once as buffer lists of several sizes, must give
//! the same output (bytes, PTS/DTS/duration, flags, metas, caps and the
//! events at the sink), for every depayloader as an element and inside
//! `rtpfastdepay`. The 1:1 formats must answer lists with lists.

mod common;

use common::*;
use gst::prelude::*;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// What a consumer sees of one output buffer.
#[derive(Debug, PartialEq, Eq, Clone)]
struct Seen {
    bytes: Vec<u8>,
    pts: Option<gst::ClockTime>,
    dts: Option<gst::ClockTime>,
    duration: Option<gst::ClockTime>,
    flags: gst::BufferFlags,
    metas: Vec<String>,
}

fn seen(b: &gst::BufferRef) -> Seen {
    Seen {
        bytes: b.map_readable().unwrap().to_vec(),
        pts: b.pts(),
        dts: b.dts(),
        duration: b.duration(),
        // Every flag a consumer can see (TAG_MEMORY aside: an allocation
        // detail).
        flags: b.flags() - gst::BufferFlags::TAG_MEMORY,
        metas: b
            .iter_meta::<gst::Meta>()
            .map(|m| m.api().name().to_string())
            .collect(),
    }
}

/// How the packets are fed: one by one, or in lists of this size (0: the
/// whole stream, or each side of a caps change, as one list).
#[derive(Clone, Copy, Debug)]
enum Feed {
    Buffers,
    Lists(usize),
}

const FEEDS: [Feed; 5] = [
    Feed::Buffers,
    Feed::Lists(1),
    Feed::Lists(7),
    Feed::Lists(32),
    Feed::Lists(0),
];

/// One format: the stock front that makes its packets, our element, and
/// what the sink asks for.
struct Format {
    name: &'static str,
    front: String,
    element: &'static str,
    tail: &'static str,
    /// Output is one buffer per packet: lists must come out as lists.
    one_to_one: bool,
}

fn formats() -> Vec<Format> {
    let h26x = |codec: &str| {
        format!(
            "videotestsrc num-buffers=12 pattern=ball ! \
             video/x-raw,width=320,height=240,framerate=30/1,format=I420 ! \
             x26{}enc tune=zerolatency key-int-max=5 bitrate=1500 speed-preset=ultrafast ! \
             h26{}parse ! rtph26{}pay mtu=600 config-interval=-1",
            codec, codec, codec
        )
    };
    vec![
        Format {
            name: "h264",
            front: h26x("4"),
            element: "rtpfasth264depay",
            tail: "video/x-h264,stream-format=byte-stream,alignment=au !",
            one_to_one: false,
        },
        Format {
            name: "h265",
            front: h26x("5"),
            element: "rtpfasth265depay",
            tail: "video/x-h265,stream-format=byte-stream,alignment=au !",
            one_to_one: false,
        },
        Format {
            name: "L16",
            front: "audiotestsrc num-buffers=40 samplesperbuffer=441 ! \
                    audio/x-raw,format=S16BE,rate=44100,channels=2 ! rtpL16pay"
                .into(),
            element: "rtpfastL16depay",
            tail: "",
            one_to_one: true,
        },
        Format {
            name: "L24",
            front: "audiotestsrc num-buffers=40 samplesperbuffer=480 ! \
                    audio/x-raw,format=S24BE,rate=48000,channels=2 ! rtpL24pay"
                .into(),
            element: "rtpfastL24depay",
            tail: "",
            one_to_one: true,
        },
        Format {
            name: "opus",
            front: "audiotestsrc num-buffers=80 samplesperbuffer=960 ! \
                    audio/x-raw,rate=48000,channels=2 ! opusenc ! rtpopuspay"
                .into(),
            element: "rtpfastopusdepay",
            tail: "",
            one_to_one: true,
        },
        Format {
            name: "mp2t",
            front: "videotestsrc num-buffers=10 pattern=snow ! \
                    video/x-raw,width=320,height=240,framerate=30/1,format=I420 ! \
                    x264enc speed-preset=ultrafast threads=1 ! mpegtsmux ! rtpmp2tpay"
                .into(),
            element: "rtpfastmp2tdepay",
            tail: "",
            one_to_one: true,
        },
        Format {
            name: "vraw",
            front: "videotestsrc num-buffers=5 ! \
                    video/x-raw,format=UYVY,width=160,height=120,framerate=30/1 ! rtpvrawpay"
                .into(),
            element: "rtpfastvrawdepay",
            tail: "",
            one_to_one: false,
        },
    ]
}

/// The RTP packets (and caps) the stock front makes.
fn capture(front: &str) -> (gst::Caps, Vec<gst::Buffer>) {
    let (caps, packets) = run_collect(&format!("{front} ! appsink name=sink sync=false"), None);
    let packets: Vec<gst::Buffer> = packets
        .into_iter()
        .map(|b| b.copy_deep().unwrap())
        .collect();
    assert!(packets.len() > 20, "{front}: {} packets", packets.len());
    (caps.expect("payloader caps"), packets)
}

/// What reached the sink.
struct Output {
    bufs: Vec<Seen>,
    caps: Option<gst::Caps>,
    events: Vec<SeenEvent>,
    /// Calls into the sink pad: buffers and lists.
    pushes: usize,
    lists: usize,
    /// Positions of DISCONT buffers inside output lists (other than first).
    discont_inside_list: usize,
    stats: Option<gst::Structure>,
    /// Events and buffers at the sink in the order they came ("buffer"
    /// for each buffer, a list's one by one): an event must keep its place
    /// among the buffers.
    timeline: Vec<String>,
}

/// Feed `segments` (each a caps and its packets, in order) into
/// `appsrc ! <depay> ! <tail> appsink`, the way `feed` says.
fn run(depay: &str, tail: &str, segments: &[(gst::Caps, Vec<gst::Buffer>)], feed: Feed) -> Output {
    run_with(depay, tail, segments, feed, |_| ())
}

/// [`run`], `setup` given the depayloader before it starts.
fn run_with(
    depay: &str,
    tail: &str,
    segments: &[(gst::Caps, Vec<gst::Buffer>)],
    feed: Feed,
    setup: impl FnOnce(&gst::Element),
) -> Output {
    init();
    let desc = format!(
        "appsrc name=src format=time max-bytes=0 ! {depay} name=d ! {tail} \
         appsink name=sink sync=false max-buffers=1 drop=true wait-on-eos=false"
    );
    let pipeline = gst::parse::launch(&desc)
        .unwrap_or_else(|e| panic!("{desc}: {e}"))
        .downcast::<gst::Pipeline>()
        .unwrap();
    let src = app_src(&pipeline);
    let sink = app_sink(&pipeline);
    let events = record_events(&sink);
    let pushes = Arc::new(AtomicUsize::new(0));
    let lists = Arc::new(AtomicUsize::new(0));
    let discont_inside = Arc::new(AtomicUsize::new(0));
    let bufs = Arc::new(Mutex::new(Vec::new()));
    let timeline = Arc::new(Mutex::new(Vec::new()));
    {
        let timeline = timeline.clone();
        sink.static_pad("sink").unwrap().add_probe(
            gst::PadProbeType::EVENT_DOWNSTREAM,
            move |_, info| {
                if let Some(ev) = info.event() {
                    let entry = match ev.view() {
                        gst::EventView::Caps(c) => format!("caps {}", c.caps()),
                        _ => format!("{:?}", ev.type_()),
                    };
                    timeline.lock().unwrap().push(entry);
                }
                gst::PadProbeReturn::Ok
            },
        );
    }
    {
        let (pushes, lists, discont_inside, bufs, timeline) = (
            pushes.clone(),
            lists.clone(),
            discont_inside.clone(),
            bufs.clone(),
            timeline.clone(),
        );
        sink.static_pad("sink").unwrap().add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |_, info| {
                pushes.fetch_add(1, Ordering::Relaxed);
                match &info.data {
                    Some(gst::PadProbeData::Buffer(b)) => {
                        bufs.lock().unwrap().push(seen(b));
                        timeline.lock().unwrap().push("buffer".into());
                    }
                    Some(gst::PadProbeData::BufferList(l)) => {
                        lists.fetch_add(1, Ordering::Relaxed);
                        for (i, b) in l.iter().enumerate() {
                            if i > 0 && b.flags().contains(gst::BufferFlags::DISCONT) {
                                discont_inside.fetch_add(1, Ordering::Relaxed);
                            }
                            bufs.lock().unwrap().push(seen(b));
                            timeline.lock().unwrap().push("buffer".into());
                        }
                    }
                    _ => {}
                }
                gst::PadProbeReturn::Ok
            },
        );
    }
    setup(&pipeline.by_name("d").unwrap());
    pipeline.set_state(gst::State::Playing).unwrap();
    for (caps, packets) in segments {
        src.set_caps(Some(caps));
        match feed {
            Feed::Buffers => {
                for b in packets {
                    src.push_buffer(b.clone()).unwrap();
                }
            }
            Feed::Lists(n) => {
                let n = if n == 0 { packets.len() } else { n };
                for chunk in packets.chunks(n) {
                    let mut list = gst::BufferList::new_sized(chunk.len());
                    for b in chunk {
                        list.get_mut().unwrap().add(b.clone());
                    }
                    src.push_buffer_list(list).unwrap();
                }
            }
        }
    }
    src.end_of_stream().unwrap();
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(60),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .expect("EOS within 60 s");
    if let gst::MessageView::Error(e) = msg.view() {
        panic!("{desc}: {} ({:?})", e.error(), e.debug());
    }
    let d = pipeline.by_name("d").unwrap();
    // Our element's stats (inside the wrapper: its child's).
    let stats = match d.downcast_ref::<gst::Bin>() {
        Some(bin) => bin
            .iterate_elements()
            .into_iter()
            .flatten()
            .next()
            .map(|c| c.property::<gst::Structure>("stats")),
        None => Some(d.property::<gst::Structure>("stats")),
    };
    let caps = sink.static_pad("sink").unwrap().current_caps();
    pipeline.set_state(gst::State::Null).unwrap();
    let bufs = std::mem::take(&mut *bufs.lock().unwrap());
    let timeline = std::mem::take(&mut *timeline.lock().unwrap());
    // The stream id is random per run: only that there was one.
    let events = events
        .lock()
        .unwrap()
        .iter()
        .map(|(e, c)| match e.starts_with("stream-start") {
            true => ("stream-start".to_string(), None),
            false => (e.clone(), c.clone()),
        })
        .collect();
    Output {
        bufs,
        caps,
        events,
        pushes: pushes.load(Ordering::Relaxed),
        lists: lists.load(Ordering::Relaxed),
        discont_inside_list: discont_inside.load(Ordering::Relaxed),
        stats,
        timeline,
    }
}

fn counter(stats: &Option<gst::Structure>, field: &str) -> u64 {
    stats
        .as_ref()
        .and_then(|s| s.get::<u64>(field).ok())
        .unwrap_or_else(|| panic!("stats field {field}"))
}

/// Everything a consumer sees is the same in `a` and `b`.
fn assert_same_output(what: &str, a: &Output, b: &Output) {
    assert_eq!(a.caps, b.caps, "{what}: caps");
    assert!(
        a.events == b.events,
        "{what}: events\none by one: {:?}\nlists: {:?}",
        a.events,
        b.events
    );
    assert!(
        a.timeline == b.timeline,
        "{what}: events among buffers\none by one: {:?}\nlists: {:?}",
        a.timeline,
        b.timeline
    );
    assert_eq!(a.bufs.len(), b.bufs.len(), "{what}: buffer count");
    for (i, (x, y)) in a.bufs.iter().zip(&b.bufs).enumerate() {
        assert!(
            x == y,
            "{what}: buffer {i}: one by one {:?} {:?} {:?} {:?} {:?} / lists {:?} {:?} {:?} {:?} {:?}{}",
            x.pts,
            x.dts,
            x.duration,
            x.flags,
            x.metas,
            y.pts,
            y.dts,
            y.duration,
            y.flags,
            y.metas,
            if x.bytes != y.bytes { " (bytes differ)" } else { "" }
        );
    }
    for field in ["malformed", "dropped", "packets", "bytes"] {
        assert_eq!(
            counter(&a.stats, field),
            counter(&b.stats, field),
            "{what}: stats {field}"
        );
    }
}

fn with_seq(b: &gst::Buffer, seq: u16) -> gst::Buffer {
    let mut b = b.copy_deep().unwrap();
    let mut map = b.make_mut().map_writable().unwrap();
    map[2..4].copy_from_slice(&seq.to_be_bytes());
    drop(map);
    b
}

fn with_ssrc(b: &gst::Buffer, ssrc: u32) -> gst::Buffer {
    let mut b = b.copy_deep().unwrap();
    let mut map = b.make_mut().map_writable().unwrap();
    map[8..12].copy_from_slice(&ssrc.to_be_bytes());
    drop(map);
    b
}

/// The packets, damaged as a network damages them: a lost packet (seqnum
/// gap), two swapped (the late one is dropped as old), a duplicate, a
/// malformed packet, and from 4/5 on another ssrc (a restarted sender).
fn damaged(packets: &[gst::Buffer]) -> Vec<gst::Buffer> {
    let n = packets.len();
    let mut out: Vec<gst::Buffer> = Vec::with_capacity(n + 2);
    for (i, p) in packets.iter().enumerate() {
        if i == n / 5 {
            continue; // lost
        }
        if i == 2 * n / 5 {
            // swapped with the next one
            out.push(packets[i + 1].clone());
            out.push(p.clone());
            continue;
        }
        if i == 2 * n / 5 + 1 {
            continue;
        }
        if i == n / 2 {
            out.push(p.clone());
            out.push(p.clone()); // duplicate
            continue;
        }
        if i == 3 * n / 5 {
            // version 1, too short for a header: malformed
            let mut bad = gst::Buffer::from_slice([0x40u8, 96, 0, 1, 0]);
            bad.make_mut().set_pts(p.pts());
            out.push(bad);
        }
        if i >= 4 * n / 5 {
            out.push(with_ssrc(p, 0x0bad_cafe));
        } else {
            out.push(p.clone());
        }
    }
    // A seqnum far back (beyond max-reorder: a restarted sender) right
    // after the ssrc change would be another DISCONT; one old seqnum
    // within max-reorder near the end (dropped).
    let last = out.len() - 3;
    let old = u16::from_be_bytes({
        let m = out[last].map_readable().unwrap();
        [m[2], m[3]]
    })
    .wrapping_sub(5);
    let late = with_seq(&out[last], old);
    out.insert(last + 1, late);
    out
}

/// Raw video damaged without holes in a frame: the bytes of a frame a
/// lost packet leaves unwritten are whatever the recycled output memory
/// held (as in stock), so they differ from run to run. A whole frame lost
/// (a seqnum gap), a duplicate and a malformed packet in the next one, a
/// restarted sender (new ssrc) from the frame after, an old seqnum near
/// the end (dropped).
fn damaged_whole_frames(packets: &[gst::Buffer]) -> Vec<gst::Buffer> {
    let marker = |p: &gst::Buffer| p.map_readable().unwrap()[1] & 0x80 != 0;
    let mut frames: Vec<Vec<gst::Buffer>> = vec![Vec::new()];
    for p in packets {
        frames.last_mut().unwrap().push(p.clone());
        if marker(p) {
            frames.push(Vec::new());
        }
    }
    frames.retain(|f| !f.is_empty());
    assert!(frames.len() >= 5, "{} frames", frames.len());
    let mut out = Vec::new();
    out.extend(frames[0].iter().cloned());
    // frames[1] lost
    for (i, p) in frames[2].iter().enumerate() {
        out.push(p.clone());
        if i == 3 {
            out.push(p.clone()); // duplicate
            let mut bad = gst::Buffer::from_slice([0x40u8, 96, 0, 1, 0]);
            bad.make_mut().set_pts(p.pts());
            out.push(bad); // malformed
        }
    }
    for f in &frames[3..] {
        out.extend(f.iter().map(|p| with_ssrc(p, 0x0bad_cafe)));
    }
    // An old seqnum before the last packet: dropped.
    let last = out.len() - 1;
    let old = u16::from_be_bytes({
        let m = out[last].map_readable().unwrap();
        [m[2], m[3]]
    })
    .wrapping_sub(5);
    let late = with_seq(&out[last], old);
    out.insert(last, late);
    out
}

/// The caps with a field changed: a new clock-rate for raw audio (the
/// output caps change), an extra field elsewhere (new caps, same output).
fn changed_caps(name: &str, caps: &gst::Caps) -> gst::Caps {
    let mut caps = caps.copy();
    let s = caps.make_mut().structure_mut(0).unwrap();
    if name == "L16" {
        s.set("clock-rate", 48000i32);
    } else {
        s.set("x-changed", 1i32);
    }
    caps
}

/// Caps and the packets sent with them.
type Segment = (gst::Caps, Vec<gst::Buffer>);

/// The input variants of one format: clean, damaged, and split by a caps
/// change.
fn inputs(f: &Format) -> Vec<(&'static str, Vec<Segment>)> {
    let (caps, packets) = capture(&f.front);
    let mut mid = packets.len() / 2 + 3;
    if f.name == "vraw" {
        // At a frame boundary: a frame cut by new caps is left with a hole
        // of undefined bytes (see `damaged_whole_frames`).
        while packets[mid - 1].map_readable().unwrap()[1] & 0x80 == 0 {
            mid += 1;
        }
    }
    vec![
        ("clean", vec![(caps.clone(), packets.clone())]),
        (
            "damaged",
            vec![(
                caps.clone(),
                if f.name == "vraw" {
                    damaged_whole_frames(&packets)
                } else {
                    damaged(&packets)
                },
            )],
        ),
        (
            "caps change",
            vec![
                (caps.clone(), packets[..mid].to_vec()),
                (changed_caps(f.name, &caps), packets[mid..].to_vec()),
            ],
        ),
    ]
}

fn lists_like_buffers(f: &Format) {
    for (variant, segments) in inputs(f) {
        for depay in [f.element.to_string(), "rtpfastdepay".to_string()] {
            let reference = run(&depay, f.tail, &segments, Feed::Buffers);
            let what = format!("{} {variant} through {depay}", f.name);
            assert!(!reference.bufs.is_empty(), "{what}: output");
            assert_eq!(
                reference.pushes,
                reference.bufs.len(),
                "{what}: one by one, one push per buffer"
            );
            assert_eq!(reference.lists, 0, "{what}: one by one, no lists");
            if variant == "damaged" {
                assert_eq!(counter(&reference.stats, "malformed"), 1, "{what}");
                assert!(counter(&reference.stats, "dropped") >= 3, "{what}");
                assert!(
                    reference
                        .bufs
                        .iter()
                        .any(|b| b.flags.contains(gst::BufferFlags::DISCONT)),
                    "{what}: DISCONT after the gap"
                );
            }
            for feed in FEEDS.into_iter().skip(1) {
                let out = run(&depay, f.tail, &segments, feed);
                let what = format!("{what} fed as {feed:?}");
                assert_same_output(&what, &reference, &out);
                assert_eq!(out.discont_inside_list, 0, "{what}: DISCONT starts a list");
                let Feed::Lists(n) = feed else { continue };
                if f.one_to_one && n != 1 {
                    assert!(out.lists > 0, "{what}: lists out");
                    assert!(
                        out.pushes * 2 < out.bufs.len(),
                        "{what}: {} pushes for {} buffers",
                        out.pushes,
                        out.bufs.len()
                    );
                }
            }
        }
    }
}

fn format(name: &str) -> Format {
    formats().into_iter().find(|f| f.name == name).unwrap()
}

#[test]
fn h264_lists_like_buffers() {
    lists_like_buffers(&format("h264"));
}

#[test]
fn h265_lists_like_buffers() {
    lists_like_buffers(&format("h265"));
}

#[test]
fn l16_lists_like_buffers() {
    lists_like_buffers(&format("L16"));
}

#[test]
fn l24_lists_like_buffers() {
    lists_like_buffers(&format("L24"));
}

#[test]
fn opus_lists_like_buffers() {
    lists_like_buffers(&format("opus"));
}

#[test]
fn mp2t_lists_like_buffers() {
    lists_like_buffers(&format("mp2t"));
}

#[test]
fn vraw_lists_like_buffers() {
    lists_like_buffers(&format("vraw"));
}

/// A flow error downstream mid-list comes back from the list push, as it
/// would from the buffer push: NOT_LINKED with nothing linked.
#[test]
fn flow_error_from_a_list() {
    let f = format("L16");
    let (caps, packets) = capture(&f.front);
    let caps = gst::Caps::from_str(&caps.to_string()).unwrap();
    let mut h = gst_check::Harness::new("rtpfastL16depay");
    h.set_src_caps(caps);
    h.play();
    let mut list = gst::BufferList::new();
    for b in &packets[..10] {
        list.get_mut().unwrap().add(b.clone());
    }
    // Linked: the list goes through and comes out as one list's buffers.
    let push_list = |h: &gst_check::Harness, l: gst::BufferList| h.srcpad().unwrap().push_list(l);
    assert_eq!(push_list(&h, list), Ok(gst::FlowSuccess::Ok));
    assert_eq!(h.buffers_in_queue(), 10);
    let src = h.element().unwrap().static_pad("src").unwrap();
    let peer = src.peer().unwrap();
    src.unlink(&peer).unwrap();
    let mut more = gst::BufferList::new();
    for b in &packets[10..20] {
        more.get_mut().unwrap().add(b.clone());
    }
    assert_eq!(push_list(&h, more), Err(gst::FlowError::NotLinked));
}

/// A header extension for the test: one byte, a packet counter; every
/// tenth packet it asks the depayloader to update the output caps
/// (`x-count`), so a caps event comes mid-list.
mod count_ext {
    use gst::glib;
    use gst::subclass::prelude::*;
    use gst_rtp::prelude::*;
    use gst_rtp::subclass::prelude::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Called from `read()` with the packet's counter (mid-list).
    pub type Hook = Box<dyn Fn(u32) + Send + Sync>;

    #[derive(Default)]
    pub struct Imp {
        last: AtomicU32,
        /// Ask for caps updates (every 10th packet).
        pub updates: std::sync::atomic::AtomicBool,
        pub hook: std::sync::Mutex<Option<Hook>>,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for Imp {
        const NAME: &'static str = "RsRtpFastTestCountExt";
        type Type = CountExt;
        type ParentType = gst_rtp::RTPHeaderExtension;
    }

    impl ObjectImpl for Imp {}
    impl GstObjectImpl for Imp {}
    impl ElementImpl for Imp {
        fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
            static META: std::sync::LazyLock<gst::subclass::ElementMetadata> =
                std::sync::LazyLock::new(|| {
                    gst::subclass::ElementMetadata::new(
                        "Test counter extension",
                        "Network/Extension/RTPHeader",
                        "A counter that updates caps every 10th packet",
                        "rsrtpfast tests",
                    )
                });
            Some(&*META)
        }
    }

    impl RTPHeaderExtensionImpl for Imp {
        const URI: &'static str = "urn:rsrtpfast:test:count";

        fn supported_flags(&self) -> gst_rtp::RTPHeaderExtensionFlags {
            gst_rtp::RTPHeaderExtensionFlags::ONE_BYTE
        }

        fn max_size(&self, _input: &gst::BufferRef) -> usize {
            1
        }

        fn write(
            &self,
            _input: &gst::BufferRef,
            _flags: gst_rtp::RTPHeaderExtensionFlags,
            _output: &gst::BufferRef,
            _data: &mut [u8],
        ) -> Result<usize, gst::LoggableError> {
            Ok(0)
        }

        fn read(
            &self,
            _flags: gst_rtp::RTPHeaderExtensionFlags,
            data: &[u8],
            _output: &mut gst::BufferRef,
        ) -> Result<(), gst::LoggableError> {
            let n = data.first().copied().unwrap_or(0) as u32;
            self.last.store(n, Ordering::Relaxed);
            let updates = self.updates.load(Ordering::Relaxed);
            self.obj()
                .set_wants_update_non_rtp_src_caps(updates && n.is_multiple_of(10));
            if let Some(hook) = self.hook.lock().unwrap().as_ref() {
                hook(n);
            }
            Ok(())
        }

        fn update_non_rtp_src_caps(
            &self,
            caps: &mut gst::CapsRef,
        ) -> Result<(), gst::LoggableError> {
            let n = self.last.load(Ordering::Relaxed) as i32;
            caps.structure_mut(0).unwrap().set("x-count", n);
            Ok(())
        }
    }

    glib::wrapper! {
        pub struct CountExt(ObjectSubclass<Imp>)
            @extends gst_rtp::RTPHeaderExtension, gst::Element, gst::Object;
    }

    pub fn new(id: u32) -> gst_rtp::RTPHeaderExtension {
        let ext = with_hook(id, None);
        ext.downcast_ref::<CountExt>()
            .unwrap()
            .imp()
            .updates
            .store(true, Ordering::Relaxed);
        ext
    }

    /// No caps updates; `hook` called for every packet read.
    pub fn with_hook(id: u32, hook: Option<Hook>) -> gst_rtp::RTPHeaderExtension {
        let ext: CountExt = glib::Object::new();
        *ext.imp().hook.lock().unwrap() = hook;
        let ext = ext.upcast::<gst_rtp::RTPHeaderExtension>();
        ext.set_id(id);
        ext
    }
}

/// `packet` (no CSRCs, no extension) with a one-byte extension element of
/// id 1 carrying `n`.
fn with_count(packet: &gst::Buffer, n: u8) -> gst::Buffer {
    let map = packet.map_readable().unwrap();
    assert_eq!(map[0] & 0x1f, 0, "no CSRCs or extension yet");
    let mut v = Vec::with_capacity(map.len() + 8);
    v.push(map[0] | 0x10);
    v.extend_from_slice(&map[1..12]);
    v.extend_from_slice(&[0xBE, 0xDE, 0, 1, 1 << 4, n, 0, 0]);
    v.extend_from_slice(&map[12..]);
    let mut b = gst::Buffer::from_mut_slice(v);
    let bm = b.get_mut().unwrap();
    bm.set_pts(packet.pts());
    bm.set_dts(packet.dts());
    bm.set_duration(packet.duration());
    b
}

/// A caps event a header extension asks for in the middle of a list comes
/// out between the same buffers as one by one (the collected output list
/// is pushed before it).
#[test]
fn caps_from_a_header_extension_mid_list() {
    let f = format("L16");
    let (caps, packets) = capture(&f.front);
    let packets: Vec<gst::Buffer> = packets
        .iter()
        .enumerate()
        .map(|(i, p)| with_count(p, i as u8))
        .collect();
    let segments = [(caps, packets)];
    let add = |d: &gst::Element| d.emit_by_name::<()>("add-extension", &[&count_ext::new(1)]);
    let reference = run_with(f.element, "", &segments, Feed::Buffers, add);
    let caps_events = reference
        .timeline
        .iter()
        .filter(|e| e.contains("x-count"))
        .count();
    assert!(caps_events >= 3, "caps updates: {:?}", reference.timeline);
    for feed in [Feed::Lists(7), Feed::Lists(32), Feed::Lists(0)] {
        let out = run_with(f.element, "", &segments, feed, add);
        let what = format!("L16 with a caps-updating extension fed as {feed:?}");
        assert_same_output(&what, &reference, &out);
        assert!(out.lists > 0, "{what}: lists out");
    }
}

/// Caps the format itself sends mid-list (`set_src_caps`: L16 choosing the
/// byte order again after downstream asked to reconfigure in the middle of
/// a list) come out between the same buffers as one by one.
#[test]
fn caps_from_a_renegotiation_mid_list() {
    let f = format("L16");
    let (caps, packets) = capture(&f.front);
    let packets: Vec<gst::Buffer> = packets
        .iter()
        .enumerate()
        .map(|(i, p)| with_count(p, i as u8))
        .collect();
    let segments = [(caps, packets)];
    // At packet 25 (read while its output is decorated): the sink now wants
    // little-endian and our src pad is told to reconfigure; the next
    // packet's handle_packet renegotiates.
    let setup = |d: &gst::Element| {
        let pipeline = d.parent().unwrap().downcast::<gst::Bin>().unwrap();
        let sink = pipeline.by_name("sink").unwrap();
        let src = d.static_pad("src").unwrap();
        let hook: count_ext::Hook = Box::new(move |n| {
            if n == 25 {
                let le: gst::Caps = "audio/x-raw,format=S16LE".parse().unwrap();
                sink.set_property("caps", &le);
                src.mark_reconfigure();
            }
        });
        d.emit_by_name::<()>("add-extension", &[&count_ext::with_hook(1, Some(hook))]);
    };
    let reference = run_with(f.element, "", &segments, Feed::Buffers, setup);
    let caps: Vec<&String> = reference
        .timeline
        .iter()
        .filter(|e| e.starts_with("caps"))
        .collect();
    assert!(
        caps.len() == 2 && caps[1].contains("S16LE"),
        "a second caps event, little-endian: {caps:?}"
    );
    let first_le = reference
        .timeline
        .iter()
        .position(|e| e.contains("S16LE"))
        .unwrap();
    assert!(
        reference.timeline[first_le - 1] == "buffer" && first_le + 1 < reference.timeline.len(),
        "mid-stream: {:?}",
        reference.timeline
    );
    for feed in [Feed::Lists(7), Feed::Lists(32), Feed::Lists(0)] {
        let out = run_with(f.element, "", &segments, feed, setup);
        let what = format!("L16 renegotiating mid-list, fed as {feed:?}");
        assert_same_output(&what, &reference, &out);
        assert!(out.lists > 0, "{what}: lists out");
    }
}
