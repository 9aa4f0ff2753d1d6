//! `pool::acquire_view_buffer`: zero-copy single-view buffers, recycled
//! whole. In its own process: it holds the shared pool active, which must
//! not leak into the lib tests' pool-draining expectations.

use gstrsrtpfast::pool::{acquire_view_buffer, PayloadViews, StreamHandle};
use std::sync::Once;

fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        // Keep the pool active for the whole process (tests run in parallel:
        // one dropping the last handle would drain the pool under another).
        std::mem::forget(StreamHandle::new());
    });
}

/// One test: parked buffers are process-wide, so a parallel test could
/// take the one this expects back.
#[test]
fn view_buffers() {
    init();
    views_without_copy_and_recycles_the_buffer();
    with_mapping_views_the_same_bytes_as_new();
}

fn views_without_copy_and_recycles_the_buffer() {
    let input = gst::Buffer::from_mut_slice((0u8..100).collect::<Vec<_>>());
    let mem = input.peek_memory(0);
    let src_ptr = mem.map_readable().unwrap().as_ptr() as usize;
    let views = PayloadViews::new(mem);
    let a = acquire_view_buffer(&views, 12..100);
    assert_eq!(a.size(), 88);
    {
        let map = a.map_readable().unwrap();
        assert_eq!(map.as_ptr() as usize, src_ptr + 12, "not a view");
        assert_eq!(&map[..3], &[12, 13, 14]);
    }
    let a_ptr = a.as_ptr() as usize;
    drop(a);
    // The same GstBuffer comes back, re-pointed.
    let b = acquire_view_buffer(&views, 20..30);
    assert_eq!(b.as_ptr() as usize, a_ptr);
    assert_eq!(
        &b.map_readable().unwrap()[..],
        &(20u8..30).collect::<Vec<_>>()[..]
    );
}

fn with_mapping_views_the_same_bytes_as_new() {
    // A memory with a non-zero offset (a shared sub-memory).
    let whole = gst::Memory::from_slice((0u8..200).collect::<Vec<_>>());
    let mem = whole.share(30..180);
    let map = mem.map_readable().unwrap();
    // SAFETY: `map` is a readable map of `mem`, held throughout.
    let by_map = unsafe { PayloadViews::with_mapping(&mem, &map) };
    let by_new = PayloadViews::new(&mem);
    assert!(by_map.recycles() && by_new.recycles());
    let a = acquire_view_buffer(&by_map, 10..50);
    let b = acquire_view_buffer(&by_new, 10..50);
    let (ma, mb) = (a.map_readable().unwrap(), b.map_readable().unwrap());
    assert_eq!(ma.as_ptr(), mb.as_ptr());
    assert_eq!(&ma[..], &(40u8..80).collect::<Vec<_>>()[..]);
}
