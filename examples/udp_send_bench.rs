//! CPU per datagram of the ways to send a payloader's output over UDP
//! (issue 22: quinn-udp against our libc sendmmsg + GSO core).
//!
//! N datagrams of 1400 bytes in frames of 40 (one video frame's fragments, as
//! a payloader pushes them: one list per frame) go over loopback to a
//! receiver thread. Each way sends frame by frame; the user+sys CPU of the
//! sending thread (CLOCK_THREAD_CPUTIME_ID, see thread_cpu) is summed around the send calls
//! only, not around the flow-control waits that keep the receiver from
//! dropping. Ways:
//!   sendmsg      one sendmsg per datagram (stock udpsink, one buffer at a time)
//!   sendmmsg     our core with GSO off: one sendmmsg per frame (stock
//!                udpsink's list path)
//!   ours-gso     our core: one sendmmsg per frame, the frame one GSO message
//!   quinn-gso    quinn_udp::UdpSocketState::try_send, one Transmit per frame
//!                with segment_size (GSO); the fragments are copied into one
//!                contiguous buffer first, as quinn needs
//!   quinn-gso-nocopy  the same without the copy (a lower bound for quinn)
//!   ours-gso-4clients / quinn-gso-4clients  each frame to 4 receivers: ours
//!                one sendmmsg (4 GSO messages), quinn one call per client
//!                (the frame copied once)
//!
//! cargo run --release --example udp_send_bench -- [datagrams] [rounds]

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gstrsrtpfast::io::send::Sender;

const SIZE: usize = 1400;
const RUN: usize = 40;
/// Datagrams the sender may be ahead of the receiver.
const WINDOW: u64 = 1200;

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

struct Rx {
    addr: SocketAddr,
    count: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

fn receiver() -> Rx {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket2::SockRef::from(&s)
        .set_recv_buffer_size(4 << 20)
        .unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let addr = s.local_addr().unwrap();
    let count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (c, st) = (count.clone(), stop.clone());
    let thread = std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while !st.load(Ordering::Relaxed) {
            if let Ok(n) = s.recv(&mut buf) {
                assert_eq!(n, SIZE);
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    Rx {
        addr,
        count,
        stop,
        thread,
    }
}

/// Send `n` datagrams to each of `clients` receivers frame by frame with
/// `send_frame`; CPU per datagram sent in ns and the datagrams that arrived.
fn measure(
    name: &str,
    n: usize,
    clients: usize,
    mut send_frame: impl FnMut(&[SocketAddr], &[Vec<u8>]),
) -> (f64, u64) {
    let rxs: Vec<Rx> = (0..clients).map(|_| receiver()).collect();
    let addrs: Vec<SocketAddr> = rxs.iter().map(|r| r.addr).collect();
    let frame: Vec<Vec<u8>> = (0..RUN).map(|i| vec![i as u8; SIZE]).collect();
    let frames = n / RUN;
    let mut cpu = Duration::ZERO;
    let deadline = Instant::now() + Duration::from_secs(120);
    let slowest = || {
        rxs.iter()
            .map(|r| r.count.load(Ordering::Relaxed))
            .min()
            .unwrap()
    };
    for f in 0..frames {
        // Flow control (not measured): wait until the receivers are close.
        let sent = (f * RUN) as u64;
        while slowest() + WINDOW < sent && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(50));
        }
        let t0 = thread_cpu();
        send_frame(&addrs, &frame);
        cpu += thread_cpu() - t0;
    }
    let each = (frames * RUN) as u64;
    let wait_end = Instant::now() + Duration::from_secs(2);
    while slowest() < each && Instant::now() < wait_end {
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut got = 0;
    for rx in rxs {
        rx.stop.store(true, Ordering::Relaxed);
        got += rx.count.load(Ordering::Relaxed);
        rx.thread.join().unwrap();
    }
    let total = each * clients as u64;
    let per = cpu.as_nanos() as f64 / total as f64;
    eprintln!("{name:>17}: {per:7.0} ns CPU/datagram ({got}/{total} arrived)");
    (per, got)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let rounds: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(3);
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket2::SockRef::from(&tx)
        .set_send_buffer_size(4 << 20)
        .unwrap();
    let fd = tx.as_raw_fd();
    let cancel = AtomicBool::new(false);
    let quinn = quinn_udp::UdpSocketState::new((&tx).into()).unwrap();
    eprintln!(
        "{n} datagrams of {SIZE} B in frames of {RUN}, {rounds} rounds; quinn max GSO segments {}",
        quinn.max_gso_segments()
    );
    let names = [
        "sendmsg",
        "sendmmsg",
        "ours-gso",
        "ours-gso-adjacent",
        "quinn-gso",
        "quinn-gso-nocopy",
        "ours-gso-4clients",
        "quinn-gso-4clients",
    ];
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut contiguous = vec![0u8; SIZE * RUN];
    for _ in 0..rounds {
        for (k, name) in names.iter().enumerate() {
            let (per, _) = match *name {
                "sendmsg" => measure(name, n, 1, |to, frame| {
                    for p in frame {
                        tx.send_to(p, to[0]).unwrap();
                    }
                }),
                "sendmmsg" | "ours-gso" | "ours-gso-adjacent" | "ours-gso-4clients" => {
                    let mut s = Sender::new();
                    s.set_gso(*name != "sendmmsg");
                    let adjacent = *name == "ours-gso-adjacent";
                    let clients = if name.ends_with("4clients") { 4 } else { 1 };
                    let mut dests = Vec::new();
                    let r = measure(name, n, clients, |to, frame| {
                        if dests.is_empty() {
                            dests = to.iter().map(|a| s.add_dest(*a, 0)).collect();
                        }
                        // A whole list to every client: one batch, as the
                        // element sends it.
                        let mut b = s.batch();
                        for &d in &dests {
                            if adjacent {
                                // The same datagrams as slices of one buffer.
                                for p in contiguous.chunks(SIZE) {
                                    b.push(d, p);
                                }
                            } else {
                                for p in frame {
                                    b.push(d, p);
                                }
                            }
                        }
                        b.send(&[fd], &cancel);
                    });
                    let st = s.stats();
                    assert_eq!(st.errors, 0);
                    eprintln!(
                        "{:>17}  syscalls {}, gso-sends {}, fallbacks {}",
                        "", st.syscalls, st.gso_sends, st.gso_fallbacks
                    );
                    r
                }
                _ => {
                    let copy = *name != "quinn-gso-nocopy";
                    let clients = if name.ends_with("4clients") { 4 } else { 1 };
                    measure(name, n, clients, |to, frame| {
                        if copy {
                            for (i, p) in frame.iter().enumerate() {
                                contiguous[i * SIZE..(i + 1) * SIZE].copy_from_slice(p);
                            }
                        }
                        // One Transmit (one sendmsg) per client.
                        for &destination in to {
                            let t = quinn_udp::Transmit {
                                destination,
                                ecn: None,
                                contents: &contiguous,
                                segment_size: Some(SIZE),
                                src_ip: None,
                            };
                            // try_send (send is deprecated: it hides
                            // errors); the socket blocks, so WouldBlock
                            // cannot happen.
                            quinn.try_send((&tx).into(), &t).unwrap();
                        }
                    })
                }
            };
            results[k].push(per);
        }
    }
    println!("way                ns CPU per datagram (median of {rounds}), vs sendmsg");
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let base = median(&mut results[0].clone());
    for (k, name) in names.iter().enumerate() {
        let m = median(&mut results[k]);
        println!("{name:<18} {m:7.0}   {:.2}x", base / m);
    }
}
