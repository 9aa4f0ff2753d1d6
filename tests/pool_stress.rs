//! Concurrency stress test of the pure pool core: several threads acquire and
//! release blocks across all size classes while another thread keeps changing
//! the ceiling and trimming (deactivating). Checks: no block is ever handed out
//! twice (an ownership word inside each block), every block is accounted for at
//! the end, the ceiling in force is never exceeded, nothing deadlocks.
//!
//! `POOL_STRESS_ITERS` sets the iterations per worker (default 400k; 4 workers).

use gstrsrtpfast::pool::core::{Block, Core, CLASS_SIZES, NUM_CLASSES};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn owner_word(b: &Block) -> &AtomicU64 {
    // SAFETY: blocks are 64-byte aligned and at least 64 bytes long; the
    // memory lives as long as the block is out.
    unsafe { &*(b.as_ptr() as *const AtomicU64) }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn stress_no_double_handout_no_leak_no_deadlock() {
    let iters: u64 = std::env::var("POOL_STRESS_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400_000);
    const WORKERS: u64 = 4;
    const HIGH: u64 = 24 << 20;
    const LOW: u64 = 2 << 20;
    let core = Arc::new(Core::new(HIGH));
    let stop = Arc::new(AtomicBool::new(false));
    let violations = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));

    // Watchdog: a deadlock fails the test instead of hanging CI.
    {
        let done = done.clone();
        std::thread::spawn(move || {
            let t = Instant::now();
            while !done.load(Ordering::Relaxed) {
                if t.elapsed() > Duration::from_secs(300) {
                    eprintln!("pool stress: deadlock (no progress in 300 s)");
                    std::process::abort();
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
    }

    // Resizer / deactivator.
    let ctl = {
        let core = core.clone();
        let stop = stop.clone();
        let violations = violations.clone();
        std::thread::spawn(move || {
            let mut trims = 0u64;
            let mut freed = 0u64;
            let mut high = true;
            while !stop.load(Ordering::Relaxed) {
                let ceiling = core.max_bytes();
                // Pooled bytes never exceed the largest ceiling ever set.
                if core.bytes_pooled() > HIGH {
                    violations.fetch_add(1, Ordering::Relaxed);
                }
                high = !high;
                core.set_max_bytes(if high { HIGH } else { LOW });
                let c2 = core.clone();
                freed += core.trim(&mut |b| c2.push_uncounted(b.with_cookie(0)));
                trims += 1;
                let _ = ceiling;
                std::thread::sleep(Duration::from_millis(2));
            }
            (trims, freed)
        })
    };

    let workers: Vec<_> = (0..WORKERS)
        .map(|t| {
            let core = core.clone();
            let violations = violations.clone();
            std::thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t + 1));
                let mut held: Vec<(Block, u64)> = Vec::with_capacity(64);
                let (mut hits, mut misses) = (0u64, 0u64);
                for i in 0..iters {
                    let r = rng.next();
                    if held.len() < 48 && (r & 1 == 0 || held.is_empty()) {
                        // Skew towards small classes, like RTP traffic.
                        let class = match (r >> 8) % 16 {
                            0..=7 => 0,
                            8..=10 => 2,
                            11 => 1,
                            12 => 3,
                            13 => 4,
                            14 => 5,
                            _ => 6 + ((r >> 40) & 1) as usize,
                        };
                        match core.pop(class) {
                            Ok(b) => {
                                let token = (t + 1) << 48 | (i + 1);
                                let prev = owner_word(&b).swap(token, Ordering::AcqRel);
                                if prev != 0 {
                                    violations.fetch_add(1, Ordering::Relaxed);
                                }
                                // Touch the end of the block too.
                                // SAFETY: `b` was just popped from `core` (alive
                                // for the test, via the Arc); `pop` hands a block
                                // to one owner at a time (the guarantee the owner
                                // word checks), and its last byte is at
                                // CLASS_SIZES[class] - 1, its capacity - 1.
                                unsafe {
                                    *b.as_ptr().add(CLASS_SIZES[class] - 1) = t as u8;
                                }
                                held.push((b, token));
                                hits += 1;
                            }
                            Err(_) => misses += 1,
                        }
                    } else {
                        let idx = (r >> 16) as usize % held.len();
                        let (b, token) = held.swap_remove(idx);
                        if owner_word(&b)
                            .compare_exchange(token, 0, Ordering::AcqRel, Ordering::Relaxed)
                            .is_err()
                        {
                            violations.fetch_add(1, Ordering::Relaxed);
                        }
                        // Half of the blocks come back "dressed".
                        let cookie = (r >> 32) as usize & 1;
                        core.push(b.with_cookie(cookie));
                    }
                }
                for (b, token) in held {
                    if owner_word(&b)
                        .compare_exchange(token, 0, Ordering::AcqRel, Ordering::Relaxed)
                        .is_err()
                    {
                        violations.fetch_add(1, Ordering::Relaxed);
                    }
                    core.push(b);
                }
                (hits, misses)
            })
        })
        .collect();

    let mut total = (0, 0);
    for w in workers {
        let (h, m) = w.join().unwrap();
        total.0 += h;
        total.1 += m;
    }
    stop.store(true, Ordering::Relaxed);
    let (trims, freed) = ctl.join().unwrap();
    done.store(true, Ordering::Relaxed);

    assert_eq!(
        violations.load(Ordering::Relaxed),
        0,
        "double hand-out or ceiling violation"
    );
    let s = core.stats();
    eprintln!(
        "stress: {} acquired, {} misses, {} trims freed {} MiB, high water {} KiB",
        total.0,
        total.1,
        trims,
        freed >> 20,
        s.high_water >> 10
    );
    assert!(trims > 0);
    assert_eq!(s.bytes_in_use, 0);
    // Count every block: all are back in the free lists.
    for c in 0..NUM_CLASSES {
        assert_eq!(s.classes[c].blocks_in_use, 0, "class {c}");
        assert_eq!(core.free_len(c), core.blocks(c), "class {c} leaked blocks");
    }
    assert_eq!(s.acquired, total.0 + total.1);
    assert_eq!(s.misses, total.1);
    // Deactivation gives everything back to the OS.
    let c2 = core.clone();
    core.trim(&mut |b| c2.push_uncounted(b.with_cookie(0)));
    assert_eq!(core.bytes_pooled(), 0);
}
