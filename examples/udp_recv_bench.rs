//! Receive-path CPU: our `io::recv::Receiver` against
//! `quinn_udp::UdpSocketState::recv`, same socket options, same traffic.
//!
//! A sender thread sends N datagrams of 1200 bytes over loopback (plain
//! `send_to` per datagram, or UDP GSO with 40 segments per send), paced in
//! bursts; the receiving thread waits with poll and reads batches of up to
//! 32 slots of 64 KiB. Reported: user+sys CPU of the receiving thread
//! (getrusage RUSAGE_THREAD) per datagram received, datagrams per receive
//! call. Loopback only.
//!
//!     cargo run --release --example udp_recv_bench -- [N]

use gstrsrtpfast::io::recv::{self, BindConfig, Receiver, Wait};
use std::io::IoSliceMut;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

const SIZE: usize = 1200;
const SLOTS: usize = 32;
const GSO_SEGMENTS: usize = 40;

fn thread_cpu() -> Duration {
    // SAFETY: getrusage with a valid out-pointer; all-zero rusage is valid.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_THREAD, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn socket() -> socket2::Socket {
    recv::open_socket(&BindConfig {
        address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 0,
        reuse: false,
        buffer_size: 8 << 20,
        auto_multicast: false,
        multicast_ifaces: vec![],
        multicast_loop: false,
    })
    .expect("socket")
}

fn sender(dst: SocketAddr, n: usize, gso: bool) -> std::thread::JoinHandle<Duration> {
    std::thread::spawn(move || {
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let per_send = if gso {
            let seg = SIZE as libc::c_int;
            // SAFETY: setsockopt(UDP_SEGMENT) on our socket with a live int.
            let r = unsafe {
                libc::setsockopt(
                    tx.as_raw_fd(),
                    libc::SOL_UDP,
                    103,
                    &seg as *const _ as *const libc::c_void,
                    4,
                )
            };
            assert_eq!(r, 0, "UDP_SEGMENT unsupported");
            GSO_SEGMENTS
        } else {
            1
        };
        let buf = vec![0x80u8; SIZE * per_send];
        let mut sent = 0;
        while sent < n {
            // A burst of 64 datagrams, then a pause: about 64 per 200 µs.
            let mut burst = 0;
            while burst < 64 && sent < n {
                let k = per_send.min(n - sent);
                tx.send_to(&buf[..k * SIZE], dst).unwrap();
                sent += k;
                burst += k;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        thread_cpu()
    })
}

fn process_cpu() -> Duration {
    // SAFETY: getrusage with a valid out-pointer; all-zero rusage is valid.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// `element ! fakesink` receiving `n` datagrams: whole-process CPU minus
/// the sender thread's, per datagram.
fn run_element(element: &str, n: usize, gso: bool) -> Outcome {
    use gst::prelude::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    let desc = format!(
        "{element} name=src address=127.0.0.1 port=0 buffer-size=8388608 retrieve-sender-address=true ! fakesink sync=false"
    );
    let pipeline = gst::parse::launch(&desc)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let src = pipeline.by_name("src").unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let calls = Arc::new(AtomicU64::new(0));
    let (s2, c2) = (seen.clone(), calls.clone());
    src.static_pad("src").unwrap().add_probe(
        gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
        move |_, info| {
            let k = match &info.data {
                Some(gst::PadProbeData::Buffer(_)) => 1,
                Some(gst::PadProbeData::BufferList(l)) => l.len() as u64,
                _ => 0,
            };
            s2.fetch_add(k, Ordering::Relaxed);
            c2.fetch_add(1, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        },
    );
    pipeline.set_state(gst::State::Playing).unwrap();
    let port = src.property::<i32>("port") as u16;
    let c0 = process_cpu();
    let t = sender(
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
        n,
        gso,
    );
    let sender_cpu = t.join().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while seen.load(Ordering::Relaxed) < n as u64 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let cpu = process_cpu().saturating_sub(c0).saturating_sub(sender_cpu);
    pipeline.set_state(gst::State::Null).unwrap();
    Outcome {
        got: seen.load(Ordering::Relaxed),
        calls: calls.load(Ordering::Relaxed),
        cpu,
    }
}

struct Outcome {
    got: u64,
    calls: u64,
    cpu: Duration,
}

fn run_ours(n: usize, gso: bool, gro: bool) -> Outcome {
    let mut r = Receiver::new(socket(), SLOTS, gro, true).unwrap();
    let dst = r.local_addr().unwrap();
    let mut slots = vec![vec![0u8; recv::MAX_DATAGRAM]; SLOTS];
    let mut res = Vec::with_capacity(SLOTS);
    let t = sender(dst, n, gso);
    let c0 = thread_cpu();
    let (mut got, mut calls) = (0u64, 0u64);
    while got < n as u64 {
        match r.wait(Some(Duration::from_millis(500))).unwrap() {
            Wait::Readable => {}
            _ => break,
        }
        calls += 1;
        r.recv_batch(&mut slots, &mut res).unwrap();
        for s in &res {
            got += recv::segments(s).count() as u64;
        }
    }
    let cpu = thread_cpu() - c0;
    let _ = t.join().unwrap();
    Outcome { got, calls, cpu }
}

fn run_quinn(n: usize, gso: bool) -> Outcome {
    let sock = socket();
    sock.set_nonblocking(true).unwrap();
    let udp: UdpSocket = sock.into();
    let state = quinn_udp::UdpSocketState::new((&udp).into()).unwrap();
    let dst = udp.local_addr().unwrap();
    let mut slots = vec![vec![0u8; recv::MAX_DATAGRAM]; SLOTS];
    let mut meta = vec![quinn_udp::RecvMeta::default(); SLOTS];
    let mut iovs: Vec<IoSliceMut> = slots.iter_mut().map(|s| IoSliceMut::new(s)).collect();
    let t = sender(dst, n, gso);
    let c0 = thread_cpu();
    let (mut got, mut calls) = (0u64, 0u64);
    while got < n as u64 {
        let mut pfd = libc::pollfd {
            fd: udp.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, 500) } <= 0 {
            break;
        }
        calls += 1;
        match state.recv((&udp).into(), &mut iovs, &mut meta) {
            Ok(k) => {
                for m in &meta[..k] {
                    got += if m.stride == 0 {
                        1
                    } else {
                        m.len.div_ceil(m.stride).max(1)
                    } as u64;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
    }
    let cpu = thread_cpu() - c0;
    let _ = t.join().unwrap();
    Outcome { got, calls, cpu }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    println!("{n} datagrams of {SIZE} bytes over loopback, {SLOTS} slots of 64 KiB");
    println!(
        "{:<42} {:>9} {:>9} {:>9}",
        "receiver / sender", "received", "per call", "ns/dgram"
    );
    const REPS: usize = 5;
    // Warm-up (page faults of the slots, first-use costs), not reported.
    run_ours(n / 10, false, true);
    run_quinn(n / 10, false);
    let rest = element_rows(n, REPS);
    for gso in [false, true] {
        let sender = if gso { "GSO sender" } else { "plain sender" };
        // Interleaved repetitions; the median of each is reported.
        let mut rows: [(&str, Vec<Outcome>); 3] = [
            ("ours (recvmmsg+GRO)", vec![]),
            ("ours (recvmmsg, gro=false)", vec![]),
            ("quinn-udp (recvmmsg+GRO)", vec![]),
        ];
        for _ in 0..REPS {
            rows[0].1.push(run_ours(n, gso, true));
            rows[1].1.push(run_ours(n, gso, false));
            rows[2].1.push(run_quinn(n, gso));
        }
        for (name, mut runs) in rows {
            let ns = |o: &Outcome| o.cpu.as_nanos() as f64 / o.got.max(1) as f64;
            runs.sort_by(|a, b| ns(a).total_cmp(&ns(b)));
            let all: Vec<String> = runs.iter().map(|o| format!("{:.0}", ns(o))).collect();
            let o = &runs[REPS / 2];
            println!(
                "{:<42} {:>9} {:>9.1} {:>9.0}   (runs: {})",
                format!("{name}, {sender}"),
                o.got,
                o.got as f64 / o.calls.max(1) as f64,
                ns(o),
                all.join(" ")
            );
        }
    }
    rest();
}

/// The elements, whole process: returns a closure printing the rows so the
/// core rows print first.
fn element_rows(n: usize, reps: usize) -> impl FnOnce() {
    move || {
        gst::init().unwrap();
        gstrsrtpfast::plugin_register_static().unwrap();
        println!("\nelement ! fakesink, whole-process CPU (minus the sender thread) per datagram");
        for gso in [false, true] {
            let sender = if gso { "GSO sender" } else { "plain sender" };
            let mut rows: [(&str, Vec<Outcome>); 2] =
                [("udpsrc", vec![]), ("rtpfastudpsrc", vec![])];
            for _ in 0..reps {
                for row in rows.iter_mut() {
                    row.1.push(run_element(row.0, n, gso));
                }
            }
            for (name, mut runs) in rows {
                let ns = |o: &Outcome| o.cpu.as_nanos() as f64 / o.got.max(1) as f64;
                runs.sort_by(|a, b| ns(a).total_cmp(&ns(b)));
                let all: Vec<String> = runs.iter().map(|o| format!("{:.0}", ns(o))).collect();
                let o = &runs[reps / 2];
                println!(
                    "{:<42} {:>9} {:>9.1} {:>9.0}   (runs: {})",
                    format!("{name}, {sender}"),
                    o.got,
                    o.got as f64 / o.calls.max(1) as f64,
                    ns(o),
                    all.join(" ")
                );
            }
        }
    }
}
