//! RTP header extensions with a real GStreamer implementation, TWCC
//! (`rtphdrexttwcc` from gst-plugins-good), configured the two ways the
//! base classes offer: `auto-header-extension` from an `extmap-N` caps field,
//! and the `add-extension` action signal. Every packet of ours must carry
//! the same extension bytes as rtph264pay's on the same input (packet by
//! packet), the depayloaders (ours and stock, both ways) must reassemble the
//! same NAL units with extensions present, `request-extension` must be
//! emitted as stock emits it, and `clear-extensions` must act as on stock.

mod common;
use common::*;
use gst::prelude::*;
use gst_check::Harness;
use gst_rtp::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const TWCC: &str = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
const EXT_ID: u8 = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pkt {
    seq: u16,
    ts: u32,
    marker: bool,
    /// (profile, extension data) as on the wire.
    ext: Option<(u16, Vec<u8>)>,
    payload: Vec<u8>,
}

/// Small enough that frames fragment.
const MTU: usize = 400;

fn parse(b: &gst::Buffer) -> Pkt {
    let map = b.map_readable().unwrap();
    let p = rtp_types::RtpPacket::parse(&map).expect("valid RTP");
    Pkt {
        seq: p.sequence_number(),
        ts: p.timestamp(),
        marker: p.marker_bit(),
        ext: p.extension().map(|(profile, d)| (profile, d.to_vec())),
        payload: p.payload().to_vec(),
    }
}

/// The TWCC sequence number in a one-byte-header extension block with our
/// id, checking the layout: 0xBEDE, element id 5 length 2.
fn twcc_seqnum(p: &Pkt) -> Option<u16> {
    let (profile, data) = p.ext.as_ref()?;
    assert_eq!(*profile, 0xBEDE, "one-byte header extension");
    let mut i = 0;
    while i < data.len() {
        let b = data[i];
        if b == 0 {
            i += 1; // padding
            continue;
        }
        let id = b >> 4;
        let len = (b & 0x0f) as usize + 1;
        if id == EXT_ID {
            assert_eq!(len, 2, "TWCC element carries 2 bytes");
            return Some(u16::from_be_bytes([data[i + 1], data[i + 2]]));
        }
        i += 1 + len;
    }
    None
}

/// The extension blocks of a run with the TWCC numbers made relative to
/// the run's first one (each extension instance starts at a random number):
/// everything else in the block (profile, element header, padding) as is.
fn normalized_exts(packets: &[Pkt]) -> Vec<Option<(u16, Vec<u8>)>> {
    let first = packets.iter().find_map(twcc_seqnum);
    packets
        .iter()
        .map(|p| {
            let (profile, mut data) = p.ext.clone()?;
            if let (Some(n), Some(first)) = (twcc_seqnum(p), first) {
                let pos = data
                    .iter()
                    .position(|b| *b >> 4 == EXT_ID)
                    .expect("TWCC element");
                data[pos + 1..pos + 3].copy_from_slice(&n.wrapping_sub(first).to_be_bytes());
            }
            Some((profile, data))
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Config {
    /// `extmap-5=<TWCC>` on the downstream caps, `auto-header-extension`
    /// left at its default (true).
    Auto,
    /// `add-extension` with a TWCC extension whose id is set to 5.
    Signal,
}

fn twcc_ext() -> gst_rtp::RTPHeaderExtension {
    let ext = gst_rtp::RTPHeaderExtension::create_from_uri(TWCC)
        .expect("rtphdrexttwcc (gst-plugins-good) available");
    ext.set_id(EXT_ID as u32);
    ext
}

fn count_requests(e: &gst::Element) -> Arc<AtomicUsize> {
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    e.connect("request-extension", false, move |args| {
        let id = args[1].get::<u32>().unwrap();
        let uri = args[2].get::<String>().unwrap();
        assert_eq!((id, uri.as_str()), (EXT_ID as u32, TWCC));
        n2.fetch_add(1, Ordering::SeqCst);
        // Let the base class create it (auto-header-extension).
        None::<gst_rtp::RTPHeaderExtension>.to_value().into()
    });
    n
}

struct PayRun {
    packets: Vec<Pkt>,
    /// Packets per input frame (index of the first packet of each frame).
    frame_start: Vec<usize>,
    caps: gst::Caps,
    requests: usize,
}

/// Payload `media` with `pay` configured by `config`; with `clear_at`,
/// emit `clear-extensions` before that frame.
fn run_pay(pay: &str, media: &Media, config: Config, clear_at: Option<usize>) -> PayRun {
    init();
    // Configure before the harness starts the element: the base class
    // reads seqnum-offset & co. on READY -> PAUSED.
    let e = gst::ElementFactory::make(pay)
        .property("mtu", MTU as u32)
        .property("seqnum-offset", 1000i32)
        .property("timestamp-offset", 0u32)
        .property("ssrc", 0x1234_5678u32)
        .build()
        .unwrap();
    let requests = count_requests(&e);
    let mut h = Harness::with_element(&e, Some("sink"), Some("src"));
    match config {
        Config::Auto => h.set_sink_caps_str(&format!("application/x-rtp,extmap-{EXT_ID}={TWCC}")),
        Config::Signal => e.emit_by_name::<()>("add-extension", &[&twcc_ext()]),
    }
    h.set_src_caps(media.caps.clone());
    let mut packets = Vec::new();
    let mut frame_start = Vec::new();
    for (i, f) in media.frames.iter().enumerate() {
        if clear_at == Some(i) {
            e.emit_by_name::<()>("clear-extensions", &[]);
        }
        h.push(f.clone()).unwrap();
        frame_start.push(packets.len());
        while let Some(b) = h.try_pull() {
            packets.push(parse(&b));
        }
    }
    h.push_event(gst::event::Eos::new());
    while let Some(b) = h.try_pull() {
        packets.push(parse(&b));
    }
    let caps = h.sinkpad().unwrap().current_caps().unwrap();
    PayRun {
        packets,
        frame_start,
        caps,
        requests: requests.load(Ordering::SeqCst),
    }
}

struct DepayRun {
    nals: Vec<Vec<u8>>,
    requests: usize,
}

/// Depayload `packets` (sink caps `caps`) with `depay`, byte-stream AU out;
/// with `add`, also give the depayloader a TWCC extension by signal.
fn run_depay(depay: &str, caps: &gst::Caps, packets: &[Pkt], add: bool) -> DepayRun {
    init();
    let mut h = Harness::new(depay);
    let e = h.element().unwrap();
    let requests = count_requests(&e);
    if add {
        e.emit_by_name::<()>("add-extension", &[&twcc_ext()]);
    }
    h.set_sink_caps_str("video/x-h264,stream-format=byte-stream,alignment=au");
    h.set_src_caps(caps.clone());
    let mut out = Vec::new();
    for p in packets {
        let mut b = rtp_types::RtpPacketBuilder::new()
            .payload_type(96)
            .sequence_number(p.seq)
            .timestamp(p.ts)
            .ssrc(0x1234_5678)
            .marker_bit(p.marker)
            .payload(p.payload.as_slice());
        if let Some((profile, data)) = &p.ext {
            b = b.extension(*profile, data.as_slice());
        }
        let mut buf = gst::Buffer::from_mut_slice(b.write_vec().unwrap());
        buf.get_mut().unwrap().set_pts(gst::ClockTime::ZERO);
        h.push(buf).unwrap();
        while let Some(o) = h.try_pull() {
            out.push(o);
        }
    }
    h.push_event(gst::event::Eos::new());
    while let Some(o) = h.try_pull() {
        out.push(o);
    }
    DepayRun {
        nals: buffers_nals(&out),
        requests: requests.load(Ordering::SeqCst),
    }
}

fn extmap(caps: &gst::Caps) -> Option<String> {
    caps.structure(0)
        .unwrap()
        .get::<String>(&format!("extmap-{EXT_ID}"))
        .ok()
}

fn pay_matches_stock(config: Config) {
    let media = encode(Codec::H264, 12, 320, 240);
    let stock = run_pay("rtph264pay", &media, config, None);
    let ours = run_pay("rtpfasth264pay", &media, config, None);

    // Stock is what we think it is: every packet carries TWCC with
    // consecutive numbers.
    assert!(
        stock.packets.len() > media.frames.len(),
        "mtu 400 fragments"
    );
    assert_eq!(stock.packets[0].seq, 1000, "seqnum-offset applies");
    let stock_twcc: Vec<_> = stock.packets.iter().map(twcc_seqnum).collect();
    assert!(
        stock_twcc.iter().all(Option::is_some),
        "stock: {stock_twcc:?}"
    );

    // Deliberate difference (README): stock lets the extension push packets
    // past the MTU; ours plans packets with room for it, so a fragmented
    // frame may take more packets. Everything else is as stock.
    let wire = |p: &Pkt| 12 + p.ext.as_ref().map_or(0, |(_, d)| 4 + d.len()) + p.payload.len();
    assert!(
        stock.packets.iter().any(|p| wire(p) > MTU),
        "stock exceeds the MTU with the extension"
    );
    for (i, p) in ours.packets.iter().enumerate() {
        assert!(
            wire(p) <= MTU,
            "{config:?}: packet {i} is {} bytes",
            wire(p)
        );
    }
    assert!(ours.packets.len() >= stock.packets.len(), "packet count");
    let (oe, se) = (
        normalized_exts(&ours.packets),
        normalized_exts(&stock.packets),
    );
    for (i, (o, s)) in oe.iter().zip(&se).enumerate() {
        assert_eq!(o, s, "{config:?}: extension of packet {i}");
    }
    for (i, p) in ours.packets.iter().enumerate() {
        assert_eq!(
            p.seq,
            1000u16.wrapping_add(i as u16),
            "{config:?}: seqnum of packet {i}"
        );
    }
    let frame_times = |r: &PayRun| {
        let mut t: Vec<u32> = r.packets.iter().map(|p| p.ts).collect();
        t.dedup();
        t
    };
    assert_eq!(
        frame_times(&ours),
        frame_times(&stock),
        "{config:?}: RTP timestamps"
    );
    let twcc: Vec<u16> = ours
        .packets
        .iter()
        .map(|p| twcc_seqnum(p).expect("every packet carries TWCC"))
        .collect();
    for w in twcc.windows(2) {
        assert_eq!(w[1], w[0].wrapping_add(1), "consecutive TWCC numbers");
    }
    assert_eq!(ours.requests, stock.requests, "request-extension emissions");
    assert_eq!(
        extmap(&ours.caps),
        extmap(&stock.caps),
        "extmap in src caps"
    );
    eprintln!(
        "{config:?}: {} packets, TWCC {}..={}, request-extension x{}, caps extmap {:?}",
        twcc.len(),
        twcc[0],
        twcc[twcc.len() - 1],
        stock.requests,
        extmap(&stock.caps)
    );

    // Both ways through the depayloaders, extensions present; sink caps
    // as the payloader put them (with extmap when it did).
    let input_vcl: Vec<_> = buffers_nals(&media.frames)
        .into_iter()
        .filter(|n| Codec::H264.is_vcl(n))
        .collect();
    let vcl = |r: &DepayRun| -> Vec<Vec<u8>> {
        r.nals
            .iter()
            .filter(|n| Codec::H264.is_vcl(n))
            .cloned()
            .collect()
    };
    for add in [false, true] {
        let s2s = run_depay("rtph264depay", &stock.caps, &stock.packets, add);
        let o2s = run_depay("rtph264depay", &ours.caps, &ours.packets, add);
        let s2o = run_depay("rtpfasth264depay", &stock.caps, &stock.packets, add);
        let o2o = run_depay("rtpfasth264depay", &ours.caps, &ours.packets, add);
        assert!(vcl(&s2s) == input_vcl, "stock -> stock (add={add})");
        assert!(vcl(&o2s) == input_vcl, "ours -> stock depay (add={add})");
        assert!(vcl(&s2o) == input_vcl, "stock -> ours depay (add={add})");
        assert!(vcl(&o2o) == input_vcl, "ours -> ours (add={add})");
        assert_eq!(
            s2o.requests, s2s.requests,
            "depayloader request-extension emissions (add={add})"
        );
        eprintln!("depay add={add}: request-extension x{}", s2s.requests);
    }
}

#[test]
fn twcc_via_auto_header_extension_matches_stock() {
    pay_matches_stock(Config::Auto);
}

#[test]
fn twcc_via_add_extension_matches_stock() {
    pay_matches_stock(Config::Signal);
}

fn clear_matches_stock(config: Config) {
    let media = encode(Codec::H264, 12, 320, 240);
    let stock = run_pay("rtph264pay", &media, config, Some(6));
    let ours = run_pay("rtpfasth264pay", &media, config, Some(6));
    let has = |r: &PayRun| -> Vec<bool> { r.packets.iter().map(|p| p.ext.is_some()).collect() };
    let stock_has = has(&stock);
    let cleared = stock_has[stock.frame_start[6]..].iter().all(|h| !h);
    eprintln!(
        "{config:?}: stock after clear-extensions: {}",
        if cleared {
            "no extensions"
        } else {
            "extensions still present"
        }
    );
    assert!(stock_has[..stock.frame_start[6]].iter().all(|h| *h));
    assert_eq!(has(&ours), stock_has, "extension presence per packet");
    assert_eq!(ours.frame_start, stock.frame_start);
    assert_eq!(
        normalized_exts(&ours.packets),
        normalized_exts(&stock.packets),
        "{config:?}: extension blocks"
    );
    assert_eq!(
        extmap(&ours.caps),
        extmap(&stock.caps),
        "extmap in final caps"
    );
}

#[test]
fn clear_extensions_after_add_extension_matches_stock() {
    clear_matches_stock(Config::Signal);
}

#[test]
fn clear_extensions_with_extmap_caps_matches_stock() {
    clear_matches_stock(Config::Auto);
}
