//! GObject side of `rtpfastudpsrc`. The receive loop is `crate::io::recv`;
//! here: udpsrc's properties, socket lifetime (opened at NULL→READY, closed
//! at READY→NULL, as udpsrc), buffers from our pool, sender-address metas,
//! timestamps, the timeout message and `stats`.

use super::SocketTimestampMode;
use crate::elements::base::warn_limit::WarnLimit;
use crate::io::recv::{self, BindConfig, Receiver, RecvStats, SlotResult, Slots, Wait, Waker};
use crate::pool;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::base_src::CreateSuccess;
use gst_base::subclass::prelude::*;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rtpfastudpsrc",
        gst::DebugColorFlags::empty(),
        Some("Batched UDP source"),
    )
});

const DEFAULT_PORT: i32 = 5004;
const DEFAULT_ADDRESS: &str = "0.0.0.0";
const DEFAULT_MTU: u32 = 1492;
const DEFAULT_BATCH: u32 = recv::DEFAULT_BATCH as u32;

#[derive(Debug, Clone)]
struct Settings {
    port: i32,
    address: String,
    uri: String,
    multicast_iface: Option<String>,
    caps: Option<gst::Caps>,
    buffer_size: i32,
    timeout: u64,
    skip_first_bytes: i32,
    socket: Option<Shared<gio::Socket>>,
    close_socket: bool,
    auto_multicast: bool,
    reuse: bool,
    loop_: bool,
    retrieve_sender_address: bool,
    mtu: u32,
    socket_timestamp: SocketTimestampMode,
    typefind: bool,
    gro: bool,
    batch_size: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            port: DEFAULT_PORT,
            address: DEFAULT_ADDRESS.into(),
            uri: format!("udp://{DEFAULT_ADDRESS}:{DEFAULT_PORT}"),
            multicast_iface: None,
            caps: None,
            buffer_size: 0,
            timeout: 0,
            skip_first_bytes: 0,
            socket: None,
            close_socket: true,
            auto_multicast: true,
            reuse: true,
            loop_: true,
            retrieve_sender_address: true,
            mtu: DEFAULT_MTU,
            socket_timestamp: SocketTimestampMode::Disabled,
            typefind: false,
            gro: true,
            batch_size: DEFAULT_BATCH,
        }
    }
}

/// Receive slots: pooled blocks of [`recv::MAX_DATAGRAM`] bytes kept mapped
/// while they are ours. A slot that carried one datagram is copied out and
/// reused; one that carried a GRO block is handed out as views and refilled.
#[derive(Default)]
struct SlotBlocks(Vec<Option<gst::MappedBuffer<gst::buffer::Writable>>>);

impl SlotBlocks {
    fn fill(&mut self, n: usize) {
        self.0.resize_with(n, || None);
        for s in self.0.iter_mut() {
            if s.is_none() {
                *s = pool::acquire(recv::MAX_DATAGRAM)
                    .into_mapped_buffer_writable()
                    .ok();
            }
        }
    }
}

// SAFETY: each slot is a separate pooled block we hold exclusively (a
// writable mapped buffer), so the slices never overlap and stay valid
// while `recv_batch` borrows `self`.
unsafe impl Slots for SlotBlocks {
    fn count(&self) -> usize {
        self.0.iter().take_while(|s| s.is_some()).count()
    }
    fn slot(&mut self, i: usize) -> &mut [u8] {
        self.0[i]
            .as_mut()
            .map(|m| m.as_mut_slice())
            .unwrap_or(&mut [])
    }
}

/// What the streaming thread owns while the socket is open.
struct Stream {
    receiver: Receiver,
    bind: Option<BindConfig>,
    slots: SlotBlocks,
    results: Vec<SlotResult>,
    /// The last sender and its GSocketAddress, reused while it does not
    /// change (one allocation per sender change, not per packet).
    last_sender: Option<(SocketAddr, Shared<gio::SocketAddress>)>,
    /// Datagrams shorter than `skip-first-bytes`, dropped.
    short: u64,
    /// `socket-timestamp=realtime` took effect: DTS from SO_TIMESTAMPNS.
    socket_ts: bool,
    _pool: pool::StreamHandle,
}

#[derive(Default)]
pub struct RtpFastUdpSrc {
    settings: Mutex<Settings>,
    stream: Mutex<Option<Stream>>,
    /// Separate from `stream` (held by `create` while it waits): `unlock`
    /// and the property getters must not wait for a datagram.
    waker: Mutex<Option<Arc<Waker>>>,
    used_socket: Mutex<Option<Shared<gio::Socket>>>,
    stats: Mutex<(RecvStats, u64)>,
    warn: WarnLimit,
}

#[glib::object_subclass]
impl ObjectSubclass for RtpFastUdpSrc {
    const NAME: &'static str = "GstRtpFastUdpSrc";
    type Type = super::RtpFastUdpSrc;
    type ParentType = gst_base::PushSrc;
    type Interfaces = (gst::URIHandler,);
}

fn stats_structure(s: &RecvStats, short: u64) -> gst::Structure {
    gst::Structure::builder("rtpfastudpsrc-stats")
        .field("packets", s.packets)
        .field("bytes", s.bytes)
        .field("batches", s.batches)
        .field("mean-batch-size", s.mean_batch())
        .field("kernel-drops", s.kernel_drops)
        .field("gro-blocks", s.gro_blocks)
        .field("truncated", s.truncated)
        .field("dropped", short + s.truncated)
        .build()
}

impl ObjectImpl for RtpFastUdpSrc {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                glib::ParamSpecInt::builder("port")
                    .nick("Port")
                    .blurb("The port to receive the packets from, 0=allocate")
                    .minimum(0)
                    .maximum(u16::MAX as i32)
                    .default_value(DEFAULT_PORT)
                    .build(),
                glib::ParamSpecString::builder("multicast-group")
                    .nick("Multicast Group")
                    .blurb("The Address of multicast group to join. (DEPRECATED: Use address property instead)")
                    .default_value(Some(DEFAULT_ADDRESS))
                    .flags(glib::ParamFlags::READWRITE | glib::ParamFlags::DEPRECATED)
                    .build(),
                glib::ParamSpecString::builder("multicast-iface")
                    .nick("Multicast Interface")
                    .blurb("The network interface on which to join the multicast group.This allows multiple interfaces separated by comma. (\"eth0,eth1\")")
                    .build(),
                glib::ParamSpecString::builder("uri")
                    .nick("URI")
                    .blurb("URI in the form of udp://multicast_group:port")
                    .default_value(Some(format!("udp://{DEFAULT_ADDRESS}:{DEFAULT_PORT}").as_str()))
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Caps>("caps")
                    .nick("Caps")
                    .blurb("The caps of the source pad")
                    .build(),
                glib::ParamSpecObject::builder::<gio::Socket>("socket")
                    .nick("Socket")
                    .blurb("Socket to use for UDP reception. (NULL == allocate)")
                    .build(),
                glib::ParamSpecInt::builder("buffer-size")
                    .nick("Buffer Size")
                    .blurb("Size of the kernel receive buffer in bytes, 0=default")
                    .minimum(0)
                    .maximum(i32::MAX)
                    .default_value(0)
                    .build(),
                glib::ParamSpecUInt64::builder("timeout")
                    .nick("Timeout")
                    .blurb("Post a message after timeout nanoseconds (0 = disabled)")
                    .default_value(0)
                    .build(),
                glib::ParamSpecInt::builder("skip-first-bytes")
                    .nick("Skip first bytes")
                    .blurb("number of bytes to skip for each udp packet")
                    .minimum(0)
                    .maximum(i32::MAX)
                    .default_value(0)
                    .build(),
                glib::ParamSpecBoolean::builder("close-socket")
                    .nick("Close socket")
                    .blurb("Close socket if passed as property on state change")
                    .default_value(true)
                    .build(),
                glib::ParamSpecObject::builder::<gio::Socket>("used-socket")
                    .nick("Socket Handle")
                    .blurb("Socket currently in use for UDP reception. (NULL = no socket)")
                    .read_only()
                    .build(),
                glib::ParamSpecBoolean::builder("auto-multicast")
                    .nick("Auto Multicast")
                    .blurb("Automatically join/leave multicast groups")
                    .default_value(true)
                    .build(),
                glib::ParamSpecBoolean::builder("reuse")
                    .nick("Reuse")
                    .blurb("Enable reuse of the port")
                    .default_value(true)
                    .build(),
                glib::ParamSpecString::builder("address")
                    .nick("Address")
                    .blurb("Address to receive packets for. This is equivalent to the multicast-group property for now")
                    .default_value(Some(DEFAULT_ADDRESS))
                    .build(),
                glib::ParamSpecBoolean::builder("loop")
                    .nick("Multicast Loopback")
                    .blurb("Used for setting the multicast loop parameter. TRUE = enable, FALSE = disable")
                    .default_value(true)
                    .build(),
                glib::ParamSpecBoolean::builder("retrieve-sender-address")
                    .nick("Retrieve Sender Address")
                    .blurb("Whether to retrieve the sender address and add it to buffers as meta. Disabling this might result in minor performance improvements in certain scenarios")
                    .default_value(true)
                    .build(),
                glib::ParamSpecUInt::builder("mtu")
                    .nick("Expected Maximum Transmission Unit")
                    .blurb("Maximum expected packet size. This directly defines the allocationsize of the receive buffer pool.")
                    .minimum(0)
                    .maximum(i32::MAX as u32)
                    .default_value(DEFAULT_MTU)
                    .build(),
                // udpsrc 1.22's pspec says "realtime" while a new udpsrc
                // holds "disabled" (what gst-inspect shows); both copied.
                glib::ParamSpecEnum::builder_with_default("socket-timestamp", SocketTimestampMode::Realtime)
                    .nick("Use Socket Control Message Timestamp for DTS")
                    .blurb("Used for adding alternative timestamp using SO_TIMESTAMP.")
                    .build(),
                glib::ParamSpecBoolean::builder("typefind")
                    .nick("Typefind")
                    .blurb("Run typefind before negotiating (deprecated, non-functional)")
                    .default_value(false)
                    .flags(glib::ParamFlags::READWRITE | glib::ParamFlags::DEPRECATED)
                    .build(),
                glib::ParamSpecBoolean::builder("gro")
                    .nick("UDP GRO")
                    .blurb("Ask the kernel for UDP GRO (a run of equal-size datagrams per receive, split into buffers without copying); false = plain recvmmsg. Read at NULL->READY")
                    .default_value(true)
                    .build(),
                glib::ParamSpecUInt::builder("batch-size")
                    .nick("Batch size")
                    .blurb("Receive slots (64 KiB each) per recvmmsg call: at most this many datagrams, or GRO blocks, per wake-up. Read at NULL->READY")
                    .minimum(1)
                    .maximum(recv::MAX_BATCH as u32)
                    .default_value(DEFAULT_BATCH)
                    .build(),
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("rtpfastudpsrc-stats: packets (datagrams received; a GRO block counts each), bytes (their payload bytes), batches (recvmmsg calls that returned data), mean-batch-size (receive slots filled per batch), kernel-drops (datagrams the kernel dropped for a full receive buffer, SO_RXQ_OVFL), gro-blocks (slots that carried 2+ datagrams), truncated (datagrams larger than a slot), dropped (truncated ones plus datagrams shorter than skip-first-bytes)")
                    .read_only()
                    .build(),
            ]
        });
        PROPS.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "port" => {
                s.port = value.get().unwrap();
                s.uri = format!("udp://{}:{}", s.address, s.port);
            }
            "multicast-group" | "address" => {
                s.address = value
                    .get::<Option<String>>()
                    .unwrap()
                    .unwrap_or_else(|| DEFAULT_ADDRESS.into());
                s.uri = format!("udp://{}:{}", s.address, s.port);
            }
            "multicast-iface" => s.multicast_iface = value.get().unwrap(),
            "uri" => {
                let uri: Option<String> = value.get().unwrap();
                drop(s);
                if let Some(uri) = uri {
                    if let Err(e) = self.set_uri_inner(&uri) {
                        gst::element_imp_error!(
                            self,
                            gst::ResourceError::Read,
                            ["error parsing uri {uri}: {e}"]
                        );
                    }
                }
            }
            "caps" => {
                s.caps = value.get().unwrap();
                drop(s);
                self.obj().src_pad().mark_reconfigure();
            }
            "socket" => s.socket = value.get::<Option<gio::Socket>>().unwrap().map(Shared),
            "buffer-size" => s.buffer_size = value.get().unwrap(),
            "timeout" => s.timeout = value.get().unwrap(),
            "skip-first-bytes" => s.skip_first_bytes = value.get().unwrap(),
            "close-socket" => s.close_socket = value.get().unwrap(),
            "auto-multicast" => s.auto_multicast = value.get().unwrap(),
            "reuse" => s.reuse = value.get().unwrap(),
            "loop" => s.loop_ = value.get().unwrap(),
            "retrieve-sender-address" => s.retrieve_sender_address = value.get().unwrap(),
            "mtu" => s.mtu = value.get().unwrap(),
            "socket-timestamp" => s.socket_timestamp = value.get().unwrap(),
            "typefind" => s.typefind = value.get().unwrap(),
            "gro" => s.gro = value.get().unwrap(),
            "batch-size" => s.batch_size = value.get().unwrap(),
            _ => unreachable!("property {}", pspec.name()),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "port" => s.port.to_value(),
            "multicast-group" | "address" => s.address.to_value(),
            "multicast-iface" => s.multicast_iface.to_value(),
            "uri" => s.uri.to_value(),
            "caps" => s.caps.to_value(),
            "socket" => as_socket(&s.socket).to_value(),
            "buffer-size" => s.buffer_size.to_value(),
            "timeout" => s.timeout.to_value(),
            "skip-first-bytes" => s.skip_first_bytes.to_value(),
            "close-socket" => s.close_socket.to_value(),
            "used-socket" => as_socket(&self.used_socket.lock().unwrap()).to_value(),
            "auto-multicast" => s.auto_multicast.to_value(),
            "reuse" => s.reuse.to_value(),
            "loop" => s.loop_.to_value(),
            "retrieve-sender-address" => s.retrieve_sender_address.to_value(),
            "mtu" => s.mtu.to_value(),
            "socket-timestamp" => s.socket_timestamp.to_value(),
            "typefind" => s.typefind.to_value(),
            "gro" => s.gro.to_value(),
            "batch-size" => s.batch_size.to_value(),
            "stats" => {
                let (st, short) = *self.stats.lock().unwrap();
                stats_structure(&st, short).to_value()
            }
            _ => unreachable!("property {}", pspec.name()),
        }
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.set_live(true);
        obj.set_format(gst::Format::Time);
        obj.set_do_timestamp(true);
    }
}

impl GstObjectImpl for RtpFastUdpSrc {}

impl ElementImpl for RtpFastUdpSrc {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "UDP packet receiver (batched)",
                "Source/Network",
                "Receive data over the network via UDP like udpsrc, in batches (recvmmsg, UDP GRO)",
                "rsrtpfast",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static T: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            vec![gst::PadTemplate::new(
                "src",
                gst::PadDirection::Src,
                gst::PadPresence::Always,
                &gst::Caps::new_any(),
            )
            .unwrap()]
        });
        T.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::NullToReady {
            self.open()?;
        }
        let ret = self.parent_change_state(transition);
        if transition == gst::StateChange::ReadyToNull
            || (ret.is_err() && transition == gst::StateChange::NullToReady)
        {
            self.close();
        }
        ret
    }
}

impl RtpFastUdpSrc {
    fn set_uri_inner(&self, uri: &str) -> Result<(), String> {
        let (host, port) = parse_uri(uri)?;
        let mut s = self.settings.lock().unwrap();
        s.address = host;
        s.port = port as i32;
        s.uri = uri.to_string();
        Ok(())
    }

    fn open(&self) -> Result<(), gst::StateChangeError> {
        let settings = self.settings.lock().unwrap().clone();
        // num-buffers counts create() calls in basesrc; one datagram per
        // call keeps it counting datagrams as udpsrc does.
        let one_each = self.obj().num_buffers() >= 0;
        let batch = if one_each {
            1
        } else {
            settings.batch_size as usize
        };
        let gro = settings.gro && !one_each;
        let want_sender = settings.retrieve_sender_address;
        let address = resolve(&settings.address).ok_or_else(|| {
            gst::element_imp_error!(
                self,
                gst::ResourceError::Settings,
                ["Failed to resolve address {}", settings.address]
            );
            gst::StateChangeError
        })?;
        let ifaces: Vec<String> = settings
            .multicast_iface
            .as_deref()
            .map(|s| s.split(',').map(|i| i.trim().to_string()).collect())
            .unwrap_or_default();
        let (receiver, used, bind) = if let Some(user) = as_socket(&settings.socket) {
            let fd = user.as_raw_fd();
            // SAFETY: the user's GSocket is kept in `used_socket` (a strong
            // reference) until `close`, which drops the receiver first.
            let r = unsafe { Receiver::borrowed(fd, batch, gro, want_sender) }.map_err(|e| {
                gst::element_imp_error!(
                    self,
                    gst::ResourceError::OpenRead,
                    ["no socket error: {e}"]
                );
                gst::StateChangeError
            })?;
            // As udpsrc: a user socket bound to ANY with a multicast address
            // joins that group (auto-multicast); otherwise it is used as is.
            let local = r.local_addr().ok();
            let join = settings.auto_multicast
                && address.is_multicast()
                && local.is_some_and(|l| l.ip().is_unspecified());
            let bind = join.then(|| BindConfig {
                address,
                port: local.map_or(0, |l| l.port()),
                reuse: settings.reuse,
                buffer_size: settings.buffer_size,
                auto_multicast: true,
                multicast_ifaces: ifaces.clone(),
                multicast_loop: settings.loop_,
            });
            if let Some(b) = &bind {
                if let Err(e) = join_on(fd, b) {
                    gst::element_imp_error!(self, gst::ResourceError::Settings, ["{e}"]);
                    return Err(gst::StateChangeError);
                }
            }
            if settings.buffer_size > 0 {
                set_rcvbuf(fd, settings.buffer_size);
            }
            (r, Shared(user), bind)
        } else {
            let cfg = BindConfig {
                address,
                port: settings.port as u16,
                reuse: settings.reuse,
                buffer_size: settings.buffer_size,
                auto_multicast: settings.auto_multicast,
                multicast_ifaces: ifaces,
                multicast_loop: settings.loop_,
            };
            let sock = recv::open_socket(&cfg).map_err(|e| {
                let kind = match e {
                    recv::OpenError::Socket(_) => gst::ResourceError::OpenRead,
                    _ => gst::ResourceError::Settings,
                };
                gst::element_imp_error!(self, kind, ["{e}"]);
                gst::StateChangeError
            })?;
            let owned: OwnedFd = sock.into();
            let fd = owned.as_raw_fd();
            let gsock = gio::Socket::from_fd(owned).map_err(|e| {
                gst::element_imp_error!(
                    self,
                    gst::ResourceError::OpenRead,
                    ["no socket error: {e}"]
                );
                gst::StateChangeError
            })?;
            // SAFETY: `gsock` owns the fd and is kept in `used_socket` until
            // `close`, which drops the receiver first.
            let r = unsafe { Receiver::borrowed(fd, batch, gro, want_sender) }.map_err(|e| {
                gst::element_imp_error!(
                    self,
                    gst::ResourceError::OpenRead,
                    ["no socket error: {e}"]
                );
                gst::StateChangeError
            })?;
            (r, Shared(gsock), Some(cfg))
        };
        let mut receiver = receiver;
        if settings.socket_timestamp == SocketTimestampMode::Realtime {
            if let Err(e) = receiver.set_timestamps(true) {
                gst::warning!(
                    CAT,
                    imp = self,
                    "Failed to enable socket control message timestamps: {e}"
                );
                self.settings.lock().unwrap().socket_timestamp = SocketTimestampMode::Disabled;
                self.obj().notify("socket-timestamp");
            }
        }
        let socket_ts =
            self.settings.lock().unwrap().socket_timestamp == SocketTimestampMode::Realtime;
        gst::debug!(
            CAT,
            imp = self,
            "socket open, GRO {}, batch {}",
            receiver.gro(),
            receiver.batch()
        );
        // udpsrc reads the bound port back (port=0 → the one allocated).
        if let Ok(local) = receiver.local_addr() {
            let port = local.port() as i32;
            let changed = {
                let mut s = self.settings.lock().unwrap();
                let changed = s.port != port;
                s.port = port;
                changed
            };
            if changed {
                self.obj().notify("port");
            }
        }
        *self.waker.lock().unwrap() = Some(receiver.waker());
        *self.used_socket.lock().unwrap() = Some(used);
        *self.stats.lock().unwrap() = (RecvStats::default(), 0);
        *self.stream.lock().unwrap() = Some(Stream {
            receiver,
            bind,
            slots: SlotBlocks::default(),
            results: Vec::with_capacity(batch),
            last_sender: None,
            short: 0,
            socket_ts,
            _pool: pool::StreamHandle::new(),
        });
        self.warn.reset();
        Ok(())
    }

    fn close(&self) {
        let stream = self.stream.lock().unwrap().take();
        *self.waker.lock().unwrap() = None;
        let used = self.used_socket.lock().unwrap().take();
        let (close_socket, external) = {
            let s = self.settings.lock().unwrap();
            (s.close_socket, s.socket.is_some())
        };
        if let (Some(stream), Some(used)) = (stream, as_socket(&used)) {
            if let Some(bind) = &stream.bind {
                recv::leave_multicast(used.as_raw_fd(), bind);
            }
            drop(stream);
            if external && close_socket {
                let _ = gio::prelude::SocketExt::close(&used);
            }
        }
        drop(used);
    }

    /// The GSocketAddress for `addr`, the cached one when the sender is the
    /// same as last time.
    fn sender_address(
        cache: &mut Option<(SocketAddr, Shared<gio::SocketAddress>)>,
        addr: SocketAddr,
    ) -> gio::SocketAddress {
        if let Some((a, g)) = cache {
            if *a == addr {
                return g.0.clone();
            }
        }
        let ip = match addr.ip() {
            IpAddr::V4(v4) => gio::InetAddress::from_bytes(gio::InetAddressBytes::V4(&v4.octets())),
            IpAddr::V6(v6) => gio::InetAddress::from_bytes(gio::InetAddressBytes::V6(&v6.octets())),
        };
        let g: gio::SocketAddress = gio::InetSocketAddress::new(&ip, addr.port()).upcast();
        *cache = Some((addr, Shared(g.clone())));
        g
    }
}

fn as_socket(o: &Option<Shared<gio::Socket>>) -> Option<gio::Socket> {
    o.as_ref().map(|s| s.0.clone())
}

/// A GObject reference (GSocket, GSocketAddress) that may cross threads;
/// the gio wrappers are not Send.
#[derive(Debug, Clone)]
struct Shared<T>(T);
// SAFETY: GObject reference counting is atomic. The GSocket is only used
// (its fd read, closed) under this element's mutexes, one thread at a time;
// a GInetSocketAddress is immutable after construction.
unsafe impl<T> Send for Shared<T> {}
// SAFETY: as above: shared access only clones the reference.
unsafe impl<T> Sync for Shared<T> {}

/// Bytes to store per datagram: `len - skip`, None when it is too short.
fn payload_range(range: std::ops::Range<usize>, skip: usize) -> Option<std::ops::Range<usize>> {
    (range.len() >= skip).then(|| range.start + skip..range.end)
}

fn resolve(address: &str) -> Option<IpAddr> {
    if let Ok(ip) = address.parse::<IpAddr>() {
        return Some(ip);
    }
    (address, 0u16)
        .to_socket_addrs()
        .ok()?
        .next()
        .map(|a| a.ip())
}

fn join_on(fd: std::os::fd::RawFd, b: &BindConfig) -> Result<(), String> {
    // Join through a duplicate: the memberships belong to the socket, not
    // the descriptor.
    // SAFETY: FFI call on an open descriptor; the result is a new fd we own.
    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return Err(format!(
            "could not add membership: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: `dup` is a fresh descriptor nothing else owns.
    let s = unsafe { <socket2::Socket as std::os::fd::FromRawFd>::from_raw_fd(dup) };
    let r = match b.address {
        IpAddr::V4(g) => {
            let mut res = Ok(());
            let ifaces = if b.multicast_ifaces.is_empty() {
                vec![String::new()]
            } else {
                b.multicast_ifaces.clone()
            };
            for i in ifaces {
                let idx = if i.is_empty() {
                    0
                } else {
                    let c = std::ffi::CString::new(i).unwrap_or_default();
                    // SAFETY: FFI call with a valid C string.
                    unsafe { libc::if_nametoindex(c.as_ptr()) }
                };
                res = res
                    .and(s.join_multicast_v4_n(&g, &socket2::InterfaceIndexOrAddress::Index(idx)));
            }
            res
        }
        IpAddr::V6(g) => s.join_multicast_v6(&g, 0),
    };
    let _ = s.into_raw_fd();
    // SAFETY: closing our own duplicate.
    unsafe { libc::close(dup) };
    r.map_err(|e| {
        format!(
            "could not add membership: Error joining multicast group {}: {e}",
            b.address
        )
    })
}

fn set_rcvbuf(fd: std::os::fd::RawFd, size: i32) {
    for opt in [libc::SO_RCVBUF, libc::SO_RCVBUFFORCE] {
        // SAFETY: FFI call with a pointer to a live int and its size.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                &size as *const _ as *const libc::c_void,
                std::mem::size_of::<i32>() as libc::socklen_t,
            )
        };
    }
}

/// `udp://host:port` as udpsrc reads it: a missing port is udpsrc's default,
/// an IPv6 host is in brackets, anything before an `@` is ignored (VLC).
pub(crate) fn parse_uri(uri: &str) -> Result<(String, u16), String> {
    let (proto, rest) = uri.split_once("://").ok_or("no protocol")?;
    if !proto.eq_ignore_ascii_case("udp") {
        return Err(format!("wrong protocol ({proto} != udp)"));
    }
    let loc = rest.rsplit_once('@').map_or(rest, |(_, l)| l);
    let loc = loc.split(['/', '?']).next().unwrap_or("");
    let (host, port) = if let Some(v6) = loc.strip_prefix('[') {
        let (h, tail) = v6.split_once(']').ok_or("unterminated IPv6 address")?;
        (h.to_string(), tail.strip_prefix(':'))
    } else {
        match loc.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (loc.to_string(), None),
        }
    };
    let port = match port {
        // As g_ascii_strtoll then a guint16 cast: digits only here.
        Some(p) => p.parse::<u16>().map_err(|_| format!("bad port {p}"))?,
        None => 0,
    };
    Ok((host, if port == 0 { DEFAULT_PORT as u16 } else { port }))
}

impl BaseSrcImpl for RtpFastUdpSrc {
    fn caps(&self, filter: Option<&gst::Caps>) -> Option<gst::Caps> {
        let caps = self.settings.lock().unwrap().caps.clone();
        Some(match (caps, filter) {
            (Some(c), Some(f)) => f.intersect_with_mode(&c, gst::CapsIntersectMode::First),
            (Some(c), None) => c,
            (None, Some(f)) => f.clone(),
            (None, None) => gst::Caps::new_any(),
        })
    }

    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let mut st = self.stream.lock().unwrap();
        let Some(stream) = st.as_mut() else {
            return Err(gst::error_msg!(gst::ResourceError::OpenRead, ["no socket"]));
        };
        let n = stream.receiver.batch();
        stream.slots.fill(n);
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(stream) = self.stream.lock().unwrap().as_mut() {
            // Give the blocks back while not streaming.
            stream.slots.0.clear();
            stream.last_sender = None;
        }
        Ok(())
    }

    fn unlock(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(w) = self.waker.lock().unwrap().as_ref() {
            w.wake();
        }
        Ok(())
    }

    fn unlock_stop(&self) -> Result<(), gst::ErrorMessage> {
        if let Some(w) = self.waker.lock().unwrap().as_ref() {
            w.clear();
        }
        Ok(())
    }
}

impl PushSrcImpl for RtpFastUdpSrc {
    fn create(
        &self,
        _buffer: Option<&mut gst::BufferRef>,
    ) -> Result<CreateSuccess, gst::FlowError> {
        loop {
            // None: every datagram of the batch was dropped; wait again.
            if let Some(list) = self.receive_batch()? {
                return Ok(CreateSuccess::NewBufferList(list));
            }
        }
    }
}

impl RtpFastUdpSrc {
    /// Wait for the socket, take one batch, make it a buffer list.
    fn receive_batch(&self) -> Result<Option<gst::BufferList>, gst::FlowError> {
        let (timeout, skip, want_sender) = {
            let s = self.settings.lock().unwrap();
            (
                s.timeout,
                s.skip_first_bytes as usize,
                s.retrieve_sender_address,
            )
        };
        let mut guard = self.stream.lock().unwrap();
        let Some(stream) = guard.as_mut() else {
            return Err(gst::FlowError::Flushing);
        };
        let wait_for = (timeout > 0).then(|| Duration::from_nanos(timeout));
        let n = loop {
            match stream.receiver.wait(wait_for) {
                Ok(Wait::Woken) => return Err(gst::FlowError::Flushing),
                Ok(Wait::TimedOut) => {
                    let s = gst::Structure::builder("GstUDPSrcTimeout")
                        .field("timeout", timeout)
                        .build();
                    let _ = self
                        .obj()
                        .post_message(gst::message::Element::builder(s).src(&*self.obj()).build());
                    continue;
                }
                Ok(Wait::Readable) => {}
                Err(e) => {
                    gst::element_imp_error!(self, gst::ResourceError::Read, ["select error: {e}"]);
                    return Err(gst::FlowError::Error);
                }
            }
            let Stream {
                receiver,
                slots,
                results,
                ..
            } = stream;
            let batch = receiver.batch();
            slots.fill(batch);
            match receiver.recv_batch(slots, results) {
                Ok(0) => continue,
                Ok(n) => break n,
                Err(e) => {
                    gst::element_imp_error!(self, gst::ResourceError::Read, ["receive error: {e}"]);
                    return Err(gst::FlowError::Error);
                }
            }
        };

        // do-timestamp: the running time of the wake-up, on every buffer of
        // the batch (basesrc would stamp only a list's first buffer).
        let obj = self.obj();
        let clock = obj.clock();
        let base = obj.base_time();
        let now = clock.as_ref().map(|c| c.time());
        let ts = if obj.does_timestamp() {
            now.zip(base).and_then(|(n, b)| n.checked_sub(b))
        } else {
            None
        };
        // socket-timestamp=realtime, as udpsrc: running time now minus the
        // datagram's age by the real-time clock (the pipeline clock's time
        // when that goes negative).
        let sys_now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let socket_dts = |r: &SlotResult| -> Option<gst::ClockTime> {
            let t = r.timestamp?;
            let now = now?;
            let Some(age) = sys_now.checked_sub(t) else {
                return Some(now);
            };
            let running = now.checked_sub(base?)?;
            Some(
                running
                    .checked_sub(gst::ClockTime::from_nseconds(age.as_nanos() as u64))
                    .unwrap_or(now),
            )
        };

        let mut list = pool::acquire_list(n);
        let lm = list.get_mut().unwrap();
        let mut short = 0u64;
        for i in 0..n {
            let r = stream.results[i];
            if r.truncated {
                continue;
            }
            let meta_addr = match (want_sender, r.sender) {
                (true, Some(a)) => Some(Self::sender_address(&mut stream.last_sender, a)),
                _ => None,
            };
            let dts = if stream.socket_ts {
                socket_dts(&r).or(ts)
            } else {
                ts
            };
            let mut push = |mut buf: gst::Buffer| {
                let b = buf.get_mut().unwrap();
                if dts.is_some() {
                    b.set_dts(dts);
                    b.set_pts(dts);
                }
                if let Some(a) = &meta_addr {
                    gst_net::NetAddressMeta::add(b, a);
                }
                lm.add(buf);
            };
            let segs = recv::segments(&r);
            if r.segment == 0 || r.len <= r.segment {
                // One datagram: copy it out, keep the slot (a 64 KiB block
                // held per small packet would multiply memory).
                let Some(range) = payload_range(0..r.len, skip) else {
                    short += 1;
                    continue;
                };
                let slot = stream.slots.0[i].as_ref().expect("filled slot");
                let src = &slot.as_slice()[range.clone()];
                push(pool::acquire_filled(range.len(), |d| {
                    d.copy_from_slice(src)
                }));
            } else {
                // A GRO block: hand the block out as views, refill the slot.
                let block = stream.slots.0[i].take().expect("filled slot").into_buffer();
                let mem = block.peek_memory(0);
                let views = pool::PayloadViews::new(mem);
                for range in segs {
                    match payload_range(range, skip) {
                        Some(range) => push(pool::acquire_view_buffer(&views, range)),
                        None => short += 1,
                    }
                }
            }
        }
        stream.short += short;
        if short > 0 {
            if let Some(suppressed) = self.warn.allow() {
                gst::warning!(
                    CAT,
                    imp = self,
                    "dropped {short} datagram(s) shorter than skip-first-bytes={skip} ({suppressed} warnings suppressed)"
                );
            }
        }
        *self.stats.lock().unwrap() = (stream.receiver.stats, stream.short);
        Ok((!lm.is_empty()).then_some(list))
    }
}

impl URIHandlerImpl for RtpFastUdpSrc {
    const URI_TYPE: gst::URIType = gst::URIType::Src;

    fn protocols() -> &'static [&'static str] {
        &["udp"]
    }

    fn uri(&self) -> Option<String> {
        let s = self.settings.lock().unwrap();
        Some(format!("udp://{}:{}", s.address, s.port))
    }

    fn set_uri(&self, uri: &str) -> Result<(), glib::Error> {
        self.set_uri_inner(uri).map_err(|e| {
            gst::element_imp_error!(
                self,
                gst::ResourceError::Read,
                ["error parsing uri {uri}: {e}"]
            );
            glib::Error::new(gst::URIError::BadUri, "Could not parse UDP URI")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::parse_uri;

    #[test]
    fn uris_as_udpsrc_reads_them() {
        assert_eq!(
            parse_uri("udp://127.0.0.1:5000").unwrap(),
            ("127.0.0.1".into(), 5000)
        );
        assert_eq!(
            parse_uri("udp://239.1.2.3").unwrap(),
            ("239.1.2.3".into(), 5004)
        );
        assert_eq!(parse_uri("udp://[::1]:6000").unwrap(), ("::1".into(), 6000));
        assert_eq!(
            parse_uri("udp://me@10.0.0.1:7000").unwrap(),
            ("10.0.0.1".into(), 7000)
        );
        assert!(parse_uri("http://127.0.0.1:5000").is_err());
        assert!(parse_uri("127.0.0.1:5000").is_err());
    }
}
