//! Recycled GstBufferLists.
//!
//! A payloader pushes one buffer list per input buffer. For video that is
//! one allocation per ~60 packets; for 20 ms of audio it is one per 3
//! packets, which measured 0.33 heap allocations per packet on
//! rtpfastL16pay (the target is ≤ 0.05). A list we made comes back here when
//! its last reference drops (its dispose hook), emptied, and is handed out
//! again, its grown array kept.

use crossbeam_queue::ArrayQueue;
use gst::ffi;
use gst::glib;
use gst::glib::translate::*;
use std::sync::OnceLock;

/// Lists kept parked at most (a list is ~100 bytes plus its array).
pub(crate) const MAX_PARKED: usize = 256;

fn parked() -> &'static ArrayQueue<usize> {
    static LIST: OnceLock<ArrayQueue<usize>> = OnceLock::new();
    LIST.get_or_init(|| ArrayQueue::new(MAX_PARKED))
}

/// An empty, writable buffer list with room for `n` buffers (more when
/// recycled), that comes back here when downstream drops it.
pub fn acquire_list(n: usize) -> gst::BufferList {
    if let Some(p) = parked().pop() {
        // SAFETY: FFI edge. Only `list_dispose` pushes, and it pushes
        // resurrected, emptied lists (refcount 1) that nothing else
        // references; we take over that reference.
        return unsafe { from_glib_full(p as *mut ffi::GstBufferList) };
    }
    let mut list = gst::BufferList::new_sized(n);
    // SAFETY: FFI edge. The list is fresh and exclusively ours; GstBufferList
    // installs no dispose function of its own, so ours is the only one.
    unsafe {
        let obj = list.get_mut().unwrap().as_mut_ptr() as *mut ffi::GstMiniObject;
        debug_assert!((*obj).dispose.is_none());
        (*obj).dispose = Some(list_dispose);
    }
    list
}

/// Dispose hook: the refcount reached zero (GstBufferList has no dispose of
/// its own in GStreamer 1.22, `gst_buffer_list_init`). Resurrect (ref),
/// empty the list with `gst_buffer_list_remove` (each buffer loses the list
/// as parent and is unreffed, running its own dispose: pooled ones park,
/// foreign ones are released) and park it (FALSE); when the park is full,
/// let it be freed (TRUE). Flags and qdata of the list are left as they
/// are. See "Dispose contract" in `src/pool/README.md`.
unsafe extern "C" fn list_dispose(obj: *mut ffi::GstMiniObject) -> glib::ffi::gboolean {
    // SAFETY: FFI edge. GStreamer calls this with refcount 0 on a list no one
    // else can reach. Resurrected (refcount 1) it is writable, so its buffers
    // can be removed; parked, it is referenced by the queue alone.
    unsafe {
        if parked().is_full() {
            return glib::ffi::GTRUE;
        }
        ffi::gst_mini_object_ref(obj);
        let list = obj as *mut ffi::GstBufferList;
        let len = ffi::gst_buffer_list_length(list);
        if len > 0 {
            ffi::gst_buffer_list_remove(list, 0, len);
        }
        if parked().push(list as usize).is_err() {
            // Filled up meanwhile: free it for real.
            (*obj).dispose = None;
            ffi::gst_mini_object_unref(obj);
        }
        glib::ffi::GFALSE
    }
}
