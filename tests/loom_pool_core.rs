//! Model checking of the pool core with loom: every interleaving (up to a
//! preemption bound) of small concurrent scenarios on `pool::core::Core`.
//! Run with `make loom`, i.e.
//! `RUSTFLAGS="--cfg loom" cargo test --release --test loom_pool_core`.
//!
//! Under `--cfg loom` the core's atomics and mutexes are loom's, and its free
//! list is a loom-mutexed FIFO (crossbeam's ArrayQueue is not instrumented;
//! it is model-checked upstream). What is checked here is the core's own
//! protocol: pop/push accounting, slab growth under `try_lock`, the byte
//! ceiling's reservation loop, and trimming while blocks are in flight.
//! Slabs are real anonymous mappings, so a block used after its slab was
//! unmapped would crash the test.
//!
//! The classes used hold few blocks per slab (class 6: two 1 MiB blocks per
//! 2 MiB slab; class 7: one 4 MiB block), which keeps the state space small.
//! Blocks are carved from a slab one page's worth at a time, so for these
//! classes one block per growth.
#![cfg(loom)]

use gstrsrtpfast::pool::core::{Block, Core, Miss};
use loom::sync::Arc;
use loom::thread;

const TWO: usize = 6; // two blocks per slab
const ONE: usize = 7; // one block per slab

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(f);
}

/// Every block of `class` is accounted for: free + out == carved.
fn assert_accounted(core: &Core, class: usize, out: usize) {
    assert_eq!(core.free_len(class) + out, core.blocks(class));
    let s = core.stats();
    assert_eq!(s.classes[class].blocks_in_use, out);
    assert!(s.bytes_pooled <= s.max_bytes, "ceiling exceeded: {s:?}");
}

fn touch(b: &mut Block, v: u8) {
    // SAFETY: the block was popped by this thread and not given back.
    let m = unsafe { b.as_mut_slice() };
    m[0] = v;
    m[m.len() - 1] = v;
    assert_eq!(
        (m[0], m[m.len() - 1]),
        (v, v),
        "block shared with another thread"
    );
}

#[test]
fn concurrent_pops_never_hand_out_a_block_twice() {
    model(|| {
        let core = Arc::new(Core::new(64 << 20));
        // One slab, one block carved from it and free.
        let a = core.pop(TWO).unwrap();
        core.push(a);
        let threads: Vec<_> = (0..2u8)
            .map(|i| {
                let core = core.clone();
                thread::spawn(move || {
                    let mut b = core.pop(TWO).unwrap();
                    touch(&mut b, i + 1);
                    b
                })
            })
            .collect();
        let blocks: Vec<Block> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_ne!(blocks[0].as_ptr(), blocks[1].as_ptr());
        // The free block went to one thread, the other carved the slab's
        // second block: no second slab.
        assert_eq!(core.blocks(TWO), 2);
        assert_eq!(
            core.bytes_pooled(),
            2 << 20,
            "no slab grown beside the first"
        );
        assert_accounted(&core, TWO, 2);
        for b in blocks {
            core.push(b);
        }
        assert_accounted(&core, TWO, 0);
    });
}

#[test]
fn concurrent_growth_grows_once_and_respects_the_ceiling() {
    model(|| {
        // Room for exactly one 2 MiB slab.
        let core = Arc::new(Core::new(2 << 20));
        let threads: Vec<_> = (0..2u8)
            .map(|i| {
                let core = core.clone();
                thread::spawn(move || match core.pop(TWO) {
                    Ok(mut b) => {
                        touch(&mut b, i + 1);
                        Some(b)
                    }
                    Err(m) => {
                        // Only "someone else is growing" may fail here.
                        assert_eq!(m, Miss::Busy);
                        None
                    }
                })
            })
            .collect();
        let got: Vec<Block> = threads
            .into_iter()
            .filter_map(|t| t.join().unwrap())
            .collect();
        assert!(!got.is_empty(), "the grower always gets a block");
        // One block carved per successful growth; a thread that found the
        // slab being mapped missed (Busy) instead of waiting.
        assert_eq!(
            core.blocks(TWO),
            got.len(),
            "exactly the blocks handed out carved"
        );
        assert_eq!(core.bytes_pooled(), 2 << 20, "exactly one slab mapped");
        assert_accounted(&core, TWO, got.len());
        for b in got {
            core.push(b);
        }
        // The ceiling is full: a third block is a miss, not a new slab.
        let held: Vec<_> = (0..2).map(|_| core.pop(TWO).unwrap()).collect();
        assert_eq!(core.pop(TWO), Err(Miss::Ceiling));
        held.into_iter().for_each(|b| core.push(b));
        assert_accounted(&core, TWO, 0);
    });
}

#[test]
fn two_classes_growing_share_the_ceiling() {
    model(|| {
        // 4.5 MiB: after either class's slab (4 MiB, or 2 MiB) the other
        // class's smallest growth (one block: 4 MiB, or 1 MiB) no longer fits.
        let max = (9 << 20) / 2;
        let core = Arc::new(Core::new(max));
        let t = {
            let core = core.clone();
            thread::spawn(move || core.pop(ONE).ok())
        };
        let mine = core.pop(TWO).ok();
        let theirs = t.join().unwrap();
        assert!(core.bytes_pooled() <= max);
        assert!(
            mine.is_some() != theirs.is_some(),
            "exactly one class fits under the ceiling"
        );
        // The winner's slab is mapped whole (2 MiB for TWO, 4 MiB for ONE);
        // the loser reserved nothing.
        let slab = if mine.is_some() { 2 << 20 } else { 4 << 20 };
        assert_eq!(
            core.bytes_pooled(),
            slab,
            "reserved bytes == the one slab mapped"
        );
        assert_eq!(core.blocks(ONE) + core.blocks(TWO), 1, "one block carved");
        mine.into_iter().chain(theirs).for_each(|b| core.push(b));
    });
}

#[test]
fn trim_never_unmaps_a_block_in_use() {
    model(|| {
        let core = Arc::new(Core::new(64 << 20));
        let a = core.pop(TWO).unwrap();
        core.push(a);
        let user = {
            let core = core.clone();
            thread::spawn(move || {
                // Pop (the slab, or a fresh one if trim won the race), write,
                // give back: a write to an unmapped slab would fault.
                if let Ok(mut b) = core.pop(TWO) {
                    touch(&mut b, 7);
                    core.push(b);
                }
            })
        };
        let freed = core.trim(&mut |_| unreachable!("no dressed blocks here"));
        user.join().unwrap();
        assert!(freed == 0 || freed == 2 << 20);
        assert_accounted(&core, TWO, 0);
        // Whatever happened, the class is usable and trims to zero when idle.
        let b = core.pop(TWO).unwrap();
        core.push(b);
        core.trim(&mut |_| unreachable!());
        assert_eq!(core.bytes_pooled(), 0);
    });
}

#[test]
fn trim_undresses_parked_blocks_pushed_concurrently() {
    model(|| {
        let core = Arc::new(Core::new(64 << 20));
        let a = core.pop(ONE).unwrap();
        core.push(a);
        let user = {
            let core = core.clone();
            thread::spawn(move || {
                // Park the block "dressed" (cookie != 0), as the GStreamer
                // layer does with a recycled GstBuffer.
                if let Ok(b) = core.pop(ONE) {
                    core.push(b.with_cookie(0xd7e55));
                }
            })
        };
        let mut undressed = Vec::new();
        core.trim(&mut |b| undressed.push(b));
        user.join().unwrap();
        // Undressing gives the bare block back (the GstMemory was freed).
        for b in undressed {
            assert_eq!(b.cookie, 0xd7e55);
            core.push_uncounted(b.with_cookie(0));
        }
        assert_accounted(&core, ONE, 0);
        // Nothing is lost: a final trim unmaps everything.
        core.trim(&mut |b| core.push_uncounted(b.with_cookie(0)));
        core.trim(&mut |_| unreachable!());
        assert_eq!(core.bytes_pooled(), 0);
        assert_eq!(core.blocks(ONE), 0);
    });
}
