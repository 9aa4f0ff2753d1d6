//! GObject side of `rtpfastudpsink`: udpsink's properties, signals and URI
//! handler (udpsink = multiudpsink + `host`/`port`), the sockets, and the
//! client list; every buffer or buffer list goes to [`Sender`] as one batch.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LazyLock, Mutex};

use gio::prelude::*;
use gst::glib;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use crate::elements::base::lock;
use crate::elements::base::warn_limit::WarnLimit;
use crate::io::send::{DestId, Sender};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rtpfastudpsink",
        gst::DebugColorFlags::empty(),
        Some("Fast UDP sink (sendmmsg + GSO)"),
    )
});

const DEFAULT_HOST: &str = "localhost";
const DEFAULT_PORT: i32 = 5004;
const DEFAULT_TTL: i32 = 64;
const DEFAULT_TTL_MC: i32 = 1;
/// Largest UDP payload: stock warns with it on an oversized datagram.
const UDP_MAX_SIZE: usize = 65_507;
/// Socket index of a destination in [`Sender`]: IPv4 clients go out of
/// `used-socket`, IPv6 ones out of `used-socket-v6`.
const SOCK_V4: usize = 0;
const SOCK_V6: usize = 1;

#[derive(Debug, Clone)]
struct Settings {
    host: String,
    port: i32,
    socket: Option<Sock>,
    socket_v6: Option<Sock>,
    close_socket: bool,
    auto_multicast: bool,
    multicast_iface: Option<String>,
    ttl: i32,
    ttl_mc: i32,
    loop_: bool,
    force_ipv4: bool,
    qos_dscp: i32,
    send_duplicates: bool,
    buffer_size: i32,
    bind_address: Option<String>,
    bind_port: i32,
    gso: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            host: DEFAULT_HOST.into(),
            port: DEFAULT_PORT,
            socket: None,
            socket_v6: None,
            close_socket: true,
            auto_multicast: true,
            multicast_iface: None,
            ttl: DEFAULT_TTL,
            ttl_mc: DEFAULT_TTL_MC,
            loop_: true,
            force_ipv4: false,
            qos_dscp: -1,
            send_duplicates: true,
            buffer_size: 0,
            bind_address: None,
            bind_port: 0,
            gso: true,
        }
    }
}

/// One `host:port` as added (compared by the strings, as multiudpsink does).
#[derive(Debug)]
struct Client {
    host: String,
    port: i32,
    addr: SocketAddr,
    add_count: u32,
    dest: DestId,
    connect_time: u64,
    disconnect_time: u64,
    /// Counters frozen when the client went (its sender slot is reused).
    final_stats: Option<crate::io::send::DestStats>,
}

impl Client {
    fn family_v6(&self) -> bool {
        self.addr.is_ipv6()
    }
}

/// A GSocket kept in the element's mutexes. gio-rs does not mark GSocket
/// Send (GLib leaves locking to the user); every use here is under the
/// element's locks, and GObject reference counting is atomic.
#[derive(Debug, Clone, PartialEq)]
struct Sock(gio::Socket);

// SAFETY: see above: a Sock is only reached through `Mutex<Settings>` /
// `Mutex<State>`, so it is never used from two threads at once.
unsafe impl Send for Sock {}

impl std::ops::Deref for Sock {
    type Target = gio::Socket;
    fn deref(&self) -> &gio::Socket {
        &self.0
    }
}

/// What `render` / `render_list` got.
#[derive(Clone, Copy)]
enum Input<'a> {
    One(&'a gst::BufferRef),
    List(&'a gst::BufferListRef),
}

impl<'a> Input<'a> {
    fn for_each(self, mut f: impl FnMut(&'a gst::BufferRef)) {
        match self {
            Input::One(b) => f(b),
            Input::List(l) => l.iter().for_each(f),
        }
    }
}

type Map<'a> = gst::memory::MemoryMap<'a, gst::memory::Readable>;

struct State {
    /// IPv4 clients first, then IPv6 (the order datagrams go out in).
    clients: Vec<Client>,
    /// Clients just removed, kept while `client-removed` is emitted so a
    /// handler can still read their stats.
    removing: Vec<Client>,
    sender: Sender,
    used_socket: Option<Sock>,
    used_socket_v6: Option<Sock>,
    external_socket: bool,
    bytes_to_serve: u64,
    bytes_served: u64,
    /// Reused between renders: the memories' maps and each buffer's range
    /// of them (empty between renders; see `with_lifetime`).
    maps: Vec<Map<'static>>,
    ranges: Vec<(u32, u32)>,
}

impl Default for State {
    fn default() -> Self {
        State {
            clients: Vec::new(),
            removing: Vec::new(),
            sender: Sender::new(),
            used_socket: None,
            used_socket_v6: None,
            external_socket: false,
            bytes_to_serve: 0,
            bytes_served: 0,
            maps: Vec::with_capacity(256),
            ranges: Vec::with_capacity(128),
        }
    }
}

/// An empty Vec's allocation reused for another lifetime of the same type
/// (an in-place collect: same size and alignment, nothing to move), so the
/// per-render maps need no allocation.
fn with_lifetime<'b>(mut v: Vec<Map<'_>>) -> Vec<Map<'b>> {
    v.clear();
    v.into_iter().map(|_| unreachable!("empty")).collect()
}

#[derive(Default)]
pub struct RtpFastUdpSink {
    settings: Mutex<Settings>,
    state: Mutex<State>,
    /// Raised by `unlock`: a send waiting on a full socket buffer returns.
    cancel: AtomicBool,
    send_warn: WarnLimit,
}

#[glib::object_subclass]
impl ObjectSubclass for RtpFastUdpSink {
    const NAME: &'static str = "GstRtpFastUdpSink";
    type Type = super::RtpFastUdpSink;
    type ParentType = gst_base::BaseSink;
    type Interfaces = (gst::URIHandler,);
}

fn now_ns() -> u64 {
    glib::real_time() as u64 * 1000
}

/// `host` as an address: numeric first, else GIO's resolver (first result),
/// as multiudpsink resolves its clients.
fn resolve(host: &str, port: i32) -> Result<SocketAddr, String> {
    let port = u16::try_from(port).map_err(|_| format!("port {port} out of range"))?;
    if let Some(a) = gio::InetSocketAddress::from_string(host, port as u32) {
        return Ok(SocketAddr::from(a));
    }
    let r = gio::Resolver::default();
    match r.lookup_by_name(host, gio::Cancellable::NONE) {
        Ok(addrs) => addrs
            .into_iter()
            .next()
            .map(|a| SocketAddr::new(IpAddr::from(a), port))
            .ok_or_else(|| format!("no address for {host}")),
        Err(e) => Err(format!("failed to resolve {host}: {e}")),
    }
}

/// `udp://host:port` (IPv6 host in brackets; port defaults to 5004).
fn parse_udp_uri(uri: &str) -> Option<(String, i32)> {
    let (scheme, rest) = uri.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("udp") {
        return None;
    }
    let rest = rest.split(['?', '/', '#']).next().unwrap_or("");
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, tail) = r.split_once(']')?;
        (h, tail.strip_prefix(':'))
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) => p.parse::<u16>().ok()? as i32,
        None => DEFAULT_PORT,
    };
    Some((host.to_string(), port))
}

fn fd_of(s: &gio::Socket) -> BorrowedFd<'_> {
    // SAFETY: the GSocket owns the fd and outlives the borrow.
    unsafe { BorrowedFd::borrow_raw(s.as_raw_fd()) }
}

impl RtpFastUdpSink {
    fn socket_for(st: &State, v6: bool) -> Option<&Sock> {
        if v6 || st.used_socket.is_none() {
            st.used_socket_v6.as_ref()
        } else {
            st.used_socket.as_ref()
        }
    }

    /// Multicast join, loop and TTL, or the unicast TTL, as multiudpsink
    /// configures a client once its sockets exist.
    fn configure_client(
        &self,
        st: &State,
        settings: &Settings,
        addr: SocketAddr,
    ) -> Result<(), gst::ErrorMessage> {
        if addr.is_ipv6() && st.used_socket_v6.is_none() {
            return Err(gst::error_msg!(
                gst::ResourceError::Settings,
                ["Invalid address family for client {addr}: no IPv6 socket"]
            ));
        }
        let Some(socket) = Self::socket_for(st, addr.is_ipv6()) else {
            return Ok(());
        };
        if addr.ip().is_multicast() {
            if settings.auto_multicast {
                let group = gio::InetAddress::from(addr.ip());
                socket
                    .join_multicast_group(&group, false, settings.multicast_iface.as_deref())
                    .map_err(|e| {
                        gst::error_msg!(
                            gst::ResourceError::Settings,
                            ["Could not join multicast group {}: {e}", addr.ip()]
                        )
                    })?;
            }
            socket.set_multicast_loopback(settings.loop_);
            socket.set_multicast_ttl(settings.ttl_mc as u32);
        } else {
            socket.set_ttl(settings.ttl as u32);
        }
        Ok(())
    }

    fn add(&self, host: &str, port: i32) {
        let settings = lock(&self.settings).clone();
        let mut st = lock(&self.state);
        if let Some(c) = st
            .clients
            .iter_mut()
            .find(|c| c.host == host && c.port == port)
        {
            c.add_count += 1;
        } else {
            let addr = match resolve(host, port) {
                Ok(a) => a,
                Err(e) => {
                    gst::debug!(CAT, imp = self, "did not add client {host}:{port}: {e}");
                    return;
                }
            };
            if st.used_socket.is_some() || st.used_socket_v6.is_some() {
                if let Err(e) = self.configure_client(&st, &settings, addr) {
                    gst::warning!(CAT, imp = self, "client {host}:{port}: {e:?}");
                }
            }
            let dest = st
                .sender
                .add_dest(addr, if addr.is_ipv6() { SOCK_V6 } else { SOCK_V4 });
            let client = Client {
                host: host.to_string(),
                port,
                addr,
                add_count: 1,
                dest,
                connect_time: now_ns(),
                disconnect_time: 0,
                final_stats: None,
            };
            // As multiudpsink's g_list_insert_sorted: IPv4 before IPv6, and
            // a new client first among those of its family (so it is sent
            // to first).
            let at = if client.family_v6() {
                st.clients
                    .iter()
                    .position(Client::family_v6)
                    .unwrap_or(st.clients.len())
            } else {
                0
            };
            st.clients.insert(at, client);
        }
        drop(st);
        gst::debug!(CAT, imp = self, "added client {host}:{port}");
        self.obj()
            .emit_by_name::<()>("client-added", &[&host, &port]);
    }

    fn remove(&self, host: &str, port: i32) {
        let settings = lock(&self.settings).clone();
        let mut st = lock(&self.state);
        let Some(i) = st
            .clients
            .iter()
            .position(|c| c.host == host && c.port == port)
        else {
            gst::warning!(
                CAT,
                imp = self,
                "client at host {host}, port {port} not found"
            );
            return;
        };
        st.clients[i].add_count -= 1;
        if st.clients[i].add_count > 0 {
            return;
        }
        let mut c = st.clients.remove(i);
        c.disconnect_time = now_ns();
        c.final_stats = Some(st.sender.dest_stats(c.dest));
        st.sender.remove_dest(c.dest);
        if settings.auto_multicast && c.addr.ip().is_multicast() {
            if let Some(s) = Self::socket_for(&st, c.family_v6()) {
                let group = gio::InetAddress::from(c.addr.ip());
                if let Err(e) =
                    s.leave_multicast_group(&group, false, settings.multicast_iface.as_deref())
                {
                    gst::debug!(CAT, imp = self, "failed to leave multicast group: {e}");
                }
            }
        }
        st.removing.push(c);
        drop(st);
        self.obj()
            .emit_by_name::<()>("client-removed", &[&host, &port]);
        let mut st = lock(&self.state);
        if let Some(j) = st
            .removing
            .iter()
            .position(|c| c.host == host && c.port == port)
        {
            st.removing.remove(j);
        }
    }

    fn clear(&self) {
        let mut st = lock(&self.state);
        let st = &mut *st;
        for c in st.clients.drain(..) {
            st.sender.remove_dest(c.dest);
        }
    }

    fn client_stats(&self, host: &str, port: i32) -> gst::Structure {
        let st = lock(&self.state);
        let found = st
            .clients
            .iter()
            .chain(st.removing.iter())
            .find(|c| c.host == host && c.port == port);
        let Some(c) = found else {
            gst::warning!(
                CAT,
                imp = self,
                "client with host {host}, port {port} not found"
            );
            return gst::Structure::new_empty("multiudpsink-stats");
        };
        let s = c
            .final_stats
            .unwrap_or_else(|| st.sender.dest_stats(c.dest));
        gst::Structure::builder("multiudpsink-stats")
            .field("bytes-sent", s.bytes)
            .field("packets-sent", s.packets)
            .field("connect-time", c.connect_time)
            .field("disconnect-time", c.disconnect_time)
            .build()
    }

    fn clients_string(&self) -> String {
        let st = lock(&self.state);
        let mut out = Vec::new();
        for c in &st.clients {
            for _ in 0..c.add_count {
                out.push(format!("{}:{}", c.host, c.port));
            }
        }
        out.join(",")
    }

    /// `clients`: replaces the list (no `client-removed` for the old ones,
    /// `client-added` for each new one, as multiudpsink).
    fn set_clients_string(&self, s: &str) {
        self.clear();
        for item in s.split(',') {
            let (host, port) = match item.split_once(':') {
                Some((h, p)) => (h, leading_int(p)),
                None => (item, 0),
            };
            if port != 0 {
                self.add(host, port as i32);
            }
        }
    }

    fn our_stats(&self) -> gst::Structure {
        let mut s = self.obj().upcast_ref::<gst_base::BaseSink>().stats();
        let st = lock(&self.state).sender.stats();
        s.set("packets", st.packets);
        s.set("bytes", st.bytes);
        s.set("syscalls", st.syscalls);
        s.set("gso-sends", st.gso_sends);
        s.set("gso-fallbacks", st.gso_fallbacks);
        s.set("send-errors", st.errors);
        s
    }

    fn open_socket(
        &self,
        family: gio::SocketFamily,
        bind: gio::InetSocketAddress,
    ) -> Result<Sock, gst::ErrorMessage> {
        let addr = SocketAddr::from(bind.clone());
        let s = gio::Socket::new(family, gio::SocketType::Datagram, gio::SocketProtocol::Udp)
            .map_err(|e| {
                gst::error_msg!(
                    gst::ResourceError::Failed,
                    ["Could not create socket for {addr}: {e}"]
                )
            })?;
        s.bind(&bind, true).map_err(|e| {
            gst::error_msg!(
                gst::ResourceError::Failed,
                ["Failed to bind socket to {addr}: {e}"]
            )
        })?;
        Ok(Sock(s))
    }

    fn make_sockets(&self, settings: &Settings, st: &mut State) -> Result<(), gst::ErrorMessage> {
        st.external_socket = false;
        if let Some(s) = &settings.socket {
            if s.family() == gio::SocketFamily::Ipv6 {
                st.used_socket_v6 = Some(s.clone());
            } else {
                st.used_socket = Some(s.clone());
            }
            st.external_socket = true;
        }
        if let Some(s6) = &settings.socket_v6 {
            if st.used_socket_v6.as_ref().is_some_and(|u| u != s6) {
                return Err(gst::error_msg!(
                    gst::ResourceError::Settings,
                    ["Provided different IPv6 sockets in socket and socket-v6 properties"]
                ));
            }
            st.used_socket_v6 = Some(s6.clone());
            st.external_socket = true;
        }
        if st.used_socket.is_some() || st.used_socket_v6.is_some() {
            return Ok(());
        }
        let port = settings.bind_port as u16;
        if let Some(ba) = &settings.bind_address {
            let ip: IpAddr = match ba.parse() {
                Ok(ip) => ip,
                Err(_) => {
                    let r = gio::Resolver::default();
                    let addrs = r.lookup_by_name(ba, gio::Cancellable::NONE).map_err(|e| {
                        gst::error_msg!(
                            gst::ResourceError::Failed,
                            ["Failed to resolve bind address {ba}: {e}"]
                        )
                    })?;
                    addrs.into_iter().next().map(IpAddr::from).ok_or_else(|| {
                        gst::error_msg!(
                            gst::ResourceError::Failed,
                            ["Failed to resolve bind address {ba}"]
                        )
                    })?
                }
            };
            let bind = gio::InetSocketAddress::from(SocketAddr::new(ip, port));
            if ip.is_ipv4() {
                st.used_socket = Some(self.open_socket(gio::SocketFamily::Ipv4, bind)?);
            } else {
                st.used_socket_v6 = Some(self.open_socket(gio::SocketFamily::Ipv6, bind)?);
            }
        } else {
            let any4 = SocketAddr::new(IpAddr::from([0u8; 4]), port);
            st.used_socket = Some(self.open_socket(gio::SocketFamily::Ipv4, any4.into())?);
            let any6 = SocketAddr::new(IpAddr::from([0u16; 8]), port);
            match gio::Socket::new(
                gio::SocketFamily::Ipv6,
                gio::SocketType::Datagram,
                gio::SocketProtocol::Udp,
            ) {
                Err(e) => gst::info!(CAT, imp = self, "Failed to create IPv6 socket: {e}"),
                Ok(s6) => {
                    s6.bind(&gio::InetSocketAddress::from(any6), true)
                        .map_err(|e| {
                            gst::error_msg!(
                                gst::ResourceError::Failed,
                                ["Failed to bind socket to {any6}: {e}"]
                            )
                        })?;
                    st.used_socket_v6 = Some(Sock(s6));
                }
            }
        }
        Ok(())
    }

    fn setup_sockets(&self, settings: &Settings, st: &State) {
        for s in [&st.used_socket, &st.used_socket_v6] {
            let Some(s) = s else { continue };
            let fd = fd_of(s);
            let sock = socket2::SockRef::from(&fd);
            if settings.buffer_size != 0 {
                if let Err(e) = sock.set_send_buffer_size(settings.buffer_size as usize) {
                    gst::element_imp_warning!(
                        self,
                        gst::ResourceError::Settings,
                        [
                            "Could not create a buffer of requested {} bytes ({e})",
                            settings.buffer_size
                        ]
                    );
                }
            }
            if let Ok(n) = sock.send_buffer_size() {
                gst::debug!(CAT, imp = self, "have UDP send buffer of {n} bytes");
            }
            if let Some(iface) = &settings.multicast_iface {
                if let Err(e) = sock.bind_device(Some(iface.as_bytes())) {
                    gst::warning!(CAT, imp = self, "SO_BINDTODEVICE {iface} failed: {e}");
                }
            }
            s.set_broadcast(true);
        }
        self.apply_dscp(settings.qos_dscp, st);
    }

    /// `qos-dscp` onto the sockets in use (-1: leave them alone), at start
    /// and whenever the property changes, as multiudpsink.
    fn apply_dscp(&self, dscp: i32, st: &State) {
        if dscp < 0 {
            return;
        }
        let tos = ((dscp & 0x3f) << 2) as u32;
        for (s, v6) in [(&st.used_socket, false), (&st.used_socket_v6, true)] {
            let Some(s) = s else { continue };
            let fd = fd_of(s);
            let sock = socket2::SockRef::from(&fd);
            let r = if v6 {
                sock.set_tclass_v6(tos)
            } else {
                sock.set_tos(tos)
            };
            if let Err(e) = r {
                gst::error!(CAT, imp = self, "could not set qos dscp {dscp}: {e}");
            }
        }
    }

    /// Every buffer of `input` to every client (client by client,
    /// duplicates as many times as added when `send-duplicates`), as one
    /// batch. When `unlock` interrupts a wait for room in the socket buffer,
    /// the state lock is let go while waiting for preroll (so `add` and
    /// `remove` from other threads go on), then the rest is sent.
    fn render_buffers(&self, input: Input<'_>) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut done = 0;
        loop {
            match self.send_from(input, done)? {
                None => return Ok(gst::FlowSuccess::Ok),
                Some(progress) => {
                    done = progress;
                    // As multiudpsink: wait for preroll (flushing: an error
                    // out of here), then carry on with the rest.
                    self.obj().wait_preroll()?;
                }
            }
        }
    }

    /// One attempt of [`Self::render_buffers`] from datagram `skip` on:
    /// `Some(done)` when cancelled after `done` datagrams.
    fn send_from<'b>(
        &self,
        input: Input<'b>,
        skip: usize,
    ) -> Result<Option<usize>, gst::FlowError> {
        let send_duplicates = lock(&self.settings).send_duplicates;
        let mut guard = lock(&self.state);
        let st = &mut *guard;
        if st.clients.is_empty() {
            gst::log!(CAT, imp = self, "no clients");
            return Ok(None);
        }
        let fd4: Option<RawFd> = st.used_socket.as_ref().map(|s| s.as_raw_fd());
        let fd6: Option<RawFd> = st.used_socket_v6.as_ref().map(|s| s.as_raw_fd());
        let sockets_store: [RawFd; 2];
        let sockets: &[RawFd] = match (fd4, fd6) {
            (Some(a), Some(b)) => {
                sockets_store = [a, b];
                &sockets_store
            }
            // No IPv4 socket: all from the IPv6 one (v4 destinations go
            // out of a dual-stack socket), as multiudpsink.
            (None, Some(b)) => {
                sockets_store = [b, b];
                &sockets_store
            }
            (Some(a), None) => {
                sockets_store = [a, -1];
                &sockets_store[..1]
            }
            (None, None) => return Err(gst::FlowError::Flushing),
        };

        let mut maps: Vec<Map<'b>> = with_lifetime(std::mem::take(&mut st.maps));
        st.ranges.clear();
        let mut size = 0u64;
        input.for_each(|buf| {
            let start = maps.len() as u32;
            for mem in buf.iter_memories() {
                match mem.map_readable() {
                    Ok(m) => {
                        size += m.len() as u64;
                        maps.push(m);
                    }
                    Err(_) => gst::warning!(CAT, imp = self, "Failed to map memory for reading"),
                }
            }
            st.ranges.push((start, maps.len() as u32 - start));
        });
        if skip == 0 {
            st.bytes_to_serve += size;
        }

        let bytes_before = st.sender.stats().bytes;
        let mut batch = st.sender.batch();
        let mut k = 0;
        for c in &st.clients {
            let times = if send_duplicates { c.add_count } else { 1 };
            for _ in 0..times {
                for &(start, n) in &st.ranges {
                    if k >= skip {
                        let parts = &maps[start as usize..(start + n) as usize];
                        batch.push_parts(c.dest, parts.iter().map(|m| m.as_slice()));
                    }
                    k += 1;
                }
            }
        }
        let rep = batch.send(sockets, &self.cancel);
        let result = if rep.cancelled {
            Some(skip + batch.done())
        } else {
            None
        };
        let (errors, last_error) = (rep.errors, rep.last_error);
        let after = st.sender.stats().bytes;
        st.bytes_served += after - bytes_before;
        let problem = (errors > 0).then(|| {
            let (err, dest) = last_error.unwrap_or((0, DestId::default()));
            let addr = st
                .sender
                .dest_addr(dest)
                .map_or_else(|| "?".to_string(), |a| a.to_string());
            let big = st
                .ranges
                .iter()
                .map(|&(s, n)| {
                    maps[s as usize..(s + n) as usize]
                        .iter()
                        .map(|m| m.len())
                        .sum::<usize>()
                })
                .find(|&len| len > UDP_MAX_SIZE);
            (addr, std::io::Error::from_raw_os_error(err), big)
        });
        st.maps = with_lifetime(maps);
        // Messages are posted without the lock: a bus sync handler may call
        // back into the element (get-stats, remove).
        drop(guard);
        if let Some((addr, reason, big)) = problem {
            // Rate-limited (a burst, then one a second with the count of
            // those held back): the drops are all in `stats`.
            if let Some(suppressed) = self.send_warn.allow() {
                gst::warning!(
                    CAT,
                    imp = self,
                    "{errors} datagrams not sent, last to {addr}: {reason} \
                     ({suppressed} similar warnings suppressed)"
                );
                if let Some(len) = big {
                    gst::element_imp_warning!(
                        self,
                        gst::ResourceError::Write,
                        ("Attempting to send a UDP packets larger than maximum size ({len} > \
                             {UDP_MAX_SIZE})"),
                        ["Reason: {reason}"]
                    );
                } else {
                    gst::element_imp_warning!(
                        self,
                        gst::ResourceError::Write,
                        ("Error sending UDP packets"),
                        ["client {addr}, reason: {reason} ({errors} datagrams dropped)"]
                    );
                }
            }
        }
        Ok(result)
    }
}

/// The leading decimal integer of `s` (0 if none), as g_ascii_strtoll reads
/// a port.
fn leading_int(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let digits: &str = &t[..t.bytes().take_while(u8::is_ascii_digit).count()];
    let v: i64 = digits.parse().unwrap_or(0);
    if neg {
        -v
    } else {
        v
    }
}

impl ObjectImpl for RtpFastUdpSink {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecString::builder("host")
                    .nick("host")
                    .blurb("The host/IP/Multicast group to send the packets to")
                    .default_value(Some(DEFAULT_HOST))
                    .build(),
                glib::ParamSpecInt::builder("port")
                    .nick("port")
                    .blurb("The port to send the packets to")
                    .minimum(0)
                    .maximum(65535)
                    .default_value(DEFAULT_PORT)
                    .build(),
                glib::ParamSpecUInt64::builder("bytes-to-serve")
                    .nick("Bytes to serve")
                    .blurb("Number of bytes received to serve to clients")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt64::builder("bytes-served")
                    .nick("Bytes served")
                    .blurb("Total number of bytes sent to all clients")
                    .read_only()
                    .build(),
                glib::ParamSpecObject::builder::<gio::Socket>("socket")
                    .nick("Socket Handle")
                    .blurb("Socket to use for UDP sending. (NULL == allocate)")
                    .build(),
                glib::ParamSpecObject::builder::<gio::Socket>("socket-v6")
                    .nick("Socket Handle IPv6")
                    .blurb("Socket to use for UDPv6 sending. (NULL == allocate)")
                    .build(),
                glib::ParamSpecBoolean::builder("close-socket")
                    .nick("Close socket")
                    .blurb("Close socket if passed as property on state change")
                    .default_value(true)
                    .build(),
                glib::ParamSpecObject::builder::<gio::Socket>("used-socket")
                    .nick("Used Socket Handle")
                    .blurb("Socket currently in use for UDP sending. (NULL == no socket)")
                    .read_only()
                    .build(),
                glib::ParamSpecObject::builder::<gio::Socket>("used-socket-v6")
                    .nick("Used Socket Handle IPv6")
                    .blurb("Socket currently in use for UDPv6 sending. (NULL == no socket)")
                    .read_only()
                    .build(),
                glib::ParamSpecString::builder("clients")
                    .nick("Clients")
                    .blurb("A comma separated list of host:port pairs with destinations")
                    .build(),
                glib::ParamSpecBoolean::builder("auto-multicast")
                    .nick("Automatically join/leave multicast groups")
                    .blurb(
                        "Automatically join/leave the multicast groups, FALSE means user has to \
                         do it himself",
                    )
                    .default_value(true)
                    .build(),
                glib::ParamSpecString::builder("multicast-iface")
                    .nick("Multicast Interface")
                    .blurb("The network interface on which to join the multicast group")
                    .build(),
                glib::ParamSpecInt::builder("ttl")
                    .nick("Unicast TTL")
                    .blurb("Used for setting the unicast TTL parameter")
                    .minimum(0)
                    .maximum(255)
                    .default_value(DEFAULT_TTL)
                    .build(),
                glib::ParamSpecInt::builder("ttl-mc")
                    .nick("Multicast TTL")
                    .blurb("Used for setting the multicast TTL parameter")
                    .minimum(0)
                    .maximum(255)
                    .default_value(DEFAULT_TTL_MC)
                    .build(),
                glib::ParamSpecBoolean::builder("loop")
                    .nick("Multicast Loopback")
                    .blurb(
                        "Used for setting the multicast loop parameter. TRUE = enable, FALSE = \
                         disable",
                    )
                    .default_value(true)
                    .build(),
                glib::ParamSpecBoolean::builder("force-ipv4")
                    .nick("Force IPv4")
                    .blurb("Forcing the use of an IPv4 socket (DEPRECATED, has no effect anymore)")
                    .default_value(false)
                    .flags(glib::ParamFlags::READWRITE | glib::ParamFlags::DEPRECATED)
                    .build(),
                glib::ParamSpecInt::builder("qos-dscp")
                    .nick("QoS diff srv code point")
                    .blurb("Quality of Service, differentiated services code point (-1 default)")
                    .minimum(-1)
                    .maximum(63)
                    .default_value(-1)
                    .build(),
                glib::ParamSpecBoolean::builder("send-duplicates")
                    .nick("Send Duplicates")
                    .blurb(
                        "When a destination/port pair is added multiple times, send packets \
                         multiple times as well",
                    )
                    .default_value(true)
                    .build(),
                glib::ParamSpecInt::builder("buffer-size")
                    .nick("Buffer Size")
                    .blurb("Size of the kernel send buffer in bytes, 0=default")
                    .minimum(0)
                    .maximum(i32::MAX)
                    .default_value(0)
                    .build(),
                glib::ParamSpecString::builder("bind-address")
                    .nick("Bind Address")
                    .blurb("Address to bind the socket to")
                    .build(),
                glib::ParamSpecInt::builder("bind-port")
                    .nick("Bind Port")
                    .blurb("Port to bind the socket to")
                    .minimum(0)
                    .maximum(65535)
                    .default_value(0)
                    .build(),
                glib::ParamSpecBoolean::builder("gso")
                    .nick("UDP GSO")
                    .blurb(
                        "Send each run of equal-size datagrams to one client as one UDP GSO \
                         message (false: plain sendmmsg, one message per datagram); a client \
                         whose route refuses GSO falls back by itself",
                    )
                    .default_value(true)
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb(
                        "basesink's stats (average-rate, dropped, rendered) and ours: packets \
                         and bytes sent (guint64), syscalls (sendmmsg calls), gso-sends \
                         (messages sent with UDP GSO), gso-fallbacks (GSO messages refused \
                         and resent datagram by datagram), send-errors (datagrams dropped on a \
                         send error)",
                    )
                    .read_only()
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn signals() -> &'static [glib::subclass::Signal] {
        static SIGNALS: LazyLock<Vec<glib::subclass::Signal>> = LazyLock::new(|| {
            fn this(args: &[glib::Value]) -> super::RtpFastUdpSink {
                args[0]
                    .get::<super::RtpFastUdpSink>()
                    .expect("signal instance")
            }
            fn host_port(args: &[glib::Value]) -> (String, i32) {
                (
                    args[1]
                        .get::<Option<String>>()
                        .ok()
                        .flatten()
                        .unwrap_or_default(),
                    args[2].get::<i32>().unwrap_or(0),
                )
            }
            vec![
                glib::subclass::Signal::builder("add")
                    .param_types([String::static_type(), i32::static_type()])
                    .run_last()
                    .action()
                    .class_handler(|args| {
                        let (h, p) = host_port(args);
                        this(args).imp().add(&h, p);
                        None
                    })
                    .build(),
                glib::subclass::Signal::builder("remove")
                    .param_types([String::static_type(), i32::static_type()])
                    .run_last()
                    .action()
                    .class_handler(|args| {
                        let (h, p) = host_port(args);
                        this(args).imp().remove(&h, p);
                        None
                    })
                    .build(),
                glib::subclass::Signal::builder("clear")
                    .run_last()
                    .action()
                    .class_handler(|args| {
                        this(args).imp().clear();
                        None
                    })
                    .build(),
                glib::subclass::Signal::builder("get-stats")
                    .param_types([String::static_type(), i32::static_type()])
                    .return_type::<gst::Structure>()
                    .run_last()
                    .action()
                    .class_handler(|args| {
                        let (h, p) = host_port(args);
                        Some(this(args).imp().client_stats(&h, p).to_value())
                    })
                    .build(),
                glib::subclass::Signal::builder("client-added")
                    .param_types([String::static_type(), i32::static_type()])
                    .run_last()
                    .build(),
                glib::subclass::Signal::builder("client-removed")
                    .param_types([String::static_type(), i32::static_type()])
                    .run_last()
                    .build(),
            ]
        });
        SIGNALS.as_ref()
    }

    fn constructed(&self) {
        self.parent_constructed();
        // udpsink starts with its host:port as the one client.
        self.add(DEFAULT_HOST, DEFAULT_PORT);
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        match pspec.name() {
            "host" | "port" => {
                // As udpsink: the old host:port goes, the new one comes.
                let (old_h, old_p) = {
                    let s = lock(&self.settings);
                    (s.host.clone(), s.port)
                };
                self.remove(&old_h, old_p);
                let (h, p) = {
                    let mut s = lock(&self.settings);
                    if pspec.name() == "host" {
                        s.host = value
                            .get::<Option<String>>()
                            .ok()
                            .flatten()
                            .unwrap_or_default();
                    } else {
                        s.port = value.get().expect("type checked upstream");
                    }
                    (s.host.clone(), s.port)
                };
                self.add(&h, p);
            }
            "clients" => {
                let v: Option<String> = value.get().expect("type checked upstream");
                self.set_clients_string(v.as_deref().unwrap_or(""));
            }
            "gso" => {
                let on: bool = value.get().expect("type checked upstream");
                lock(&self.settings).gso = on;
                lock(&self.state).sender.set_gso(on);
            }
            name => {
                let mut s = lock(&self.settings);
                match name {
                    "socket" | "socket-v6" => {
                        let new: Option<Sock> = value
                            .get::<Option<gio::Socket>>()
                            .expect("type checked upstream")
                            .map(Sock);
                        let st = lock(&self.state);
                        let close = s.close_socket;
                        let (old, used) = if name == "socket" {
                            (&mut s.socket, &st.used_socket)
                        } else {
                            (&mut s.socket_v6, &st.used_socket_v6)
                        };
                        // As multiudpsink: a socket we were given and do not
                        // use is closed when replaced, if close-socket.
                        if let Some(o) = old.as_ref() {
                            if used.as_ref() != Some(o) && close {
                                if let Err(e) = o.close() {
                                    gst::error!(CAT, imp = self, "failed to close socket: {e}");
                                }
                            }
                        }
                        *old = new;
                    }
                    "close-socket" => s.close_socket = value.get().expect("type checked"),
                    "auto-multicast" => s.auto_multicast = value.get().expect("type checked"),
                    "multicast-iface" => s.multicast_iface = value.get().expect("type checked"),
                    "ttl" => s.ttl = value.get().expect("type checked"),
                    "ttl-mc" => s.ttl_mc = value.get().expect("type checked"),
                    "loop" => s.loop_ = value.get().expect("type checked"),
                    "force-ipv4" => s.force_ipv4 = value.get().expect("type checked"),
                    "qos-dscp" => {
                        s.qos_dscp = value.get().expect("type checked");
                        self.apply_dscp(s.qos_dscp, &lock(&self.state));
                    }
                    "send-duplicates" => s.send_duplicates = value.get().expect("type checked"),
                    "buffer-size" => s.buffer_size = value.get().expect("type checked"),
                    "bind-address" => s.bind_address = value.get().expect("type checked"),
                    "bind-port" => s.bind_port = value.get().expect("type checked"),
                    _ => unimplemented!("property {name}"),
                }
            }
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "clients" => self.clients_string().to_value(),
            "stats" => self.our_stats().to_value(),
            "bytes-to-serve" => lock(&self.state).bytes_to_serve.to_value(),
            "bytes-served" => lock(&self.state).bytes_served.to_value(),
            "used-socket" => lock(&self.state).used_socket.as_deref().to_value(),
            "used-socket-v6" => lock(&self.state).used_socket_v6.as_deref().to_value(),
            name => {
                let s = lock(&self.settings);
                match name {
                    "host" => s.host.to_value(),
                    "port" => s.port.to_value(),
                    "socket" => s.socket.as_deref().to_value(),
                    "socket-v6" => s.socket_v6.as_deref().to_value(),
                    "close-socket" => s.close_socket.to_value(),
                    "auto-multicast" => s.auto_multicast.to_value(),
                    "multicast-iface" => s.multicast_iface.to_value(),
                    "ttl" => s.ttl.to_value(),
                    "ttl-mc" => s.ttl_mc.to_value(),
                    "loop" => s.loop_.to_value(),
                    "force-ipv4" => s.force_ipv4.to_value(),
                    "qos-dscp" => s.qos_dscp.to_value(),
                    "send-duplicates" => s.send_duplicates.to_value(),
                    "buffer-size" => s.buffer_size.to_value(),
                    "bind-address" => s.bind_address.to_value(),
                    "bind-port" => s.bind_port.to_value(),
                    "gso" => s.gso.to_value(),
                    _ => unimplemented!("property {name}"),
                }
            }
        }
    }
}

impl GstObjectImpl for RtpFastUdpSink {}

impl ElementImpl for RtpFastUdpSink {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "UDP packet sender (batched, UDP GSO)",
                "Sink/Network",
                "Send data over the network via UDP to one or multiple clients, \
                 with sendmmsg and UDP GSO (drop-in for udpsink / multiudpsink)",
                "rsrtpfast",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static T: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            vec![gst::PadTemplate::new(
                "sink",
                gst::PadDirection::Sink,
                gst::PadPresence::Always,
                &gst::Caps::new_any(),
            )
            .expect("sink template")]
        });
        T.as_ref()
    }
}

impl BaseSinkImpl for RtpFastUdpSink {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = lock(&self.settings).clone();
        let mut st = lock(&self.state);
        if let Err(e) = self.make_sockets(&settings, &mut st) {
            st.used_socket = None;
            st.used_socket_v6 = None;
            return Err(e);
        }
        self.setup_sockets(&settings, &st);
        st.bytes_to_serve = 0;
        st.bytes_served = 0;
        st.sender.set_gso(settings.gso);
        let addrs: Vec<SocketAddr> = st.clients.iter().map(|c| c.addr).collect();
        for a in addrs {
            if let Err(e) = self.configure_client(&st, &settings, a) {
                drop(st);
                let _ = self.stop();
                return Err(e);
            }
        }
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        let close = lock(&self.settings).close_socket;
        let mut st = lock(&self.state);
        let external = st.external_socket;
        for s in [st.used_socket.take(), st.used_socket_v6.take()]
            .into_iter()
            .flatten()
        {
            if close || !external {
                if let Err(e) = s.close() {
                    gst::error!(CAT, imp = self, "Failed to close socket: {e}");
                }
            }
        }
        Ok(())
    }

    fn render(&self, buffer: &gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        if buffer.n_memory() == 0 {
            return Ok(gst::FlowSuccess::Ok);
        }
        self.render_buffers(Input::One(buffer))
    }

    fn render_list(&self, list: &gst::BufferList) -> Result<gst::FlowSuccess, gst::FlowError> {
        if list.is_empty() {
            return Ok(gst::FlowSuccess::Ok);
        }
        self.render_buffers(Input::List(list))
    }

    fn unlock(&self) -> Result<(), gst::ErrorMessage> {
        self.cancel.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn unlock_stop(&self) -> Result<(), gst::ErrorMessage> {
        self.cancel.store(false, Ordering::Relaxed);
        Ok(())
    }
}

impl URIHandlerImpl for RtpFastUdpSink {
    const URI_TYPE: gst::URIType = gst::URIType::Sink;

    fn protocols() -> &'static [&'static str] {
        &["udp"]
    }

    fn uri(&self) -> Option<String> {
        let s = lock(&self.settings);
        Some(format!("udp://{}:{}", s.host, s.port))
    }

    fn set_uri(&self, uri: &str) -> Result<(), glib::Error> {
        let (old_h, old_p) = {
            let s = lock(&self.settings);
            (s.host.clone(), s.port)
        };
        self.remove(&old_h, old_p);
        let Some((host, port)) = parse_udp_uri(uri) else {
            gst::element_imp_error!(self, gst::ResourceError::Read, ["error parsing uri {uri}"]);
            return Err(glib::Error::new(
                gst::URIError::BadUri,
                "Could not parse UDP URI",
            ));
        };
        {
            let mut s = lock(&self.settings);
            s.host = host.clone();
            s.port = port;
        }
        self.add(&host, port);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_parsing() {
        assert_eq!(
            parse_udp_uri("udp://127.0.0.1:5006"),
            Some(("127.0.0.1".into(), 5006))
        );
        assert_eq!(parse_udp_uri("udp://[::1]:7"), Some(("::1".into(), 7)));
        assert_eq!(parse_udp_uri("UDP://host"), Some(("host".into(), 5004)));
        assert_eq!(parse_udp_uri("http://host:1"), None);
        assert_eq!(parse_udp_uri("udp://:1"), None);
        assert_eq!(parse_udp_uri("udp://h:99999"), None);
    }

    #[test]
    fn ports_read_like_strtoll() {
        assert_eq!(leading_int("5004"), 5004);
        assert_eq!(leading_int("5004abc"), 5004);
        assert_eq!(leading_int(" 12"), 12);
        assert_eq!(leading_int("x"), 0);
        assert_eq!(leading_int(""), 0);
    }
}
