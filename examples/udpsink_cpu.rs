//! CPU per datagram of the sink elements: udpsink against rtpfastudpsink
//! (gso=false and gso=true), fed as a payloader feeds them: one buffer list
//! per frame of 40 packets, each packet a 12-byte header memory + a
//! 1388-byte payload memory, made just before it is pushed (warm, as a
//! payloader's output; freed outside the measured part), pushed from a
//! plain src pad (the sink renders
//! in the pushing thread, sync=false). User+sys CPU of that thread
//! (CLOCK_THREAD_CPUTIME_ID, see thread_cpu) around the pushes only; a receiver thread
//! drains the loopback socket and the sender waits for it between frames
//! (not measured).
//!
//! cargo run --release --example udpsink_cpu -- [frames] [rounds]

use gst::prelude::*;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RUN: usize = 40;

/// CPU time (user+sys) of the calling thread. CLOCK_THREAD_CPUTIME_ID,
/// not getrusage(RUSAGE_THREAD): getrusage returns the runtime as of the
/// scheduler's last update (a tick or a switch), so around a 20 µs send it
/// credits whatever ran since that update, the unmeasured work between
/// sends included; the clock brings the runtime up to now first.
fn thread_cpu() -> Duration {
    // SAFETY: timespec is plain C data; clock_gettime fills it.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn frame_list(seq: u16) -> gst::BufferList {
    let mut list = gst::BufferList::new_sized(RUN);
    let l = list.get_mut().unwrap();
    for i in 0..RUN {
        let mut hdr = vec![0x80u8, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        hdr[2..4].copy_from_slice(&(seq.wrapping_mul(RUN as u16) + i as u16).to_be_bytes());
        let mut b = gst::Buffer::from_mut_slice(hdr);
        b.get_mut()
            .unwrap()
            .append_memory(gst::Memory::from_mut_slice(vec![i as u8; 1388]));
        l.add(b);
    }
    list
}

fn measure(factory: &str, gso: Option<bool>, lists: &[()]) -> (f64, u64) {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket2::SockRef::from(&rx)
        .set_recv_buffer_size(4 << 20)
        .unwrap();
    rx.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let port = rx.local_addr().unwrap().port() as i32;
    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (c, st) = (count.clone(), stop.clone());
    let t = std::thread::spawn(move || {
        let mut buf = vec![0u8; 2048];
        while !st.load(Ordering::Relaxed) {
            if rx.recv(&mut buf).is_ok() {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let sink = gst::ElementFactory::make(factory)
        .property("host", "127.0.0.1")
        .property("port", port)
        .property("sync", false)
        .build()
        .unwrap();
    if let Some(g) = gso {
        sink.set_property("gso", g);
    }
    let src = gst::Pad::builder(gst::PadDirection::Src)
        .name("src")
        .build();
    src.link(&sink.static_pad("sink").unwrap()).unwrap();
    src.set_active(true).unwrap();
    sink.set_state(gst::State::Playing).unwrap();
    src.push_event(gst::event::StreamStart::new("udpsink-cpu"));
    src.push_event(gst::event::Caps::new(&gst::Caps::new_empty_simple(
        "application/x-rtp",
    )));
    src.push_event(gst::event::Segment::new(&gst::FormattedSegment::<
        gst::ClockTime,
    >::new()));
    let mut cpu = Duration::ZERO;
    let deadline = Instant::now() + Duration::from_secs(120);
    for (f, l) in lists.iter().enumerate() {
        let sent = (f * RUN) as u64;
        while count.load(Ordering::Relaxed) + 1200 < sent && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(50));
        }
        // Made just before the push, as a payloader makes them (warm in
        // cache); freed after the measured part (a ref is kept).
        let _ = l;
        let l = frame_list(f as u16);
        let keep = l.clone();
        let t0 = thread_cpu();
        src.push_list(l).unwrap();
        cpu += thread_cpu() - t0;
        drop(keep);
    }
    let total = (lists.len() * RUN) as u64;
    let end = Instant::now() + Duration::from_secs(2);
    while count.load(Ordering::Relaxed) < total && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(1));
    }
    sink.set_state(gst::State::Null).unwrap();
    stop.store(true, Ordering::Relaxed);
    t.join().unwrap();
    (
        cpu.as_nanos() as f64 / total as f64,
        count.load(Ordering::Relaxed),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let frames: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2500);
    let rounds: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5);
    gst::init().unwrap();
    gstrsrtpfast::plugin_register_static().unwrap();
    // Only the count is used up front; each list is made at its push.
    let lists: Vec<()> = vec![(); frames];
    let ways: [(&str, &str, Option<bool>); 3] = [
        ("udpsink", "udpsink", None),
        ("rtpfastudpsink gso=false", "rtpfastudpsink", Some(false)),
        ("rtpfastudpsink", "rtpfastudpsink", Some(true)),
    ];
    let mut res = vec![Vec::new(); ways.len()];
    for _ in 0..rounds {
        for (k, (name, factory, gso)) in ways.iter().enumerate() {
            // A third argument: run only that way (for a profiler).
            if args
                .get(3)
                .is_some_and(|o| o.parse::<usize>().ok() != Some(k))
            {
                res[k].push(0.0);
                continue;
            }
            let (per, got) = measure(factory, *gso, &lists);
            eprintln!(
                "{name:>26}: {per:6.0} ns/datagram ({got}/{} arrived)",
                frames * RUN
            );
            res[k].push(per);
        }
    }
    println!("sink                        ns CPU per datagram (median of {rounds})");
    let mut base = 0.0;
    for (k, (name, _, _)) in ways.iter().enumerate() {
        res[k].sort_by(|a, b| a.partial_cmp(b).unwrap());
        let m = res[k][res[k].len() / 2];
        if k == 0 {
            base = m;
        }
        println!("{name:<27} {m:6.0}   {:.2}x", base / m);
    }
}
