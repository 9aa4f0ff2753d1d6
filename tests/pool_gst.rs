//! GstRtpFastBufferPool: GType, element API (acquire/recycle/reset), the
//! GstBufferPool contract (config, max, deactivation with outstanding
//! buffers), ceiling fallback and stats.

use gst::prelude::*;
use gstrsrtpfast::pool;
use std::sync::Mutex;

// Tests share the process-wide pool: run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn init() -> std::sync::MutexGuard<'static, ()> {
    let g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    gst::init().unwrap();
    pool::register_types();
    g
}

#[test]
fn gtype_is_registered() {
    let _g = init();
    let t = gst::glib::Type::from_name("GstRtpFastBufferPool").expect("registered");
    assert!(t.is_a(gst::BufferPool::static_type()));
    assert!(gst::glib::Type::from_name("GstRtpFastAllocator").is_some());
    assert!(gst::Allocator::find(Some("RtpFastMemory")).is_some());
    // Usable through the generic GObject API like from C/Python.
    let obj = gst::glib::Object::with_type(t);
    let p = obj.downcast::<gst::BufferPool>().unwrap();
    let s = p.property::<gst::Structure>("stats");
    assert!(s.get::<u64>("acquired").is_ok());
}

#[test]
fn acquire_recycles_and_resets() {
    let _g = init();
    let _h = pool::StreamHandle::new();
    // Warm up.
    drop(pool::acquire(14));
    let before = pool::stats();
    let payload = gst::Memory::from_slice(vec![7u8; 1000]);
    for i in 0..100u64 {
        let mut b = pool::acquire(14);
        {
            let bm = b.get_mut().expect("writable");
            assert_eq!(bm.size(), 14);
            assert_eq!(bm.n_memory(), 1);
            assert!(bm.pts().is_none());
            assert!(bm.flags().is_empty(), "flags {:?}", bm.flags());
            bm.map_writable().unwrap()[0] = 0x80;
            bm.append_memory(payload.clone());
            bm.set_pts(gst::ClockTime::from_nseconds(i));
            bm.set_offset(i);
            bm.set_flags(gst::BufferFlags::MARKER | gst::BufferFlags::DISCONT);
            gst::ReferenceTimestampMeta::add(
                bm,
                &gst::Caps::new_empty_simple("timestamp/x-test"),
                gst::ClockTime::ZERO,
                None,
            );
            assert_eq!(bm.size(), 1014);
        }
        drop(b);
    }
    let after = pool::stats();
    assert!(
        after.recycled >= before.recycled + 100,
        "{before:?} {after:?}"
    );
    let b = pool::acquire(14);
    assert!(b.meta::<gst::ReferenceTimestampMeta>().is_none());
    assert_eq!(b.offset(), gst::ffi::GST_BUFFER_OFFSET_NONE);
}

#[test]
fn shared_memory_is_never_recycled_while_referenced() {
    let _g = init();
    let _h = pool::StreamHandle::new();
    let mut b = pool::acquire(1400);
    b.get_mut().unwrap().map_writable().unwrap().fill(0xAB);
    let kept = b.memory(0).unwrap(); // second reference on the pooled memory
    let kept_ptr = kept.map_readable().unwrap().as_ptr();
    drop(b);
    let mut many = Vec::new();
    for _ in 0..200 {
        let mut x = pool::acquire(1400);
        let p = x.get_mut().unwrap().map_writable().unwrap().as_mut_ptr();
        assert_ne!(p, kept_ptr as *mut u8, "memory handed out twice");
        x.get_mut().unwrap().map_writable().unwrap().fill(0);
        many.push(x);
    }
    assert!(kept.map_readable().unwrap().iter().all(|&v| v == 0xAB));
    let in_use = pool::stats().bytes_in_use;
    drop(kept); // block goes back now
    assert!(pool::stats().bytes_in_use < in_use);
}

#[test]
fn bufferpool_contract_and_deactivation_with_outstanding() {
    let _g = init();
    let p = pool::RtpFastBufferPool::new();
    let mut config = p.config();
    config.set_params(None, 1400, 2, 0);
    p.set_config(config).unwrap();
    p.set_active(true).unwrap();
    let b1 = p.acquire_buffer(None).unwrap();
    assert_eq!(b1.size(), 1400);
    assert_eq!(
        b1.peek_memory(0).allocator().unwrap().type_().name(),
        "GstRtpFastAllocator"
    );
    let b2 = p.acquire_buffer(None).unwrap();
    p.set_active(false).unwrap(); // two buffers still out
    assert!(p.acquire_buffer(None).is_err());
    drop(b1);
    drop(b2); // freed when they come back
              // Reactivate and reuse.
    p.set_active(true).unwrap();
    let b3 = p.acquire_buffer(None).unwrap();
    drop(b3);
    p.set_active(false).unwrap();
}

#[test]
fn explicit_max_applies_the_bufferpool_contract() {
    let _g = init();
    let p = pool::RtpFastBufferPool::new();
    let mut config = p.config();
    config.set_params(None, 100, 0, 2);
    p.set_config(config).unwrap();
    p.set_active(true).unwrap();
    let a = p.acquire_buffer(None).unwrap();
    let b = p.acquire_buffer(None).unwrap();
    let dontwait = gst::BufferPoolAcquireParams::with_flags(gst::BufferPoolAcquireFlags::DONTWAIT);
    assert_eq!(
        p.acquire_buffer(Some(&dontwait)).unwrap_err(),
        gst::FlowError::Eos
    );
    // A blocking acquire is woken by a release from another thread.
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        drop(a);
    });
    let c = p.acquire_buffer(None).unwrap();
    t.join().unwrap();
    drop((b, c));
    p.set_active(false).unwrap();
}

#[test]
fn ceiling_falls_back_and_counts_misses() {
    let _g = init();
    let _h = pool::StreamHandle::new();
    let old = pool::max_bytes();
    pool::trim();
    let cap = pool::stats().bytes_pooled + (3 << 20);
    pool::set_max_bytes(cap);
    let misses = pool::stats().misses;
    let held: Vec<_> = (0..20).map(|_| pool::acquire(1 << 20)).collect();
    for b in &held {
        assert_eq!(b.size(), 1 << 20); // every push still gets its buffer
    }
    let s = pool::stats();
    assert!(s.bytes_pooled <= cap, "{} > {cap}", s.bytes_pooled);
    assert!(s.misses >= misses + 17, "misses {} -> {}", misses, s.misses);
    // Oversize requests are misses too.
    let big = pool::acquire(8 << 20);
    assert_eq!(big.size(), 8 << 20);
    assert!(pool::stats().oversize_misses >= 1);
    drop(held);
    pool::set_max_bytes(old);
    let st = pool::stats().to_structure();
    assert!(st.get::<u64>("high-water").unwrap() >= 3 << 20);
    assert!(st.get::<gst::Array>("classes").unwrap().len() == pool::core::NUM_CLASSES);
}

fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    s.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 4096
}

#[test]
fn per_stream_cost() {
    let _g = init();
    // What an element holds per stream: a zero-sized handle on the shared core.
    assert_eq!(std::mem::size_of::<pool::StreamHandle>(), 0);
    let before = rss_bytes();
    let handles: Vec<_> = (0..10_000).map(|_| pool::StreamHandle::new()).collect();
    let after = rss_bytes();
    drop(handles);
    // A full GstBufferPool instance (what we propose upstream) per stream.
    let b2 = rss_bytes();
    let pools: Vec<_> = (0..2_000)
        .map(|_| {
            let p = pool::RtpFastBufferPool::new();
            let mut c = p.config();
            c.set_params(None, 1400, 0, 0);
            p.set_config(c).unwrap();
            p.set_active(true).unwrap();
            p
        })
        .collect();
    let a2 = rss_bytes();
    eprintln!(
        "resident per StreamHandle: {} B (Vec slot included); per active RtpFastBufferPool instance: {} B",
        (after.saturating_sub(before)) / 10_000,
        (a2.saturating_sub(b2)) / 2_000
    );
    for p in &pools {
        p.set_active(false).unwrap();
    }
    assert!((after.saturating_sub(before)) / 10_000 <= 1024);
}

/// `pool::acquire` buffers come back through their dispose hook, from any
/// thread and from inside buffer lists, while streams come and go (the last
/// handle leaving drains the pool). A word written into each buffer by its
/// owner proves no buffer or block is handed out twice; at the end every
/// block is back.
#[test]
fn buffers_recycle_from_any_thread_while_streams_come_and_go() {
    let _g = init();
    // No handle held here: the churning thread's handles are the only ones,
    // so the pool keeps entering and leaving its draining state.
    let finished = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        // Watchdog: a livelock or deadlock fails the test instead of hanging CI.
        let finished = finished.clone();
        std::thread::spawn(move || {
            let t = std::time::Instant::now();
            while !finished.load(std::sync::atomic::Ordering::Relaxed) {
                if t.elapsed() > std::time::Duration::from_secs(120) {
                    eprintln!("pool_gst: no progress in 120 s");
                    std::process::abort();
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        });
    }
    const PRODUCERS: u64 = 2;
    const PER_PRODUCER: u64 = 100_000;
    let violations = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (tx, rx) = std::sync::mpsc::sync_channel::<(gst::BufferList, u64)>(64);
    let consumer = {
        let violations = violations.clone();
        std::thread::spawn(move || {
            for (list, tag) in rx {
                for b in list.iter() {
                    // Memory 0 only: mapping a packet buffer (header + view)
                    // whole would merge its memories.
                    let m = b.peek_memory(0).map_readable().unwrap();
                    if m[..8] != tag.to_le_bytes() {
                        violations.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    if b.n_memory() == 2 {
                        // A packet's view shows the producer's input bytes
                        // at the offset it carries in its header.
                        let at = u32::from_le_bytes(m[8..12].try_into().unwrap()) as usize;
                        let v = b.peek_memory(1).map_readable().unwrap();
                        if v.iter()
                            .enumerate()
                            .any(|(i, x)| *x != ((at + i) % 251) as u8)
                        {
                            violations.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                }
                drop(list); // the last references drop on this thread
            }
        })
    };
    let churn = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let streams = {
        let churn = churn.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while churn.load(std::sync::atomic::Ordering::Relaxed) {
                drop(pool::StreamHandle::new());
                pool::trim();
                n += 1;
                std::thread::yield_now();
            }
            n
        })
    };
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let input = gst::Buffer::from_mut_slice(
                    (0..4096usize).map(|i| (i % 251) as u8).collect::<Vec<u8>>(),
                );
                let views = pool::PayloadViews::new(input.peek_memory(0));
                for i in 0..PER_PRODUCER / 4 {
                    let tag = (p + 1) << 48 | i;
                    let mut list = gst::BufferList::new_sized(5);
                    let l = list.get_mut().unwrap();
                    // A packet buffer: header (tag, offset) + a view that is
                    // parked with it and re-pointed on reuse.
                    let at = (i as usize * 7) % 3000;
                    l.add(pool::acquire_packet(
                        14,
                        |h| {
                            h[..8].copy_from_slice(&tag.to_le_bytes());
                            h[8..12].copy_from_slice(&(at as u32).to_le_bytes());
                        },
                        &views,
                        at..at + 1000,
                    ));
                    for k in 0..4usize {
                        let size = [14, 1400, 9000, 60_000][k];
                        let mut b = pool::acquire(size);
                        let bm = b.get_mut().unwrap();
                        let mut m = bm.map_writable().unwrap();
                        // A recycled buffer must not still carry a live tag
                        // of someone else's in-flight list.
                        m[..8].copy_from_slice(&tag.to_le_bytes());
                        drop(m);
                        if k == 1 {
                            // Drop one straight away on this thread, too.
                            drop(pool::acquire(size));
                        }
                        l.add(b);
                    }
                    tx.send((list, tag)).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    for p in producers {
        p.join().unwrap();
    }
    consumer.join().unwrap();
    churn.store(false, std::sync::atomic::Ordering::Relaxed);
    let cycles = streams.join().unwrap();
    finished.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(cycles > 0);
    assert_eq!(violations.load(std::sync::atomic::Ordering::Relaxed), 0);
    // Packet buffers parked after the last drain (a drop racing the churn
    // thread's last trim) hold their blocks until the next drain.
    pool::trim();
    let s = pool::stats();
    assert_eq!(s.bytes_in_use, 0, "blocks still out: {s:?}");
    for c in &s.classes {
        assert_eq!(c.blocks_in_use, 0, "class {} leaked: {c:?}", c.size);
    }
}
