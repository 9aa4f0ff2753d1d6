//! `cargo test performance::buffer_pool`: the pool's fast path. A block
//! given back is handed out again (no new memory), its counters stay exact
//! when blocks change threads, and a pushed buffer list comes back parked,
//! empty, for the next frame.

use crate::pool::acquire_list;
use crate::pool::core::{Block, Core, HIGH_WATER_SAMPLE};
use crate::pool::list::MAX_PARKED;

#[test]
fn pop_push_recycles_and_counts() {
    let core = Core::new(16 << 20);
    let mut b = core.pop(0).unwrap();
    assert_eq!(b.as_ptr() as usize % 64, 0);
    // SAFETY: `b` was just popped from `core` (alive for the whole test)
    // and is not aliased.
    unsafe { b.as_mut_slice()[..4].copy_from_slice(b"abcd") };
    let p = b.as_ptr();
    core.push(b.with_cookie(7));
    let s = core.stats();
    assert_eq!(s.classes[0].blocks_in_use, 0);
    assert_eq!(s.bytes_pooled, 64 << 10);
    // LIFO is not guaranteed; drain until we find the dressed one.
    let mut seen = Vec::new();
    let found = loop {
        let b = core.pop(0).unwrap();
        if b.cookie == 7 {
            break b;
        }
        seen.push(b);
    };
    assert_eq!(found.as_ptr(), p);
    core.push(found);
    for b in seen {
        core.push(b);
    }
    let s = core.stats();
    assert_eq!(s.classes[0].blocks_in_use, 0);
    assert_eq!(s.bytes_in_use, 0);
    assert!(s.high_water >= 64);
    assert_eq!(core.free_len(0), core.blocks(0));
}

#[test]
fn counters_add_up_when_blocks_change_threads() {
    // Taken on several threads, returned on others: per-thread counter
    // stripes go below zero on their own, the sums stay exact.
    let core = std::sync::Arc::new(Core::new(64 << 20));
    let taken: Vec<Vec<Block>> = (0..4)
        .map(|_| {
            let core = core.clone();
            std::thread::spawn(move || (0..300).map(|_| core.pop(2).unwrap()).collect())
                .join()
                .unwrap()
        })
        .collect();
    let s = core.stats();
    assert_eq!(s.classes[2].blocks_in_use, 1200);
    assert_eq!(s.classes[2].acquired, 1200);
    assert!(s.classes[2].high_water_blocks >= 1200);
    let returned: Vec<_> = taken
        .into_iter()
        .map(|blocks| {
            let core = core.clone();
            std::thread::spawn(move || blocks.into_iter().for_each(|b| core.push(b)))
        })
        .collect();
    returned.into_iter().for_each(|t| t.join().unwrap());
    let s = core.stats();
    assert_eq!(s.classes[2].blocks_in_use, 0);
    assert_eq!(s.bytes_in_use, 0);
    // Sampled: at most HIGH_WATER_SAMPLE - 1 acquires per thread unseen.
    let hw = s.classes[2].high_water_blocks;
    assert!(
        (1200 - 4 * (HIGH_WATER_SAMPLE as usize - 1)..=1200).contains(&hw),
        "{hw}"
    );
    assert_eq!(core.free_len(2), core.blocks(2));
}

#[test]
fn a_dropped_list_comes_back_empty() {
    gst::init().unwrap();
    let mut list = acquire_list(4);
    let buf = gst::Buffer::with_size(10).unwrap();
    list.get_mut().unwrap().add(buf.clone());
    assert!(!buf.is_writable(), "the list holds a reference");
    let ptr = list.as_ptr() as usize;
    drop(list);
    // Its buffer was released with it.
    assert!(buf.is_writable(), "the list let go of it");
    // Other tests may take lists meanwhile: look for ours among a few.
    let again: Vec<_> = (0..MAX_PARKED).map(|_| acquire_list(4)).collect();
    let ours = again.iter().find(|l| l.as_ptr() as usize == ptr);
    let ours = ours.expect("the list was parked and handed out again");
    assert_eq!(ours.len(), 0);
    assert!(ours.is_writable());
}

/// Packet headers come from the shared pool and go back to it (run by the
/// NAL payloaders' `performance` test modules).
pub fn headers_come_from_the_pool(element: &str, caps: &str, h265: bool) {
    // Keep the pool active for the whole check: tests run in parallel, and
    // when another test's element stops as the pool's last user, the pool
    // drains (frees what it caches), so our next headers would be fresh
    // blocks instead of recycled ones.
    let _active = crate::pool::StreamHandle::new();
    let au = super::zero_copy::access_unit(h265, 50_000);
    let before = crate::pool::stats();
    let (out, _) = super::zero_copy::run(element, caps, &au, 20);
    let n = out.packets.len() as u64;
    drop(out);
    let after = crate::pool::stats();
    assert!(
        after.acquired - before.acquired >= n,
        "every packet header acquired from the pool"
    );
    assert!(
        after.recycled - before.recycled >= n * 9 / 10,
        "released packets are recycled"
    );
}

/// A buffer handed back while someone else still holds it (a misuse that
/// gstreamer-rs's `release_buffer` would hand over) is not parked: the
/// pool never hands out a buffer that is still in use.
#[test]
fn a_shared_buffer_is_never_parked() {
    gst::init().unwrap();
    let _stream = crate::pool::StreamHandle::new();
    let size = 1000;
    let held = (0..8)
        .find_map(|_| crate::pool::take_pooled(size))
        .expect("a pooled buffer");
    crate::pool::recycle(held.clone());
    assert!(held.is_writable(), "our reference is the only one left");
    let again: Vec<gst::Buffer> = (0..64)
        .filter_map(|_| crate::pool::take_pooled(size))
        .collect();
    assert!(
        again.iter().all(|b| b.as_ptr() != held.as_ptr()),
        "a buffer still held was handed out again"
    );
}
