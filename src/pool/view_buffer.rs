//! Recycled single-view buffers: a GstBuffer whose only memory is a
//! zero-copy view of (part of) another memory, parked whole when it comes
//! back and re-pointed for the next use.
//!
//! What raw-audio depayloaders output: the RTP payload as is, without a
//! copy. `gst_buffer_copy_region` (what the stock elements do) costs a
//! GstBuffer and a shared GstMemory per packet; a parked view buffer costs
//! neither, only re-pointing the view (see [`super::packet`], the same idea
//! with a header block in front).

use super::memory::PoolMemory;
use super::{view, PayloadViews};
use crossbeam_queue::ArrayQueue;
use gst::ffi;
use gst::glib;
use gst::glib::translate::*;
use std::ops::Range;
use std::sync::OnceLock;

/// View buffers kept parked at most (GstBuffer + view ≈ 0.4 KB each).
const MAX_PARKED: usize = 1024;

fn parked() -> &'static ArrayQueue<usize> {
    static LIST: OnceLock<ArrayQueue<usize>> = OnceLock::new();
    LIST.get_or_init(|| ArrayQueue::new(MAX_PARKED))
}

/// A read-only buffer of `range` of the views' memory, without copying.
/// When the memory cannot be viewed (not stable system/Rust/pool memory) it
/// falls back to a `gst_memory_share` in a fresh buffer.
pub fn acquire_view_buffer(views: &PayloadViews<'_>, range: Range<usize>) -> gst::Buffer {
    let fast = views.recycles() && !super::draining();
    if fast {
        if let Some(p) = parked().pop() {
            // SAFETY: FFI edge. Only `view_buffer_dispose` pushes, and it
            // pushes resurrected buffers (refcount 1) that nothing else
            // references, whose single memory is a released view referenced
            // by that buffer alone. We take over that single reference.
            unsafe {
                let buf = p as *mut ffi::GstBuffer;
                let view = ffi::gst_buffer_peek_memory(buf, 0) as *mut PoolMemory;
                if views.retarget(view, range.clone()) {
                    return from_glib_full(buf);
                }
                // Not reached (`recycles()` was checked): free it for real.
                super::free_for_real(buf as *mut ffi::GstMiniObject);
            }
        }
    }
    let mut buffer = gst::Buffer::new();
    let b = buffer.get_mut().expect("a new buffer is writable");
    b.append_memory(views.view(range));
    if fast {
        // SAFETY: FFI edge. The buffer is fresh and exclusively ours; its
        // dispose is GstBuffer's own (see `super::install_dispose`).
        unsafe { super::install_dispose(b.as_mut_ptr(), view_buffer_dispose) };
    }
    buffer
}

/// Dispose hook of view buffers: park the buffer whole when its view is its
/// own alone, else let it be freed.
unsafe extern "C" fn view_buffer_dispose(obj: *mut ffi::GstMiniObject) -> glib::ffi::gboolean {
    // SAFETY: FFI edge. GStreamer calls this with refcount 0 on a buffer no
    // one else can reach; we only resurrect it when its single memory is a
    // live view referenced by it alone.
    unsafe {
        let buf = obj as *mut ffi::GstBuffer;
        if (*buf).pool.is_null() && !super::draining() && ffi::gst_buffer_n_memory(buf) == 1 {
            let view = ffi::gst_buffer_peek_memory(buf, 0);
            if view::is_live_view(view) && (*view).mini_object.refcount == 1 {
                ffi::gst_mini_object_ref(obj);
                view::release_target(view as *mut PoolMemory);
                super::reset_fields(gst::BufferRef::from_mut_ptr(buf));
                if parked().push(buf as usize).is_ok() {
                    return glib::ffi::GFALSE;
                }
                // Full: back to refcount 0 (still ours alone) and freed; the
                // released view frees as a plain box.
                (*obj).refcount = 0;
                return glib::ffi::GTRUE;
            }
        }
        super::recycling_dispose(obj)
    }
}

/// Free every parked view buffer (the pool is draining).
pub(crate) fn drain() {
    while let Some(p) = parked().pop() {
        // SAFETY: FFI edge. A parked buffer is exclusively ours (see
        // `acquire_view_buffer`); with GstBuffer's own dispose restored it is
        // freed and its released view (no target) frees as a plain box.
        unsafe { super::free_for_real(p as *mut ffi::GstMiniObject) };
    }
}
