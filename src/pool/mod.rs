//! `GstRtpFastBufferPool`: a GstBufferPool subclass on a lock-free,
//! process-wide core ([`core`]), plus the element-facing API.
//!
//! * [`acquire`] hands out a writable buffer with one memory of exactly
//!   `size` bytes. When its last reference drops, its dispose hook (the
//!   mechanism GstBufferPool itself uses, without a pool object in between)
//!   resets it and parks it, *still dressed* (GstBuffer +
//!   GstMemory + block), in the shared free list of its size class: steady
//!   state allocates nothing.
//! * Every `RtpFastBufferPool` instance is a handle on the same free lists;
//!   elements keep a zero-sized [`StreamHandle`] while streaming so that the
//!   pool knows when it may give memory back to the OS.
//! * Exhaustion (byte ceiling, class capacity, oversize) falls back to an
//!   ordinary allocation and counts a miss; nothing ever blocks unless an
//!   application configured `max` buffers on a pool instance.

pub mod core;
mod imp;
pub(crate) mod list;
pub mod memory;
mod packet;
mod view;
mod view_buffer;

use self::core::{Block, Core, CoreStats};
use gst::ffi;
use gst::glib;
use gst::glib::translate::*;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::OnceLock;

pub use self::core::ClassStats;
pub use self::list::acquire_list;
pub use self::memory::allocator;
pub use self::packet::{acquire_packet, counters as packet_counters};
pub use self::view::PayloadViews;
pub use self::view_buffer::{acquire_view_buffer, counters as view_buffer_counters};

glib::wrapper! {
    /// GType `GstRtpFastBufferPool`.
    pub struct RtpFastBufferPool(ObjectSubclass<imp::RtpFastBufferPool>)
        @extends gst::BufferPool, gst::Object;
}

impl RtpFastBufferPool {
    /// A new handle on the shared pool (configure and activate it like any
    /// GstBufferPool).
    pub fn new() -> Self {
        glib::Object::new()
    }
}

impl Default for RtpFastBufferPool {
    fn default() -> Self {
        Self::new()
    }
}

/// Register `GstRtpFastBufferPool` and `GstRtpFastAllocator` (the latter is
/// also made findable as "RtpFastMemory" with `gst_allocator_find`).
pub fn register(_plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    register_types();
    Ok(())
}

/// Same as [`register`], without a plugin (tests, applications).
pub fn register_types() {
    let _ = RtpFastBufferPool::static_type();
    let _ = memory::allocator_type();
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        gst::Allocator::register("RtpFastMemory", allocator().clone());
    });
}

/// Statistics of the shared pool (see [`stats`]).
pub type PoolStats = CoreStats;

impl CoreStats {
    /// `rtpfast-pool-stats` structure with kebab-case fields; per-class
    /// details in `classes` (an array of `rtpfast-pool-class` structures).
    pub fn to_structure(&self) -> gst::Structure {
        let classes: Vec<glib::SendValue> = self
            .classes
            .iter()
            .map(|c| {
                gst::Structure::builder("rtpfast-pool-class")
                    .field("size", c.size as u64)
                    .field("acquired", c.acquired)
                    .field("recycled", c.recycled)
                    .field("grown", c.grown)
                    .field("misses", c.misses)
                    .field("blocks", c.blocks as u64)
                    .field("blocks-in-use", c.blocks_in_use as u64)
                    .field("high-water-blocks", c.high_water_blocks as u64)
                    .field("bytes-pooled", c.bytes_pooled)
                    .field("bytes-in-use", c.bytes_in_use)
                    .build()
                    .to_send_value()
            })
            .collect();
        gst::Structure::builder("rtpfast-pool-stats")
            .field("acquired", self.acquired)
            .field("recycled", self.recycled)
            .field("misses", self.misses)
            .field("oversize-misses", self.oversize_misses)
            .field("bytes-pooled", self.bytes_pooled)
            .field("bytes-in-use", self.bytes_in_use)
            .field("high-water", self.high_water)
            .field("max-bytes", self.max_bytes)
            .field("payload-views-created", view::counters().0)
            .field("payload-views-reused", view::counters().1)
            .field("classes", gst::Array::from_values(classes))
            .build()
    }
}

/// Snapshot of the shared pool's counters.
pub fn stats() -> PoolStats {
    let mut s = Core::global().stats();
    // Packet buffers parked whole (header block + view) bypass the core's
    // free lists: count their reuse as acquired and recycled too. Both
    // count acquisitions (recycled = served by a buffer that came back), so
    // recycled never exceeds acquired; counting parkings (returns) here made
    // it overtake acquired by the buffers parked at the time (issue 23).
    let (reused, _parked) = packet::counters();
    s.acquired += reused;
    s.recycled += reused;
    s
}

/// Process-wide ceiling on pooled bytes (env `RSRTPFAST_POOL_MAX_BYTES`,
/// element property `pool-max-bytes`). Lowering it gives idle memory back.
pub fn set_max_bytes(bytes: u64) {
    let core = Core::global();
    let lower = bytes < core.max_bytes();
    core.set_max_bytes(bytes);
    if lower && core.bytes_pooled() > bytes {
        core.trim(&mut undress);
    }
}

pub fn max_bytes() -> u64 {
    Core::global().max_bytes()
}

/// Give every idle slab back to the OS now (never needed for correctness).
pub fn trim() -> u64 {
    packet::drain();
    view_buffer::drain();
    view::drain();
    Core::global().trim(&mut undress)
}

/// Held by an element while it streams (READY→PAUSED until PAUSED→READY).
/// Zero-sized: the per-stream cost of the shared pool is this handle. When
/// the last handle (or active pool instance) goes away, cached buffers are
/// freed and idle slabs unmapped; buffers still out are freed when they
/// come back.
#[derive(Debug)]
pub struct StreamHandle(());

impl StreamHandle {
    pub fn new() -> Self {
        activate();
        StreamHandle(())
    }
}

impl Default for StreamHandle {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for StreamHandle {
    fn drop(&mut self) {
        deactivate();
    }
}

/// Set while no handle is active after the last one went away: returning
/// buffers are freed (not parked) and idle classes are unmapped.
static DRAINING: AtomicBool = AtomicBool::new(false);

pub(crate) fn activate() {
    DRAINING.store(false, Ordering::Release);
    Core::global().activate();
}

pub(crate) fn deactivate() {
    let core = Core::global();
    if core.deactivate() {
        DRAINING.store(true, Ordering::Release);
        packet::drain();
        view_buffer::drain();
        core.trim(&mut undress);
        view::drain();
    }
}

/// No handle is active: returning memory is freed rather than cached.
#[inline]
pub(crate) fn draining() -> bool {
    DRAINING.load(Ordering::Relaxed)
}

/// A writable buffer with one memory of exactly `size` bytes, from the
/// shared pool (pooled block of the fitting size class; on exhaustion or
/// over the ceiling an ordinary allocation, counted as a miss). Never blocks.
///
/// When the last reference drops the buffer goes back to the shared free
/// list: memories appended after the first are removed, flags (including
/// TAG_MEMORY), metas, timestamps and offsets are cleared. A buffer whose
/// pooled memory is still referenced elsewhere is not recycled.
#[inline]
pub fn acquire(size: usize) -> gst::Buffer {
    if DRAINING.load(Ordering::Relaxed) {
        DRAINING.store(false, Ordering::Relaxed);
    }
    // Not through gst_buffer_pool_acquire_buffer: buffers come back through
    // their dispose hook (see `recycling_dispose`). The GstBufferPool wrapper
    // costs a pool ref/unref and two outstanding-counter updates per buffer on
    // one shared object; bypassing it took acquire+release from 96 to 49 ns
    // single-threaded and from 222 to 121 ns with two threads (benches/pool.rs).
    take_pooled(size).unwrap_or_else(|| {
        // Ordinary allocation; the miss is already counted by the core.
        gst::Buffer::with_size(size).expect("allocation")
    })
}

/// [`acquire`], then `fill` the buffer's bytes. Written straight into the
/// pooled block, without a GstMemory map/unmap pair per packet (measured with
/// callgrind: the map was ~9% of a payloader's instructions per packet).
#[inline]
pub fn acquire_filled(size: usize, fill: impl FnOnce(&mut [u8])) -> gst::Buffer {
    let mut buffer = acquire(size);
    let buf = buffer.get_mut().expect("a fresh pool buffer is writable");
    // SAFETY: FFI edge. `buf` has refcount 1 (just acquired), so memory 0 is
    // ours alone. When it is one of our root memories (not shared, not
    // mapped: refcount 1 and no parent) its data pointer addresses a block of
    // at least `offset + size` bytes that nothing else can reach, so a
    // mutable slice over it is exclusive for the duration of `fill`.
    unsafe {
        let mem = ffi::gst_buffer_peek_memory(buf.as_mut_ptr(), 0);
        if buf.n_memory() == 1 && sole_reference(mem as *const _) && (*mem).size == size {
            if let Some(pm) = memory::as_pool_memory(mem) {
                let data = (*pm).data.add((*mem).offset);
                fill(std::slice::from_raw_parts_mut(data, size));
                return buffer;
            }
        }
    }
    // Ordinary allocation (a miss) or anything unexpected: map it.
    let mut map = buf.map_writable().expect("mapping a fresh buffer");
    fill(&mut map);
    drop(map);
    buffer
}

/// Debug category of the pool (`GST_DEBUG=rtpfastpool:4` shows offers and
/// takes).
pub(crate) static CAT: std::sync::LazyLock<gst::DebugCategory> = std::sync::LazyLock::new(|| {
    gst::DebugCategory::new(
        "rtpfastpool",
        gst::DebugColorFlags::empty(),
        Some("rsrtpfast buffer pool"),
    )
});

/// For an element's `propose_allocation`: add a fresh `RtpFastBufferPool`
/// (a handle on the shared core) and our recycling allocator to the query.
/// `sinkpad` is the pad the query arrived on: the offer is logged at INFO
/// naming the element and the upstream element it goes to, and so is the
/// moment upstream activates (takes) the pool.
pub fn propose_allocation(query: &mut gst::query::Allocation, sinkpad: &gst::Pad) {
    register_types();
    let (caps, need_pool) = query.get_owned();
    let size = proposed_size(caps.as_ref());
    let name = |o: Option<gst::Element>| {
        o.map(|e| e.name().to_string())
            .unwrap_or_else(|| "?".into())
    };
    let offer = format!(
        "offered by {} to {}",
        name(sinkpad.parent_element()),
        upstream_of(sinkpad)
    );
    gst::info!(
        CAT,
        obj = sinkpad,
        "Answering ALLOCATION: {}our allocator, {offer}",
        if need_pool {
            "GstRtpFastBufferPool and "
        } else {
            ""
        }
    );
    if need_pool {
        let pool = RtpFastBufferPool::new();
        *pool.imp().offered.lock().unwrap_or_else(|e| e.into_inner()) = Some(offer);
        let mut config = pool.config();
        config.set_params(caps.as_ref(), size, 0, 0);
        config.set_allocator(Some(allocator()), None);
        if pool.set_config(config).is_ok() {
            query.add_allocation_pool(Some(&pool), size, 0, 0);
        }
    }
    query.add_allocation_param(Some(allocator()), gst::AllocationParams::default());
}

/// The element upstream of `pad` that will use what an ALLOCATION answer
/// offers: through the elements that only pass the query on (capsfilter,
/// queue, identity), named with them ("cam via capsfilter0").
fn upstream_of(pad: &gst::Pad) -> String {
    let mut via = Vec::new();
    let mut peer = pad.peer().and_then(|p| p.parent_element());
    while let Some(e) = peer.clone() {
        let forwards = e
            .factory()
            .is_some_and(|f| matches!(f.name().as_str(), "capsfilter" | "queue" | "identity"));
        if !forwards || via.len() > 8 {
            break;
        }
        via.push(e.name().to_string());
        peer = e
            .static_pad("sink")
            .and_then(|p| p.peer())
            .and_then(|p| p.parent_element());
    }
    let name = peer
        .map(|e| e.name().to_string())
        .unwrap_or_else(|| "?".into());
    if via.is_empty() {
        name
    } else {
        format!("{name} via {}", via.join(", "))
    }
}

/// Buffer size to propose: raw audio/video frame size when the caps tell,
/// else one page (basesrc's default block size).
fn proposed_size(caps: Option<&gst::Caps>) -> u32 {
    const DEFAULT: u32 = 4096;
    let Some(s) = caps.and_then(|c| c.structure(0)) else {
        return DEFAULT;
    };
    if s.name() == "video/x-raw" {
        let (Ok(w), Ok(h)) = (s.get::<i32>("width"), s.get::<i32>("height")) else {
            return DEFAULT;
        };
        // Upper bound for common 8-bit formats (4 bytes per pixel).
        return ((w.max(0) as u64 * h.max(0) as u64 * 4).min(u32::MAX as u64) as u32).max(DEFAULT);
    }
    DEFAULT
}

// ---- internals shared with imp.rs and memory.rs ----

/// Pop a pooled buffer of `size` bytes (None = miss, already counted).
#[inline]
pub(crate) fn take_pooled(size: usize) -> Option<gst::Buffer> {
    let core = Core::global();
    let Some(class) = Core::class_for(size) else {
        core.note_miss(size);
        return None;
    };
    let block = core.pop(class).ok()?;
    if block.cookie != 0 {
        // SAFETY: a non-zero cookie is a buffer `park` parked: reset, with
        // exactly one memory (a root PoolMemory owning this block) and its
        // single reference transferred to the free list, which `pop` just
        // handed to us, so the buffer and its memory are exclusively ours.
        // `class_for(size)` chose the block's class, so size <= capacity =
        // the memory's maxsize, and offset 0 + size stays inside the block.
        // from_glib_full takes over that one reference.
        unsafe {
            // A parked, reset buffer: exclusively ours.
            let buf = block.cookie as *mut ffi::GstBuffer;
            let mem = ffi::gst_buffer_peek_memory(buf, 0);
            (*(mem as *mut memory::PoolMemory)).parked = false;
            (*mem).offset = 0;
            (*mem).size = size;
            Some(from_glib_full(buf))
        }
    } else {
        // SAFETY: a zero cookie is a bare block that `pop` gave us alone,
        // size <= its capacity (`class_for(size)`), and the allocator is
        // ours: `new_memory`'s contract. gst_buffer_new returns a fresh
        // buffer only we reference (`install_recycling_dispose`'s contract);
        // append_memory takes over our memory reference and from_glib_full
        // our buffer reference. The flag writes touch objects nobody else
        // can see yet.
        unsafe {
            let mem = memory::new_memory(memory::allocator_ptr(), block, 0, 0, size);
            (*mem).mem.mini_object.flags |= ffi::GST_MINI_OBJECT_FLAG_MAY_BE_LEAKED;
            let buf = ffi::gst_buffer_new();
            install_recycling_dispose(buf);
            (*buf).mini_object.flags |= ffi::GST_MINI_OBJECT_FLAG_MAY_BE_LEAKED;
            ffi::gst_buffer_append_memory(buf, mem as *mut ffi::GstMemory);
            (*buf).mini_object.flags &= !ffi::GST_BUFFER_FLAG_TAG_MEMORY;
            Some(from_glib_full(buf))
        }
    }
}

/// Reset a returning buffer: drop appended memories, clear flags, metas,
/// timestamps and offsets.
#[inline]
pub(crate) fn reset(buffer: &mut gst::BufferRef) {
    // SAFETY: `buffer` is a live buffer borrowed mutably, which in
    // gstreamer-rs stands for a writable (exclusively owned) one, as
    // gst_buffer_remove_memory_range requires; removing memories 1.. keeps
    // the indices in range (n > 1).
    unsafe {
        let buf = buffer.as_mut_ptr();
        let n = ffi::gst_buffer_n_memory(buf);
        if n > 1 {
            ffi::gst_buffer_remove_memory_range(buf, 1, -1);
        }
    }
    reset_fields(buffer);
}

/// [`reset`] without touching the memories: flags, timestamps, offsets,
/// metas (see "Dispose contract" in `src/pool/README.md`).
///
/// Every meta goes, LOCKED / POOLED ones included: `gst_buffer_foreach_meta`
/// refuses to remove a LOCKED meta (a critical, and the walk stops there),
/// so it is unlocked first, as GstBufferPool's `default_reset_buffer` does.
/// Removing a GstParentBufferMeta drops its parent reference (its
/// `free_func`), which may run another buffer's dispose hook from here.
///
/// Of the flags only MAY_BE_LEAKED stays (set on pool-born buffers for the
/// leaks tracer). LOCKABLE does not: GstBuffer never sets it
/// (`gst_buffer_init`), and on a buffer it would make writability follow
/// the lock state instead of the refcount.
#[inline]
pub(crate) fn reset_fields(buffer: &mut gst::BufferRef) {
    // SAFETY: `buffer` is borrowed mutably (writable, exclusively ours), so
    // writing these plain public GstBuffer / GstMiniObject fields races with
    // nobody.
    unsafe {
        let buf = buffer.as_mut_ptr();
        (*buf).mini_object.flags &= ffi::GST_MINI_OBJECT_FLAG_MAY_BE_LEAKED;
        (*buf).pts = ffi::GST_CLOCK_TIME_NONE;
        (*buf).dts = ffi::GST_CLOCK_TIME_NONE;
        (*buf).duration = ffi::GST_CLOCK_TIME_NONE;
        (*buf).offset = ffi::GST_BUFFER_OFFSET_NONE;
        (*buf).offset_end = ffi::GST_BUFFER_OFFSET_NONE;
    }
    buffer.foreach_meta_mut(|mut meta| {
        // SAFETY: `meta` is a live meta of our writable buffer, handed to us
        // by gst_buffer_foreach_meta; clearing a bit of its plain `flags`
        // field races with nobody.
        unsafe { (*meta.as_mut_ptr()).flags &= !ffi::GST_META_FLAG_LOCKED };
        std::ops::ControlFlow::Continue(gst::buffer::BufferMetaForeachAction::Remove)
    });
}

/// Park a returned (reset) buffer in the shared free list, or free it if it
/// is not recyclable (foreign memory, pooled memory still referenced
/// elsewhere, pool draining, or the buffer itself still shared: gstreamer-rs's
/// safe `BufferPoolExt::release_buffer` can hand us a clone).
#[inline]
pub(crate) fn recycle(buffer: gst::Buffer) {
    // SAFETY: `buffer` is a live buffer we hold a reference on; `parkable`
    // is only called once it has exactly one memory (its contract). `park`
    // needs a reset buffer whose only reference the caller gives up:
    // checked here (`sole_reference`: nobody else can take a new reference
    // to a buffer only we hold), and `into_glib_ptr` transfers it. A buffer
    // still shared is only dropped (its other holder keeps it alive).
    unsafe {
        let buf = buffer.as_ptr() as *mut ffi::GstBuffer;
        if !sole_reference(buf as *const ffi::GstMiniObject)
            || ffi::gst_buffer_n_memory(buf) != 1
            || !parkable(buf)
        {
            return drop(buffer);
        }
        park(buffer.into_glib_ptr());
    }
}

/// Whether `obj` has exactly one reference. GStreamer changes the count with
/// `g_atomic_int_*` from any thread, so it is read with an atomic load (a
/// plain read would race under Rust's memory model).
///
/// # Safety
/// `obj` points to a live mini object.
#[inline]
pub(crate) unsafe fn sole_reference(obj: *const ffi::GstMiniObject) -> bool {
    // SAFETY: FFI edge. The caller's pointer is live; `refcount` is a C int,
    // which AtomicI32 matches in size and alignment (asserted below), and
    // GStreamer only changes it atomically.
    let count = unsafe { &*(std::ptr::addr_of!((*obj).refcount) as *const AtomicI32) };
    count.load(Ordering::Acquire) == 1
}

const _: () = assert!(
    std::mem::size_of::<std::ffi::c_int>() == std::mem::size_of::<AtomicI32>()
        && std::mem::align_of::<std::ffi::c_int>() == std::mem::align_of::<AtomicI32>()
);

/// Whether `buf`'s first memory is a root block of ours that nothing but
/// `buf` references, and the pool is not draining.
///
/// # Safety
/// `buf` must point to a valid GstBuffer with at least one memory.
#[inline]
pub(crate) unsafe fn parkable(buf: *mut ffi::GstBuffer) -> bool {
    if DRAINING.load(Ordering::Relaxed) {
        return false;
    }
    // SAFETY: the caller's `buf` is a valid buffer with at least one memory,
    // so index 0 is in range; peek_memory returns a borrowed, live memory.
    let mem = unsafe { ffi::gst_buffer_peek_memory(buf, 0) };
    // `as_pool_memory` only accepts root memories that own a block. Someone
    // else still holding the memory: never recycle it; the block returns
    // when that reference drops.
    // SAFETY: `mem` is live (held by `buf`), as both functions require.
    unsafe { memory::as_pool_memory(mem).is_some() && sole_reference(mem as *const _) }
}

/// Park a reset, [`parkable`] buffer whose single reference the caller gives
/// up, in the free list of its block's class.
///
/// # Safety
/// `buf` must be reset, have exactly one memory and pass [`parkable`]; the
/// caller's reference is transferred to the free list.
#[inline]
pub(crate) unsafe fn park(buf: *mut ffi::GstBuffer) {
    // SAFETY: the caller's `buf` is valid with exactly one memory.
    let mem = unsafe { ffi::gst_buffer_peek_memory(buf, 0) };
    let pm = mem as *mut memory::PoolMemory;
    // SAFETY: `buf` passed `parkable`, so `mem` is one of our root
    // memories, i.e. a live `PoolMemory` (see its invariant), referenced by
    // `buf` alone, which the caller owns exclusively.
    let Some(block) = (unsafe { (*pm).block.as_ref() }) else {
        // SAFETY: the caller gives up its (only) reference on `buf`.
        return unsafe { ffi::gst_mini_object_unref(buf as *mut ffi::GstMiniObject) };
    };
    // SAFETY: as above, `mem` / `pm` are reachable only through the
    // caller's exclusive `buf`, so these plain field writes race with
    // nobody.
    unsafe {
        (*mem).mini_object.flags &=
            ffi::GST_MINI_OBJECT_FLAG_MAY_BE_LEAKED | ffi::GST_MINI_OBJECT_FLAG_LOCKABLE;
        (*pm).parked = true;
    }
    // SAFETY: the memory keeps owning `block`; only the token (cookie =
    // `buf`, whose reference the caller transfers here) goes to the free
    // list, and the block handle itself is only given back when the memory
    // is freed (`block_freed`), after `undress` / `take_pooled` took the
    // token back out: exactly one handle is returned at a time.
    Core::global().push(unsafe { block.token(buf as usize) });
}

type DisposeFn = unsafe extern "C" fn(*mut ffi::GstMiniObject) -> glib::ffi::gboolean;

/// GstBuffer's own dispose function (gives pool buffers back to
/// `buffer->pool`, else lets the buffer be freed). Cached from the first
/// buffer we dress: GStreamer 1.22 gives every GstBuffer the same one
/// (`gst_buffer_init`), see "Dispose contract" in `src/pool/README.md`.
static BUFFER_DISPOSE: OnceLock<Option<DisposeFn>> = OnceLock::new();

/// Make `buf` (fresh from `gst_buffer_new`) come back to the free list when
/// its last reference drops, the way GstBufferPool resurrects its buffers but
/// without a pool object in between.
///
/// # Safety
/// FFI edge: `buf` must be a fresh, exclusively owned GstBuffer.
unsafe fn install_recycling_dispose(buf: *mut ffi::GstBuffer) {
    // SAFETY: a fresh, exclusively owned buffer from gst_buffer_new still
    // carries GstBuffer's own dispose (the caller's contract).
    unsafe { install_dispose(buf, recycling_dispose) };
}

/// Set `hook` as `buf`'s dispose function, remembering GstBuffer's own.
///
/// # Safety
/// FFI edge: `buf` must be an exclusively owned GstBuffer whose dispose is
/// GstBuffer's own or one of our hooks.
pub(crate) unsafe fn install_dispose(buf: *mut ffi::GstBuffer, hook: DisposeFn) {
    BUFFER_DISPOSE.get_or_init(|| {
        // SAFETY: the caller's `buf` is a valid GstBuffer; reading a public
        // GstMiniObject field of an exclusively owned buffer races with no
        // one.
        let current = unsafe { (*buf).mini_object.dispose };
        // A recycled buffer already carries one of our hooks; GstBuffer's
        // own was recorded when its first pooled buffer was made.
        debug_assert!(current.is_some());
        current
    });
    // SAFETY: `buf` is exclusively ours (caller), so nobody can be running
    // or reading its dispose while we replace it.
    unsafe { (*buf).mini_object.dispose = Some(hook) };
}

/// Free a parked buffer for real: with GstBuffer's own dispose restored,
/// unref drops it and its memories.
///
/// # Safety
/// FFI edge: `obj` must be a parked buffer, exclusively ours.
pub(crate) unsafe fn free_for_real(obj: *mut ffi::GstMiniObject) {
    // SAFETY: `obj` is a parked buffer popped from the free list, so its
    // only reference (the parked one) is now the caller's: restoring
    // GstBuffer's own dispose and dropping that reference frees it through
    // GStreamer's normal path exactly once. A parked buffer was dressed by
    // `install_dispose`, so BUFFER_DISPOSE is set.
    unsafe {
        (*obj).dispose = BUFFER_DISPOSE.get().copied().flatten();
        ffi::gst_mini_object_unref(obj);
    }
}

/// Dispose hook of pooled buffers: `gst_mini_object_unref` calls it when
/// the refcount reached zero, before anything is freed; returning FALSE
/// after taking a reference keeps the (resurrected) buffer alive, and
/// GStreamer then skips `free_priv_data` (qdata and weak refs stay).
///
/// In order: a buffer with `pool` set goes to GstBuffer's own dispose (→
/// that pool's `release_buffer`); one whose memory 0 is not our root
/// memory referenced by it alone (a copy or region still holds it, foreign
/// memory, merged) or while draining: TRUE, freed by GStreamer as usual;
/// else ref, [`reset`] (memories 1.. dropped, flags but MAY_BE_LEAKED,
/// timestamps, offsets, every meta incl. LOCKED ones; a parent-buffer
/// meta's parent is unreffed here, which may run another hook), [`park`],
/// FALSE. See "Dispose contract" in `src/pool/README.md`.
pub(crate) unsafe extern "C" fn recycling_dispose(
    obj: *mut ffi::GstMiniObject,
) -> glib::ffi::gboolean {
    let buf = obj as *mut ffi::GstBuffer;
    // Acquired through a GstBufferPool instance: let GstBuffer's dispose
    // hand it to that pool (which recycles it itself).
    // SAFETY: GStreamer calls a mini object's dispose with refcount 0 on a
    // live object no one else can reach; this hook is only installed on
    // GstBuffers (`install_dispose`), so `buf` is one.
    if unsafe { !(*buf).pool.is_null() } {
        return match BUFFER_DISPOSE.get().copied().flatten() {
            // SAFETY: GstBuffer's own dispose, called as GStreamer would
            // have called it, with the same object.
            Some(dispose) => unsafe { dispose(obj) },
            None => glib::ffi::GTRUE,
        };
    }
    // SAFETY: `buf` is a live GstBuffer (above); `parkable` only runs when it
    // has at least one memory (its contract).
    if unsafe { ffi::gst_buffer_n_memory(buf) == 0 || !parkable(buf) } {
        return glib::ffi::GTRUE;
    }
    // Resurrect (refcount 1 again), reset, park.
    // SAFETY: taking a reference from within dispose is GStreamer's
    // documented way to resurrect (GstBufferPool does it): the buffer then
    // has exactly one reference, ours, so it is writable and may be borrowed
    // as `&mut BufferRef`. After `reset` it has one memory (the parkable
    // root), and `park` takes over that single reference; returning FALSE
    // tells GStreamer not to finalize it.
    unsafe {
        ffi::gst_mini_object_ref(obj);
        reset(gst::BufferRef::from_mut_ptr(buf));
        park(buf);
    }
    glib::ffi::GFALSE
}

/// Free a parked buffer popped by `trim` (its memory returns the bare block).
fn undress(token: Block) {
    // Free it for real: without this its dispose hook would park it again.
    // SAFETY: `trim` only hands `undress` tokens it popped from the free
    // list with a non-zero cookie, i.e. buffers `park` parked, whose single
    // reference the pop transferred to us: `free_for_real`'s contract.
    unsafe { free_for_real(token.cookie as *mut ffi::GstMiniObject) }
}

/// A root pool memory was freed: its block goes back to the core.
pub(crate) fn block_freed(block: Block, parked: bool) {
    let core = Core::global();
    let class = block.class();
    if parked {
        core.push_uncounted(block.with_cookie(0));
    } else {
        core.push(block.with_cookie(0));
    }
    if DRAINING.load(Ordering::Relaxed) && core.active_users() == 0 {
        core.trim_class(class, &mut undress, false);
    }
}
