//! The synchronous pad-to-pad rig: our src pad -> element -> our counting
//! sink pad, no pipeline, no queues, everything on the calling thread.

use crate::alloc_counter;
use gst::prelude::*;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Output counters of the rig's sink pad.
#[derive(Default)]
pub struct Counters {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
}

/// Element under test with its two rig pads.
pub struct Rig {
    pub element: gst::Element,
    src: gst::Pad,
    sink: gst::Pad,
    pub counters: Arc<Counters>,
    collected: Option<Arc<Mutex<Vec<Vec<u8>>>>>,
}

/// Thread CPU time in nanoseconds (`CLOCK_THREAD_CPUTIME_ID`).
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant
    // Linux supports. clock_gettime writes only into `ts`.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Resident set size in bytes from /proc/self/statm.
pub fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf with a valid name has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * page.max(1) as u64
}

/// Give free heap pages back to the kernel so RSS deltas are meaningful.
pub fn malloc_trim() {
    // SAFETY: malloc_trim only walks glibc's own heap; no pointers passed.
    unsafe {
        libc::malloc_trim(0);
    }
}

impl Rig {
    /// Create `factory`, set `props` where the element has them, link the rig
    /// pads, go to Playing and send stream-start, caps and segment.
    /// With `collect`, every output buffer's bytes are kept (for building
    /// depayloader input); otherwise output is only counted and dropped.
    pub fn new(
        factory: &str,
        props: &[(&str, u32)],
        caps: &gst::Caps,
        collect: bool,
    ) -> Result<Rig, String> {
        let element = gst::ElementFactory::make(factory)
            .build()
            .map_err(|e| format!("{factory}: {e}"))?;
        for (name, value) in props {
            if let Some(pspec) = element.find_property(name) {
                if pspec.value_type() == u32::static_type() {
                    element.set_property(name, *value);
                } else if pspec.value_type() == i32::static_type() {
                    element.set_property(name, *value as i32);
                } else if pspec.value_type() == u64::static_type() {
                    element.set_property(name, *value as u64);
                } else if pspec.value_type() == bool::static_type() {
                    // e.g. `valve drop=true` as ("drop", 1)
                    element.set_property(name, *value != 0);
                }
            }
        }
        let counters = Arc::new(Counters::default());
        let collected = collect.then(|| Arc::new(Mutex::new(Vec::new())));
        let src = gst::Pad::builder(gst::PadDirection::Src)
            .name("rig_src")
            .build();
        let c1 = counters.clone();
        let c2 = counters.clone();
        let k1 = collected.clone();
        let k2 = collected.clone();
        let sink = gst::Pad::builder(gst::PadDirection::Sink)
            .name("rig_sink")
            .chain_function(move |_pad, _parent, buffer| {
                c1.packets.fetch_add(1, Ordering::Relaxed);
                c1.bytes.fetch_add(buffer.size() as u64, Ordering::Relaxed);
                if let Some(k) = &k1 {
                    keep(k, &buffer);
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .chain_list_function(move |_pad, _parent, list| {
                let mut bytes = 0u64;
                for b in list.iter() {
                    bytes += b.size() as u64;
                    if let Some(k) = &k2 {
                        keep(k, b);
                    }
                }
                c2.packets.fetch_add(list.len() as u64, Ordering::Relaxed);
                c2.bytes.fetch_add(bytes, Ordering::Relaxed);
                Ok(gst::FlowSuccess::Ok)
            })
            .event_function(|_pad, _parent, _event| true)
            .build();
        let esink = element
            .static_pad("sink")
            .ok_or_else(|| format!("{factory}: no sink pad"))?;
        let esrc = element
            .static_pad("src")
            .ok_or_else(|| format!("{factory}: no src pad"))?;
        src.set_active(true).map_err(|e| e.to_string())?;
        sink.set_active(true).map_err(|e| e.to_string())?;
        src.link(&esink)
            .map_err(|e| format!("{factory}: link sink: {e:?}"))?;
        esrc.link(&sink)
            .map_err(|e| format!("{factory}: link src: {e:?}"))?;
        element
            .set_state(gst::State::Playing)
            .map_err(|e| format!("{factory}: set Playing: {e}"))?;
        let rig = Rig {
            element,
            src,
            sink,
            counters,
            collected,
        };
        let ok = rig
            .src
            .push_event(gst::event::StreamStart::new("rtp_perf_compare"))
            && rig.src.push_event(gst::event::Caps::new(caps))
            && rig
                .src
                .push_event(gst::event::Segment::new(&gst::FormattedSegment::<
                    gst::ClockTime,
                >::new()));
        if !ok {
            return Err(format!(
                "{factory}: refused stream-start/caps/segment ({caps})"
            ));
        }
        Ok(rig)
    }

    /// Push one buffer synchronously.
    #[inline]
    pub fn push(&self, buf: gst::Buffer) -> Result<(), String> {
        self.src
            .push(buf)
            .map(|_| ())
            .map_err(|e| format!("{}: push: {e:?}", self.factory()))
    }

    /// Push one buffer list synchronously.
    #[inline]
    pub fn push_list(&self, list: gst::BufferList) -> Result<(), String> {
        self.src
            .push_list(list)
            .map(|_| ())
            .map_err(|e| format!("{}: push_list: {e:?}", self.factory()))
    }

    /// Factory name of the element under test.
    pub fn factory(&self) -> String {
        self.element
            .factory()
            .map(|f| f.name().to_string())
            .unwrap_or_default()
    }

    /// Caps the element negotiated on its src pad.
    pub fn output_caps(&self) -> Option<gst::Caps> {
        self.sink.current_caps().or_else(|| {
            self.element
                .static_pad("src")
                .and_then(|p| p.current_caps())
        })
    }

    /// Send EOS (drains whatever the element still holds).
    pub fn eos(&self) {
        self.src.push_event(gst::event::Eos::new());
    }

    /// Collected output buffers (collect mode).
    pub fn take_collected(&self) -> Vec<Vec<u8>> {
        self.collected
            .as_ref()
            .map(|k| std::mem::take(&mut *k.lock().unwrap()))
            .unwrap_or_default()
    }

    /// Reset counters.
    pub fn reset(&self) {
        self.counters.packets.store(0, Ordering::Relaxed);
        self.counters.bytes.store(0, Ordering::Relaxed);
    }

    pub fn packets(&self) -> u64 {
        self.counters.packets.load(Ordering::Relaxed)
    }

    pub fn bytes(&self) -> u64 {
        self.counters.bytes.load(Ordering::Relaxed)
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = self.element.set_state(gst::State::Null);
        let _ = self.src.set_active(false);
        let _ = self.sink.set_active(false);
    }
}

fn keep(k: &Mutex<Vec<Vec<u8>>>, buffer: &gst::BufferRef) {
    if let Ok(map) = buffer.map_readable() {
        k.lock().unwrap().push(map.as_slice().to_vec());
    }
}

/// One input unit before it becomes a GstBuffer.
#[derive(Clone)]
pub struct Input {
    pub data: Arc<Vec<u8>>,
    pub pts: Option<u64>,
    pub dts: Option<u64>,
    pub duration: Option<u64>,
    pub delta: bool,
    /// For RTP packets: rewritten sequence number and timestamp.
    pub rtp_seq_ts: Option<(u16, u32)>,
}

/// Build a fresh, writable, singly-referenced GstBuffer (system memory).
pub fn build_buffer(i: &Input) -> gst::Buffer {
    let mut buf = gst::Buffer::with_size(i.data.len()).expect("alloc");
    {
        let b = buf.get_mut().unwrap();
        {
            let mut map = b.map_writable().unwrap();
            map.copy_from_slice(&i.data);
            if let Some((seq, ts)) = i.rtp_seq_ts {
                map[2..4].copy_from_slice(&seq.to_be_bytes());
                map[4..8].copy_from_slice(&ts.to_be_bytes());
            }
        }
        b.set_pts(i.pts.map(gst::ClockTime::from_nseconds));
        b.set_dts(i.dts.map(gst::ClockTime::from_nseconds));
        b.set_duration(i.duration.map(gst::ClockTime::from_nseconds));
        if i.delta {
            b.set_flags(gst::BufferFlags::DELTA_UNIT);
        }
    }
    buf
}

/// Result of one timed pass.
pub struct PassResult {
    pub cpu_ns: u64,
    pub out_packets: u64,
    pub out_bytes: u64,
    pub in_pushes: u64,
    pub in_bytes: u64,
    pub allocs: u64,
}

/// Inputs are built into GstBuffers in batches of at most this many bytes
/// (and [`BATCH_MAX`] buffers) right before each timed batch of pushes, so
/// the element sees cache-warm input as it would from an encoder or udpsrc,
/// and building never falls inside the timed section. 0 = build the whole
/// round up front (cache-cold input; `--batch-bytes 0`).
pub static BATCH_BYTES: AtomicUsize = AtomicUsize::new(256 * 1024);
/// Maximum buffers per batch (when batching).
pub const BATCH_MAX: usize = 256;

/// Split `inputs` into consecutive batches (at least one input each).
fn batches(inputs: &[Input]) -> Vec<&[Input]> {
    let limit = BATCH_BYTES.load(Ordering::Relaxed);
    if limit == 0 {
        return vec![inputs];
    }
    let mut out = Vec::new();
    let mut start = 0;
    while start < inputs.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < inputs.len() && end - start < BATCH_MAX {
            bytes += inputs[end].data.len();
            if end > start && bytes > limit {
                break;
            }
            end += 1;
        }
        out.push(&inputs[start..end]);
        start = end;
    }
    out
}

/// One timed pass: fresh element, untimed warm-up of the first `warm`
/// inputs, then thread-CPU-timed pushes of the rest. Each batch of buffers
/// is built before its clock starts; only the pushes are timed.
pub fn timed_pass(
    factory: &str,
    props: &[(&str, u32)],
    caps: &gst::Caps,
    inputs: &[Input],
    warm: usize,
) -> Result<PassResult, String> {
    let rig = Rig::new(factory, props, caps, false)?;
    let warm = warm.min(inputs.len().saturating_sub(1));
    for i in &inputs[..warm] {
        rig.push(build_buffer(i))?;
    }
    let timed = &inputs[warm..];
    let in_bytes: u64 = timed.iter().map(|i| i.data.len() as u64).sum();
    rig.reset();
    let mut cpu_ns = 0;
    let mut allocs = 0;
    let mut bufs: Vec<gst::Buffer> = Vec::with_capacity(BATCH_MAX);
    for batch in batches(timed) {
        bufs.extend(batch.iter().map(build_buffer));
        let mut err = None;
        let a0 = alloc_counter::allocations();
        let t0 = thread_cpu_ns();
        for b in bufs.drain(..) {
            if let Err(e) = rig.push(b) {
                err = Some(e);
                break;
            }
        }
        let t1 = thread_cpu_ns();
        let a1 = alloc_counter::allocations();
        if let Some(e) = err {
            return Err(e);
        }
        cpu_ns += t1 - t0;
        allocs += a1 - a0;
    }
    Ok(PassResult {
        cpu_ns,
        out_packets: rig.packets(),
        out_bytes: rig.bytes(),
        in_pushes: timed.len() as u64,
        in_bytes,
        allocs,
    })
}

/// Per-push wall-clock latency (monotonic clock around each push), measured
/// on a separate pass so the timing calls do not inflate the CPU numbers.
pub fn latency_pass(
    factory: &str,
    props: &[(&str, u32)],
    caps: &gst::Caps,
    inputs: &[Input],
    warm: usize,
) -> Result<Vec<u64>, String> {
    let rig = Rig::new(factory, props, caps, false)?;
    let warm = warm.min(inputs.len().saturating_sub(1));
    for i in &inputs[..warm] {
        rig.push(build_buffer(i))?;
    }
    let mut lat = Vec::with_capacity(inputs.len());
    let mut bufs: Vec<gst::Buffer> = Vec::with_capacity(BATCH_MAX);
    for batch in batches(&inputs[warm..]) {
        bufs.extend(batch.iter().map(build_buffer));
        for b in bufs.drain(..) {
            let t = std::time::Instant::now();
            rig.push(b)?;
            lat.push(t.elapsed().as_nanos() as u64);
        }
    }
    Ok(lat)
}

/// Resident bytes per extra stream of an element, and of `identity` fed the
/// same caps and input in the same way right after it: the baseline the
/// project's target is stated against (≤ 1 KB per extra live stream over an
/// identity element).
#[derive(Clone, Copy, Debug)]
pub struct ResidentPerStream {
    pub element: f64,
    pub identity: f64,
}

/// Resident bytes per extra stream for `factory`, with the `identity`
/// baseline measured the same way ([`resident_one`]) right after it.
pub fn resident_per_stream(
    factory: &str,
    props: &[(&str, u32)],
    caps: &gst::Caps,
    first: &[Input],
    n: usize,
) -> Result<ResidentPerStream, String> {
    let element = resident_one(factory, props, caps, first, n)?;
    let identity = resident_one("identity", &[], caps, first, n)?;
    Ok(ResidentPerStream { element, identity })
}

/// Resident bytes per stream: RSS before and after creating, negotiating and
/// pushing `first` into `n` instances, divided by `n`.
pub fn resident_one(
    factory: &str,
    props: &[(&str, u32)],
    caps: &gst::Caps,
    first: &[Input],
    n: usize,
) -> Result<f64, String> {
    let n = n.max(1);
    // Warm-up instance: class init, caches, plugin-global state. Kept alive
    // while measuring: the cost asked for is that of an *extra* stream (with
    // no stream left, a shared pool gives its memory back and the first
    // measured instance would pay for growing it again).
    let warm = Rig::new(factory, props, caps, false)?;
    for i in first {
        warm.push(build_buffer(i))?;
    }
    let mut rigs = Vec::with_capacity(n);
    malloc_trim();
    let before = rss_bytes();
    for _ in 0..n {
        let rig = Rig::new(factory, props, caps, false)?;
        for i in first {
            rig.push(build_buffer(i))?;
        }
        rigs.push(rig);
    }
    // Transient input buffers were freed again; trim so only live state counts.
    malloc_trim();
    let after = rss_bytes();
    drop(rigs);
    drop(warm);
    Ok((after as f64 - before as f64) / n as f64)
}
