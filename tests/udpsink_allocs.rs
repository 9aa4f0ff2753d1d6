//! rtpfastudpsink allocates nothing per datagram in steady state: buffer
//! lists of 40 packets (one frame's fragments, header + payload memories as
//! a payloader makes them) pushed straight into its sink pad, counted by the
//! malloc interposer with `G_SLICE=always-malloc` in a child process. The
//! warm-up's allocations (sockets, client, scratch arrays) show the counter
//! sees the element's allocations.

#[path = "../src/alloc_counter.rs"]
mod alloc_counter;
mod common;

use gst::prelude::*;
use std::net::UdpSocket;
use std::time::Duration;

const RUN: usize = 40;
const LISTS: usize = 500;

fn frame_list(seq: u16) -> gst::BufferList {
    let mut list = gst::BufferList::new_sized(RUN);
    let l = list.get_mut().unwrap();
    for i in 0..RUN {
        let mut hdr = vec![0x80u8, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        hdr[2..4].copy_from_slice(&(seq.wrapping_mul(RUN as u16) + i as u16).to_be_bytes());
        let mut b = gst::Buffer::from_mut_slice(hdr);
        let len = if i + 1 == RUN { 700 } else { 1388 };
        b.get_mut()
            .unwrap()
            .append_memory(gst::Memory::from_mut_slice(vec![i as u8; len]));
        l.add(b);
    }
    list
}

/// Allocations per list of 40 datagrams while pushing lists (after a
/// warm-up), the allocations of start + warm-up, and datagrams received.
fn measure(factory: &str, props: &[(&str, &dyn ToValue)]) -> (f64, u64, u64) {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket2::SockRef::from(&rx)
        .set_recv_buffer_size(4 << 20)
        .unwrap();
    rx.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let port = rx.local_addr().unwrap().port() as i32;
    let drained = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (d, st) = (drained.clone(), stop.clone());
    let rx_thread = std::thread::spawn(move || {
        let mut buf = vec![0u8; 2048];
        // Until told to stop and then quiet for one read timeout.
        loop {
            match rx.recv(&mut buf) {
                Ok(_) => {
                    d.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Err(_) if st.load(std::sync::atomic::Ordering::Relaxed) => break,
                Err(_) => {}
            }
        }
    });

    let sink = gst::ElementFactory::make(factory)
        .property("host", "127.0.0.1")
        .property("port", port)
        .property("sync", false)
        .build()
        .unwrap();
    for (k, v) in props {
        sink.set_property_from_value(k, &v.to_value());
    }
    let src = gst::Pad::builder(gst::PadDirection::Src)
        .name("src")
        .build();
    src.link(&sink.static_pad("sink").unwrap()).unwrap();
    src.set_active(true).unwrap();
    let lists: Vec<gst::BufferList> = (0..LISTS as u16).map(frame_list).collect();
    let a_start = alloc_counter::allocations();
    sink.set_state(gst::State::Playing).unwrap();
    assert!(src.push_event(gst::event::StreamStart::new("udpsink-allocs")));
    assert!(
        src.push_event(gst::event::Caps::new(&gst::Caps::new_empty_simple(
            "application/x-rtp"
        )))
    );
    assert!(
        src.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
            gst::ClockTime,
        >::new()))
    );
    let warm = LISTS / 5;
    for l in &lists[..warm] {
        src.push_list(l.clone()).unwrap();
    }
    let setup = alloc_counter::allocations() - a_start;
    let a0 = alloc_counter::allocations();
    for l in &lists[warm..] {
        src.push_list(l.clone()).unwrap();
        // Keep well within the receive buffer (not counted: a sleep).
        std::thread::sleep(Duration::from_micros(200));
    }
    let allocs = alloc_counter::allocations() - a0;
    sink.set_state(gst::State::Null).unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    rx_thread.join().unwrap();
    (
        allocs as f64 / (LISTS - warm) as f64,
        setup,
        drained.load(std::sync::atomic::Ordering::Relaxed),
    )
}

#[test]
fn child_measure() {
    if std::env::var_os("UDPSINK_ALLOCS_CHILD").is_none() {
        return;
    }
    common::init();
    assert!(alloc_counter::is_active(), "malloc interposer not active");
    let (ours, setup, got) = measure("rtpfastudpsink", &[]);
    let (ours_nogso, _, got_nogso) = measure("rtpfastudpsink", &[("gso", &false)]);
    let (stock, stock_setup, _) = measure("udpsink", &[]);
    println!(
        "allocations per list of {RUN} datagrams: rtpfastudpsink {ours:.4} (gso=false \
         {ours_nogso:.4}), udpsink {stock:.4}; start + warm-up {setup} (stock {stock_setup}); \
         received {got} / {got_nogso}"
    );
    // The counter sees the element's allocations (sockets, scratch arrays).
    assert!(setup > 10, "start counted only {setup} allocations");
    assert_eq!(got, (LISTS * RUN) as u64, "datagrams lost (gso=true)");
    assert_eq!(
        got_nogso,
        (LISTS * RUN) as u64,
        "datagrams lost (gso=false)"
    );
    // Per list, not per datagram: one allocation per render would show.
    assert!(ours <= 0.05, "rtpfastudpsink: {ours} allocations per list");
    assert!(
        ours_nogso <= 0.05,
        "rtpfastudpsink gso=false: {ours_nogso} allocations per list"
    );
}

#[test]
fn rtpfastudpsink_allocates_nothing_per_datagram() {
    common::run_allocation_child("child_measure", "UDPSINK_ALLOCS_CHILD");
}
