//! Recycled single-view buffers: a GstBuffer whose one memory is a payload
//! view, parked whole.
//!
//! A depayloader whose output unit is one packet's payload (Opus, ...) can
//! push a view of its input instead of a copy. A fresh GstBuffer plus a
//! `gst_memory_share` per packet would be two heap allocations; a buffer
//! that comes back with its view still exclusively its own is parked
//! instead, only the view's target (the input memory) is released, and the
//! next packet re-points it (as `packet.rs` does for payloader packets).
//! One memory, so a downstream map is the view itself (never a merge copy).

use super::memory::PoolMemory;
use super::{view, PayloadViews};
use crossbeam_queue::ArrayQueue;
use gst::ffi;
use gst::glib;
use gst::glib::translate::*;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Buffers kept parked at most (GstBuffer + view ≈ 0.3 KB each).
const MAX_PARKED: usize = 4096;

static REUSED: AtomicU64 = AtomicU64::new(0);
static PARKED: AtomicU64 = AtomicU64::new(0);

/// (view buffers reused, view buffers parked) so far.
pub fn counters() -> (u64, u64) {
    (
        REUSED.load(Ordering::Relaxed),
        PARKED.load(Ordering::Relaxed),
    )
}

fn parked() -> &'static ArrayQueue<usize> {
    static LIST: OnceLock<ArrayQueue<usize>> = OnceLock::new();
    LIST.get_or_init(|| ArrayQueue::new(MAX_PARKED))
}

/// A buffer of one read-only memory: `range` of the views' memory, zero
/// copy. Recycled when the views' memory is viewable (else a plain buffer
/// with a shared memory).
pub fn acquire_view_buffer(views: &PayloadViews<'_>, range: Range<usize>) -> gst::Buffer {
    let recycle = views.recycles() && !super::draining();
    if recycle {
        if let Some(p) = parked().pop() {
            // SAFETY: FFI edge. Only `view_buffer_dispose` pushes, and it
            // pushes resurrected buffers (refcount 1) nothing else
            // references, whose single memory is a released view referenced
            // by that buffer alone. We take over that single reference.
            unsafe {
                let buf = p as *mut ffi::GstBuffer;
                let view = ffi::gst_buffer_peek_memory(buf, 0) as *mut PoolMemory;
                if views.retarget(view, range.clone()) {
                    REUSED.fetch_add(1, Ordering::Relaxed);
                    return from_glib_full(buf);
                }
                // Not reached (`recycles()` was checked): free it for real.
                super::free_for_real(buf as *mut ffi::GstMiniObject);
            }
        }
    }
    let mut buffer = gst::Buffer::new();
    {
        let b = buffer.get_mut().unwrap();
        b.append_memory(views.view(range));
        if recycle {
            // SAFETY: FFI edge. The buffer is fresh and exclusively ours; its
            // dispose is GstBuffer's own (see `super::install_dispose`).
            unsafe { super::install_dispose(b.as_mut_ptr(), view_buffer_dispose) };
        }
    }
    buffer
}

/// Dispose hook (refcount reached zero; see "Dispose contract" in
/// `src/pool/README.md`): a pool-less buffer whose only memory is its own
/// live view is resurrected (ref), the view's target released,
/// [`super::reset_fields`] applied (flags, timestamps, every meta) and
/// parked (FALSE); anything else goes to [`super::recycling_dispose`].
unsafe extern "C" fn view_buffer_dispose(obj: *mut ffi::GstMiniObject) -> glib::ffi::gboolean {
    // SAFETY: FFI edge. GStreamer calls this with refcount 0 on a buffer no
    // one else can reach; we only resurrect it when its single memory is
    // referenced by it alone.
    unsafe {
        let buf = obj as *mut ffi::GstBuffer;
        if (*buf).pool.is_null() && !super::draining() && ffi::gst_buffer_n_memory(buf) == 1 {
            let mem = ffi::gst_buffer_peek_memory(buf, 0);
            if view::is_live_view(mem) && super::sole_reference(mem as *const _) {
                ffi::gst_mini_object_ref(obj);
                view::release_target(mem as *mut PoolMemory);
                super::reset_fields(gst::BufferRef::from_mut_ptr(buf));
                if parked().push(buf as usize).is_ok() {
                    PARKED.fetch_add(1, Ordering::Relaxed);
                    return glib::ffi::GFALSE;
                }
                // Full: free it for real (the released view frees as a box).
                super::free_for_real(obj);
                return glib::ffi::GFALSE;
            }
        }
        // Not ours to park: a pool's buffer goes to its pool, else freed.
        super::recycling_dispose(obj)
    }
}

/// Free every parked view buffer (the pool is draining).
pub(crate) fn drain() {
    while let Some(p) = parked().pop() {
        // SAFETY: FFI edge. A parked buffer is exclusively ours (see
        // `acquire_view_buffer`); with GstBuffer's own dispose restored it
        // is freed and its released view frees as a plain box.
        unsafe { super::free_for_real(p as *mut ffi::GstMiniObject) };
    }
}
