//! Steady state allocates nothing (<= 0.05 heap allocations per buffer after
//! warm-up), for the payloader pattern (acquire(14) + append a payload
//! memory + buffer list) and the depayloader pattern (acquire(256 KiB) +
//! set_size).
//!
//! Two measurements:
//! * in process: a counting `#[global_allocator]` (Rust-side allocations)
//!   plus the pool's own counters (every acquire served by a recycled,
//!   already dressed buffer => no GstBuffer/GstMemory was created);
//! * under valgrind (required; `make deps` installs it): the whole process's malloc count,
//!   C libraries included, with `G_SLICE=always-malloc` so GLib 2.74's slice
//!   magazines cannot hide GstBuffer/GstMemory allocations. The delta
//!   between two run lengths divided by the extra buffers is the figure.

use gstrsrtpfast::pool;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

struct Counting;
static RUST_ALLOCS: AtomicU64 = AtomicU64::new(0);
// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged (only counting), so `System`'s GlobalAlloc guarantees hold; the
// counter is an atomic and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        RUST_ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's `alloc` contract (non-zero-size layout),
        // passed on unchanged.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: `p` was allocated by this allocator, i.e. by `System`
        // (every method forwards to it), with layout `l` (caller).
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        RUST_ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `p` came from `System` with layout `l`, and `n` is a valid
        // new size (the caller's `realloc` contract), passed on unchanged.
        unsafe { System.realloc(p, l, n) }
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs the workload: `frames` payloader frames of 60 packets and `frames`
/// depayloader access units. Returns the number of buffers handled.
fn workload(frames: u64, payload: &gst::Memory, list: &mut gst::BufferList) -> u64 {
    workload_with(frames, payload, list, pool::acquire)
}

fn plain(size: usize) -> gst::Buffer {
    gst::Buffer::with_size(size).unwrap()
}

fn workload_with(
    frames: u64,
    payload: &gst::Memory,
    list: &mut gst::BufferList,
    acquire: fn(usize) -> gst::Buffer,
) -> u64 {
    for _ in 0..frames {
        let l = list.get_mut().unwrap();
        for i in 0..60 {
            let mut b = acquire(14);
            {
                let bm = b.get_mut().unwrap();
                bm.map_writable().unwrap()[0] = 0x80;
                // A payload memory shared by all packets (the payloader's
                // input buffer's memory): appended with a ref, no copy.
                bm.append_memory(payload.clone());
                bm.set_pts(gst::ClockTime::from_nseconds(i));
            }
            l.add(b);
        }
        l.drain(..).for_each(drop);
        let mut au = acquire(256 << 10);
        au.get_mut().unwrap().set_size(37_000);
        drop(au);
    }
    frames * 61
}

#[test]
fn steady_state_allocates_nothing_in_process() {
    gst::init().unwrap();
    let _h = pool::StreamHandle::new();
    let payload = gst::Memory::from_slice(vec![0u8; 1400]);
    let mut list = gst::BufferList::new_sized(64);
    workload(100, &payload, &mut list); // warm-up

    let s0 = pool::stats();
    RUST_ALLOCS.store(0, Ordering::Relaxed);
    let n = workload(2000, &payload, &mut list);
    let rust = RUST_ALLOCS.load(Ordering::Relaxed) as f64 / n as f64;
    let s1 = pool::stats();
    let acquired = s1.acquired - s0.acquired;
    let recycled = s1.recycled - s0.recycled;
    eprintln!(
        "in process: {n} buffers, {rust:.4} Rust allocations/buffer, {recycled}/{acquired} recycled, {} misses",
        s1.misses - s0.misses
    );
    assert_eq!(acquired, n);
    assert_eq!(recycled, n, "every acquire must reuse a parked buffer");
    assert!(rust <= 0.05, "Rust allocations per buffer: {rust}");
}

/// Child for the valgrind measurement (`POOL_STEADY_FRAMES` frames;
/// `POOL_STEADY_PLAIN=1` uses `gst::Buffer::with_size` for comparison).
#[test]
#[ignore]
fn steady_child() {
    gst::init().unwrap();
    let _h = pool::StreamHandle::new();
    let acquire: fn(usize) -> gst::Buffer =
        if std::env::var("POOL_STEADY_PLAIN").is_ok_and(|v| v == "1") {
            plain
        } else {
            pool::acquire
        };
    let payload = gst::Memory::from_slice(vec![0u8; 1400]);
    let mut list = gst::BufferList::new_sized(64);
    workload_with(50, &payload, &mut list, acquire);
    let frames: u64 = std::env::var("POOL_STEADY_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    workload_with(frames, &payload, &mut list, acquire);
}

fn valgrind_allocs(frames: u64) -> Option<u64> {
    let exe = std::env::current_exe().ok()?;
    let out = std::process::Command::new("valgrind")
        .args(["--tool=memcheck", "--leak-check=no", "--error-exitcode=0"])
        .arg(exe)
        .args(["--ignored", "--exact", "steady_child", "--test-threads=1"])
        .env("G_SLICE", "always-malloc")
        .env("POOL_STEADY_FRAMES", frames.to_string())
        .output()
        .ok()?;
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().find(|l| l.contains("total heap usage"))?;
    // "==123==   total heap usage: 12,345 allocs, 12,000 frees, ..."
    let n = line.split("usage:").nth(1)?.split("allocs").next()?;
    n.trim().replace(',', "").parse().ok()
}

#[test]
fn steady_state_allocates_nothing_under_valgrind() {
    assert!(
        std::process::Command::new("valgrind")
            .arg("--version")
            .output()
            .is_ok(),
        "valgrind is not installed (make deps installs it): cannot count the process's mallocs"
    );
    let (f1, f2) = (100u64, 600u64);
    let (Some(a1), Some(a2)) = (valgrind_allocs(f1), valgrind_allocs(f2)) else {
        panic!("could not run the valgrind child");
    };
    let per_buffer = (a2 as f64 - a1 as f64) / ((f2 - f1) * 61) as f64;
    eprintln!(
        "valgrind (G_SLICE=always-malloc): {a1} allocs for {f1} frames, {a2} for {f2}: {per_buffer:.4} allocations per buffer"
    );
    assert!(
        per_buffer <= 0.05,
        "heap allocations per buffer: {per_buffer}"
    );
}
