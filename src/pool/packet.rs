//! Recycled RTP packet buffers: a pooled header block followed by a payload
//! view, parked whole.
//!
//! Measured with callgrind on rtpfasth264pay (1080p, MTU 1400): attaching a
//! view to a recycled buffer and detaching it again when the buffer came
//! back (`gst_buffer_insert_memory` / `gst_buffer_remove_memory_range`:
//! memory locks, parent tracking, the view's unref and free) cost ~900 of
//! ~2,550 instructions per packet. A packet buffer that comes back with its
//! view still exclusively its own keeps the view; only the view's target
//! (the input memory) is released, and the next packet re-points it.

use super::memory::PoolMemory;
use super::{view, PayloadViews};
use crossbeam_queue::ArrayQueue;
use gst::ffi;
use gst::glib;
use gst::glib::translate::*;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Largest header (RTP header + inline bytes) of a recycled packet buffer:
/// the smallest size class, where every header block comes from.
pub const MAX_HEADER: usize = 64;

/// Packet buffers kept parked at most (64 B block + view ≈ 0.4 KB each).
const MAX_PARKED: usize = 4096;

static REUSED: AtomicU64 = AtomicU64::new(0);
static PARKED: AtomicU64 = AtomicU64::new(0);

fn parked() -> &'static ArrayQueue<usize> {
    static LIST: OnceLock<ArrayQueue<usize>> = OnceLock::new();
    LIST.get_or_init(|| ArrayQueue::new(MAX_PARKED))
}

/// (packet buffers reused, packet buffers parked) so far.
pub fn counters() -> (u64, u64) {
    (
        REUSED.load(Ordering::Relaxed),
        PARKED.load(Ordering::Relaxed),
    )
}

/// A packet: `header_len` bytes written by `fill` into pooled memory, then
/// a zero-copy view of `range` of the views' memory.
pub fn acquire_packet(
    header_len: usize,
    fill: impl FnOnce(&mut [u8]),
    views: &PayloadViews<'_>,
    range: Range<usize>,
) -> gst::Buffer {
    let fast = header_len <= MAX_HEADER && views.recycles() && !super::draining();
    if fast {
        if let Some(p) = parked().pop() {
            // SAFETY: FFI edge. Only `packet_dispose` pushes, and it pushes
            // resurrected buffers (refcount 1) that nothing else references,
            // with memory 0 a pooled root block of at least MAX_HEADER bytes
            // and memory 1 a released view, both referenced by this buffer
            // alone. We take over that single reference.
            unsafe {
                let buf = p as *mut ffi::GstBuffer;
                let view = ffi::gst_buffer_peek_memory(buf, 1) as *mut PoolMemory;
                if views.retarget(view, range.clone()) {
                    let head = ffi::gst_buffer_peek_memory(buf, 0);
                    (*head).offset = 0;
                    (*head).size = header_len;
                    let data = (*(head as *mut PoolMemory)).data;
                    fill(std::slice::from_raw_parts_mut(data, header_len));
                    REUSED.fetch_add(1, Ordering::Relaxed);
                    return from_glib_full(buf);
                }
                // Not reached (`recycles()` was checked): free it for real.
                super::free_for_real(buf as *mut ffi::GstMiniObject);
            }
        }
    }
    let mut buffer = super::acquire_filled(header_len, fill);
    {
        let b = buffer.get_mut().unwrap();
        b.append_memory(views.view(range));
        if fast {
            // SAFETY: FFI edge. The buffer is fresh from the pool and
            // exclusively ours; its dispose is ours to set (see
            // `super::install_dispose`).
            unsafe { super::install_dispose(b.as_mut_ptr(), packet_dispose) };
        }
    }
    buffer
}

/// Dispose hook of packet buffers (refcount reached zero; see "Dispose
/// contract" in `src/pool/README.md`): a pool-less header + view buffer
/// whose two memories it alone references is resurrected (ref), its view's
/// target released, [`super::reset_fields`] applied (flags, timestamps,
/// every meta) and parked whole (FALSE). Anything else, e.g. a buffer
/// downstream merged or appended memories to, goes to
/// [`super::recycling_dispose`].
unsafe extern "C" fn packet_dispose(obj: *mut ffi::GstMiniObject) -> glib::ffi::gboolean {
    // SAFETY: FFI edge. GStreamer calls this with refcount 0 on a buffer no
    // one else can reach; we only resurrect it when both its memories are
    // referenced by it alone.
    unsafe {
        let buf = obj as *mut ffi::GstBuffer;
        if (*buf).pool.is_null()
            && ffi::gst_buffer_n_memory(buf) == 2
            && super::parkable(buf)
            && (*ffi::gst_buffer_peek_memory(buf, 0)).maxsize >= MAX_HEADER
        {
            let view = ffi::gst_buffer_peek_memory(buf, 1);
            if view::is_live_view(view) && super::sole_reference(view as *const _) {
                ffi::gst_mini_object_ref(obj);
                view::release_target(view as *mut PoolMemory);
                super::reset_fields(gst::BufferRef::from_mut_ptr(buf));
                if parked().push(buf as usize).is_ok() {
                    PARKED.fetch_add(1, Ordering::Relaxed);
                    return glib::ffi::GFALSE;
                }
                // Full: drop the view, park the header block as usual.
                ffi::gst_buffer_remove_memory_range(buf, 1, -1);
                super::park(buf);
                return glib::ffi::GFALSE;
            }
        }
        super::recycling_dispose(obj)
    }
}

/// Free every parked packet buffer (the pool is draining).
pub(crate) fn drain() {
    while let Some(p) = parked().pop() {
        // SAFETY: FFI edge. A parked buffer is exclusively ours (see
        // `acquire_packet`); with GstBuffer's own dispose restored it is
        // freed, its header block returns to the core and the released view
        // (no target) frees as a plain box.
        unsafe { super::free_for_real(p as *mut ffi::GstMiniObject) };
    }
}
