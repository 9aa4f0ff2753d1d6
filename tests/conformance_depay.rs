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
    /// Its metas in order: API name (reference timestamps with their
    /// reference and time, net addresses with the address).
    metas: Vec<String>,
}

fn describe_meta(m: &gst::MetaRef<'_, gst::Meta>) -> String {
    let name = m.api().name().to_string();
    if let Some(r) = m.downcast_ref::<gst::ReferenceTimestampMeta>() {
        return format!("{name}({} {})", r.reference(), r.timestamp());
    }
    if let Some(a) = m.downcast_ref::<gst_net::NetAddressMeta>() {
        use gst_net::gio::prelude::*;
        let addr = a.addr();
        let addr = addr
            .downcast_ref::<gst_net::gio::InetSocketAddress>()
            .map(|a| format!("{}:{}", a.address(), a.port()));
        return format!("{name}({addr:?})");
    }
    name
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
        metas: b
            .iter_meta::<gst::Meta>()
            .map(|m| describe_meta(&m))
            .collect(),
    }
}

fn short(s: &Seen) -> String {
    format!(
        "{}B pts={:?} dts={:?} dur={:?} {:?} {:?}",
        s.bytes.len(),
        s.pts,
        s.dts,
        s.duration,
        s.flags,
        s.metas
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

// ---- Events, metas, packet loss, queries ----

/// What one depayloader branch gave: output buffers and the events that
/// reached its sink.
struct Branch {
    bufs: Vec<gst::Buffer>,
    events: Vec<SeenEvent>,
}

/// Metas a receiver's packets carry: udpsrc's net address, and an NTP
/// reference timestamp (RFC 7273 / rtpjitterbuffer `add-reference-timestamp-meta`)
/// that repeats on every second packet, as it does when several packets
/// share one RTP timestamp (stock drops a repeated one).
fn add_receiver_metas(b: &mut gst::BufferRef, n: u64) {
    let addr = gst_net::gio::InetSocketAddress::from_string("127.0.0.1", 5004).unwrap();
    gst_net::NetAddressMeta::add(b, &addr);
    let ntp = gst::Caps::new_empty_simple("timestamp/x-ntp");
    gst::ReferenceTimestampMeta::add(
        b,
        &ntp,
        gst::ClockTime::from_seconds(3_900_000_000) + gst::ClockTime::from_mseconds(n / 2),
        None,
    );
}

/// `head ! tee`, one branch into `stock ! tail appsink`, one into
/// `ours ! tail appsink` (both get the very same packets and events);
/// with `metas`, each packet gets [`add_receiver_metas`] at the tee.
/// `feed` drives `appsrc name=src` when `head` has one.
fn side_by_side(
    head: &str,
    stock: &str,
    ours: &str,
    tail: &str,
    metas: bool,
    feed: impl FnOnce(&gst::Pipeline),
) -> [Branch; 2] {
    use gst::prelude::*;
    init();
    let desc = format!(
        "{head} ! tee name=t \
         t. ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=0 ! {stock} ! {tail} appsink name=stock sync=false \
         t. ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=0 ! {ours} ! {tail} appsink name=ours sync=false"
    );
    let pipeline = gst::parse::launch(&desc)
        .unwrap_or_else(|e| panic!("{desc}: {e}"))
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sinks = stock_and_ours_sinks(&pipeline);
    let events = sinks.each_ref().map(record_events);
    // On each depayloader's sink pad a copy of the tee's packet, so the
    // depayloader gets a writable buffer, as from udpsrc (with `metas`, the
    // receiver's metas on it). Stock's GstRTPBaseDepayload 1.22.0 must not
    // get a shared packet: on a seqnum gap it makes the packet writable and
    // then unmaps the original, which the other branch may have freed by
    // then (a use-after-free: `gst_buffer_unmap: assertion 'GST_IS_BUFFER'`).
    for depay in sinks.iter().map(|s| {
        let pad = s.static_pad("sink").unwrap().peer().unwrap();
        let mut e = pad.parent_element().unwrap();
        // Up through the tail (capsfilter) to the depayloader.
        while !e.name().starts_with("rtp") {
            e = e
                .static_pad("sink")
                .unwrap()
                .peer()
                .unwrap()
                .parent_element()
                .unwrap();
        }
        e
    }) {
        let n = std::sync::atomic::AtomicU64::new(0);
        depay.static_pad("sink").unwrap().add_probe(
            gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
            move |_, info| {
                let next = || n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let own = |b: &mut gst::BufferRef| {
                    if metas {
                        add_receiver_metas(b, next());
                    }
                };
                match &mut info.data {
                    Some(gst::PadProbeData::Buffer(b)) => own(b.make_mut()),
                    Some(gst::PadProbeData::BufferList(l)) => {
                        l.make_mut().foreach_mut(|mut b, _| {
                            own(b.make_mut());
                            std::ops::ControlFlow::Continue(Some(b))
                        });
                    }
                    _ => {}
                }
                gst::PadProbeReturn::Ok
            },
        );
    }
    pipeline.set_state(gst::State::Playing).unwrap();
    feed(&pipeline);
    let bufs = sinks.each_ref().map(pull_buffers);
    assert_no_bus_error(&pipeline, &desc);
    pipeline.set_state(gst::State::Null).unwrap();
    let [s, o] = bufs;
    let [se, oe] = events.map(|e| e.lock().unwrap().clone());
    [
        Branch {
            bufs: s,
            events: se,
        },
        Branch {
            bufs: o,
            events: oe,
        },
    ]
}

/// Stock and ours gave the same buffers (metas included) and events.
fn assert_same_branches(what: &str, [s, o]: &[Branch; 2]) {
    if std::env::var_os("CONFORMANCE_DUMP").is_some() {
        for (i, b) in s.bufs.iter().enumerate() {
            eprintln!("stock {i}: {}", short(&seen(b)));
        }
        for (i, b) in o.bufs.iter().enumerate() {
            eprintln!("ours {i}: {}", short(&seen(b)));
        }
        eprintln!("stock events {:?}\nours events {:?}", s.events, o.events);
    }
    let show = |v: &[SeenEvent]| {
        v.iter()
            .map(|(e, c)| match c {
                Some(c) => format!("{e} {c}"),
                None => e.clone(),
            })
            .collect::<Vec<_>>()
            .join("\n  ")
    };
    assert!(
        s.events == o.events,
        "{what}: events downstream\nstock:\n  {}\nours:\n  {}",
        show(&s.events),
        show(&o.events)
    );
    assert_same(what, &s.bufs, &o.bufs);
}

/// A realistic stream (`front` ends in a stock payloader) into both
/// depayloaders, the packets carrying a receiver's metas.
fn events_and_metas(front: &str, stock: &str, ours: &str, tail: &str) -> [Branch; 2] {
    events_like_stock(front, stock, ours, tail, true)
}

fn events_like_stock(front: &str, stock: &str, ours: &str, tail: &str, metas: bool) -> [Branch; 2] {
    let out = side_by_side(front, stock, ours, tail, metas, |_| ());
    assert!(!out[0].bufs.is_empty(), "{front} ! {stock}: output");
    assert!(
        out[0].events.iter().any(|(e, _)| e.starts_with("segment")),
        "{front} ! {stock}: a segment"
    );
    assert_same_branches(&format!("{front} ! {stock} ! {tail}"), &out);
    out
}

const L16_FRONT: &str = "audiotestsrc num-buffers=10 samplesperbuffer=441 ! \
     audio/x-raw,format=S16BE,rate=44100,channels=2 ! rtpL16pay";
const L24_FRONT: &str = "audiotestsrc num-buffers=10 samplesperbuffer=480 ! \
     audio/x-raw,format=S24BE,rate=48000,channels=2 ! rtpL24pay";
const OPUS_FRONT: &str = "audiotestsrc num-buffers=10 samplesperbuffer=960 ! \
     audio/x-raw,rate=48000,channels=2 ! opusenc ! rtpopuspay";
const MP2T_FRONT: &str = "videotestsrc num-buffers=10 pattern=ball ! \
     video/x-raw,width=320,height=240,framerate=30/1,format=I420 ! \
     x264enc speed-preset=ultrafast threads=1 ! mpegtsmux ! rtpmp2tpay";
const VRAW_FRONT: &str = "videotestsrc num-buffers=3 ! \
     video/x-raw,format=UYVY,width=320,height=240,framerate=30/1 ! rtpvrawpay";

fn h26x_front(codec: Codec) -> String {
    nal_front(codec, 10, "", "")
}

#[test]
fn events_and_metas_audio() {
    events_and_metas(L16_FRONT, "rtpL16depay", "rtpfastL16depay", "");
    events_and_metas(L24_FRONT, "rtpL24depay", "rtpfastL24depay", "");
    events_and_metas(OPUS_FRONT, "rtpopusdepay", "rtpfastopusdepay", "");
}

#[test]
fn events_and_metas_mp2t_and_vraw() {
    events_and_metas(MP2T_FRONT, "rtpmp2tdepay", "rtpfastmp2tdepay", "");
    events_and_metas(VRAW_FRONT, "rtpvrawdepay", "rtpfastvrawdepay", "");
}

/// The same buffers without their metas.
fn without_metas(bufs: &mut [gst::Buffer]) {
    for b in bufs {
        b.make_mut().foreach_meta_mut(|_| {
            std::ops::ControlFlow::Continue(gst::buffer::BufferMetaForeachAction::Remove)
        });
    }
}

/// Events and metas like stock's: each NAL unit of an output takes the
/// untagged and video metas of its packet (a fragmented one: of its first
/// fragment's), h264parse's SEI metas (through rtph264pay) and a
/// receiver's reference timestamps alike.
#[test]
fn events_and_metas_h26x() {
    for codec in [Codec::H264, Codec::H265] {
        let (stock, ours) = depays(codec);
        for tail in nal_tails(codec) {
            let front = h26x_front(codec);
            if codec == Codec::H265 && tail.contains("hvc1") {
                continue; // our hvcC header (see `assert_same_caps`)
            }
            events_and_metas(&front, &stock, &ours, &tail);
        }
    }
}

/// The `GstRTPPacketLost` event rtpjitterbuffer sends for a packet it gave
/// up on.
fn packet_lost(seqnum: u16, ts: gst::ClockTime, duration: gst::ClockTime, fec: bool) -> gst::Event {
    let mut s = gst::Structure::builder("GstRTPPacketLost")
        .field("seqnum", seqnum as u32)
        .field("timestamp", ts.nseconds())
        .field("duration", duration.nseconds())
        .field("retry", 0u32);
    if fec {
        s = s.field("might-have-been-fec", true);
    }
    gst::event::CustomDownstream::new(s.build())
}

fn rtp_seq(b: &gst::Buffer) -> u16 {
    let m = b.map_readable().unwrap();
    u16::from_be_bytes([m[2], m[3]])
}

/// `front`'s packets into both depayloaders with the packets at `lost`
/// removed and a `GstRTPPacketLost` for each sent in their place (its PTS,
/// the time to the next packet), as rtpjitterbuffer `do-lost=true` does;
/// at `fec_at`, a loss event that FEC may repair, with no packet missing.
/// GAP events, DISCONT and the output around the loss as stock's.
fn loss_like_stock(
    front: &str,
    stock: &str,
    ours: &str,
    tail: &str,
    lost: &[usize],
    fec_at: usize,
) {
    use gst::prelude::*;
    let (caps, packets) = capture(front);
    assert!(
        packets.len() > fec_at + 1,
        "{front}: {} packets",
        packets.len()
    );
    let out = side_by_side(
        "appsrc name=src format=time",
        stock,
        ours,
        tail,
        false,
        |p| {
            let src = app_src(p);
            src.set_caps(Some(&caps));
            for (i, b) in packets.iter().enumerate() {
                let pts = b.pts().unwrap();
                let next = packets
                    .get(i + 1)
                    .and_then(|n| n.pts())
                    .filter(|n| *n > pts)
                    .unwrap_or(pts + gst::ClockTime::from_mseconds(10));
                if lost.contains(&i) {
                    assert!(src.send_event(packet_lost(rtp_seq(b), pts, next - pts, false)));
                    continue;
                }
                if i == fec_at {
                    assert!(src.send_event(packet_lost(rtp_seq(b), pts, next - pts, true)));
                }
                src.push_buffer(b.copy_deep().unwrap()).unwrap();
            }
            src.end_of_stream().unwrap();
        },
    );
    let what = format!("{front} ! {stock} ! {tail}, packets {lost:?} lost");
    assert!(
        out[0].events.iter().any(|(e, _)| e.starts_with("gap")),
        "{what}: stock sends GAP events"
    );
    let [mut s, mut o] = out;
    without_metas(&mut s.bufs);
    without_metas(&mut o.bufs);
    if stock == "rtpvrawdepay" {
        // What a lost packet leaves in a frame is whatever the memory held
        // (stock does not clear it): compare all but the bytes.
        for b in s.bufs.iter_mut().chain(&mut o.bufs) {
            let mut blank = gst::Buffer::from_mut_slice(vec![0u8; b.size()]);
            b.copy_into(
                blank.get_mut().unwrap(),
                gst::BufferCopyFlags::FLAGS | gst::BufferCopyFlags::TIMESTAMPS,
                ..,
            )
            .unwrap();
            *b = blank;
        }
    }
    assert_same_branches(&what, &[s, o]);
}

#[test]
fn packet_loss_audio() {
    loss_like_stock(
        L16_FRONT,
        "rtpL16depay",
        "rtpfastL16depay",
        "",
        &[3, 7, 8],
        12,
    );
    loss_like_stock(
        L24_FRONT,
        "rtpL24depay",
        "rtpfastL24depay",
        "",
        &[3, 7, 8],
        12,
    );
    loss_like_stock(
        OPUS_FRONT,
        "rtpopusdepay",
        "rtpfastopusdepay",
        "",
        &[3, 5, 6],
        8,
    );
}

#[test]
fn packet_loss_mp2t_and_vraw() {
    loss_like_stock(
        MP2T_FRONT,
        "rtpmp2tdepay",
        "rtpfastmp2tdepay",
        "",
        &[1, 3, 4],
        5,
    );
    loss_like_stock(
        VRAW_FRONT,
        "rtpvrawdepay",
        "rtpfastvrawdepay",
        "",
        &[30, 200, 201],
        250,
    );
}

#[test]
fn packet_loss_h26x() {
    for codec in [Codec::H264, Codec::H265] {
        let (stock, ours) = depays(codec);
        let front = h26x_front(codec);
        for tail in nal_tails(codec).iter().take(2) {
            loss_like_stock(&front, &stock, &ours, tail, &[12, 17, 18], 20);
        }
    }
}

/// LATENCY and CAPS answers on a depayloader's pads, before any data
/// (READY→PAUSED done, live source) and after the first output buffer.
fn query_answers(
    caps: &gst::Caps,
    packets: &[gst::Buffer],
    depay: &str,
) -> Vec<(String, Option<gst::Caps>)> {
    use gst::prelude::*;
    let (pipeline, src) = launch_with_src(&format!(
        "appsrc name=src format=time is-live=true min-latency=20000000 max-latency=40000000 ! \
         {depay} name=d ! appsink name=sink sync=false"
    ));
    src.set_caps(Some(caps));
    let d = pipeline.by_name("d").unwrap();
    let mut answers = Vec::new();
    let mut ask = |when: &str| {
        for pad in ["sink", "src"] {
            let pad = d.static_pad(pad).unwrap();
            let mut q = gst::query::Latency::new();
            let ok = pad.query(&mut q);
            answers.push((
                format!("{when} {} latency {ok} {:?}", pad.name(), q.result()),
                None,
            ));
            let mut q = gst::query::Caps::new(None);
            let ok = pad.query(&mut q);
            answers.push((format!("{when} {} caps {ok}", pad.name()), q.result_owned()));
        }
    };
    // Paused: a live source sends nothing yet (no caps either).
    pipeline.set_state(gst::State::Paused).unwrap();
    ask("before data");
    pipeline.set_state(gst::State::Playing).unwrap();
    let sink = app_sink(&pipeline);
    for p in packets {
        src.push_buffer(p.copy_deep().unwrap()).unwrap();
    }
    sink.pull_sample().expect("an output buffer");
    ask("streaming");
    src.end_of_stream().unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    answers
}

/// The same LATENCY and CAPS query answers on both pads as stock's.
#[test]
fn queries_like_stock() {
    let mut fronts: Vec<(String, &str)> = vec![
        (L16_FRONT.into(), "L16"),
        (L24_FRONT.into(), "L24"),
        (OPUS_FRONT.into(), "opus"),
        (MP2T_FRONT.into(), "mp2t"),
        (VRAW_FRONT.into(), "vraw"),
    ];
    for codec in [Codec::H264, Codec::H265] {
        fronts.push((h26x_front(codec), codec.name()));
    }
    for (front, name) in fronts {
        let (caps, packets) = capture(&front);
        let stock = query_answers(&caps, &packets, &format!("rtp{name}depay"));
        let ours = query_answers(&caps, &packets, &format!("rtpfast{name}depay"));
        assert_eq!(stock.len(), ours.len());
        for ((s, sc), (o, oc)) in stock.iter().zip(&ours) {
            assert_eq!(s, o, "{name}: query answers");
            // Before negotiation the answer is the pad template's: ours may
            // be a superset (L16/L24 add little-endian output).
            let fine = match (sc, oc) {
                (Some(a), Some(b)) if s.starts_with("before") => a.is_subset(b),
                // The hvcC header is ours (see `assert_same_caps`).
                (Some(a), Some(b)) if name == "h265" && a.to_string().contains("hvc1") => {
                    assert_same_caps(Codec::H265, "hvc1", a, b);
                    true
                }
                (a, b) => a == b,
            };
            assert!(fine, "{name}: {s}: stock {sc:?} / ours {oc:?}");
        }
    }
}

/// A receiver's chain: packets (some missing) arrive live at
/// `rtpjitterbuffer do-lost=true`, which times out the missing ones and
/// sends its own `GstRTPPacketLost` events; both depayloaders behind it
/// (the very same packets and events) give the same GAP events, DISCONT
/// flags and output. (Opus: stock conceals nothing itself, the GAP event
/// is what opusdec conceals from.)
fn jitterbuffer_loss_like_stock(front: &str, stock: &str, ours: &str, tail: &str, lost: &[usize]) {
    let (caps, packets) = capture(front);
    let first = packets[0].pts().unwrap();
    let head = "appsrc name=src format=time is-live=true ! \
                rtpjitterbuffer do-lost=true latency=50";
    let out = side_by_side(head, stock, ours, tail, false, |p| {
        let src = app_src(p);
        src.set_caps(Some(&caps));
        for (i, b) in packets.iter().enumerate() {
            if lost.contains(&i) {
                continue;
            }
            let mut b = b.copy_deep().unwrap();
            let m = b.get_mut().unwrap();
            m.set_pts(m.pts().unwrap() - first);
            m.set_dts(gst::ClockTime::NONE);
            src.push_buffer(b).unwrap();
        }
        src.end_of_stream().unwrap();
    });
    let what = format!("{front} ! rtpjitterbuffer ! {stock} ! {tail}, packets {lost:?} lost");
    assert!(
        out[0].events.iter().any(|(e, _)| e.starts_with("gap")),
        "{what}: stock sends GAP events"
    );
    let [mut s, mut o] = out;
    without_metas(&mut s.bufs);
    without_metas(&mut o.bufs);
    assert_same_branches(&what, &[s, o]);
}

#[test]
fn packet_loss_through_rtpjitterbuffer() {
    jitterbuffer_loss_like_stock(
        OPUS_FRONT,
        "rtpopusdepay",
        "rtpfastopusdepay",
        "",
        &[3, 6, 7],
    );
    jitterbuffer_loss_like_stock(L16_FRONT, "rtpL16depay", "rtpfastL16depay", "", &[5, 9]);
    let (stock, ours) = depays(Codec::H264);
    let tail = &nal_tails(Codec::H264)[0];
    jitterbuffer_loss_like_stock(&h26x_front(Codec::H264), &stock, &ours, tail, &[12, 17, 18]);
}
