//! rtpfastudpsink against stock udpsink / multiudpsink on loopback: the same
//! payloader output (buffer lists, as rtph264pay pushes them) sent by both
//! reaches plain std sockets as the same datagram sequences, with GSO on or
//! off, to IPv4 and IPv6, to several clients (property and signals); stock
//! udpsrc + depayloader reads what we send; properties and per-client stats
//! match stock; a bind port in use is an error naming the address.
//! Only 127.0.0.1 / ::1 are addressed; every receive loop is bounded.

mod common;

use gio::prelude::*;
use gst::prelude::*;
use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Datagrams arriving at one socket, read by a thread until `expect` have
/// come or nothing came for a second.
struct Receiver {
    addr: std::net::SocketAddr,
    thread: JoinHandle<Vec<Vec<u8>>>,
}

impl Receiver {
    fn new(bind: &str, expect: usize) -> Receiver {
        let sock = UdpSocket::bind(bind).unwrap();
        socket2::SockRef::from(&sock)
            .set_recv_buffer_size(4 << 20)
            .unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let addr = sock.local_addr().unwrap();
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 70_000];
            let mut out = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            while out.len() < expect && Instant::now() < deadline {
                match sock.recv(&mut buf) {
                    Ok(n) => out.push(buf[..n].to_vec()),
                    Err(_) => break,
                }
            }
            // Anything beyond `expect` is a failure the caller must see.
            sock.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            while let Ok(n) = sock.recv(&mut buf) {
                out.push(buf[..n].to_vec());
                if out.len() > expect + 1000 {
                    break;
                }
            }
            out
        });
        Receiver { addr, thread }
    }

    fn port(&self) -> u16 {
        self.addr.port()
    }

    fn join(self) -> Vec<Vec<u8>> {
        self.thread.join().unwrap()
    }
}

/// RTP packets of real H.264 as rtph264pay pushes them: one buffer list per
/// access unit (fragments of MTU size, the last shorter).
fn payloaded_lists(frames: u32, width: u32, height: u32) -> (gst::Caps, Vec<gst::BufferList>) {
    common::init();
    let desc = format!(
        "videotestsrc num-buffers={frames} pattern=snow ! \
         video/x-raw,width={width},height={height},framerate=30/1,format=I420 ! \
         x264enc tune=zerolatency key-int-max=15 bitrate=8000 speed-preset=ultrafast ! \
         h264parse ! rtph264pay mtu=1400 config-interval=-1 pt=96 ! \
         appsink name=sink sync=false buffer-list=true"
    );
    let pipeline = common::play(&desc, None);
    let sink = common::app_sink(&pipeline);
    let mut caps = None;
    let mut lists = Vec::new();
    while let Ok(s) = sink.pull_sample() {
        caps = s.caps_owned().or(caps);
        if let Some(l) = s.buffer_list_owned() {
            lists.push(l);
        } else if let Some(b) = s.buffer_owned() {
            let mut l = gst::BufferList::new();
            l.get_mut().unwrap().add(b);
            lists.push(l);
        }
    }
    common::assert_no_bus_error(&pipeline, &desc);
    pipeline.set_state(gst::State::Null).unwrap();
    (caps.unwrap(), lists)
}

fn list_datagrams(lists: &[gst::BufferList]) -> Vec<Vec<u8>> {
    lists
        .iter()
        .flat_map(|l| l.iter().map(|b| b.map_readable().unwrap().to_vec()))
        .collect()
}

/// Push `lists` through `appsrc ! <sink>` to EOS; returns the sink.
/// `add`: clients added with the `add` signal before it starts.
fn send_lists(
    sink_desc: &str,
    add: &[(&str, u16)],
    caps: &gst::Caps,
    lists: &[gst::BufferList],
) -> gst::Element {
    let desc = format!("appsrc name=src format=time ! {sink_desc} name=out");
    let (pipeline, src) = common::launch_with_src(&desc);
    let out = pipeline.by_name("out").unwrap();
    for (host, port) in add {
        out.emit_by_name::<()>("add", &[host, &(*port as i32)]);
    }
    src.set_caps(Some(caps));
    pipeline.set_state(gst::State::Playing).unwrap();
    for l in lists {
        src.push_buffer_list(l.clone()).unwrap();
    }
    src.end_of_stream().unwrap();
    wait_eos(&pipeline, &desc);
    let out = pipeline.by_name("out").unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    out
}

fn wait_eos(pipeline: &gst::Pipeline, desc: &str) {
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(60),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        )
        .unwrap_or_else(|| panic!("`{desc}`: no EOS in 60 s"));
    if let gst::MessageView::Error(e) = msg.view() {
        panic!("`{desc}` failed: {} ({:?})", e.error(), e.debug());
    }
}

fn stat(sink: &gst::Element, field: &str) -> u64 {
    sink.property::<gst::Structure>("stats")
        .get::<u64>(field)
        .unwrap()
}

/// Stock and ours send the same lists to two clients; each client gets the
/// same datagrams from both, equal to the payloader's packets.
fn differential(gso: bool, v6: bool) {
    let (caps, lists) = payloaded_lists(30, 640, 480);
    let want = list_datagrams(&lists);
    assert!(want.len() > 300, "only {} packets", want.len());
    let host = if v6 { "::1" } else { "127.0.0.1" };
    let bind = if v6 { "[::1]:0" } else { "127.0.0.1:0" };
    let mut got = Vec::new();
    let mut ours = None;
    for sink in ["udpsink", "rtpfastudpsink"] {
        let rs = [
            Receiver::new(bind, want.len()),
            Receiver::new(bind, want.len()),
        ];
        // multiudpsink cuts `clients` entries at the first ':', so IPv6
        // clients are added by signal (with host/port, one would be).
        let (clients, add) = if v6 {
            (
                String::new(),
                vec![(host, rs[0].port()), (host, rs[1].port())],
            )
        } else {
            (
                format!("{host}:{},{host}:{}", rs[0].port(), rs[1].port()),
                vec![],
            )
        };
        let extra = if sink == "rtpfastudpsink" {
            format!("gso={gso}")
        } else {
            String::new()
        };
        let el = send_lists(
            &format!("{sink} sync=false clients=\"{clients}\" {extra}"),
            &add,
            &caps,
            &lists,
        );
        if sink == "rtpfastudpsink" {
            ours = Some(el);
        }
        got.push(rs.map(Receiver::join));
    }
    for (k, r) in got[0].iter().enumerate() {
        assert_eq!(r.len(), want.len(), "stock udpsink, client {k}");
        assert!(
            *r == want,
            "stock udpsink client {k} differs from the payloader's packets"
        );
    }
    for (k, r) in got[1].iter().enumerate() {
        assert_eq!(r.len(), want.len(), "rtpfastudpsink, client {k}");
        assert!(*r == got[0][k], "client {k}: ours differs from stock");
    }
    let ours = ours.unwrap();
    let packets = stat(&ours, "packets");
    assert_eq!(packets, 2 * want.len() as u64);
    assert_eq!(stat(&ours, "send-errors"), 0);
    let syscalls = stat(&ours, "syscalls");
    // One sendmmsg per list (the lists of one access unit each).
    assert!(syscalls <= lists.len() as u64, "{syscalls} syscalls");
    if gso {
        assert!(stat(&ours, "gso-sends") > 0);
    } else {
        assert_eq!(stat(&ours, "gso-sends"), 0);
    }
}

#[test]
fn same_datagrams_as_udpsink_gso_on() {
    differential(true, false);
}

#[test]
fn same_datagrams_as_udpsink_gso_off() {
    differential(false, false);
}

#[test]
fn same_datagrams_as_udpsink_ipv6() {
    differential(true, true);
}

/// Single buffers (render, not render_list) made of several memories go
/// out as one datagram each, the memories gathered in order, to an IPv4
/// and an IPv6 `host`.
#[test]
fn multi_memory_buffers_one_by_one() {
    common::init();
    let bufs: Vec<gst::Buffer> = (0..50u32)
        .map(|i| {
            let mut b = gst::Buffer::from_mut_slice(vec![0x80u8, 96, 0, i as u8]);
            let bm = b.get_mut().unwrap();
            bm.append_memory(gst::Memory::from_mut_slice(vec![i as u8; 700 + i as usize]));
            bm.append_memory(gst::Memory::from_mut_slice(vec![0xee; 3]));
            b
        })
        .collect();
    let want: Vec<Vec<u8>> = bufs
        .iter()
        .map(|b| b.map_readable().unwrap().to_vec())
        .collect();
    // IPv4 and IPv6, through the host/port properties.
    for (bind, host) in [("127.0.0.1:0", "127.0.0.1"), ("[::1]:0", "::1")] {
        let r = Receiver::new(bind, want.len());
        let desc = format!(
            "appsrc name=src format=time ! rtpfastudpsink sync=false host={host} port={}",
            r.port()
        );
        let (pipeline, src) = common::launch_with_src(&desc);
        pipeline.set_state(gst::State::Playing).unwrap();
        for b in &bufs {
            src.push_buffer(b.clone()).unwrap();
        }
        src.end_of_stream().unwrap();
        wait_eos(&pipeline, &desc);
        pipeline.set_state(gst::State::Null).unwrap();
        assert!(r.join() == want, "to {host}");
    }
}

/// Stock udpsrc + rtph264depay read what we send: the same VCL NAL units as
/// the encoder made.
#[test]
fn stock_udpsrc_and_depay_read_ours() {
    let media = common::encode(common::Codec::H264, 30, 320, 240);
    let want = common::buffers_nals(&media.frames);
    // A free port for udpsrc.
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let recv_desc = format!(
        "udpsrc address=127.0.0.1 port={port} buffer-size=4194304 \
         caps=\"application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload=96\" ! \
         rtph264depay ! video/x-h264,stream-format=byte-stream,alignment=au ! \
         appsink name=sink sync=false"
    );
    let recv = common::play(&recv_desc, None);
    recv.state(gst::ClockTime::from_seconds(5)).0.unwrap();
    let sink = common::app_sink(&recv);
    let send_desc = format!(
        "appsrc name=src ! h264parse ! rtph264pay mtu=1400 config-interval=-1 pt=96 ! \
         rtpfastudpsink sync=false host=127.0.0.1 port={port}"
    );
    let send = common::play(&send_desc, Some((&media.caps, &media.frames)));
    wait_eos(&send, &send_desc);
    send.set_state(gst::State::Null).unwrap();
    let mut got = Vec::new();
    while let Some(s) = sink.try_pull_sample(gst::ClockTime::from_seconds(2)) {
        common::push_sample_buffers(&s, &mut got);
    }
    recv.set_state(gst::State::Null).unwrap();
    let got_nals = common::buffers_nals(&got);
    let vcl = |n: &Vec<Vec<u8>>| -> Vec<Vec<u8>> {
        n.iter()
            .filter(|x| common::Codec::H264.is_vcl(x))
            .cloned()
            .collect()
    };
    assert!(!vcl(&want).is_empty());
    assert!(vcl(&got_nals) == vcl(&want), "depayloaded NAL units differ");
}

/// One scenario on stock multiudpsink and on ours: clients added and
/// removed by the action signals (twice for one of them), buffers sent,
/// datagrams per client and get-stats compared.
fn client_scenario(
    factory: &str,
    send_duplicates: bool,
) -> (Vec<usize>, Vec<Vec<u64>>, Vec<String>) {
    common::init();
    let rs = [
        Receiver::new("127.0.0.1:0", 1000),
        Receiver::new("127.0.0.1:0", 1000),
    ];
    let desc = format!(
        "appsrc name=src format=time ! {factory} name=out sync=false clients=\"\" \
         send-duplicates={send_duplicates}"
    );
    let (pipeline, src) = common::launch_with_src(&desc);
    let sink = pipeline.by_name("out").unwrap();
    let events = Arc::new(Mutex::new(Vec::<String>::new()));
    let removed_stats = Arc::new(Mutex::new(Vec::<u64>::new()));
    for sig in ["client-added", "client-removed"] {
        let ev = events.clone();
        let rs_ = removed_stats.clone();
        sink.connect(sig, false, move |args| {
            let el = args[0].get::<gst::Element>().unwrap();
            let host = args[1].get::<String>().unwrap();
            let port = args[2].get::<i32>().unwrap();
            // A client-removed handler can still read the client's stats.
            let st = el.emit_by_name::<gst::Structure>("get-stats", &[&host, &port]);
            if sig == "client-removed" {
                for f in ["bytes-sent", "packets-sent"] {
                    rs_.lock()
                        .unwrap()
                        .push(st.get::<u64>(f).unwrap_or(u64::MAX));
                }
            }
            ev.lock().unwrap().push(format!(
                "{sig} {port} has-stats={}",
                st.has_field("packets-sent")
            ));
            None
        });
    }
    let h = "127.0.0.1";
    let (p0, p1) = (rs[0].port() as i32, rs[1].port() as i32);
    sink.emit_by_name::<()>("add", &[&h, &p0]);
    sink.emit_by_name::<()>("add", &[&h, &p0]);
    sink.emit_by_name::<()>("add", &[&h, &p1]);
    let clients: String = sink.property("clients");
    events.lock().unwrap().push(format!("clients={clients}"));
    pipeline.set_state(gst::State::Playing).unwrap();
    let pushed = std::cell::Cell::new(0u64);
    // Push a list and wait (bounded) until the sink has rendered it, so the
    // signals that follow act between lists, not before them.
    let push = |n: u32| {
        let mut l = gst::BufferList::new();
        for i in 0..n {
            l.get_mut()
                .unwrap()
                .add(gst::Buffer::from_mut_slice(vec![i as u8; 1000]));
        }
        src.push_buffer_list(l).unwrap();
        pushed.set(pushed.get() + 1000 * n as u64);
        let deadline = Instant::now() + Duration::from_secs(10);
        while sink.property::<u64>("bytes-to-serve") < pushed.get() {
            assert!(
                Instant::now() < deadline,
                "{factory}: list not rendered in 10 s"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    push(10);
    sink.emit_by_name::<()>("remove", &[&h, &p0]);
    push(5);
    sink.emit_by_name::<()>("remove", &[&h, &p0]);
    push(3);
    // Unknown client: a warning, nothing else.
    sink.emit_by_name::<()>("remove", &[&h, &1i32]);
    src.end_of_stream().unwrap();
    wait_eos(&pipeline, &desc);
    let stats: Vec<Vec<u64>> = [p0, p1]
        .iter()
        .map(|p| {
            let s = sink.emit_by_name::<gst::Structure>("get-stats", &[&h, p]);
            ["bytes-sent", "packets-sent"]
                .iter()
                .map(|f| s.get::<u64>(*f).unwrap_or(u64::MAX))
                .collect()
        })
        .collect();
    let mut stats = stats;
    stats.push(vec![
        sink.property::<u64>("bytes-served"),
        sink.property::<u64>("bytes-to-serve"),
    ]);
    stats.push(removed_stats.lock().unwrap().clone());
    sink.emit_by_name::<()>("clear", &[]);
    let clients: String = sink.property("clients");
    events
        .lock()
        .unwrap()
        .push(format!("after clear={clients}"));
    pipeline.set_state(gst::State::Null).unwrap();
    let counts = rs.map(|r| r.join().len()).to_vec();
    let ev = events.lock().unwrap().clone();
    (counts, stats, ev)
}

#[test]
fn clients_by_signals_like_multiudpsink() {
    for dup in [true, false] {
        let stock = client_scenario("multiudpsink", dup);
        let ours = client_scenario("rtpfastudpsink", dup);
        // Ports differ between the runs: compare with ports masked.
        let mask = |v: &[String]| -> Vec<String> {
            v.iter()
                .map(|s| {
                    s.split(|c: char| c.is_ascii_digit())
                        .filter(|p| !p.is_empty())
                        .collect::<Vec<_>>()
                        .join("#")
                })
                .collect()
        };
        assert_eq!(
            ours.0, stock.0,
            "datagrams per client (send-duplicates={dup})"
        );
        // get-stats of each client (the removed one's from inside
        // client-removed), bytes-served and bytes-to-serve.
        assert_eq!(ours.1, stock.1, "get-stats (send-duplicates={dup})");
        let per = if dup { 25 } else { 15 };
        assert_eq!(ours.1[3], [per * 1000, per]);
        // Stock's `clients` string loses the comma after a client's last
        // duplicate when it is the last client ("A,BB"); ours keeps it.
        let is_clients = |s: &String| s.starts_with("clients=");
        let stock_ev: Vec<String> = stock.2.iter().filter(|s| !is_clients(s)).cloned().collect();
        let ours_ev: Vec<String> = ours.2.iter().filter(|s| !is_clients(s)).cloned().collect();
        assert_eq!(
            mask(&ours_ev),
            mask(&stock_ev),
            "signals (send-duplicates={dup})"
        );
        let clients = ours.2.iter().find(|s| is_clients(s)).unwrap();
        assert_eq!(
            mask(std::slice::from_ref(clients)),
            ["clients=#.#.#.#:#,#.#.#.#:#,#.#.#.#:"]
        );
        let first = if dup { 20 + 5 } else { 10 + 5 };
        assert_eq!(ours.0, vec![first, 18]);
    }
}

#[test]
fn bind_port_in_use_is_an_error_naming_the_address() {
    common::init();
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let sink = gst::ElementFactory::make("rtpfastudpsink")
        .property("bind-address", "127.0.0.1")
        .property("bind-port", port as i32)
        .build()
        .unwrap();
    let pipeline = gst::Pipeline::new();
    let src = gst::ElementFactory::make("fakesrc").build().unwrap();
    pipeline.add_many([&src, &sink]).unwrap();
    src.link(&sink).unwrap();
    assert!(pipeline.set_state(gst::State::Paused).is_err());
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(5), &[gst::MessageType::Error])
        .expect("an error message");
    let gst::MessageView::Error(e) = msg.view() else {
        unreachable!()
    };
    let text = format!("{} {:?}", e.error(), e.debug());
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    pipeline.set_state(gst::State::Null).unwrap();
}

/// Every udpsink property exists on ours with the same type, flags,
/// default and range.
#[test]
fn properties_match_udpsink() {
    common::init();
    let stock = gst::ElementFactory::make("udpsink").build().unwrap();
    let ours = gst::ElementFactory::make("rtpfastudpsink").build().unwrap();
    for p in stock.list_properties() {
        let name = p.name();
        if name == "name" {
            continue;
        }
        let q = ours
            .find_property(name)
            .unwrap_or_else(|| panic!("missing property {name}"));
        assert_eq!(p.value_type(), q.value_type(), "{name}: type");
        if name != "stats" {
            assert_eq!(p.blurb(), q.blurb(), "{name}: blurb");
        }
        let rw = glib::ParamFlags::READWRITE | glib::ParamFlags::DEPRECATED;
        assert_eq!(p.flags() & rw, q.flags() & rw, "{name}: flags");
        if p.value_type() != gst::Structure::static_type() {
            let (a, b) = (p.default_value(), q.default_value());
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "{name}: default");
        }
        if let (Some(a), Some(b)) = (
            p.downcast_ref::<glib::ParamSpecInt>(),
            q.downcast_ref::<glib::ParamSpecInt>(),
        ) {
            assert_eq!(
                (a.minimum(), a.maximum()),
                (b.minimum(), b.maximum()),
                "{name}"
            );
        }
        if name != "stats" && p.flags().contains(glib::ParamFlags::READABLE) {
            let (a, b) = (stock.property_value(name), ours.property_value(name));
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "{name}: value");
        }
    }
    // basesink's stats fields are kept in ours.
    let s: gst::Structure = ours.property("stats");
    for f in [
        "average-rate",
        "dropped",
        "rendered",
        "packets",
        "gso-fallbacks",
    ] {
        assert!(s.has_field(f), "stats lacks {f}: {s}");
    }
}

use gst::glib;

#[test]
fn uri_handler_like_udpsink() {
    common::init();
    let ours = gst::ElementFactory::make("rtpfastudpsink").build().unwrap();
    let stock = gst::ElementFactory::make("udpsink").build().unwrap();
    for el in [&stock, &ours] {
        let h = el.dynamic_cast_ref::<gst::URIHandler>().unwrap();
        assert_eq!(h.protocols(), ["udp"]);
        assert_eq!(h.uri_type(), gst::URIType::Sink);
        assert_eq!(h.uri().as_deref(), Some("udp://localhost:5004"));
        h.set_uri("udp://127.0.0.1:5006").unwrap();
        assert_eq!(el.property::<String>("host"), "127.0.0.1");
        assert_eq!(el.property::<i32>("port"), 5006);
        assert_eq!(el.property::<String>("clients"), "127.0.0.1:5006");
        el.set_property("port", 5008i32);
        assert_eq!(h.uri().as_deref(), Some("udp://127.0.0.1:5008"));
        assert_eq!(el.property::<String>("clients"), "127.0.0.1:5008");
        assert!(h.set_uri("http://127.0.0.1:1").is_err());
    }
}

/// What the sockets look like: IP_TTL, IP_TOS and SO_SNDBUF of
/// `used-socket` in PAUSED, IP_TOS after `qos-dscp` changes there, and
/// whether a socket given by the application is still open after NULL with
/// `close-socket=false` and with the default.
fn socket_options(factory: &str) -> Vec<i64> {
    use std::os::fd::AsRawFd;
    common::init();
    let getopt = |fd: i32, level: i32, name: i32| -> i64 {
        let mut v: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: a c_int buffer of `len` bytes for getsockopt to fill.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                level,
                name,
                &mut v as *mut _ as *mut libc::c_void,
                &mut len,
            )
        };
        assert_eq!(rc, 0);
        v as i64
    };
    let mut out = Vec::new();
    let sink = gst::ElementFactory::make(factory)
        .property("clients", "127.0.0.1:9")
        .property("ttl", 7i32)
        .property("qos-dscp", 10i32)
        .property("buffer-size", 300_000i32)
        .build()
        .unwrap();
    sink.set_state(gst::State::Paused).unwrap();
    let used = sink.property::<Option<gio::Socket>>("used-socket").unwrap();
    let fd = used.as_raw_fd();
    out.push(getopt(fd, libc::IPPROTO_IP, libc::IP_TTL));
    out.push(getopt(fd, libc::IPPROTO_IP, libc::IP_TOS));
    out.push(getopt(fd, libc::SOL_SOCKET, libc::SO_SNDBUF));
    sink.set_property("qos-dscp", 63i32);
    out.push(getopt(fd, libc::IPPROTO_IP, libc::IP_TOS));
    sink.set_state(gst::State::Null).unwrap();
    out.push(
        sink.property::<Option<gio::Socket>>("used-socket")
            .is_some() as i64,
    );
    // A multicast client (nothing is sent: PAUSED only, and no group join,
    // which would send IGMP on a real interface): ttl-mc and loop go onto
    // the socket.
    let sink = gst::ElementFactory::make(factory)
        .property("clients", "239.255.12.34:5004")
        .property("auto-multicast", false)
        .property("ttl-mc", 5i32)
        .property("loop", false)
        .build()
        .unwrap();
    sink.set_state(gst::State::Paused).unwrap();
    let used = sink.property::<Option<gio::Socket>>("used-socket").unwrap();
    let fd = used.as_raw_fd();
    out.push(getopt(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_TTL));
    out.push(getopt(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP));
    sink.set_state(gst::State::Null).unwrap();
    for close in [false, true] {
        let given = gio::Socket::new(
            gio::SocketFamily::Ipv4,
            gio::SocketType::Datagram,
            gio::SocketProtocol::Udp,
        )
        .unwrap();
        let sink = gst::ElementFactory::make(factory)
            .property("clients", "127.0.0.1:9")
            .property("socket", &given)
            .property("close-socket", close)
            .build()
            .unwrap();
        sink.set_state(gst::State::Paused).unwrap();
        let used = sink.property::<Option<gio::Socket>>("used-socket");
        out.push((used.as_ref() == Some(&given)) as i64);
        sink.set_state(gst::State::Null).unwrap();
        out.push(given.is_closed() as i64);
    }
    out
}

#[test]
fn socket_options_like_udpsink() {
    let stock = socket_options("udpsink");
    let ours = socket_options("rtpfastudpsink");
    assert_eq!(ours, stock);
    // ttl, tos (10 << 2), the send buffer (the kernel doubles it), tos
    // after qos-dscp=63, no used socket after NULL, multicast ttl and loop,
    // the given socket used and left open, used and closed.
    assert_eq!(ours, [7, 40, 600_000, 252, 0, 5, 0, 1, 0, 1, 1]);
}

/// A datagram the kernel refuses (over 65 507 bytes) is dropped with
/// stock's warning, counted, and the stream goes on. A bus sync handler
/// that calls back into the sink when the warning is posted does not
/// deadlock it.
fn oversized(factory: &str) -> (usize, Vec<String>) {
    common::init();
    let r = Receiver::new("127.0.0.1:0", 2);
    let desc = format!(
        "appsrc name=src format=time ! {factory} name=out sync=false host=127.0.0.1 port={}",
        r.port()
    );
    let (pipeline, src) = common::launch_with_src(&desc);
    let sink = pipeline.by_name("out").unwrap();
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let w = warnings.clone();
    let port = r.port() as i32;
    pipeline.bus().unwrap().set_sync_handler(move |_, msg| {
        if let gst::MessageView::Warning(e) = msg.view() {
            let el = msg
                .src()
                .unwrap()
                .downcast_ref::<gst::Element>()
                .unwrap()
                .clone();
            let st = el.emit_by_name::<gst::Structure>("get-stats", &[&"127.0.0.1", &port]);
            w.lock().unwrap().push(format!(
                "{} stats={}",
                e.error(),
                st.has_field("bytes-sent")
            ));
        }
        gst::BusSyncReply::Pass
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    for len in [100, 70_000, 200] {
        src.push_buffer(gst::Buffer::from_mut_slice(vec![1u8; len]))
            .unwrap();
    }
    src.end_of_stream().unwrap();
    wait_eos(&pipeline, &desc);
    if factory == "rtpfastudpsink" {
        assert_eq!(stat(&sink, "send-errors"), 1);
        assert_eq!(stat(&sink, "packets"), 2);
    }
    pipeline.set_state(gst::State::Null).unwrap();
    let got = r.join().len();
    let w = warnings.lock().unwrap().clone();
    (got, w)
}

#[test]
fn oversized_datagram_warns_and_goes_on_like_udpsink() {
    let stock = oversized("udpsink");
    let ours = oversized("rtpfastudpsink");
    assert_eq!(ours, stock);
    assert_eq!(ours.0, 2);
    assert_eq!(ours.1.len(), 1, "{:?}", ours.1);
    assert!(
        ours.1[0].contains("larger than maximum size"),
        "{:?}",
        ours.1
    );
}
