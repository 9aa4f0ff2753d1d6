//! Recycled zero-copy payload views.
//!
//! A payloader puts a slice of its input into every packet without copying
//! it. `gst_memory_share` does that with a freshly allocated GstMemory per
//! packet (and, once a memory has two children, a parent-tracking array):
//! measured with valgrind, the one heap allocation per packet our payloaders
//! had left. A *view* is one of our `PoolMemory` structs pointing into the
//! input memory's bytes; it holds a reference and an exclusive lock on that
//! memory (so nobody can write to it while packets alias it), is read-only
//! itself, and when its last reference drops the struct goes to a lock-free
//! free list instead of the heap.
//!
//! Only memories whose bytes stay put after unmapping are viewed: GStreamer's
//! system memory (what encoders and parsers produce), gstreamer-rs wrapped
//! Rust memory (`gst::Buffer::from_slice`) and our own pool memory. Anything else (DMABuf, GL, ...) falls
//! back to `gst_memory_share`.

use super::memory::{allocator_ptr, PoolMemory};
use crossbeam_queue::ArrayQueue;
use gst::ffi;
use gst::glib::translate::*;
use std::ops::Range;
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Most view structs kept for reuse (≈160 B each); more are freed.
const MAX_CACHED: usize = 8192;

static CREATED: AtomicU64 = AtomicU64::new(0);
static REUSED: AtomicU64 = AtomicU64::new(0);

/// Free view structs, as addresses of `PoolMemory` boxes.
fn free_list() -> &'static ArrayQueue<usize> {
    static LIST: OnceLock<ArrayQueue<usize>> = OnceLock::new();
    LIST.get_or_init(|| ArrayQueue::new(MAX_CACHED))
}

/// Views made so far: (newly allocated, reused from the free list).
pub fn counters() -> (u64, u64) {
    (
        CREATED.load(Ordering::Relaxed),
        REUSED.load(Ordering::Relaxed),
    )
}

/// Free every cached view struct (when the pool drains).
pub(crate) fn drain() {
    while let Some(p) = free_list().pop() {
        // SAFETY: only `view_freed` pushes, and it pushes boxes it owns.
        drop(unsafe { Box::from_raw(p as *mut PoolMemory) });
    }
}

/// Allocators whose memories keep their bytes at one address for life, so a
/// pointer learnt from one map stays valid: GStreamer's system memory and the
/// gstreamer-rs wrapper of Rust values (`gst::Buffer::from_slice` & co.).
fn stable_allocators() -> [usize; 2] {
    static STABLE: OnceLock<[usize; 2]> = OnceLock::new();
    // SAFETY: FFI call with a valid C string; the returned reference is kept
    // for the life of the process (registered allocators never go away).
    *STABLE.get_or_init(|| unsafe {
        [
            ffi::gst_allocator_find(c"SystemMemory".as_ptr()) as usize,
            ToGlibPtr::<*mut ffi::GstAllocator>::to_glib_none(gst::rust_allocator()).0 as usize,
        ]
    })
}

/// Zero-copy read-only views on ranges of one memory (a payloader's input).
pub struct PayloadViews<'a> {
    mem: &'a gst::MemoryRef,
    /// Start of the memory's `maxsize` region when its bytes are stable
    /// (viewable); `None` = fall back to `gst_memory_share`.
    base: Option<*mut u8>,
}

impl<'a> PayloadViews<'a> {
    /// Inspect `mem` once (one map/unmap) for the views to come.
    pub fn new(mem: &'a gst::MemoryRef) -> Self {
        let raw = mem.as_ptr() as *mut ffi::GstMemory;
        // SAFETY: FFI edge. `raw` is a valid memory borrowed for 'a. The
        // allocator pointer is only compared. Mapping for READ and unmapping
        // at once is always allowed; for system memory and our pool memory
        // the mapped address is the memory's fixed data pointer plus its
        // offset, so `base` stays valid for as long as the memory lives
        // (each view keeps it alive with a reference).
        let base = unsafe {
            let alloc = (*raw).allocator as usize;
            if (*raw).mini_object.flags & ffi::GST_MEMORY_FLAG_NOT_MAPPABLE != 0 {
                None
            } else if alloc == allocator_ptr() as usize {
                Some((*(raw as *mut PoolMemory)).data)
            } else if alloc != 0 && stable_allocators().contains(&alloc) {
                let mut info = std::mem::MaybeUninit::<ffi::GstMapInfo>::zeroed();
                if ffi::gst_memory_map(raw, info.as_mut_ptr(), ffi::GST_MAP_READ) != 0 {
                    let info = info.assume_init_mut();
                    let base = info.data.sub((*raw).offset);
                    ffi::gst_memory_unmap(raw, info);
                    Some(base)
                } else {
                    None
                }
            } else {
                None
            }
        };
        PayloadViews { mem, base }
    }

    /// [`PayloadViews::new`] for a memory the caller has mapped already:
    /// `mapped` is where that map's bytes start. Saves the map/unmap pair
    /// (a depayloader's input is mapped by its base class anyway).
    ///
    /// # Safety
    /// `mapped` must be the data pointer of a map of `mem` that is current
    /// when this is called.
    pub unsafe fn for_mapped(mem: &'a gst::MemoryRef, mapped: *const u8) -> Self {
        let raw = mem.as_ptr() as *mut ffi::GstMemory;
        // SAFETY: FFI edge. `raw` is a valid memory borrowed for 'a; the
        // allocator pointer is only compared. For system memory and our pool
        // memory a map's address is the memory's fixed data pointer plus its
        // offset (the caller vouches `mapped` is one), so `base` stays valid
        // for as long as the memory lives, as in `new`.
        let base = unsafe {
            let alloc = (*raw).allocator as usize;
            if (*raw).mini_object.flags & ffi::GST_MEMORY_FLAG_NOT_MAPPABLE != 0 {
                None
            } else if alloc == allocator_ptr() as usize {
                Some((*(raw as *mut PoolMemory)).data)
            } else if alloc != 0 && stable_allocators().contains(&alloc) {
                Some((mapped as *mut u8).sub((*raw).offset))
            } else {
                None
            }
        };
        PayloadViews { mem, base }
    }

    /// True when [`PayloadViews::view`] makes recycled views (not shares).
    pub fn recycles(&self) -> bool {
        self.base.is_some()
    }

    /// A read-only memory of `range` (relative to the memory's current
    /// offset, like `gst::MemoryRef::share`). Panics if the range is out of
    /// bounds, as `share` does.
    pub fn view(&self, range: Range<usize>) -> gst::Memory {
        assert!(
            range.start <= range.end && range.end <= self.mem.size(),
            "view {range:?} out of a memory of {} bytes",
            self.mem.size()
        );
        let Some(base) = self.base else {
            return self.mem.share(range);
        };
        let target = self.mem.as_ptr() as *mut ffi::GstMemory;
        let pm = match free_list().pop() {
            Some(p) => {
                REUSED.fetch_add(1, Ordering::Relaxed);
                p as *mut PoolMemory
            }
            None => {
                CREATED.fetch_add(1, Ordering::Relaxed);
                Box::into_raw(Box::new(PoolMemory {
                    // SAFETY: plain C struct, initialised by gst_memory_init.
                    mem: unsafe { std::mem::zeroed() },
                    data: ptr::null_mut(),
                    block: None,
                    parked: false,
                    target: ptr::null_mut(),
                }))
            }
        };
        // SAFETY: FFI edge. `pm` is a PoolMemory box owned by nobody else
        // (fresh, or popped from the free list after its GstMemory life
        // ended). gst_memory_init (re)initialises every GstMemory field. The
        // target is referenced and exclusively locked (so it reads as shared
        // and cannot be mapped for writing) until `view_freed` undoes both;
        // `base` stays valid while that reference is held. offset + size lie
        // within the target's maxsize by the assert above.
        unsafe {
            hold_target(pm, base, target);
            ffi::gst_memory_init(
                pm as *mut ffi::GstMemory,
                ffi::GST_MINI_OBJECT_FLAG_LOCK_READONLY,
                allocator_ptr(),
                ptr::null_mut(),
                (*target).maxsize,
                (*target).align,
                (*target).offset + range.start,
                range.len(),
            );
            from_glib_full(pm as *mut ffi::GstMemory)
        }
    }
}

/// Point view `pm` at `target` (whose bytes start at `base`): reference it
/// and lock it exclusively, so it reads as shared and cannot be mapped for
/// writing while the view lives. Undone by [`release_target`].
///
/// # Safety
/// `pm` must be a view struct nobody else uses; `target` a valid memory
/// whose bytes stay at `base` while referenced.
unsafe fn hold_target(pm: *mut PoolMemory, base: *mut u8, target: *mut ffi::GstMemory) {
    // SAFETY: the caller's `pm` is a view struct (a `PoolMemory` box) that
    // nobody else uses, so writing its fields races with nobody; `target`
    // is a valid memory, so referencing and locking it are plain
    // GstMiniObject calls on a live object. The lock's result is not
    // checked: an EXCLUSIVE lock only fails while the target is mapped for
    // WRITE, which cannot happen while it is the payloader's input being
    // read (a writer would race with that read under GStreamer's own rules).
    unsafe {
        (*pm).data = base;
        (*pm).target = target;
        ffi::gst_mini_object_ref(target as *mut ffi::GstMiniObject);
        ffi::gst_mini_object_lock(
            target as *mut ffi::GstMiniObject,
            ffi::GST_LOCK_FLAG_EXCLUSIVE,
        );
    }
}

/// A view's GstMemory life ended (allocator `free`): release the target and
/// park the struct for reuse.
///
/// # Safety
/// `pm` is a view whose refcount reached zero; nothing references it.
pub(crate) unsafe fn view_freed(pm: *mut PoolMemory) {
    // SAFETY: the caller's `pm` is a view (non-null target, so
    // `release_target`'s "live view" holds) that nothing references any
    // more; after releasing the target it is either parked in the free list
    // (owned by the list from then on) or reclaimed as the box it was made
    // from, exactly once.
    unsafe {
        release_target(pm);
        if super::draining() || free_list().push(pm as usize).is_err() {
            drop(Box::from_raw(pm));
        }
    }
}

/// Whether `mem` is one of our payload views still holding its target.
///
/// # Safety
/// `mem` must point to a valid GstMemory.
pub(crate) unsafe fn is_live_view(mem: *mut ffi::GstMemory) -> bool {
    // SAFETY: the caller's `mem` is a valid GstMemory; `target` is only read
    // once its allocator is ours, i.e. once it is a `PoolMemory` (see the
    // invariant on [`PoolMemory`]).
    unsafe { (*mem).allocator == allocator_ptr() && !(*(mem as *mut PoolMemory)).target.is_null() }
}

/// Let go of a view's target (unlock, unref) while keeping the view memory
/// itself, so a recycled packet buffer can be re-pointed with
/// [`PayloadViews::retarget`]. A view without a target frees as a plain box.
///
/// # Safety
/// `pm` must be a live view (see [`is_live_view`]) that only the caller's
/// buffer references.
pub(crate) unsafe fn release_target(pm: *mut PoolMemory) {
    // SAFETY: the caller's `pm` is a live view that only its buffer
    // references, so its fields are ours to write; its non-null target was
    // referenced and exclusively locked by `hold_target`, and this undoes
    // exactly that lock and that reference, once (the target pointer is
    // cleared first).
    unsafe {
        let target = std::mem::replace(&mut (*pm).target, ptr::null_mut());
        ffi::gst_mini_object_unlock(
            target as *mut ffi::GstMiniObject,
            ffi::GST_LOCK_FLAG_EXCLUSIVE,
        );
        ffi::gst_mini_object_unref(target as *mut ffi::GstMiniObject);
        (*pm).data = ptr::null_mut();
    }
}

impl PayloadViews<'_> {
    /// Re-point a released view (still inside a recycled packet buffer) at
    /// `range` of our memory: the same bookkeeping as [`PayloadViews::view`]
    /// without a new GstMemory. False when this memory is not viewable.
    ///
    /// # Safety
    /// `pm` must be a view released by [`release_target`] that only the
    /// caller's (exclusively owned) buffer references.
    pub(crate) unsafe fn retarget(&self, pm: *mut PoolMemory, range: Range<usize>) -> bool {
        assert!(
            range.start <= range.end && range.end <= self.mem.size(),
            "view {range:?} out of a memory of {} bytes",
            self.mem.size()
        );
        let Some(base) = self.base else {
            return false;
        };
        let target = self.mem.as_ptr() as *mut ffi::GstMemory;
        REUSED.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's `pm` is a released view only its exclusively
        // owned buffer references (`hold_target`'s "nobody else uses it");
        // `target` is our borrowed memory, whose bytes stay at `base` while
        // referenced (`base` is only `Some` for such memories, see `new`).
        // The GstMemory fields are written on a memory nobody else can
        // reach, and offset + size lie within the target's maxsize by the
        // assert above.
        unsafe {
            hold_target(pm, base, target);
            let mem = &mut (*pm).mem;
            mem.maxsize = (*target).maxsize;
            mem.align = (*target).align;
            mem.offset = (*target).offset + range.start;
            mem.size = range.len();
        }
        true
    }
}
