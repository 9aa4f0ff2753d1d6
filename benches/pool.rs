//! acquire + release cost: our pool (`pool::acquire` + drop) vs a default
//! `gst::BufferPool` vs plain `gst::Buffer::with_size`, single-threaded and
//! with 2 threads (the machine has 2 cores), for an RTP header (14 B) and a
//! depayloader access unit (256 KiB), one at a time and 64 in flight. Every
//! id starts with `buffer_pool_performance/`, so the founding document's
//! `heaptrack cargo bench buffer_pool_performance` selects exactly these.
//! Run: `cargo bench --bench pool` (no feature needed).

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use gst::prelude::*;
use gstrsrtpfast::pool;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn default_pool(size: u32) -> gst::BufferPool {
    let p = gst::BufferPool::new();
    let mut c = p.config();
    c.set_params(None, size, 0, 0);
    p.set_config(c).unwrap();
    p.set_active(true).unwrap();
    p
}

fn single(c: &mut Criterion) {
    gst::init().unwrap();
    let _h = pool::StreamHandle::new();
    let mut g = c.benchmark_group("buffer_pool_performance/acquire_release");
    for size in [14usize, 256 << 10] {
        g.bench_with_input(BenchmarkId::new("rtpfast_pool", size), &size, |b, &s| {
            b.iter(|| black_box(pool::acquire(s)))
        });
        let dp = default_pool(size as u32);
        g.bench_with_input(BenchmarkId::new("gst_default_pool", size), &size, |b, _| {
            b.iter(|| black_box(dp.acquire_buffer(None).unwrap()))
        });
        dp.set_active(false).unwrap();
        g.bench_with_input(
            BenchmarkId::new("buffer_with_size", size),
            &size,
            |b, &s| b.iter(|| black_box(gst::Buffer::with_size(s).unwrap())),
        );
    }
    g.finish();
}

/// 64 buffers in flight (a frame's packets, or a jitterbuffer's worth):
/// acquire 64, then drop them all. Reported per buffer.
fn burst(c: &mut Criterion) {
    gst::init().unwrap();
    let _h = pool::StreamHandle::new();
    const N: usize = 64;
    let mut g = c.benchmark_group("buffer_pool_performance/acquire_release_burst64");
    let mut held: Vec<gst::Buffer> = Vec::with_capacity(N);
    for size in [1400usize, 256 << 10] {
        g.bench_with_input(BenchmarkId::new("rtpfast_pool", size), &size, |b, &s| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                for _ in 0..iters {
                    held.extend((0..N).map(|_| pool::acquire(s)));
                    held.clear();
                }
                t.elapsed() / N as u32
            })
        });
        let dp = default_pool(size as u32);
        g.bench_with_input(BenchmarkId::new("gst_default_pool", size), &size, |b, _| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                for _ in 0..iters {
                    held.extend((0..N).map(|_| dp.acquire_buffer(None).unwrap()));
                    held.clear();
                }
                t.elapsed() / N as u32
            })
        });
        dp.set_active(false).unwrap();
        g.bench_with_input(
            BenchmarkId::new("buffer_with_size", size),
            &size,
            |b, &s| {
                b.iter_custom(|iters| {
                    let t = Instant::now();
                    for _ in 0..iters {
                        held.extend((0..N).map(|_| gst::Buffer::with_size(s).unwrap()));
                        held.clear();
                    }
                    t.elapsed() / N as u32
                })
            },
        );
    }
    g.finish();
}

fn run_threads(threads: usize, iters: u64, f: impl Fn() + Sync) -> Duration {
    let start = Instant::now();
    std::thread::scope(|sc| {
        for _ in 0..threads {
            sc.spawn(|| {
                for _ in 0..iters {
                    f();
                }
            });
        }
    });
    // Time per operation across all threads (throughput view).
    start.elapsed() / threads as u32
}

fn multi(c: &mut Criterion) {
    gst::init().unwrap();
    let _h = pool::StreamHandle::new();
    const T: usize = 2;
    let mut g = c.benchmark_group("buffer_pool_performance/acquire_release_2threads");
    let size = 14usize;
    g.bench_function("rtpfast_pool/14", |b| {
        b.iter_custom(|n| run_threads(T, n, || drop(black_box(pool::acquire(size)))))
    });
    let dp = default_pool(size as u32);
    g.bench_function("gst_default_pool/14", |b| {
        b.iter_custom(|n| run_threads(T, n, || drop(black_box(dp.acquire_buffer(None).unwrap()))))
    });
    dp.set_active(false).unwrap();
    g.bench_function("buffer_with_size/14", |b| {
        b.iter_custom(|n| {
            run_threads(T, n, || {
                drop(black_box(gst::Buffer::with_size(size).unwrap()))
            })
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! { name = benches; config = config(); targets = single, burst, multi }
criterion_main!(benches);
