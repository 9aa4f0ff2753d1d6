//! rtpfastudpsrc against stock udpsrc on the same traffic: each receives on
//! its own loopback port (port=0, read back), a plain std UdpSocket sends
//! the same datagrams to both, and everything a consumer sees is compared
//! (bytes per buffer, DTS/PTS present and in order, sender-address meta,
//! caps). Plus interop from stock udpsink, IPv6, errors, timeout, GRO on/off,
//! kernel drops and multicast in a network namespace of our own.
//! Only loopback (or our own namespace) is addressed; every wait is bounded.

mod common;
#[path = "common/netns.rs"]
mod netns;

use gio::prelude::*;
use gst::glib;
use gst::prelude::*;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

const CAPS: &str = "application/x-rtp,media=audio,clock-rate=8000,encoding-name=PCMU,payload=0";

/// What a consumer sees of one buffer.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    bytes: Vec<u8>,
    pts: Option<gst::ClockTime>,
    dts: Option<gst::ClockTime>,
    sender: Option<SocketAddr>,
    /// Flags, duration, offsets and meta count, compared as text. Not
    /// TAG_MEMORY: stock sets it on an over-mtu datagram (it appends its
    /// overflow memory), a memory-layout note for pools, not content.
    rest: String,
}

struct Rx {
    pipeline: gst::Pipeline,
    src: gst::Element,
    sink: gst_app::AppSink,
    port: u16,
}

impl Rx {
    /// `element` with `props` (port=0 unless given) into an appsink,
    /// PLAYING; the bound port read back from `port`.
    fn new(element: &str, props: &str) -> Rx {
        Self::with_state(element, props, gst::State::Playing)
    }

    fn with_state(element: &str, props: &str, state: gst::State) -> Rx {
        common::init();
        let port = if props.contains("port=") {
            ""
        } else {
            "port=0"
        };
        let desc = format!("{element} name=src {port} {props} ! appsink name=sink sync=false");
        let pipeline = gst::parse::launch(&desc)
            .unwrap()
            .downcast::<gst::Pipeline>()
            .unwrap();
        let src = pipeline.by_name("src").unwrap();
        pipeline.set_state(gst::State::Ready).expect("to READY");
        let port = src.property::<i32>("port");
        assert!(port > 0, "{element}: port not read back after binding");
        pipeline.set_state(state).expect("state change");
        let sink = common::app_sink(&pipeline);
        Rx {
            pipeline,
            src,
            sink,
            port: port as u16,
        }
    }

    fn addr(&self, ip: &str) -> SocketAddr {
        format!("{ip}:{}", self.port)
            .parse()
            .or_else(|_| format!("[{ip}]:{}", self.port).parse())
            .unwrap()
    }

    /// Buffers until `n` arrived or `within` passed; with the caps seen.
    fn collect(&self, n: usize, within: Duration) -> (Vec<Seen>, Option<gst::Caps>) {
        let deadline = Instant::now() + within;
        let mut bufs = Vec::new();
        let mut caps = None;
        while bufs.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let Some(sample) = self
                .sink
                .try_pull_sample(gst::ClockTime::from_nseconds(left.as_nanos() as u64))
            else {
                break;
            };
            caps = sample.caps_owned().or(caps);
            common::push_sample_buffers(&sample, &mut bufs);
        }
        let seen = bufs
            .iter()
            .map(|b| Seen {
                bytes: b.map_readable().unwrap().to_vec(),
                pts: b.pts(),
                dts: b.dts(),
                sender: b.meta::<gst_net::NetAddressMeta>().map(|m| {
                    let a = m.addr().downcast::<gio::InetSocketAddress>().unwrap();
                    let ip: std::net::IpAddr = a.address().to_string().parse().unwrap();
                    SocketAddr::new(ip, a.port())
                }),
                rest: format!(
                    "{:?} {:?} {} {} metas={}",
                    b.flags() - gst::BufferFlags::TAG_MEMORY,
                    b.duration(),
                    b.offset(),
                    b.offset_end(),
                    b.iter_meta::<gst::Meta>().count()
                ),
            })
            .collect();
        (seen, caps)
    }

    fn stats(&self) -> gst::Structure {
        self.src.property::<gst::Structure>("stats")
    }
}

impl Drop for Rx {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Datagrams of assorted sizes: empty, tiny, RTP-sized, over the default
/// mtu (1492), and the largest IPv4 UDP payload.
fn datagrams() -> Vec<Vec<u8>> {
    let sizes = [
        12usize, 0, 1, 172, 1200, 1400, 1492, 1493, 3000, 9000, 65507, 160, 12,
    ];
    sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| (0..n).map(|j| (i * 13 + j * 7) as u8).collect())
        .collect()
}

/// Send each datagram to every destination, a little apart (stock udpsrc
/// has the default receive buffer; a 64 KiB datagram takes a lot of it).
fn send_all(tx: &UdpSocket, data: &[Vec<u8>], dsts: &[SocketAddr]) {
    for d in data {
        for dst in dsts {
            tx.send_to(d, dst).unwrap();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn assert_timestamps_in_order(name: &str, seen: &[Seen]) {
    for (i, s) in seen.iter().enumerate() {
        assert!(
            s.dts.is_some() && s.pts.is_some(),
            "{name} buffer {i}: no DTS/PTS"
        );
        assert_eq!(s.pts, s.dts, "{name} buffer {i}: PTS != DTS");
        if i > 0 {
            assert!(s.dts >= seen[i - 1].dts, "{name} buffer {i}: DTS went back");
        }
    }
}

/// Stock and ours on the same traffic from `tx` to `ip`.
fn side_by_side(ip: &str, props: &str, data: &[Vec<u8>], tx: &UdpSocket) {
    let stock = Rx::new("udpsrc", &format!("address={ip} caps=\"{CAPS}\" {props}"));
    let ours = Rx::new(
        "rtpfastudpsrc",
        &format!("address={ip} caps=\"{CAPS}\" {props}"),
    );
    send_all(tx, data, &[stock.addr(ip), ours.addr(ip)]);
    let (s, s_caps) = stock.collect(data.len(), Duration::from_secs(10));
    let (o, o_caps) = ours.collect(data.len(), Duration::from_secs(10));
    assert_eq!(
        s.len(),
        data.len(),
        "stock udpsrc got {} of {}",
        s.len(),
        data.len()
    );
    assert_eq!(
        o.len(),
        s.len(),
        "rtpfastudpsrc got {} buffers, stock {}",
        o.len(),
        s.len()
    );
    for (i, (a, b)) in s.iter().zip(&o).enumerate() {
        assert_eq!(a.bytes, b.bytes, "buffer {i} bytes");
        assert_eq!(a.sender, b.sender, "buffer {i} sender meta");
        assert_eq!(a.rest, b.rest, "buffer {i} flags, duration, offsets, metas");
    }
    assert_eq!(s_caps, o_caps);
    assert_eq!(o_caps.unwrap(), CAPS.parse::<gst::Caps>().unwrap());
    assert_timestamps_in_order("udpsrc", &s);
    assert_timestamps_in_order("rtpfastudpsrc", &o);
}

#[test]
fn same_output_as_stock_ipv4() {
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let data = datagrams();
    side_by_side("127.0.0.1", "", &data, &tx);
    // The sender meta really is the sender.
    let ours = Rx::new("rtpfastudpsrc", "address=127.0.0.1");
    tx.send_to(b"x", ours.addr("127.0.0.1")).unwrap();
    let (o, _) = ours.collect(1, Duration::from_secs(5));
    assert_eq!(o[0].sender, Some(tx.local_addr().unwrap()));
}

#[test]
fn same_output_as_stock_ipv6() {
    let tx = UdpSocket::bind("[::1]:0").unwrap();
    let data: Vec<Vec<u8>> = datagrams()
        .into_iter()
        .filter(|d| d.len() < 60000)
        .collect();
    side_by_side("::1", "", &data, &tx);
}

#[test]
fn skip_first_bytes_and_no_sender_address_as_stock() {
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let data: Vec<Vec<u8>> = datagrams().into_iter().filter(|d| d.len() >= 4).collect();
    side_by_side(
        "127.0.0.1",
        "skip-first-bytes=4 retrieve-sender-address=false",
        &data,
        &tx,
    );
}

/// A short datagram with skip-first-bytes: stock udpsrc posts an error and
/// stops; ours drops it, counts it and goes on (README, Differences).
#[test]
fn datagram_shorter_than_skip_is_dropped_and_counted() {
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let ours = Rx::new("rtpfastudpsrc", "address=127.0.0.1 skip-first-bytes=4");
    let dst = ours.addr("127.0.0.1");
    tx.send_to(b"ab", dst).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    tx.send_to(b"abcdef", dst).unwrap();
    let (o, _) = ours.collect(1, Duration::from_secs(5));
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].bytes, b"ef");
    assert_eq!(ours.stats().get::<u64>("dropped").unwrap(), 1);
    assert!(common::bus_error(&ours.pipeline.bus().unwrap()).is_none());
}

/// With a GSO sender on loopback, a UDP_GRO socket gets each send as one
/// block: gro=true must give the same buffers as gro=false and as stock.
#[test]
fn gro_on_and_off_identical() {
    const SEG: usize = 1200;
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let seg = SEG as libc::c_int;
    // SAFETY: setsockopt on our own socket with a live int (UDP_SEGMENT).
    let r = unsafe {
        libc::setsockopt(
            tx.as_raw_fd(),
            libc::SOL_UDP,
            103,
            &seg as *const _ as *const libc::c_void,
            4,
        )
    };
    assert_eq!(r, 0, "UDP_SEGMENT: {}", std::io::Error::last_os_error());
    // 6 sends of 40 segments (the last of each shorter).
    let mut expected = Vec::new();
    let mut sends = Vec::new();
    for k in 0..6usize {
        let mut chunk = Vec::new();
        for i in 0..40usize {
            let n = if i == 39 { 333 } else { SEG };
            let d: Vec<u8> = (0..n).map(|j| (k * 41 + i * 3 + j) as u8).collect();
            chunk.extend_from_slice(&d);
            expected.push(d);
        }
        sends.push(chunk);
    }
    let on = Rx::new("rtpfastudpsrc", "address=127.0.0.1 gro=true");
    let off = Rx::new("rtpfastudpsrc", "address=127.0.0.1 gro=false");
    let stock = Rx::new("udpsrc", "address=127.0.0.1");
    for c in &sends {
        for rx in [&on, &off, &stock] {
            tx.send_to(c, rx.addr("127.0.0.1")).unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let n = expected.len();
    let (a, _) = on.collect(n, Duration::from_secs(10));
    let (b, _) = off.collect(n, Duration::from_secs(10));
    let (s, _) = stock.collect(n, Duration::from_secs(10));
    let bytes = |v: &[Seen]| v.iter().map(|s| s.bytes.clone()).collect::<Vec<_>>();
    assert_eq!(bytes(&s), expected, "stock");
    assert_eq!(bytes(&a), expected, "gro=true");
    assert_eq!(bytes(&b), expected, "gro=false");
    for (x, y) in a.iter().zip(&s) {
        assert_eq!(x.sender, y.sender);
    }
    assert_timestamps_in_order("gro=true", &a);
    let gro_blocks = |rx: &Rx| rx.stats().get::<u64>("gro-blocks").unwrap();
    assert_eq!(gro_blocks(&on), 6, "{}", on.stats());
    assert_eq!(gro_blocks(&off), 0);
    assert_eq!(on.stats().get::<u64>("packets").unwrap(), n as u64);
}

#[test]
fn stock_udpsink_to_ours() {
    let ours = Rx::new("rtpfastudpsrc", "address=127.0.0.1");
    let desc = format!(
        "appsrc name=src format=time ! udpsink host=127.0.0.1 port={} sync=false",
        ours.port
    );
    let (pipeline, src) = common::launch_with_src(&desc);
    pipeline.set_state(gst::State::Playing).unwrap();
    let data: Vec<Vec<u8>> = (0..100u32)
        .map(|i| (0..(100 + i * 10)).map(|j| (i + j) as u8).collect())
        .collect();
    for d in &data {
        src.push_buffer(gst::Buffer::from_slice(d.clone())).unwrap();
    }
    let (o, _) = ours.collect(data.len(), Duration::from_secs(10));
    pipeline.set_state(gst::State::Null).unwrap();
    let got: Vec<Vec<u8>> = o.into_iter().map(|s| s.bytes).collect();
    assert_eq!(got, data);
}

#[test]
fn port_in_use_is_an_error_naming_the_address() {
    common::init();
    let busy = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    for element in ["udpsrc", "rtpfastudpsrc"] {
        let e = gst::ElementFactory::make(element)
            .property("address", "127.0.0.1")
            .property("port", port as i32)
            .property("reuse", false)
            .build()
            .unwrap();
        let bus = gst::Bus::new();
        e.set_bus(Some(&bus));
        assert!(
            e.set_state(gst::State::Ready).is_err(),
            "{element} bound a busy port"
        );
        let (err, debug) = common::bus_error(&bus).expect("an error message");
        let _ = e.set_state(gst::State::Null);
        assert!(
            debug.contains(&format!("127.0.0.1:{port}")),
            "{element}: {err} / {debug}"
        );
        if element == "rtpfastudpsrc" {
            assert!(
                err.contains("settings") || err.contains("resource"),
                "{err}"
            );
        }
    }
}

#[test]
fn timeout_message_as_stock() {
    let mut got = Vec::new();
    for element in ["udpsrc", "rtpfastudpsrc"] {
        let rx = Rx::new(element, "address=127.0.0.1 timeout=50000000");
        let bus = rx.pipeline.bus().unwrap();
        let msg = bus
            .timed_pop_filtered(
                gst::ClockTime::from_seconds(5),
                &[gst::MessageType::Element],
            )
            .unwrap_or_else(|| panic!("{element}: no timeout message"));
        let s = msg.structure().unwrap().to_owned();
        assert_eq!(msg.src().unwrap().name(), rx.src.name());
        got.push(s);
    }
    assert_eq!(got[0], got[1]);
    assert_eq!(got[1].name(), "GstUDPSrcTimeout");
    assert_eq!(got[1].get::<u64>("timeout").unwrap(), 50_000_000);
}

/// A burst bigger than a small receive buffer while the pipeline is PAUSED
/// (socket open, nobody reading) shows up as kernel drops.
#[test]
fn burst_over_small_buffer_counts_kernel_drops() {
    let ours = Rx::with_state(
        "rtpfastudpsrc",
        "address=127.0.0.1 buffer-size=16384",
        gst::State::Paused,
    );
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dst = ours.addr("127.0.0.1");
    const BURST: usize = 400;
    for _ in 0..BURST {
        tx.send_to(&[7u8; 1000], dst).unwrap();
    }
    ours.pipeline.set_state(gst::State::Playing).unwrap();
    let (first, _) = ours.collect(BURST, Duration::from_millis(1500));
    assert!(
        first.len() < BURST,
        "a 16 KiB buffer held all {BURST} datagrams"
    );
    // The kernel reports the count on the next datagram it queues.
    tx.send_to(b"after", dst).unwrap();
    let (last, _) = ours.collect(1, Duration::from_secs(5));
    assert_eq!(last.len(), 1);
    let drops = ours.stats().get::<u64>("kernel-drops").unwrap();
    assert!(drops > 0, "{}", ours.stats());
    assert_eq!(drops as usize + first.len(), BURST, "{}", ours.stats());
}

/// With no traffic and no timeout the source sits in its wait; going to
/// NULL must interrupt it (unlock → eventfd). Bounded: fails after 10 s
/// instead of hanging (a wait nothing can interrupt would never return).
#[test]
fn unlock_interrupts_a_waiting_source() {
    let ours = Rx::new("rtpfastudpsrc", "address=127.0.0.1");
    std::thread::sleep(Duration::from_millis(50));
    let pipeline = ours.pipeline.clone();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = pipeline.set_state(gst::State::Null);
        let _ = done_tx.send(r.is_ok());
    });
    let done = done_rx.recv_timeout(Duration::from_secs(10));
    if done.is_err() {
        // Rx's drop would block on the stuck state change: skip it, fail.
        std::mem::forget(ours);
        panic!("PLAYING->NULL did not return: the wait was not interrupted");
    }
    assert_eq!(done, Ok(true));
}

#[test]
fn uri_handler_as_stock() {
    common::init();
    for element in ["udpsrc", "rtpfastudpsrc"] {
        let e = gst::ElementFactory::make(element).build().unwrap();
        let h = e.dynamic_cast_ref::<gst::URIHandler>().unwrap();
        assert_eq!(h.uri().unwrap(), "udp://0.0.0.0:5004", "{element}");
        h.set_uri("udp://[::1]:6000").unwrap();
        assert_eq!(e.property::<String>("address"), "::1", "{element}");
        assert_eq!(e.property::<i32>("port"), 6000, "{element}");
        assert!(h.set_uri("http://x:1").is_err(), "{element}");
    }
    let e = gst::Element::make_from_uri(gst::URIType::Src, "udp://127.0.0.1:5000", None).unwrap();
    assert!(e.factory().is_some());
}

/// Multicast needs a route; our own network namespace (unshare -n, root)
/// gives one on `lo` without touching the host's network. Not root: a
/// failure, unless RSRTPFAST_SKIP_NETNS=1 says to skip.
#[test]
fn multicast_join_in_own_netns() {
    netns::run_inner("multicast_inner");
}

/// Run by `multicast_join_in_own_netns` inside the namespace.
#[test]
#[ignore = "run inside a network namespace by multicast_join_in_own_netns"]
fn multicast_inner() {
    netns::assert_inside();
    netns::ip(&["link", "set", "lo", "up"]);
    netns::ip(&["route", "add", "224.0.0.0/4", "dev", "lo"]);
    const GROUP: &str = "239.255.0.1";
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    tx.set_multicast_loop_v4(true).unwrap();
    let data: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; 100 + i as usize]).collect();
    side_by_side(GROUP, "multicast-iface=lo", &data, &tx);
    // Another group on the same port is not ours (IP_MULTICAST_ALL off).
    let ours = Rx::new("rtpfastudpsrc", &format!("address={GROUP}"));
    let other = Rx::new(
        "rtpfastudpsrc",
        &format!("address=239.255.0.2 port={}", ours.port),
    );
    tx.send_to(b"to-2", other.addr("239.255.0.2")).unwrap();
    tx.send_to(b"to-1", ours.addr(GROUP)).unwrap();
    let (o, _) = ours.collect(2, Duration::from_millis(1000));
    assert_eq!(
        o.iter().map(|s| s.bytes.clone()).collect::<Vec<_>>(),
        vec![b"to-1".to_vec()]
    );
    drop((ours, other));

    // IPv6: `lo` does not loop IPv6 multicast back; a veth pair does (no
    // duplicate address detection, so its link-local address is usable at
    // once).
    std::fs::write("/proc/sys/net/ipv6/conf/default/accept_dad", "0").unwrap();
    netns::ip(&[
        "link", "add", "rtpf0", "type", "veth", "peer", "name", "rtpf1",
    ]);
    netns::ip(&["link", "set", "rtpf1", "up"]);
    netns::ip(&["link", "set", "rtpf0", "up"]);
    // SAFETY: if_nametoindex with a valid C string (/sys is the host's).
    let index = unsafe { libc::if_nametoindex(c"rtpf0".as_ptr()) };
    assert_ne!(index, 0, "no rtpf0 in the namespace");
    let tx6 = UdpSocket::bind("[::]:0").unwrap();
    tx6.set_multicast_loop_v6(true).unwrap();
    socket2::SockRef::from(&tx6)
        .set_multicast_if_v6(index)
        .unwrap();
    // Wait (bounded) for the link-local address the sender needs.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let addrs = std::process::Command::new("ip")
            .args(["-6", "addr", "show", "dev", "rtpf0", "scope", "link"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&addrs.stdout).to_string();
        if text.contains("fe80") && !text.contains("tentative") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    side_by_side("ff15::1", "multicast-iface=rtpf0", &data, &tx6);
}

/// Every udpsrc property exists on ours with the same type (enum: same
/// values and nicks), flags, default and range.
#[test]
fn properties_match_stock() {
    common::init();
    let stock = gst::ElementFactory::make("udpsrc").build().unwrap();
    let ours = gst::ElementFactory::make("rtpfastudpsrc").build().unwrap();
    let flags =
        glib::ParamFlags::READABLE | glib::ParamFlags::WRITABLE | glib::ParamFlags::DEPRECATED;
    for p in stock.list_properties().iter() {
        let name = p.name();
        if name == "name" {
            continue;
        }
        let o = ours
            .find_property(name)
            .unwrap_or_else(|| panic!("rtpfastudpsrc has no `{name}`"));
        assert_eq!(p.flags() & flags, o.flags() & flags, "{name}: flags");
        if let Some(pe) = p.downcast_ref::<glib::ParamSpecEnum>() {
            let oe = o.downcast_ref::<glib::ParamSpecEnum>().expect("enum");
            let nicks = |e: &glib::ParamSpecEnum| {
                e.enum_class()
                    .values()
                    .iter()
                    .map(|v| (v.value(), v.nick().to_string()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(nicks(pe), nicks(oe), "{name}: enum values");
            assert_eq!(
                pe.default_value_as_i32(),
                oe.default_value_as_i32(),
                "{name}: default"
            );
            continue;
        }
        assert_eq!(p.value_type(), o.value_type(), "{name}: type");
        let show = |v: &glib::Value| format!("{v:?}");
        assert_eq!(
            show(p.default_value()),
            show(o.default_value()),
            "{name}: default"
        );
        if let (Some(a), Some(b)) = (
            p.downcast_ref::<glib::ParamSpecInt>(),
            o.downcast_ref::<glib::ParamSpecInt>(),
        ) {
            assert_eq!(
                (a.minimum(), a.maximum()),
                (b.minimum(), b.maximum()),
                "{name}: range"
            );
        }
        if let (Some(a), Some(b)) = (
            p.downcast_ref::<glib::ParamSpecUInt>(),
            o.downcast_ref::<glib::ParamSpecUInt>(),
        ) {
            assert_eq!(
                (a.minimum(), a.maximum()),
                (b.minimum(), b.maximum()),
                "{name}: range"
            );
        }
        if let (Some(a), Some(b)) = (
            p.downcast_ref::<glib::ParamSpecUInt64>(),
            o.downcast_ref::<glib::ParamSpecUInt64>(),
        ) {
            assert_eq!(
                (a.minimum(), a.maximum()),
                (b.minimum(), b.maximum()),
                "{name}: range"
            );
        }
        // The values a fresh element reads back (do-timestamp, uri, ...).
        assert_eq!(
            show(&stock.property_value(name)),
            show(&ours.property_value(name)),
            "{name}: value"
        );
    }
}

/// A user's GSocket: received on, shown as `used-socket`, left open with
/// close-socket=false and closed with close-socket=true (as udpsrc).
#[test]
fn user_socket_and_close_socket() {
    common::init();
    for close in [false, true] {
        let sock = gio::Socket::new(
            gio::SocketFamily::Ipv4,
            gio::SocketType::Datagram,
            gio::SocketProtocol::Udp,
        )
        .unwrap();
        let any =
            gio::InetSocketAddress::new(&gio::InetAddress::from_string("127.0.0.1").unwrap(), 0);
        sock.bind(&any, false).unwrap();
        let port = sock
            .local_address()
            .unwrap()
            .downcast::<gio::InetSocketAddress>()
            .unwrap()
            .port();
        let pipeline = gst::Pipeline::new();
        let src = gst::ElementFactory::make("rtpfastudpsrc")
            .property("socket", &sock)
            .property("close-socket", close)
            .build()
            .unwrap();
        let sink = gst_app::AppSink::builder().sync(false).build();
        pipeline.add_many([&src, sink.upcast_ref()]).unwrap();
        src.link(&sink).unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        let used = src.property::<Option<gio::Socket>>("used-socket").unwrap();
        assert_eq!(used, sock);
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.send_to(b"via user socket", ("127.0.0.1", port)).unwrap();
        let sample = sink
            .try_pull_sample(gst::ClockTime::from_seconds(5))
            .expect("a buffer");
        let mut bufs = Vec::new();
        common::push_sample_buffers(&sample, &mut bufs);
        assert_eq!(&*bufs[0].map_readable().unwrap(), b"via user socket");
        pipeline.set_state(gst::State::Null).unwrap();
        assert!(src.property::<Option<gio::Socket>>("used-socket").is_none());
        assert_eq!(sock.is_closed(), close, "close-socket={close}");
    }
}

/// socket-timestamp=realtime: DTS from the kernel's receive time, as
/// udpsrc; with do-timestamp=false it is the only source of timestamps, so
/// every buffer having one proves it is used (stock side by side).
#[test]
fn socket_timestamp_realtime() {
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    for element in ["udpsrc", "rtpfastudpsrc"] {
        let rx = Rx::new(
            element,
            "address=127.0.0.1 do-timestamp=false socket-timestamp=realtime",
        );
        for i in 0..20u8 {
            tx.send_to(&[i; 50], rx.addr("127.0.0.1")).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        let (o, _) = rx.collect(20, Duration::from_secs(5));
        assert_eq!(o.len(), 20, "{element}");
        assert_timestamps_in_order(element, &o);
        let (first, last) = (o[0].dts.unwrap(), o[19].dts.unwrap());
        assert!(
            last > first + gst::ClockTime::from_mseconds(20),
            "{element}: {first} .. {last}"
        );
    }
    // And without socket timestamps, no DTS past the first buffer.
    let rx = Rx::new("rtpfastudpsrc", "address=127.0.0.1 do-timestamp=false");
    for i in 0..3u8 {
        tx.send_to(&[i; 5], rx.addr("127.0.0.1")).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    let (o, _) = rx.collect(3, Duration::from_secs(5));
    assert_eq!(o.len(), 3);
    assert!(o[1].dts.is_none() && o[2].dts.is_none(), "{o:?}");
}

/// A flush (basesrc calls `unlock` then `unlock_stop`) and a trip through
/// READY (stop/start, socket kept open): receiving goes on after each.
/// The flush keeps the running time (reset-time=false): with a reset,
/// appsink loses its state and GstBin 1.22 can deadlock between the async
/// state change and the latency recalculation (seen here once;
/// stock udpsrc would be in the same place).
#[test]
fn flush_and_restart_keep_receiving() {
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let ours = Rx::new("rtpfastudpsrc", "address=127.0.0.1");
    let dst = ours.addr("127.0.0.1");
    tx.send_to(b"one", dst).unwrap();
    let (a, _) = ours.collect(1, Duration::from_secs(5));
    assert_eq!(a.len(), 1);
    for round in 0..3u8 {
        if round == 2 {
            ours.pipeline.set_state(gst::State::Ready).unwrap();
            ours.pipeline.set_state(gst::State::Playing).unwrap();
        } else {
            assert!(ours.src.send_event(gst::event::FlushStart::new()));
            assert!(ours.src.send_event(gst::event::FlushStop::new(false)));
        }
        std::thread::sleep(Duration::from_millis(20));
        tx.send_to(&[round; 3], dst).unwrap();
        let (b, _) = ours.collect(1, Duration::from_secs(5));
        assert_eq!(b.len(), 1, "round {round}: nothing after the flush/restart");
        assert_eq!(b[0].bytes, vec![round; 3]);
    }
}
