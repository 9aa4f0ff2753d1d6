//! Recycled payload views (`pool::PayloadViews`): the bytes they show, the
//! locking of the viewed memory, reuse of view structs, recycling of the
//! packet buffers that carry them, and the fallback for other memories.

use gstrsrtpfast::pool::{self, PayloadViews};
use std::sync::Mutex;

// Tests share the process-wide pool and view cache: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn init() -> std::sync::MutexGuard<'static, ()> {
    let g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    gst::init().unwrap();
    pool::register_types();
    g
}

fn input(len: usize) -> gst::Memory {
    gst::Memory::from_mut_slice((0..len).map(|i| (i * 7 % 251) as u8).collect::<Vec<u8>>())
}

/// `gst_memory_is_writable` (gstreamer-rs has no binding for it).
fn writable(mem: &gst::MemoryRef) -> bool {
    // SAFETY: FFI edge; `mem` is a valid memory for the call.
    unsafe { gst::ffi::gst_mini_object_is_writable(mem.as_ptr() as *const _) != 0 }
}

fn views_counters() -> (u64, u64) {
    let s = pool::stats().to_structure();
    (
        s.get::<u64>("payload-views-created").unwrap(),
        s.get::<u64>("payload-views-reused").unwrap(),
    )
}

#[test]
fn views_show_the_range_and_are_read_only() {
    let _g = init();
    let _h = pool::StreamHandle::new();
    let mem = input(5000);
    let expected = mem.map_readable().unwrap().to_vec();
    let views = PayloadViews::new(&mem);
    assert!(views.recycles(), "system memory is viewable");
    for range in [0..5000, 0..1, 1400..2800, 4999..5000, 2500..2500] {
        let mut v = views.view(range.clone());
        assert_eq!(v.size(), range.len());
        assert_eq!(
            v.map_readable().unwrap().as_slice(),
            &expected[range.clone()]
        );
        let v_mut = v.get_mut().expect("a fresh view has one reference");
        assert!(v_mut.map_writable().is_err(), "views must be read-only");
        // A share of a view, and a deep copy, show the same bytes.
        if range.len() > 2 {
            let sub = v.share(1..range.len() - 1);
            assert_eq!(
                sub.map_readable().unwrap().as_slice(),
                &expected[range.start + 1..range.end - 1]
            );
            let copy = v.copy_range(..);
            assert_eq!(copy.map_readable().unwrap().as_slice(), &expected[range]);
        }
    }
}

#[test]
#[should_panic(expected = "out of a memory")]
fn out_of_range_view_panics_like_share() {
    let _g = init();
    let mem = input(100);
    let _ = PayloadViews::new(&mem).view(50..101);
}

#[test]
fn viewed_memory_is_locked_and_released() {
    let _g = init();
    let _h = pool::StreamHandle::new();
    // The memory sits in a buffer, as a payloader's input does (or as it
    // does in another branch of a tee).
    let mut buf = gst::Buffer::new();
    buf.get_mut().unwrap().append_memory(input(3000));
    let mem = buf.peek_memory(0);
    let raw = mem.as_ptr();
    // SAFETY: `raw` is kept alive by `buf` for the whole test, and only this
    // thread touches it (no pipeline runs here), so the plain read of the
    // refcount races with nothing.
    let refcount = || unsafe { (*raw).mini_object.refcount };
    assert_eq!(refcount(), 1);
    assert!(writable(mem));
    let views = PayloadViews::new(mem);
    let a = views.view(0..1000);
    assert!(!writable(mem), "viewed memory must not be writable");
    let b = views.view(1000..3000);
    assert_eq!(refcount(), 3, "each view holds a reference");
    drop(a);
    assert!(!writable(mem));
    drop(b);
    assert_eq!(refcount(), 1);
    assert!(writable(mem), "writable again once the views are gone");
    // Mapping the buffer for writing while a view exists gives a copy: the
    // view keeps showing the original bytes.
    let v = views.view(0..10);
    let before = v.map_readable().unwrap().to_vec();
    {
        let mut map = buf.get_mut().unwrap().map_writable().unwrap();
        map[..10].fill(0xee);
    }
    assert_eq!(v.map_readable().unwrap().as_slice(), &before[..]);
}

#[test]
fn view_structs_are_reused() {
    let _g = init();
    let _h = pool::StreamHandle::new();
    let mem = input(1400 * 8);
    let views = PayloadViews::new(&mem);
    // Warm the cache with 8 views, then make 1000 more, 8 at a time.
    drop(
        (0..8)
            .map(|i| views.view(i * 1400..(i + 1) * 1400))
            .collect::<Vec<_>>(),
    );
    let (c0, r0) = views_counters();
    for _ in 0..125 {
        let v: Vec<_> = (0..8)
            .map(|i| views.view(i * 1400..(i + 1) * 1400))
            .collect();
        drop(v);
    }
    let (c1, r1) = views_counters();
    assert_eq!(c1 - c0, 0, "no view struct allocated in steady state");
    assert_eq!(r1 - r0, 1000);
}

#[test]
fn packet_buffers_carrying_views_are_recycled() {
    let _g = init();
    let _h = pool::StreamHandle::new();
    let mem = input(1400 * 4);
    let packet = |views: &PayloadViews, i: usize| {
        let mut b = pool::acquire(14);
        b.get_mut()
            .unwrap()
            .append_memory(views.view(i * 1400..(i + 1) * 1400));
        b
    };
    {
        let views = PayloadViews::new(&mem);
        drop((0..4).map(|i| packet(&views, i)).collect::<Vec<_>>());
    }
    let s0 = pool::stats();
    for _ in 0..100 {
        let views = PayloadViews::new(&mem);
        let list: Vec<_> = (0..4).map(|i| packet(&views, i)).collect();
        for (i, b) in list.iter().enumerate() {
            assert_eq!(b.size(), 14 + 1400);
            let map = b.map_readable().unwrap();
            let src = mem.map_readable().unwrap();
            assert_eq!(&map[14..], &src[i * 1400..(i + 1) * 1400]);
        }
    }
    let s1 = pool::stats();
    assert_eq!(s1.acquired - s0.acquired, 400);
    assert_eq!(s1.recycled - s0.recycled, 400, "every packet buffer reused");
    // SAFETY: `mem` is owned by this test and alive; no other thread
    // references it (no pipeline runs), so the plain refcount read races
    // with nothing.
    assert_eq!(unsafe { (*mem.as_ptr()).mini_object.refcount }, 1);
}

#[test]
fn pool_memory_is_viewable_and_other_memory_is_shared() {
    let _g = init();
    let _h = pool::StreamHandle::new();
    // Our own pool memory (e.g. a depayloader's access unit).
    let mut au = pool::acquire(4000);
    au.get_mut()
        .unwrap()
        .map_writable()
        .unwrap()
        .iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = i as u8);
    let views = PayloadViews::new(au.peek_memory(0));
    assert!(views.recycles());
    let v = views.view(100..200);
    assert_eq!(
        v.map_readable().unwrap().as_slice(),
        &(100..200).map(|i| i as u8).collect::<Vec<_>>()[..]
    );
    drop(v);
    // A memory whose bytes cannot be mapped falls back to gst_memory_share.
    let not_mappable = input(256);
    // SAFETY: FFI edge; the memory is ours alone and flags are plain bits
    // (gstreamer-rs has no setter for memory flags).
    unsafe {
        (*(not_mappable.as_ptr() as *mut gst::ffi::GstMemory))
            .mini_object
            .flags |= gst::ffi::GST_MEMORY_FLAG_NOT_MAPPABLE;
    }
    let views = PayloadViews::new(&not_mappable);
    assert!(
        !views.recycles(),
        "an unmappable memory is shared, not viewed"
    );
    let v = views.view(10..20);
    assert_eq!(v.size(), 10);
    assert!(v.parent().is_some(), "fallback is gst_memory_share");
}
