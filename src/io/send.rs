//! Batched UDP send: one `sendmmsg` per batch, and inside it every run of
//! consecutive equal-size datagrams to one destination (a payloader's
//! MTU-sized fragments of a frame) as ONE message carrying a `UDP_SEGMENT`
//! control message (UDP GSO): the kernel walks the stack once per run instead
//! of once per datagram. Each datagram stays its own iovec(s), so nothing is
//! copied. A destination whose route refuses GSO is resent without it, marked
//! no-GSO, and counted; no datagram is lost.
//!
//! Why libc `sendmmsg` and not `quinn_udp::UdpSocketState::try_send`
//! (issue 22: measure both, keep the winner). Measured with
//! `examples/udp_send_bench.rs` (Dec 2026, this shared 2-core VM, kernel
//! 6.18; loopback, 100 000 datagrams of 1400 B in frames of 40, one send
//! call per frame, a receiver thread draining; CPU (user+sys) of the
//! sending thread from CLOCK_THREAD_CPUTIME_ID around the send calls, since
//! getrusage RUSAGE_THREAD lags to the scheduler's last update and
//! misattributes such short spans):
//!
//! | way                                            | ns CPU / datagram |
//! |------------------------------------------------|-------------------|
//! | sendmsg per datagram (stock, buffer by buffer) | 1204 / 1174       |
//! | sendmmsg, no GSO (stock udpsink's list path)   | 1101 / 1077       |
//! | ours: sendmmsg + GSO, iovec per datagram       |  436 /  412       |
//! | quinn-udp GSO, frame copied contiguous first   |  440 /  430       |
//! | quinn-udp GSO without the copy (lower bound)   |  406 /  394       |
//! | ours, the frame to 4 clients (one sendmmsg)    |  349 /  334       |
//! | quinn-udp, 4 clients (one copy, 4 sendmsg)     |  337 /  318       |
//!
//! (median of 9 rounds, two runs; earlier runs agree.) GSO is the 2.6-2.8x;
//! on loopback the receive path runs in the sender's softirq too, so a real
//! NIC gains more. Between quinn-udp and ours there is no winner beyond
//! this machine's noise. Ours is kept for what the numbers do not show:
//! quinn-udp sends one contiguous `Transmit` per call, so a payloader's
//! fragments (a header and a payload memory each) would be copied into a
//! scratch buffer per run and the splitting into runs, sizes and clients
//! would still be ours to write; and when the kernel refuses GSO quinn-udp
//! turns it off for the whole socket and the refused datagrams are lost
//! (QUIC retransmits; RTP does not), where ours resends them and turns it
//! off for that destination only.
//!
//! `rtpfastudpsink` is a thin element over [`Sender`].

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use socket2::SockAddr;

/// `UDP_SEGMENT` (linux/udp.h, Linux 4.18); the libc crate does not export it.
const UDP_SEGMENT: libc::c_int = 103;
/// Segments per GSO message (the kernel's UDP_MAX_SEGMENTS).
pub const GSO_MAX_SEGMENTS: usize = 64;
/// Payload bytes of one GSO message: the largest IPv4 UDP payload (IPv6
/// allows 20 more; one limit for both keeps it simple).
pub const GSO_MAX_BYTES: usize = 65_507;
/// iovecs per message and messages per `sendmmsg` (UIO_MAXIOV).
const MAX_IOV: usize = libc::UIO_MAXIOV as usize;
const MAX_MSGS: usize = libc::UIO_MAXIOV as usize;
/// How long one poll for POLLOUT waits before the cancel flag is looked at.
const POLL_SLICE_MS: libc::c_int = 50;

/// Counters of a [`Sender`] (monotonic; reset with [`Sender::reset_stats`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SendStats {
    /// Datagrams the kernel accepted.
    pub packets: u64,
    /// Payload bytes the kernel accepted.
    pub bytes: u64,
    /// `sendmmsg` calls (failed ones included).
    pub syscalls: u64,
    /// Messages sent with `UDP_SEGMENT` (each carries 2..=64 datagrams).
    pub gso_sends: u64,
    /// GSO messages the kernel refused that were resent datagram by datagram.
    pub gso_fallbacks: u64,
    /// Datagrams dropped on a send error.
    pub errors: u64,
}

/// Handle of a destination in a [`Sender`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DestId(u32);

/// Per-destination counters, as multiudpsink keeps them per client.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DestStats {
    /// Datagrams handed to the kernel for this destination (sent or not, as
    /// multiudpsink counts `packets-sent`).
    pub packets: u64,
    /// Bytes the kernel accepted for this destination.
    pub bytes: u64,
}

#[derive(Debug)]
struct Dest {
    addr: SockAddr,
    /// Index of the socket (in the slice given to [`Batch::send`]) to send from.
    socket: usize,
    gso: bool,
    stats: DestStats,
    in_use: bool,
}

/// One datagram of the current batch.
#[derive(Debug, Clone, Copy)]
struct Pkt {
    dest: u32,
    iov_start: u32,
    iov_len: u32,
    len: u32,
}

/// One message of the `sendmmsg` being built: packets `first..first+count`.
#[derive(Debug, Clone, Copy)]
struct MsgMeta {
    first: usize,
    count: usize,
    bytes: usize,
    gso: bool,
}

/// Room for one `cmsghdr` + u16 (CMSG_SPACE(2) is 24 on LP64, 16 on ILP32).
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct CmsgBuf([u8; 32]);

/// What a [`Batch::send`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SendReport {
    /// Datagrams the kernel accepted.
    pub sent: usize,
    /// Datagrams dropped on an error.
    pub errors: usize,
    /// The last error seen, with the destination it was for.
    pub last_error: Option<(i32, DestId)>,
    /// The cancel flag was raised: the rest of the batch was not sent.
    pub cancelled: bool,
}

/// The batched sender: destinations and the scratch arrays (`mmsghdr`,
/// `iovec`, control buffers) reused from batch to batch, so a steady stream
/// allocates nothing.
pub struct Sender {
    dests: Vec<Dest>,
    free: Vec<u32>,
    pkts: Vec<Pkt>,
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
    meta: Vec<MsgMeta>,
    cmsgs: Vec<CmsgBuf>,
    gso: bool,
    max_wait: Duration,
    stats: SendStats,
    /// Destinations whose GSO is off only until the current chunk is sent.
    retry_restore: Vec<u32>,
    /// Test hook: the next this many `sendmmsg` calls fail with EAGAIN
    /// (loopback never fills a UDP send buffer).
    #[cfg(test)]
    fake_eagain: u32,
}

// SAFETY: the raw pointers in `iovs` and `msgs` point into the data of one
// `Batch` and into `dests`/`cmsgs`; they are only dereferenced (by the
// kernel) inside `Batch::send`, while the batch's borrows keep that data
// alive, and are rewritten before every use. Between batches they are stale
// values never read, so moving the sender to another thread is sound.
unsafe impl Send for Sender {}

impl Default for Sender {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("dests", &self.dests)
            .field("gso", &self.gso)
            .field("stats", &self.stats)
            .finish()
    }
}

impl Sender {
    pub fn new() -> Self {
        Sender {
            dests: Vec::new(),
            free: Vec::new(),
            pkts: Vec::with_capacity(256),
            iovs: Vec::with_capacity(512),
            msgs: Vec::with_capacity(256),
            meta: Vec::with_capacity(256),
            cmsgs: Vec::with_capacity(256),
            gso: true,
            max_wait: Duration::from_secs(2),
            stats: SendStats::default(),
            retry_restore: Vec::with_capacity(4),
            #[cfg(test)]
            fake_eagain: 0,
        }
    }

    /// GSO on (default) or off (plain `sendmmsg`, one message per datagram).
    pub fn set_gso(&mut self, on: bool) {
        self.gso = on;
    }

    pub fn gso(&self) -> bool {
        self.gso
    }

    /// Longest time one message waits for room in a full socket buffer
    /// before it is dropped and counted as an error (default 2 s).
    pub fn set_max_wait(&mut self, d: Duration) {
        self.max_wait = d;
    }

    pub fn stats(&self) -> SendStats {
        self.stats
    }

    pub fn reset_stats(&mut self) {
        self.stats = SendStats::default();
    }

    /// A destination sent from socket number `socket` of those given to
    /// [`Batch::send`]. Slots of removed destinations are reused, so churn
    /// does not grow the table.
    pub fn add_dest(&mut self, addr: SocketAddr, socket: usize) -> DestId {
        let d = Dest {
            addr: SockAddr::from(addr),
            socket,
            gso: true,
            stats: DestStats::default(),
            in_use: true,
        };
        if let Some(i) = self.free.pop() {
            self.dests[i as usize] = d;
            DestId(i)
        } else {
            self.dests.push(d);
            DestId(self.dests.len() as u32 - 1)
        }
    }

    pub fn remove_dest(&mut self, id: DestId) {
        if let Some(d) = self.dests.get_mut(id.0 as usize) {
            if d.in_use {
                d.in_use = false;
                self.free.push(id.0);
            }
        }
    }

    pub fn dest_stats(&self, id: DestId) -> DestStats {
        self.dests
            .get(id.0 as usize)
            .map(|d| d.stats)
            .unwrap_or_default()
    }

    /// Whether GSO is still tried for this destination (false after a refusal).
    pub fn dest_gso(&self, id: DestId) -> bool {
        self.dests.get(id.0 as usize).is_some_and(|d| d.gso)
    }

    pub fn dest_addr(&self, id: DestId) -> Option<SocketAddr> {
        self.dests
            .get(id.0 as usize)
            .and_then(|d| d.addr.as_socket())
    }

    /// Start a batch of datagrams borrowed for `'d`.
    pub fn batch<'s, 'd>(&'s mut self) -> Batch<'s, 'd> {
        self.pkts.clear();
        self.iovs.clear();
        Batch {
            sender: self,
            cursor: 0,
            _data: std::marker::PhantomData,
        }
    }
}

/// Datagrams queued for one [`Batch::send`]; the slices are borrowed, not
/// copied.
pub struct Batch<'s, 'd> {
    sender: &'s mut Sender,
    /// First datagram not yet sent (or dropped).
    cursor: usize,
    _data: std::marker::PhantomData<&'d [u8]>,
}

impl<'d> Batch<'_, 'd> {
    /// Queue one datagram made of `part` (the common case: one memory).
    pub fn push(&mut self, dest: DestId, part: &'d [u8]) {
        self.push_parts(dest, std::iter::once(part));
    }

    /// Queue one datagram gathered from several slices (a buffer of several
    /// memories); an empty datagram is sent as such.
    pub fn push_parts(&mut self, dest: DestId, parts: impl IntoIterator<Item = &'d [u8]>) {
        let s = &mut *self.sender;
        let start = s.iovs.len();
        let mut len = 0usize;
        for p in parts {
            if p.is_empty() {
                continue;
            }
            len += p.len();
            s.iovs.push(libc::iovec {
                iov_base: p.as_ptr() as *mut libc::c_void,
                iov_len: p.len(),
            });
        }
        s.pkts.push(Pkt {
            dest: dest.0,
            iov_start: start as u32,
            iov_len: (s.iovs.len() - start) as u32,
            len: len.min(u32::MAX as usize) as u32,
        });
    }

    pub fn len(&self) -> usize {
        self.sender.pkts.len()
    }

    /// Datagrams of the batch already sent or dropped (all of them once
    /// `send` returned without `cancelled`).
    pub fn done(&self) -> usize {
        self.cursor
    }

    pub fn is_empty(&self) -> bool {
        self.sender.pkts.is_empty()
    }

    /// Send everything queued from `sockets[dest.socket]`, as few `sendmmsg`
    /// calls as the batch allows. Errors on single messages are counted and
    /// skipped (as multiudpsink warns and goes on); `cancel` raised stops
    /// waiting on a full socket buffer and returns with `cancelled`: calling
    /// `send` again goes on from the first datagram not sent.
    pub fn send(&mut self, sockets: &[RawFd], cancel: &AtomicBool) -> SendReport {
        self.sender.send_queued(&mut self.cursor, sockets, cancel)
    }
}

impl Sender {
    /// Messages for packets from `from`, for one socket, at most `MAX_MSGS`;
    /// returns the socket fd index they all go out of.
    fn build(&mut self, from: usize) -> usize {
        self.msgs.clear();
        self.meta.clear();
        let n = self.pkts.len();
        let socket = self.dests[self.pkts[from].dest as usize].socket;
        let mut i = from;
        while i < n && self.meta.len() < MAX_MSGS {
            let p = self.pkts[i];
            let dest = &self.dests[p.dest as usize];
            if dest.socket != socket {
                break;
            }
            let seg = p.len as usize;
            let mut count = 1;
            let mut bytes = seg;
            let mut iov_len = p.iov_len as usize;
            if self.gso && dest.gso && seg > 0 {
                while i + count < n && count < GSO_MAX_SEGMENTS {
                    let q = self.pkts[i + count];
                    let ql = q.len as usize;
                    if q.dest != p.dest
                        || ql > seg
                        || ql == 0
                        || bytes + ql > GSO_MAX_BYTES
                        || iov_len + q.iov_len as usize > MAX_IOV
                    {
                        break;
                    }
                    count += 1;
                    bytes += ql;
                    iov_len += q.iov_len as usize;
                    // A shorter datagram can only end a run.
                    if ql < seg {
                        break;
                    }
                }
            }
            let gso = count > 1;
            self.meta.push(MsgMeta {
                first: i,
                count,
                bytes,
                gso,
            });
            i += count;
        }
        // Pointers are taken only now, after every push to the arrays.
        if self.cmsgs.len() < self.meta.len() {
            self.cmsgs.resize(self.meta.len(), CmsgBuf([0; 32]));
        }
        for (k, m) in self.meta.iter().enumerate() {
            let p = self.pkts[m.first];
            let dest = &self.dests[p.dest as usize];
            // SAFETY: mmsghdr is plain C data for which all-zero is valid.
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_name = dest.addr.as_ptr() as *mut libc::c_void;
            h.msg_hdr.msg_namelen = dest.addr.len();
            // SAFETY: iov_start is within `iovs` (set by push_parts); the
            // pointer is only used while `iovs` is not modified.
            h.msg_hdr.msg_iov = unsafe { self.iovs.as_mut_ptr().add(p.iov_start as usize) };
            let iov_end = {
                let last = self.pkts[m.first + m.count - 1];
                last.iov_start as usize + last.iov_len as usize
            };
            h.msg_hdr.msg_iovlen = (iov_end - p.iov_start as usize) as _;
            if m.gso {
                let buf = &mut self.cmsgs[k];
                h.msg_hdr.msg_control = buf.0.as_mut_ptr() as *mut libc::c_void;
                // SAFETY: CMSG_SPACE is a pure size computation.
                let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<u16>() as u32) };
                h.msg_hdr.msg_controllen = space as _;
                // SAFETY: msg_control points to `space` (<= 32) writable,
                // 8-aligned bytes, so CMSG_FIRSTHDR returns a pointer into
                // them with room for the header and a u16 of data.
                unsafe {
                    let c = libc::CMSG_FIRSTHDR(&h.msg_hdr);
                    (*c).cmsg_level = libc::SOL_UDP;
                    (*c).cmsg_type = UDP_SEGMENT;
                    (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<u16>() as u32) as _;
                    std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut u16, p.len as u16);
                }
            }
            self.msgs.push(h);
        }
        socket
    }

    fn send_queued(
        &mut self,
        cursor: &mut usize,
        sockets: &[RawFd],
        cancel: &AtomicBool,
    ) -> SendReport {
        let mut report = SendReport::default();
        let mut waited_since: Option<Instant> = None;
        'batch: while *cursor < self.pkts.len() {
            let socket = self.build(*cursor);
            let Some(&fd) = sockets.get(socket) else {
                // No socket for this family: every message of it fails.
                let m = self.meta[0];
                self.drop_msg(m, libc::EAFNOSUPPORT, &mut report);
                *cursor = m.first + m.count;
                continue;
            };
            let mut k = 0;
            while k < self.msgs.len() {
                self.stats.syscalls += 1;
                let r = self.sendmmsg_from(fd, k);
                if r > 0 {
                    waited_since = None;
                    for m in k..k + r as usize {
                        let meta = self.meta[m];
                        self.count_sent(meta);
                        report.sent += meta.count;
                    }
                    k += r as usize;
                    continue;
                }
                let err = if r == 0 {
                    libc::EAGAIN
                } else {
                    io::Error::last_os_error().raw_os_error().unwrap_or(0)
                };
                let meta = self.meta[k];
                match err {
                    libc::EINTR => continue,
                    libc::EAGAIN => {
                        let since = *waited_since.get_or_insert_with(Instant::now);
                        if cancel.load(Ordering::Relaxed) {
                            report.cancelled = true;
                            *cursor = meta.first;
                            break 'batch;
                        }
                        if since.elapsed() >= self.max_wait {
                            waited_since = None;
                            self.drop_msg(meta, err, &mut report);
                            k += 1;
                        } else {
                            poll_out(fd);
                        }
                    }
                    _ if meta.gso => {
                        // Refused as GSO: these datagrams go again one by one.
                        // EIO/EINVAL/EOPNOTSUPP say the route cannot do GSO;
                        // other errors may be transient, so only those mark
                        // the destination.
                        self.stats.gso_fallbacks += 1;
                        if matches!(err, libc::EIO | libc::EINVAL | libc::EOPNOTSUPP) {
                            let d = self.pkts[meta.first].dest as usize;
                            self.dests[d].gso = false;
                        }
                        *cursor = meta.first;
                        self.gso_retry_from(*cursor);
                        continue 'batch;
                    }
                    _ => {
                        self.drop_msg(meta, err, &mut report);
                        k += 1;
                    }
                }
            }
            *cursor = self.meta.last().map_or(*cursor, |m| m.first + m.count);
            self.clear_retry();
        }
        self.clear_retry();
        report
    }

    /// `sendmmsg` of messages `k..`: its return value (errno set on -1).
    fn sendmmsg_from(&mut self, fd: RawFd, k: usize) -> libc::c_int {
        #[cfg(test)]
        if self.fake_eagain > 0 {
            self.fake_eagain -= 1;
            // SAFETY: errno is this thread's; writing it is what libc does.
            unsafe { *libc::__errno_location() = libc::EAGAIN };
            return -1;
        }
        // SAFETY: msgs[k..] are initialised mmsghdrs whose pointers
        // (addresses in `dests`, iovecs in `iovs` into data borrowed by the
        // live Batch, cmsgs) stay valid and unmodified for the duration of
        // the call.
        unsafe {
            libc::sendmmsg(
                fd,
                self.msgs.as_mut_ptr().add(k),
                (self.msgs.len() - k) as libc::c_uint,
                0,
            )
        }
    }

    fn count_sent(&mut self, m: MsgMeta) {
        self.stats.packets += m.count as u64;
        self.stats.bytes += m.bytes as u64;
        if m.gso {
            self.stats.gso_sends += 1;
        }
        let d = &mut self.dests[self.pkts[m.first].dest as usize];
        d.stats.packets += m.count as u64;
        d.stats.bytes += m.bytes as u64;
    }

    fn drop_msg(&mut self, m: MsgMeta, err: i32, report: &mut SendReport) {
        self.stats.errors += m.count as u64;
        report.errors += m.count;
        let dest = self.pkts[m.first].dest;
        report.last_error = Some((err, DestId(dest)));
        self.dests[dest as usize].stats.packets += m.count as u64;
    }

    /// After a transient GSO refusal the destination keeps GSO, but the run
    /// just refused must not be tried as GSO again; the per-packet `len` of
    /// its first datagram is untouched, so the run is kept apart by
    /// disabling GSO for the destination until the batch is done.
    fn gso_retry_from(&mut self, from: usize) {
        let d = self.pkts[from].dest as usize;
        if self.dests[d].gso {
            self.dests[d].gso = false;
            self.retry_restore.push(d as u32);
        }
    }

    fn clear_retry(&mut self) {
        for d in self.retry_restore.drain(..) {
            if let Some(dest) = self.dests.get_mut(d as usize) {
                dest.gso = true;
            }
        }
    }
}

/// Wait (one slice at most) for room in the socket's send buffer.
fn poll_out(fd: RawFd) {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe {
        libc::poll(&mut p, 1, POLL_SLICE_MS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    /// Datagrams as a payloader makes them: runs of `run` full-size
    /// fragments, the last of each run shorter, each byte telling where it is.
    fn frames(n_frames: usize, run: usize, mtu: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for f in 0..n_frames {
            for i in 0..run {
                let len = if i + 1 == run { mtu / 3 + f } else { mtu };
                out.push((0..len).map(|b| (b + i * 7 + f * 13) as u8).collect());
            }
        }
        out
    }

    fn receiver(v6: bool) -> UdpSocket {
        let r = UdpSocket::bind(if v6 { "[::1]:0" } else { "127.0.0.1:0" }).unwrap();
        r.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        socket2::SockRef::from(&r)
            .set_recv_buffer_size(8 << 20)
            .unwrap();
        r
    }

    fn sender_socket(v6: bool) -> UdpSocket {
        let s = UdpSocket::bind(if v6 { "[::1]:0" } else { "127.0.0.1:0" }).unwrap();
        s.set_nonblocking(true).unwrap();
        s
    }

    /// Receive exactly `n` datagrams (bounded by the read timeout).
    fn recv_n(r: &UdpSocket, n: usize) -> Vec<Vec<u8>> {
        let mut buf = vec![0u8; 70_000];
        let mut out = Vec::new();
        while out.len() < n {
            match r.recv(&mut buf) {
                Ok(l) => out.push(buf[..l].to_vec()),
                Err(e) => panic!("received {} of {n} datagrams: {e}", out.len()),
            }
        }
        r.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        assert!(r.recv(&mut buf).is_err(), "more than {n} datagrams arrived");
        r.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        out
    }

    fn send_all(s: &mut Sender, fd: RawFd, items: &[(DestId, &[u8])], batch: usize) -> SendReport {
        let cancel = AtomicBool::new(false);
        let mut total = SendReport::default();
        for chunk in items.chunks(batch) {
            let mut b = s.batch();
            for (d, p) in chunk {
                b.push(*d, p);
            }
            let r = b.send(&[fd], &cancel);
            total.sent += r.sent;
            total.errors += r.errors;
        }
        total
    }

    fn run_gso(gso: bool, v6: bool) -> (Vec<Vec<u8>>, SendStats) {
        let r = receiver(v6);
        let tx = sender_socket(v6);
        let mut s = Sender::new();
        s.set_gso(gso);
        let d = s.add_dest(r.local_addr().unwrap(), 0);
        let data = frames(5, 40, 1400);
        let items: Vec<_> = data.iter().map(|p| (d, p.as_slice())).collect();
        let rep = send_all(&mut s, tx.as_raw_fd(), &items, 100);
        assert_eq!(rep.sent, data.len());
        let got = recv_n(&r, data.len());
        assert_eq!(got, data);
        (got, s.stats())
    }

    #[test]
    fn gso_on_and_off_deliver_identical_datagrams() {
        let (on, st_on) = run_gso(true, false);
        let (off, st_off) = run_gso(false, false);
        assert_eq!(on, off);
        assert_eq!(st_on.packets, 200);
        assert_eq!(st_off.packets, 200);
        assert_eq!(st_on.bytes, st_off.bytes);
        // 5 runs of 40 cut by batches of 100: runs 0-39, 40-79, 80-99 |
        // 100-119, 120-159, 160-199.
        assert_eq!(st_on.gso_sends, 6, "{st_on:?}");
        assert_eq!(st_on.syscalls, 2);
        assert_eq!(st_off.gso_sends, 0);
        assert_eq!(st_off.syscalls, 2);
        assert_eq!(st_on.gso_fallbacks, 0);
        assert_eq!(st_on.errors, 0);
    }

    #[test]
    fn ipv6_loopback_gso() {
        let (_, st) = run_gso(true, true);
        assert!(st.gso_sends > 0);
        assert_eq!(st.errors, 0);
    }

    #[test]
    fn mixed_sizes_break_runs_where_gso_cannot_carry_them() {
        let r = receiver(false);
        let tx = sender_socket(false);
        let mut s = Sender::new();
        let d = s.add_dest(r.local_addr().unwrap(), 0);
        // A larger datagram after smaller ones, empty-sized, 1-byte, jumbo.
        let lens = [
            100, 100, 100, 50, 100, 200, 200, 1, 1, 1, 1400, 1400, 1400, 1400, 9000, 9000, 3,
        ];
        let data: Vec<Vec<u8>> = lens
            .iter()
            .enumerate()
            .map(|(i, &l)| vec![i as u8; l])
            .collect();
        let items: Vec<_> = data.iter().map(|p| (d, p.as_slice())).collect();
        send_all(&mut s, tx.as_raw_fd(), &items, 64);
        assert_eq!(recv_n(&r, data.len()), data);
        let st = s.stats();
        // GSO runs: [100,100,100,50] [200,200,1] [1,1,1] [1400 x4]
        // [9000,9000,3]; the lone 100 before the larger 200 goes alone.
        assert_eq!(st.gso_sends, 5, "{st:?}");
        assert_eq!(st.packets, lens.len() as u64);
        assert_eq!(st.syscalls, 1);
    }

    #[test]
    fn run_longer_than_64_segments_or_64k_is_split() {
        let r = receiver(false);
        let tx = sender_socket(false);
        let mut s = Sender::new();
        let d = s.add_dest(r.local_addr().unwrap(), 0);
        let small: Vec<Vec<u8>> = (0..130).map(|i| vec![i as u8; 200]).collect();
        let items: Vec<_> = small.iter().map(|p| (d, p.as_slice())).collect();
        send_all(&mut s, tx.as_raw_fd(), &items, 1000);
        assert_eq!(recv_n(&r, small.len()), small);
        assert_eq!(s.stats().gso_sends, 3); // 64 + 64 + 2
        s.reset_stats();
        let big: Vec<Vec<u8>> = (0..50).map(|i| vec![i as u8; 8000]).collect();
        let items: Vec<_> = big.iter().map(|p| (d, p.as_slice())).collect();
        send_all(&mut s, tx.as_raw_fd(), &items, 1000);
        assert_eq!(recv_n(&r, big.len()), big);
        // 8 segments of 8000 fit in 65507.
        assert_eq!(s.stats().gso_sends, 7); // 6 x 8 + 2
    }

    #[test]
    fn destinations_interleaved_each_get_their_own_in_order() {
        let rs: Vec<UdpSocket> = (0..3).map(|_| receiver(false)).collect();
        let tx = sender_socket(false);
        let mut s = Sender::new();
        let ds: Vec<DestId> = rs
            .iter()
            .map(|r| s.add_dest(r.local_addr().unwrap(), 0))
            .collect();
        let data = frames(4, 10, 1200);
        // Client-major blocks of a frame, then interleaved packet by packet.
        let mut items = Vec::new();
        for f in data.chunks(10) {
            for &d in &ds {
                for p in f {
                    items.push((d, p.as_slice()));
                }
            }
        }
        for p in &data {
            for &d in &ds {
                items.push((d, p.as_slice()));
            }
        }
        send_all(&mut s, tx.as_raw_fd(), &items, 1024);
        for (r, &d) in rs.iter().zip(&ds) {
            let got = recv_n(r, data.len() * 2);
            assert_eq!(got[..data.len()], data[..]);
            assert_eq!(got[data.len()..], data[..]);
            assert_eq!(s.dest_stats(d).packets, data.len() as u64 * 2);
        }
        assert_eq!(s.stats().gso_sends, 12);
        assert_eq!(s.stats().syscalls, 1);
    }

    #[test]
    fn several_slices_per_datagram_are_gathered() {
        let r = receiver(false);
        let tx = sender_socket(false);
        let mut s = Sender::new();
        let d = s.add_dest(r.local_addr().unwrap(), 0);
        let hdr = [0x80u8; 12];
        let payloads: Vec<Vec<u8>> = (0..20).map(|i| vec![i as u8; 988]).collect();
        let cancel = AtomicBool::new(false);
        let mut b = s.batch();
        for p in &payloads {
            b.push_parts(d, [&hdr[..], &[][..], p.as_slice()]);
        }
        assert_eq!(b.send(&[tx.as_raw_fd()], &cancel).sent, 20);
        let got = recv_n(&r, 20);
        for (g, p) in got.iter().zip(&payloads) {
            assert_eq!(&g[..12], &hdr);
            assert_eq!(&g[12..], p.as_slice());
        }
        assert_eq!(s.stats().gso_sends, 1);
    }

    /// SO_NO_CHECK (no UDP checksum) makes the kernel refuse every GSO send
    /// with EINVAL (udp_send_skb): a real refusal, not a mock.
    #[test]
    fn refused_gso_falls_back_per_destination_and_loses_nothing() {
        let rs: Vec<UdpSocket> = (0..2).map(|_| receiver(false)).collect();
        let tx = sender_socket(false);
        const SO_NO_CHECK: libc::c_int = 11;
        let one: libc::c_int = 1;
        // SAFETY: setsockopt with a valid fd and a c_int option value.
        let rc = unsafe {
            libc::setsockopt(
                tx.as_raw_fd(),
                libc::SOL_SOCKET,
                SO_NO_CHECK,
                &one as *const _ as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0);
        let mut s = Sender::new();
        let ds: Vec<DestId> = rs
            .iter()
            .map(|r| s.add_dest(r.local_addr().unwrap(), 0))
            .collect();
        let data = frames(3, 20, 1400);
        let mut items = Vec::new();
        for f in data.chunks(20) {
            for &d in &ds {
                for p in f {
                    items.push((d, p.as_slice()));
                }
            }
        }
        let rep = send_all(&mut s, tx.as_raw_fd(), &items, 1024);
        assert_eq!(rep.sent, items.len());
        for r in &rs {
            assert_eq!(recv_n(r, data.len()), data);
        }
        let st = s.stats();
        // One refusal per destination, then that destination goes without.
        assert_eq!(st.gso_fallbacks, 2, "{st:?}");
        assert_eq!(st.gso_sends, 0);
        assert_eq!(st.errors, 0);
        assert_eq!(st.packets, items.len() as u64);
        assert!(ds.iter().all(|&d| !s.dest_gso(d)));
        // The next batch does not try again.
        let rep = send_all(&mut s, tx.as_raw_fd(), &items[..20], 1024);
        assert_eq!(rep.sent, 20);
        assert_eq!(s.stats().gso_fallbacks, 2);
        recv_n(&rs[0], 20);
    }

    #[test]
    fn per_message_errors_are_counted_and_the_rest_goes_on() {
        let r = receiver(false);
        let tx = sender_socket(false);
        let mut s = Sender::new();
        let good = s.add_dest(r.local_addr().unwrap(), 0);
        // An IPv6 destination on an IPv4 socket: EAFNOSUPPORT / EINVAL.
        let bad = s.add_dest("[::1]:9".parse().unwrap(), 0);
        let a = vec![1u8; 500];
        let too_big = vec![2u8; 70_000];
        let items = [
            (good, &a[..]),
            (good, &a[..]),
            (bad, &a[..]),
            (bad, &a[..]),
            (good, &too_big[..]),
            (good, &a[..]),
        ];
        let rep = send_all(&mut s, tx.as_raw_fd(), &items, 64);
        assert_eq!(rep.sent, 3);
        assert_eq!(rep.errors, 3);
        assert_eq!(recv_n(&r, 3), vec![a.clone(), a.clone(), a.clone()]);
        assert_eq!(s.stats().errors, 3);
        assert_eq!(s.dest_stats(bad).packets, 2);
        assert_eq!(s.dest_stats(bad).bytes, 0);
        assert_eq!(s.dest_stats(good).bytes, 1500);
    }

    #[test]
    fn missing_socket_for_a_destination_counts_errors() {
        let r = receiver(false);
        let tx = sender_socket(false);
        let mut s = Sender::new();
        let d0 = s.add_dest(r.local_addr().unwrap(), 0);
        let d1 = s.add_dest("[::1]:9".parse().unwrap(), 1);
        let a = [7u8; 10];
        let items = [(d0, &a[..]), (d1, &a[..]), (d0, &a[..])];
        let rep = send_all(&mut s, tx.as_raw_fd(), &items, 64);
        assert_eq!((rep.sent, rep.errors), (2, 1));
        assert_eq!(recv_n(&r, 2).len(), 2);
    }

    /// A full socket buffer (EAGAIN, injected) is waited out; with the
    /// cancel flag raised the batch stops and a second `send` goes on from
    /// the first datagram not sent: nothing lost, nothing twice.
    #[test]
    fn full_buffer_waits_and_cancel_resumes_where_it_stopped() {
        let r = receiver(false);
        let tx = sender_socket(false);
        let fd = tx.as_raw_fd();
        let mut s = Sender::new();
        let d = s.add_dest(r.local_addr().unwrap(), 0);
        let data = frames(3, 10, 1000);
        let cancel = AtomicBool::new(false);

        s.fake_eagain = 3;
        let mut b = s.batch();
        for p in &data {
            b.push(d, p);
        }
        let rep = b.send(&[fd], &cancel);
        assert_eq!((rep.sent, rep.errors, rep.cancelled), (30, 0, false));
        assert_eq!(recv_n(&r, 30), data);

        s.fake_eagain = 1;
        cancel.store(true, Ordering::Relaxed);
        let mut b = s.batch();
        for p in &data {
            b.push(d, p);
        }
        let rep = b.send(&[fd], &cancel);
        assert!(rep.cancelled);
        assert_eq!((rep.sent, b.done()), (0, 0));
        cancel.store(false, Ordering::Relaxed);
        let rep = b.send(&[fd], &cancel);
        assert_eq!(
            (rep.sent, rep.errors, rep.cancelled, b.done()),
            (30, 0, false, 30)
        );
        assert_eq!(recv_n(&r, 30), data);
    }

    /// A send buffer that stays full past `max_wait` costs each message
    /// that waited that long (dropped and counted, never a hang), and the
    /// sender works on once there is room.
    #[test]
    fn buffer_full_past_max_wait_drops_and_counts() {
        let r = receiver(false);
        let tx = sender_socket(false);
        let mut s = Sender::new();
        s.set_gso(false);
        s.set_max_wait(Duration::from_millis(20));
        let d = s.add_dest(r.local_addr().unwrap(), 0);
        let data: Vec<Vec<u8>> = (0..5).map(|i| vec![i as u8; 100]).collect();
        let items: Vec<_> = data.iter().map(|p| (d, p.as_slice())).collect();
        // Full for good (the polls in between return at once: the real
        // socket is writable).
        s.fake_eagain = u32::MAX;
        let rep = send_all(&mut s, tx.as_raw_fd(), &items, 64);
        assert_eq!((rep.sent, rep.errors), (0, 5), "{rep:?}");
        assert_eq!(s.stats().errors, 5);
        s.fake_eagain = 0;
        let rep = send_all(&mut s, tx.as_raw_fd(), &items, 64);
        assert_eq!(rep.sent, 5);
        assert_eq!(recv_n(&r, 5), data);
    }

    #[test]
    fn removed_slots_are_reused() {
        let mut s = Sender::new();
        let a = s.add_dest("127.0.0.1:1".parse().unwrap(), 0);
        let _b = s.add_dest("127.0.0.1:2".parse().unwrap(), 0);
        s.remove_dest(a);
        s.remove_dest(a);
        let c = s.add_dest("127.0.0.1:3".parse().unwrap(), 0);
        assert_eq!(a, c);
        assert_eq!(s.dest_addr(c), Some("127.0.0.1:3".parse().unwrap()));
        let d = s.add_dest("127.0.0.1:4".parse().unwrap(), 0);
        assert_ne!(d, c);
    }
}
