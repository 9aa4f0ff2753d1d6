//! Depayloaders against the stock ones (gst-plugins-good 1.22) on the same
//! input, fed as real pipelines feed them: what a consumer sees (bytes,
//! PTS/DTS/duration, buffer flags, caps) must be the same.

mod common;

use common::*;
use std::str::FromStr;

/// What a consumer sees of one output buffer.
#[derive(Debug, PartialEq, Eq, Clone)]
struct Seen {
    bytes: Vec<u8>,
    pts: Option<gst::ClockTime>,
    dts: Option<gst::ClockTime>,
    duration: Option<gst::ClockTime>,
    flags: gst::BufferFlags,
}

fn seen(b: &gst::Buffer) -> Seen {
    Seen {
        bytes: b.map_readable().unwrap().to_vec(),
        pts: b.pts(),
        dts: b.dts(),
        duration: b.duration(),
        flags: b.flags()
            & (gst::BufferFlags::MARKER
                | gst::BufferFlags::DISCONT
                | gst::BufferFlags::DELTA_UNIT
                | gst::BufferFlags::HEADER
                | gst::BufferFlags::GAP
                | gst::BufferFlags::DROPPABLE
                | gst::BufferFlags::RESYNC
                | gst::BufferFlags::CORRUPTED),
    }
}

fn short(s: &Seen) -> String {
    format!(
        "{}B pts={:?} dts={:?} dur={:?} {:?}",
        s.bytes.len(),
        s.pts,
        s.dts,
        s.duration,
        s.flags
    )
}

/// Compare stock's output with ours, buffer by buffer.
fn assert_same(what: &str, stock: &[gst::Buffer], ours: &[gst::Buffer]) {
    let s: Vec<Seen> = stock.iter().map(seen).collect();
    let o: Vec<Seen> = ours.iter().map(seen).collect();
    let describe = |v: &[Seen]| v.iter().map(short).collect::<Vec<_>>().join("\n  ");
    assert_eq!(
        s.len(),
        o.len(),
        "{what}: buffer count\nstock:\n  {}\nours:\n  {}",
        describe(&s),
        describe(&o)
    );
    for (i, (a, b)) in s.iter().zip(&o).enumerate() {
        assert!(
            a == b,
            "{what}: buffer {i}: stock {} / ours {}{}",
            short(a),
            short(b),
            if a.bytes != b.bytes {
                " (bytes differ)"
            } else {
                ""
            }
        );
    }
}

/// `front ! <depay> ! appsink`, once with `stock` and once with `ours`.
fn both(front: &str, stock: &str, ours: &str, tail: &str) -> [(gst::Caps, Vec<gst::Buffer>); 2] {
    [stock, ours].map(|depay| {
        let desc = format!("{front} ! {depay} ! {tail} appsink name=sink sync=false");
        let (caps, bufs) = run_collect(&desc, None);
        (caps.expect("depayloader caps"), bufs)
    })
}

/// Hand-built RTP packets pushed with appsrc into `<depay> ! appsink`, once
/// with `stock` and once with `ours`.
fn both_from_packets(
    caps: &str,
    packets: &[gst::Buffer],
    stock: &str,
    ours: &str,
    tail: &str,
) -> [(gst::Caps, Vec<gst::Buffer>); 2] {
    let caps = gst::Caps::from_str(caps).unwrap();
    [stock, ours].map(|depay| {
        let desc = format!("appsrc name=src ! {depay} ! {tail} appsink name=sink sync=false");
        let input: Vec<gst::Buffer> = packets.iter().map(|b| b.copy_deep().unwrap()).collect();
        let (caps, bufs) = run_collect(&desc, Some((&caps, &input)));
        (caps.expect("depayloader caps"), bufs)
    })
}

/// One RTP packet (version 2, pt 96, ssrc 0x12345678) as a receiver gets it
/// from a socket: PTS only, no duration, no flags.
fn rtp(seq: u16, ts: u32, marker: bool, payload: &[u8], pts_ms: u64) -> gst::Buffer {
    init();
    let mut v = vec![0x80, 96 | if marker { 0x80 } else { 0 }];
    v.extend_from_slice(&seq.to_be_bytes());
    v.extend_from_slice(&ts.to_be_bytes());
    v.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    v.extend_from_slice(payload);
    let mut b = gst::Buffer::from_mut_slice(v);
    b.get_mut()
        .unwrap()
        .set_pts(gst::ClockTime::from_mseconds(pts_ms));
    b
}

// ---- Opus ----

const OPUS_RTP_CAPS: &str =
    "application/x-rtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=96";

/// `opusenc ! rtpopuspay ! depay` in one process: rtpopusdepay's output
/// takes the duration and the flags of the RTP buffer it came from
/// (`gst_rtp_buffer_get_payload_buffer` copies them, the base class fills
/// in the duration), so the first buffer carries the MARKER rtpopuspay put
/// on its first packet and every buffer the encoder's duration (13.5 ms
/// first and 6.5 ms last with audiotestsrc's clipping: not derived from
/// the TOC).
#[test]
fn opus_duration_and_marker_from_the_payloader() {
    let front = "audiotestsrc num-buffers=20 samplesperbuffer=960 ! \
                 audio/x-raw,rate=48000,channels=2 ! opusenc ! rtpopuspay";
    let [(sc, s), (oc, o)] = both(front, "rtpopusdepay", "rtpfastopusdepay", "");
    assert_eq!(sc, oc);
    assert!(s[0].flags().contains(gst::BufferFlags::MARKER));
    assert!(s[1].duration().is_some());
    assert_same("opusenc ! rtpopuspay", &s, &o);
}

/// Packets as a socket delivers them: stock gives no duration and no MARKER
/// (the RTP marker bit is not looked at), and a packet with an empty
/// payload becomes a 0-byte buffer with the packet's PTS (opusdec conceals
/// a lost frame for it).
#[test]
fn opus_bare_packets_and_empty_payload() {
    let frame = |i: u8| [0xfc, i, 1, 2, 3];
    let packets = [
        rtp(10, 0, true, &frame(0), 0),
        rtp(11, 960, false, &frame(1), 20),
        rtp(12, 1920, false, &[], 40),
        rtp(13, 2880, false, &frame(3), 60),
        // A gap, then an empty payload first after it: DISCONT on it.
        rtp(15, 4800, false, &[], 100),
        rtp(16, 5760, true, &frame(6), 120),
    ];
    let [(sc, s), (oc, o)] = both_from_packets(
        OPUS_RTP_CAPS,
        &packets,
        "rtpopusdepay",
        "rtpfastopusdepay",
        "",
    );
    assert_eq!(sc, oc);
    assert_eq!(s.len(), 6, "stock pushes one buffer per packet");
    assert_eq!(s[2].size(), 0);
    assert_same("bare packets", &s, &o);
}

/// Flags and duration an upstream element put on the RTP buffers come
/// through, as stock's payload sub-buffer copies them.
#[test]
fn opus_input_flags_and_duration_come_through() {
    let flagged = |seq: u16, flags: gst::BufferFlags, payload: &[u8]| {
        let mut b = rtp(seq, seq as u32 * 960, false, payload, seq as u64 * 20);
        let bm = b.get_mut().unwrap();
        bm.set_duration(gst::ClockTime::from_mseconds(20));
        bm.set_flags(flags);
        b
    };
    let packets = [
        flagged(1, gst::BufferFlags::MARKER, &[0xfc, 1]),
        flagged(
            2,
            gst::BufferFlags::DELTA_UNIT | gst::BufferFlags::HEADER,
            &[0xfc, 2],
        ),
        flagged(
            3,
            gst::BufferFlags::DROPPABLE | gst::BufferFlags::RESYNC,
            &[0xfc, 3],
        ),
        flagged(4, gst::BufferFlags::CORRUPTED | gst::BufferFlags::GAP, &[]),
        flagged(5, gst::BufferFlags::empty(), &[0xfc, 5]),
    ];
    let [(_, s), (_, o)] = both_from_packets(
        OPUS_RTP_CAPS,
        &packets,
        "rtpopusdepay",
        "rtpfastopusdepay",
        "",
    );
    assert_same("flagged packets", &s, &o);
}

// ---- H.264 / H.265 ----

fn nal_front(codec: Codec, frames: u32, enc_props: &str, pay_props: &str) -> String {
    format!(
        "videotestsrc num-buffers={frames} pattern=ball ! \
         video/x-raw,width=320,height=240,framerate=30/1,format=I420 ! {} {enc_props} ! \
         {}parse ! rtp{}pay mtu=600 {pay_props}",
        codec.encoder(),
        codec.name(),
        codec.name()
    )
}

/// The RTP packets (and caps) `front` makes, to feed both depayloaders the
/// same packets (the encoders are not bit-exact from run to run).
fn capture(front: &str) -> (gst::Caps, Vec<gst::Buffer>) {
    let (caps, packets) = run_collect(&format!("{front} ! appsink name=sink sync=false"), None);
    (caps.expect("payloader caps"), packets)
}

fn replay(
    caps: &gst::Caps,
    packets: &[gst::Buffer],
    stock: &str,
    ours: &str,
    tail: &str,
) -> [(gst::Caps, Vec<gst::Buffer>); 2] {
    both_from_packets(&caps.to_string(), packets, stock, ours, tail)
}

fn depays(codec: Codec) -> (String, String) {
    let n = codec.name();
    (format!("rtp{n}depay"), format!("rtpfast{n}depay"))
}

/// Output formats a consumer may ask for.
fn nal_tails(codec: Codec) -> [String; 3] {
    let m = codec.media();
    let packed = if codec == Codec::H264 { "avc" } else { "hvc1" };
    [
        format!("{m},stream-format=byte-stream,alignment=au !"),
        format!("{m},stream-format=byte-stream,alignment=nal !"),
        format!("{m},stream-format={packed},alignment=au !"),
    ]
}

/// `encoder ! parse ! rtpXpay ! depay` in every output format: the same
/// buffers (bytes, PTS/DTS, MARKER where the RTP marker closed an access
/// unit or, with alignment=nal, on the last NAL unit of a marker packet,
/// DELTA_UNIT: parameter sets count as key units, as in stock).
fn same_output_as_stock(codec: Codec, enc_props: &str, pay_props: &str) {
    let (caps, packets) = capture(&nal_front(codec, 25, enc_props, pay_props));
    let (stock, ours) = depays(codec);
    for tail in nal_tails(codec) {
        let [(sc, s), (oc, o)] = replay(&caps, &packets, &stock, &ours, &tail);
        assert_same_caps(codec, &tail, &sc, &oc);
        assert!(
            s.iter()
                .any(|b| b.flags().contains(gst::BufferFlags::MARKER)),
            "{tail}: stock sets MARKER"
        );
        assert_same(&format!("{} {pay_props} {tail}", codec.name()), &s, &o);
    }
}

/// (One slice per frame with `config-interval=-1`: rtph264pay repeats
/// SPS/PPS before every IDR slice, and rtph264depay then splits a
/// many-slice frame in two, see `stock_splits_a_frame_at_repeated_sps`.)
/// The parameter sets of an hvcC (type, bytes), without its header.
fn hvcc_nals(codec_data: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 23;
    for _ in 0..codec_data[22] {
        let kind = codec_data[at] & 0x3f;
        let n = u16::from_be_bytes([codec_data[at + 1], codec_data[at + 2]]);
        at += 3;
        for _ in 0..n {
            let len = u16::from_be_bytes([codec_data[at], codec_data[at + 1]]) as usize;
            out.push((kind, codec_data[at + 2..at + 2 + len].to_vec()));
            at += 2 + len;
        }
    }
    out
}

/// The same output caps as stock: H.264 avc with `profile` and `level`
/// from the SPS (byte-stream without them, even with sprop-parameter-sets
/// in the RTP caps, as stock). H.265: the
/// same fields (stock sets no profile/tier/level), and hvc1's codec_data
/// with the same parameter sets, but its header is ours: rtph265depay 1.22
/// copies the SPS's first 12 bytes (NAL header included, emulation
/// prevention bytes kept) where ISO/IEC 14496-15 wants profile_tier_level,
/// and clears array_completeness.
fn assert_same_caps(codec: Codec, what: &str, stock: &gst::Caps, ours: &gst::Caps) {
    if codec == Codec::H264 || !what.contains("hvc1") {
        assert_eq!(stock, ours, "{what}: caps");
        if what.contains("avc") {
            let s = stock.structure(0).unwrap();
            assert!(
                s.has_field("profile") && s.has_field("level"),
                "{what}: {stock}"
            );
        }
        return;
    }
    let (mut s, mut o) = (stock.copy(), ours.copy());
    let data = |c: &gst::Caps| {
        let b = c
            .structure(0)
            .unwrap()
            .get::<gst::Buffer>("codec_data")
            .unwrap();
        let v = b.map_readable().unwrap().to_vec();
        v
    };
    let (sd, od) = (data(stock), data(ours));
    assert_eq!(
        hvcc_nals(&sd),
        hvcc_nals(&od),
        "{what}: codec_data parameter sets"
    );
    assert_eq!(
        od[1..13],
        {
            // general_profile_space .. general_level_idc, unescaped, from the SPS.
            let sps = &hvcc_nals(&od).into_iter().find(|n| n.0 == 33).unwrap().1;
            let mut ptl = Vec::new();
            let mut zeros = 0;
            for &b in &sps[3..] {
                if zeros >= 2 && b == 3 {
                    zeros = 0;
                    continue;
                }
                zeros = if b == 0 { zeros + 1 } else { 0 };
                ptl.push(b);
                if ptl.len() == 12 {
                    break;
                }
            }
            ptl
        }[..]
    );
    for c in [s.make_mut(), o.make_mut()] {
        c.structure_mut(0).unwrap().remove_field("codec_data");
    }
    assert_eq!(s, o, "{what}: caps besides codec_data");
}

#[test]
fn h264_same_output_as_stock() {
    same_output_as_stock(Codec::H264, "threads=1", "config-interval=-1");
    same_output_as_stock(Codec::H264, "", "aggregate-mode=zero-latency");
    same_output_as_stock(Codec::H264, "", "");
}

#[test]
fn h265_same_output_as_stock() {
    same_output_as_stock(Codec::H265, "", "config-interval=-1");
    same_output_as_stock(Codec::H265, "", "aggregate-mode=zero-latency");
}

/// Deliberate difference: x264enc's many-slice frames through rtph264pay
/// `config-interval=-1` (SPS/PPS repeated before each IDR slice): the
/// stock depayloader takes the repeated SPS for the end of the picture and
/// pushes the keyframe as two "access units" with the same PTS, the first
/// without MARKER; ours keeps the frame whole (alignment=au means one
/// picture per buffer).
#[test]
fn stock_splits_a_frame_at_repeated_sps() {
    let (caps, packets) = capture(&nal_front(Codec::H264, 3, "", "config-interval=-1"));
    let (stock, ours) = depays(Codec::H264);
    let tail = &nal_tails(Codec::H264)[0];
    let [(_, s), (_, o)] = replay(&caps, &packets, &stock, &ours, tail);
    let idr_slices = |b: &gst::Buffer| {
        annexb_nals(&b.map_readable().unwrap())
            .iter()
            .filter(|n| n[0] & 0x1f == 5)
            .count()
    };
    assert_eq!(idr_slices(&o[0]), 2, "x264enc made two slices");
    assert_eq!(o.len(), 3);
    assert_eq!(s.len(), 4, "stock splits the keyframe");
    assert_eq!((idr_slices(&s[0]), idr_slices(&s[1])), (1, 1));
    assert_eq!(s[0].pts(), s[1].pts());
    assert!(!s[0].flags().contains(gst::BufferFlags::MARKER));
    assert!(o[0].flags().contains(gst::BufferFlags::MARKER));
    assert_same("after the keyframe", &s[2..], &o[1..]);
}

/// RTP packets for `aus` (byte-stream access units): parameter sets in an
/// aggregation packet (STAP-A / AP) of their own, `param_ts_ahead` ticks
/// before the unit they came with, other NAL units one per packet, the
/// marker on each unit's last.
fn packets_with_params_ahead(
    codec: Codec,
    aus: &[gst::Buffer],
    param_ts_ahead: u32,
) -> Vec<gst::Buffer> {
    let mut out = Vec::new();
    let mut seq = 100u16;
    for (i, au) in aus.iter().enumerate() {
        let ts = 3000 * (i as u32 + 1);
        let pts_ms = 1000 + 33 * i as u64;
        let nals = annexb_nals(&au.map_readable().unwrap());
        let (params, rest): (Vec<_>, Vec<_>) = nals.into_iter().partition(|n| codec.is_param(n));
        if !params.is_empty() {
            let mut agg = match codec {
                Codec::H264 => vec![0x78],
                Codec::H265 => vec![48 << 1, 1],
            };
            for p in &params {
                agg.extend_from_slice(&(p.len() as u16).to_be_bytes());
                agg.extend_from_slice(p);
            }
            out.push(rtp(seq, ts - param_ts_ahead, false, &agg, pts_ms - 10));
            seq += 1;
        }
        for (k, nal) in rest.iter().enumerate() {
            out.push(rtp(seq, ts, k + 1 == rest.len(), nal, pts_ms));
            seq += 1;
        }
    }
    out
}

fn rtp_caps(codec: Codec) -> String {
    format!(
        "application/x-rtp,media=video,clock-rate=90000,encoding-name={},payload=96",
        codec.name().to_uppercase()
    )
}

/// Parameter sets sent ahead in their own STAP-A / AP, with a timestamp of
/// their own: stock keeps them until a picture comes and outputs them with
/// it (the picture's time, key unit); they are never an access unit alone.
fn params_ahead_go_with_the_picture(codec: Codec) {
    let media = encode(codec, 4, 320, 240);
    let (stock, ours) = depays(codec);
    for ahead in [0, 1500] {
        let packets = packets_with_params_ahead(codec, &media.frames, ahead);
        for tail in nal_tails(codec) {
            let [(sc, s), (oc, o)] =
                both_from_packets(&rtp_caps(codec), &packets, &stock, &ours, &tail);
            let what = format!("{} params {ahead} ticks ahead, {tail}", codec.name());
            if tail.contains("byte-stream") {
                assert_eq!(sc, oc, "{what}");
            }
            if tail.contains("alignment=au") {
                assert_eq!(
                    s.len(),
                    media.frames.len(),
                    "{what}: stock, one buffer per frame"
                );
            }
            assert_same(&what, &s, &o);
        }
    }
}

#[test]
fn h264_params_ahead_go_with_the_picture() {
    params_ahead_go_with_the_picture(Codec::H264);
}

#[test]
fn h265_params_ahead_go_with_the_picture() {
    params_ahead_go_with_the_picture(Codec::H265);
}

// ---- Downstream allocator ----

mod counting {
    //! An allocator that counts its allocations (system memory underneath).
    use gst::glib;
    use gst::glib::translate::IntoGlibPtr;
    use gst::prelude::*;
    use gst::subclass::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    pub struct Imp {
        pub allocs: AtomicUsize,
    }

    #[glib::object_subclass]
    impl ObjectSubclass for Imp {
        const NAME: &'static str = "RsRtpFastTestCountingAllocator";
        type Type = CountingAllocator;
        type ParentType = gst::Allocator;
    }

    impl ObjectImpl for Imp {}
    impl GstObjectImpl for Imp {}

    // SAFETY: `alloc` returns either null (failure) or a new, valid
    // GstMemory whose one reference goes to the caller, made by the system
    // allocator, so that allocator's own vfuncs (map, share, free) handle it;
    // nothing else is overridden.
    unsafe impl AllocatorImpl for Imp {
        unsafe fn alloc(
            &self,
            size: usize,
            params: &gst::AllocationParams,
        ) -> *mut gst::ffi::GstMemory {
            self.allocs.fetch_add(1, Ordering::Relaxed);
            let sysmem = gst::Allocator::find(None).unwrap();
            match sysmem.alloc(size, Some(params)) {
                // A new memory, its reference handed to the caller.
                Ok(mem) => mem.into_glib_ptr(),
                Err(_) => std::ptr::null_mut(),
            }
        }
    }

    glib::wrapper! {
        pub struct CountingAllocator(ObjectSubclass<Imp>) @extends gst::Allocator, gst::Object;
    }

    impl CountingAllocator {
        pub fn allocs(&self) -> usize {
            self.imp().allocs.load(Ordering::Relaxed)
        }
    }
}

/// `packets` into `depay`, whose downstream answers the ALLOCATION query
/// with `allocator`; the output and how many times the allocator was used.
fn with_downstream_allocator(
    caps: &gst::Caps,
    packets: &[gst::Buffer],
    depay: &str,
    tail: &str,
) -> (Vec<gst::Buffer>, usize) {
    use gst::prelude::*;
    let allocator: counting::CountingAllocator = gst::glib::Object::new();
    let (pipeline, src) = launch_with_src(&format!(
        "appsrc name=src format=time ! {depay} ! {tail} appsink name=sink sync=false"
    ));
    src.set_caps(Some(caps));
    let sink = app_sink(&pipeline);
    let offered = allocator.clone();
    sink.static_pad("sink").unwrap().add_probe(
        gst::PadProbeType::QUERY_DOWNSTREAM,
        move |_, info| {
            if let Some(gst::PadProbeData::Query(q)) = &mut info.data {
                if let gst::QueryViewMut::Allocation(a) = q.view_mut() {
                    a.add_allocation_param(Some(&offered), gst::AllocationParams::default());
                    return gst::PadProbeReturn::Handled;
                }
            }
            gst::PadProbeReturn::Ok
        },
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    for p in packets {
        src.push_buffer(p.copy_deep().unwrap()).unwrap();
    }
    src.end_of_stream().unwrap();
    let mut out = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        out.push(sample.buffer_owned().unwrap());
    }
    pipeline.set_state(gst::State::Null).unwrap();
    (out, allocator.allocs())
}

/// As stock, access units (alignment=au) are written into the memory of
/// the allocator downstream offers (one allocation per unit); NAL units
/// (alignment=nal) are not.
fn downstream_allocator_like_stock(codec: Codec) {
    let (caps, packets) = capture(&nal_front(codec, 12, "", ""));
    let (stock, ours) = depays(codec);
    for tail in nal_tails(codec) {
        let (s, s_allocs) = with_downstream_allocator(&caps, &packets, &stock, &tail);
        let (o, o_allocs) = with_downstream_allocator(&caps, &packets, &ours, &tail);
        let what = format!("{} {tail}", codec.name());
        if tail.contains("alignment=au") {
            assert_eq!(s_allocs, s.len(), "{what}: stock allocates each unit");
        } else {
            assert_eq!(s_allocs, 0, "{what}: stock");
        }
        assert_eq!(
            o_allocs, s_allocs,
            "{what}: allocations from downstream's allocator"
        );
        assert_same(&what, &s, &o);
    }
}

#[test]
fn h264_downstream_allocator_like_stock() {
    downstream_allocator_like_stock(Codec::H264);
}

#[test]
fn h265_downstream_allocator_like_stock() {
    downstream_allocator_like_stock(Codec::H265);
}
