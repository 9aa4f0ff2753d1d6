//! Pure-Rust core of the rsrtpfast buffer pool (no GObject).
//!
//! * Size classes suited to RTP: headers, MTU packets, jumbo frames and
//!   access-unit assembly sizes ([`CLASS_SIZES`]).
//! * One lock-free free list per class (`crossbeam_queue::ArrayQueue`): pop
//!   and push never take a lock.
//! * Blocks are carved from anonymous page-aligned slabs (`memmap2`), so
//!   memory is contiguous and is unmapped (returned to the OS) by [`Core::trim`].
//!   A slab is carved a page's worth of blocks at a time, when the free list
//!   is empty: the FIFO free list then only ever holds blocks that were in
//!   use together. Carving a whole slab at once made the free list rotate
//!   through all of its blocks, so every stream's first access unit touched
//!   pages no one else had: ~16 KB of rtpfasth264depay's +17.8 KB resident
//!   per extra stream were the 64 KiB to 1 MiB classes' slabs being paged
//!   in one block at a time (`rtp_perf_compare --streams 200`; now +1.9).
//! * A process-wide ceiling on mapped bytes; growing past it is a *miss* and
//!   the caller falls back to ordinary allocation. Nothing here ever blocks a
//!   caller of [`Core::pop`]/[`Core::push`]: slab growth uses `try_lock`.
//!
//! Each free-list entry is a [`Block`] plus an opaque `cookie`: the GStreamer
//! layer stores the pointer of the `GstBuffer` that wraps the block there
//! ("dressed" block), so a recycled buffer costs no allocation at all.
//! A cookie of 0 means a bare block.
//!
//! Accounting: every block of a class is either in the free list or *out*
//! (handed to a user). [`Core::pop`] and [`Core::push`] count; the
//! `*_uncounted` variants are for internal moves (trim, undressing).

use std::ptr::NonNull;
use std::sync::OnceLock;

// With `--cfg loom` the core runs on loom's model-checked atomics and mutex
// (tests/loom_pool_core.rs explores every interleaving of small scenarios).
#[cfg(loom)]
use loom::sync::{
    atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    Mutex,
};
#[cfg(not(loom))]
use std::sync::{
    atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    Mutex,
};

/// Number of size classes.
pub const NUM_CLASSES: usize = 8;

/// Block sizes of the classes, in bytes. All multiples of 64 (blocks are
/// 64-byte aligned): RTP header (+FU header), small packets, MTU packets,
/// jumbo packets, small access units, large access units, huge access units,
/// raw video frames (1080p I420 is 3 MB).
pub const CLASS_SIZES: [usize; NUM_CLASSES] =
    [64, 256, 1536, 9216, 65536, 262144, 1 << 20, 4 << 20];

/// Maximum number of blocks per class (capacity of the free list). Bounds the
/// free-list array; the byte ceiling usually binds first.
pub const CLASS_MAX_BLOCKS: [usize; NUM_CLASSES] = [16384, 8192, 8192, 2048, 512, 256, 64, 16];

/// Default ceiling on pooled (mapped) bytes for the process.
pub const DEFAULT_MAX_BYTES: u64 = 128 << 20;

/// Environment variable that sets the process ceiling.
pub const MAX_BYTES_ENV: &str = "RSRTPFAST_POOL_MAX_BYTES";

/// Environment variable: `1` advises transparent huge pages on large slabs.
pub const HUGE_PAGES_ENV: &str = "RSRTPFAST_POOL_HUGE_PAGES";

const PAGE: usize = 4096;
const MIN_SLAB: usize = 64 << 10;
const MAX_SLAB: usize = 2 << 20;

/// A block of pooled memory: `CLASS_SIZES[class]` bytes at `ptr`, plus the
/// opaque cookie of whoever parked it in the free list.
#[derive(Debug, PartialEq, Eq)]
pub struct Block {
    ptr: NonNull<u8>,
    class: u8,
    /// 0 = bare block; otherwise owned by the layer that pushed it.
    pub cookie: usize,
}

// SAFETY: a Block is a unique handle on memory owned by the core's slabs.
unsafe impl Send for Block {}

impl Block {
    #[inline]
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
    #[inline]
    pub fn class(&self) -> usize {
        self.class as usize
    }
    /// Capacity in bytes (the class size).
    #[inline]
    pub fn capacity(&self) -> usize {
        CLASS_SIZES[self.class as usize]
    }
    /// A second handle on the same block carrying `cookie`, to park in the
    /// free list while the block itself stays owned by a dressed object.
    ///
    /// # Safety
    /// Exactly one of the two handles may be given back to the core.
    #[inline]
    pub unsafe fn token(&self, cookie: usize) -> Block {
        Block {
            ptr: self.ptr,
            class: self.class,
            cookie,
        }
    }
    /// The same block with another cookie.
    #[inline]
    pub fn with_cookie(self, cookie: usize) -> Block {
        Block { cookie, ..self }
    }
    /// # Safety
    /// The caller must own the block (it came from `pop`) and not alias it,
    /// and the `Core` it came from must still be alive (its slabs are
    /// unmapped when it is dropped; the global core never is).
    #[inline]
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` is the start of a block of `capacity()` bytes inside
        // a slab its (still alive, caller) core keeps mapped while any of
        // its blocks is out of the free list (`trim` only unmaps a class once
        // every block is back), and the caller owns the block without
        // aliasing it, so a unique slice over it for the borrow of `self` is
        // sound.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.capacity()) }
    }
}

/// Why [`Core::pop`] returned nothing (the caller allocates ordinarily).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// Larger than the largest class.
    TooLarge,
    /// Growing would exceed the byte ceiling or the class capacity.
    Ceiling,
    /// Another thread is growing or trimming the class right now.
    Busy,
}

/// Bounded lock-free free list of one class: a `crossbeam_queue::ArrayQueue`
/// allocated on first use (classes nobody uses cost nothing).
#[cfg(not(loom))]
struct FreeList {
    cap: usize,
    queue: OnceLock<crossbeam_queue::ArrayQueue<Block>>,
}

#[cfg(not(loom))]
impl FreeList {
    fn new(cap: usize) -> Self {
        FreeList {
            cap,
            queue: OnceLock::new(),
        }
    }
    #[inline]
    fn queue(&self) -> &crossbeam_queue::ArrayQueue<Block> {
        self.queue
            .get_or_init(|| crossbeam_queue::ArrayQueue::new(self.cap))
    }
    #[inline]
    fn pop(&self) -> Option<Block> {
        self.queue().pop()
    }
    #[inline]
    fn push(&self, b: Block) -> Result<(), Block> {
        self.queue().push(b)
    }
    fn len(&self) -> usize {
        self.queue.get().map_or(0, |q| q.len())
    }
    fn in_use(&self) -> bool {
        self.queue.get().is_some()
    }
}

/// Under loom: the same bounded FIFO behind a loom mutex. crossbeam's queue is
/// not loom-instrumented (and is tested upstream); what the model checks is
/// the core's own protocol around it: counters, ceiling, growth, trimming.
#[cfg(loom)]
struct FreeList {
    cap: usize,
    queue: Mutex<std::collections::VecDeque<Block>>,
}

#[cfg(loom)]
impl FreeList {
    fn new(cap: usize) -> Self {
        FreeList {
            cap,
            queue: Mutex::new(std::collections::VecDeque::new()),
        }
    }
    fn pop(&self) -> Option<Block> {
        self.queue.lock().unwrap().pop_front()
    }
    fn push(&self, b: Block) -> Result<(), Block> {
        let mut q = self.queue.lock().unwrap();
        if q.len() == self.cap {
            return Err(b);
        }
        q.push_back(b);
        Ok(())
    }
    fn len(&self) -> usize {
        self.queue.lock().unwrap().len()
    }
    fn in_use(&self) -> bool {
        true
    }
}

/// Hot counters of one class, split in stripes: each thread counts in its
/// own cache line. One shared pair of counters bounced between cores and
/// made two threads 58% slower than plain allocation (benches/pool.rs,
/// `buffer_pool_performance/acquire_release_2threads`: 130 ns per buffer vs 82 ns with the counters
/// removed altogether).
#[repr(align(128))]
#[derive(Default)]
struct Stripe {
    acquired: AtomicU64,
    /// Blocks popped minus blocks pushed through this stripe. A block may be
    /// taken on one thread and returned on another, so a stripe alone may
    /// wrap below zero; only the wrapping sum over stripes is meaningful.
    out: AtomicUsize,
}

/// Number of counter stripes per class (threads share stripes round-robin).
#[cfg(not(loom))]
const STRIPES: usize = 8;
/// Under loom one stripe: the sums are what the model checks, and loom's
/// coroutines have small stacks.
#[cfg(loom)]
const STRIPES: usize = 1;

/// The high-water mark of blocks in use is sampled every this many acquires
/// of a stripe (and whenever a class grows).
pub(crate) const HIGH_WATER_SAMPLE: u64 = 16;

/// This thread's counter stripe.
#[cfg(not(loom))]
#[inline]
fn stripe() -> usize {
    use std::cell::Cell;
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    thread_local! {
        static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    STRIPE.with(|s| {
        let mut i = s.get();
        if i == usize::MAX {
            i = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % STRIPES;
            s.set(i);
        }
        i
    })
}

#[cfg(loom)]
#[inline]
fn stripe() -> usize {
    0
}

/// The mappings of a class, and how far the newest one is carved.
#[derive(Default)]
struct Slabs {
    maps: Vec<memmap2::MmapMut>,
    /// Blocks of the newest mapping handed out so far, and how many it holds.
    carved: usize,
    capacity: usize,
}

#[repr(align(128))]
struct Class {
    size: usize,
    max_blocks: usize,
    free: FreeList,
    /// Slabs; locked only to grow or trim (never on the pop/push fast path).
    slabs: Mutex<Slabs>,
    blocks: AtomicUsize,
    /// Most blocks in use at once; written only when it rises, so the line
    /// stays shared between cores.
    high_water: AtomicUsize,
    grown: AtomicU64,
    misses: AtomicU64,
    stripes: [Stripe; STRIPES],
}

impl Class {
    fn new(i: usize) -> Class {
        Class {
            size: CLASS_SIZES[i],
            max_blocks: CLASS_MAX_BLOCKS[i],
            free: FreeList::new(CLASS_MAX_BLOCKS[i]),
            slabs: Mutex::new(Slabs::default()),
            blocks: AtomicUsize::new(0),
            high_water: AtomicUsize::new(0),
            grown: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            stripes: std::array::from_fn(|_| Stripe::default()),
        }
    }
    #[inline]
    fn free(&self) -> &FreeList {
        &self.free
    }
    fn slab_len(&self) -> usize {
        let want = (self.size * 64).clamp(MIN_SLAB, MAX_SLAB).max(self.size);
        want.div_ceil(PAGE) * PAGE
    }
}

/// Counters of one size class.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClassStats {
    pub size: usize,
    /// `pop` calls for this class (hits + fresh blocks + misses).
    pub acquired: u64,
    /// Served from the free list.
    pub recycled: u64,
    /// Served by carving new blocks out of a slab (the free list was empty).
    pub grown: u64,
    /// Fell back to ordinary allocation.
    pub misses: u64,
    /// Blocks carved (pooled) in this class.
    pub blocks: usize,
    /// Blocks handed out right now.
    pub blocks_in_use: usize,
    /// Most blocks ever handed out at once, sampled every 16th acquire of a
    /// thread, on growth and on every stats read: it may miss a peak by up to
    /// 15 blocks per thread (exact counting cost contended cache misses).
    pub high_water_blocks: usize,
    pub bytes_pooled: u64,
    pub bytes_in_use: u64,
}

/// Counters of the whole core.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoreStats {
    pub acquired: u64,
    pub recycled: u64,
    pub misses: u64,
    /// Mapped slab bytes.
    pub bytes_pooled: u64,
    pub bytes_in_use: u64,
    /// Sum over classes of each class's most bytes in use at once (an upper
    /// bound of the process high-water; no global counter on the hot path).
    pub high_water: u64,
    pub max_bytes: u64,
    /// Requests larger than the largest class (included in `misses`).
    pub oversize_misses: u64,
    pub classes: Vec<ClassStats>,
}

/// The lock-free pool core. Use [`Core::global`] for the process-wide one;
/// tests build private instances with [`Core::new`].
pub struct Core {
    classes: [Class; NUM_CLASSES],
    max_bytes: AtomicU64,
    pooled: AtomicU64,
    oversize_misses: AtomicU64,
    active: AtomicUsize,
    huge_pages: AtomicBool,
}

impl Core {
    pub fn new(max_bytes: u64) -> Core {
        Core {
            classes: std::array::from_fn(Class::new),
            max_bytes: AtomicU64::new(max_bytes),
            pooled: AtomicU64::new(0),
            oversize_misses: AtomicU64::new(0),
            active: AtomicUsize::new(0),
            huge_pages: AtomicBool::new(false),
        }
    }

    /// The process-wide core; its ceiling comes from `RSRTPFAST_POOL_MAX_BYTES`
    /// (plain bytes, or with a `k`/`m`/`g` suffix) or [`DEFAULT_MAX_BYTES`].
    pub fn global() -> &'static Core {
        static CORE: OnceLock<Core> = OnceLock::new();
        CORE.get_or_init(|| {
            let max = std::env::var(MAX_BYTES_ENV)
                .ok()
                .and_then(|v| parse_bytes(&v))
                .unwrap_or(DEFAULT_MAX_BYTES);
            let core = Core::new(max);
            if std::env::var(HUGE_PAGES_ENV).is_ok_and(|v| v == "1") {
                core.huge_pages.store(true, Ordering::Relaxed);
            }
            core
        })
    }

    /// Smallest class that holds `size` bytes.
    #[inline]
    pub fn class_for(size: usize) -> Option<usize> {
        CLASS_SIZES.iter().position(|&s| size <= s)
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes.load(Ordering::Relaxed)
    }

    /// Change the ceiling. Lowering it below what is mapped stops growth;
    /// call [`Core::trim`] to give idle slabs back.
    pub fn set_max_bytes(&self, bytes: u64) {
        self.max_bytes.store(bytes, Ordering::Relaxed);
    }

    pub fn set_huge_pages(&self, on: bool) {
        self.huge_pages.store(on, Ordering::Relaxed);
    }

    /// Mapped slab bytes right now (never above the ceiling in force when
    /// they were mapped).
    pub fn bytes_pooled(&self) -> u64 {
        self.pooled.load(Ordering::Relaxed)
    }

    /// Register an active user (a pool handle / active GstBufferPool).
    pub fn activate(&self) {
        self.active.fetch_add(1, Ordering::AcqRel);
    }

    /// Unregister an active user; returns true when it was the last one.
    pub fn deactivate(&self) -> bool {
        self.active.fetch_sub(1, Ordering::AcqRel) == 1
    }

    pub fn active_users(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// Count a miss for a request of `size` bytes that the caller serves
    /// without calling `pop` (e.g. oversize requests).
    pub fn note_miss(&self, size: usize) {
        match Core::class_for(size) {
            Some(c) => {
                let class = &self.classes[c];
                class.stripes[stripe()]
                    .acquired
                    .fetch_add(1, Ordering::Relaxed);
                class.misses.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                self.oversize_misses.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Take a block of class `class`: from the free list, else from a new
    /// slab if the ceiling allows. Never blocks. Counts `acquired`, and on
    /// failure `misses`.
    #[inline]
    pub fn pop(&self, class: usize) -> Result<Block, Miss> {
        let c = &self.classes[class];
        let st = &c.stripes[stripe()];
        let n = st.acquired.fetch_add(1, Ordering::Relaxed);
        let mut grew = false;
        let block = match c.free().pop() {
            Some(b) => b,
            None => match self.grow(class) {
                Ok(b) => {
                    grew = true;
                    b
                }
                Err(m) => {
                    c.misses.fetch_add(1, Ordering::Relaxed);
                    return Err(m);
                }
            },
        };
        st.out.fetch_add(1, Ordering::Relaxed);
        // High-water of blocks in use = carved minus free (blocks in transit
        // count as in use), sampled on growth and every HIGH_WATER_SAMPLE-th
        // acquire of a thread: reading the free list's ends on every acquire
        // cost two threads ~25 ns per buffer in cache misses.
        if grew || n.is_multiple_of(HIGH_WATER_SAMPLE) {
            let in_use = c
                .blocks
                .load(Ordering::Relaxed)
                .saturating_sub(c.free.len());
            if in_use > c.high_water.load(Ordering::Relaxed) {
                c.high_water.fetch_max(in_use, Ordering::Relaxed);
            }
        }
        Ok(block)
    }

    /// Give a block back (counted: it stops being "in use").
    #[inline]
    pub fn push(&self, block: Block) {
        let c = &self.classes[block.class()];
        c.stripes[stripe()].out.fetch_sub(1, Ordering::Relaxed);
        self.push_uncounted(block);
    }

    /// Count the block as returned without putting it in the free list yet
    /// (its owner will hand it back later with [`Core::push_uncounted`]).
    #[inline]
    pub fn mark_returned(&self, class: usize) {
        let c = &self.classes[class];
        c.stripes[stripe()].out.fetch_sub(1, Ordering::Relaxed);
    }

    /// Put a block in the free list without touching the in-use counters.
    #[inline]
    pub fn push_uncounted(&self, block: Block) {
        let c = &self.classes[block.class()];
        // Capacity == max blocks of the class, so this cannot fail.
        if let Err(b) = c.free().push(block) {
            // Unreachable by construction; the block is leaked (never
            // reused) rather than corrupting the list.
            debug_assert!(false, "free list overflow for class {}", b.class);
        }
    }

    fn grow(&self, class: usize) -> Result<Block, Miss> {
        let c = &self.classes[class];
        let Ok(mut slabs) = c.slabs.try_lock() else {
            // Someone is growing or trimming: maybe they just filled the list.
            return c.free().pop().ok_or(Miss::Busy);
        };
        // Re-check under the lock: a concurrent grower may have refilled it.
        if let Some(b) = c.free().pop() {
            return Ok(b);
        }
        if slabs.carved == slabs.capacity {
            self.map_slab(class, &mut slabs)?;
        }
        // A page's worth of blocks (at least one): block 0 to the caller,
        // the rest to the free list.
        let n = (PAGE / c.size).clamp(1, slabs.capacity - slabs.carved);
        let base = slabs
            .maps
            .last_mut()
            .expect("a slab was mapped")
            .as_mut_ptr();
        let first = slabs.carved;
        for i in first + 1..first + n {
            // SAFETY: i < capacity, so i * size + size <= the mapping's length.
            let ptr = unsafe { NonNull::new_unchecked(base.add(i * c.size)) };
            self.push_uncounted(Block {
                ptr,
                class: class as u8,
                cookie: 0,
            });
        }
        slabs.carved += n;
        c.blocks.fetch_add(n, Ordering::Relaxed);
        c.grown.fetch_add(1, Ordering::Relaxed);
        Ok(Block {
            // SAFETY: inside the mapping (first < capacity); mmap never
            // returns null.
            ptr: unsafe { NonNull::new_unchecked(base.add(first * c.size)) },
            class: class as u8,
            cookie: 0,
        })
    }

    /// Map a new slab for `class` (its pages are only touched as blocks are
    /// carved and used), within the byte ceiling and the class's block cap.
    fn map_slab(&self, class: usize, slabs: &mut Slabs) -> Result<(), Miss> {
        let c = &self.classes[class];
        let blocks = c.blocks.load(Ordering::Relaxed);
        let room_blocks = c.max_blocks - blocks;
        if room_blocks == 0 {
            return Err(Miss::Ceiling);
        }
        let want = (c.slab_len() / c.size).clamp(1, room_blocks);
        // Reserve bytes under the ceiling (shrinking the slab to what fits).
        let mut cur = self.pooled.load(Ordering::Relaxed);
        let (n, len) = loop {
            let max = self.max_bytes.load(Ordering::Relaxed);
            let avail_pages = (max.saturating_sub(cur) as usize / PAGE) * PAGE;
            let n = want.min(avail_pages / c.size);
            if n == 0 {
                return Err(Miss::Ceiling);
            }
            let len = (n * c.size).div_ceil(PAGE) * PAGE;
            match self.pooled.compare_exchange_weak(
                cur,
                cur + len as u64,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break (n, len),
                Err(now) => cur = now,
            }
        };
        let map = match memmap2::MmapMut::map_anon(len) {
            Ok(m) => m,
            Err(_) => {
                self.pooled.fetch_sub(len as u64, Ordering::AcqRel);
                return Err(Miss::Ceiling);
            }
        };
        #[cfg(target_os = "linux")]
        if len >= MAX_SLAB && self.huge_pages.load(Ordering::Relaxed) {
            let _ = map.advise(memmap2::Advice::HugePage);
        }
        slabs.maps.push(map);
        slabs.carved = 0;
        slabs.capacity = n;
        Ok(())
    }

    /// Give idle memory back to the OS: for each class whose blocks are all
    /// in the free list, unmap its slabs. Dressed blocks (cookie != 0) are
    /// handed to `undress`, which must return the bare block with
    /// [`Core::push_uncounted`] (possibly later, e.g. when a GstMemory is freed).
    /// Safe to run concurrently with `pop`/`push` (they see an empty list and
    /// miss, or keep their blocks and the class is simply not unmapped).
    /// Returns the number of bytes unmapped.
    pub fn trim(&self, undress: &mut dyn FnMut(Block)) -> u64 {
        (0..NUM_CLASSES)
            .map(|c| self.trim_class(c, undress, true))
            .sum()
    }

    /// Like [`Core::trim`] for one class; with `wait == false` it gives up
    /// at once if the class is being grown or trimmed (for streaming threads).
    pub fn trim_class(&self, class: usize, undress: &mut dyn FnMut(Block), wait: bool) -> u64 {
        let c = &self.classes[class];
        if !c.free.in_use() {
            return 0;
        }
        let mut slabs = if wait {
            c.slabs.lock().unwrap_or_else(|e| e.into_inner())
        } else {
            match c.slabs.try_lock() {
                Ok(s) => s,
                Err(_) => return 0,
            }
        };
        if slabs.maps.is_empty() {
            return 0;
        }
        let mut bare = Vec::with_capacity(c.blocks.load(Ordering::Relaxed));
        loop {
            let mut undressed = false;
            while let Some(b) = c.free().pop() {
                if b.cookie != 0 {
                    undress(b);
                    undressed = true;
                } else {
                    bare.push(b);
                }
            }
            if !undressed {
                break;
            }
        }
        if bare.len() == c.blocks.load(Ordering::Relaxed) {
            // Every block of the class is in our hands: nobody can touch
            // the slabs any more.
            drop(bare);
            let bytes: usize = slabs.maps.iter().map(|m| m.len()).sum();
            *slabs = Slabs::default();
            c.blocks.store(0, Ordering::Relaxed);
            self.pooled.fetch_sub(bytes as u64, Ordering::AcqRel);
            bytes as u64
        } else {
            for b in bare {
                self.push_uncounted(b);
            }
            0
        }
    }

    /// Blocks carved in `class` (all of them are either out or in the free list).
    pub fn blocks(&self, class: usize) -> usize {
        self.classes[class].blocks.load(Ordering::Relaxed)
    }

    /// Entries in the free list of `class` right now.
    pub fn free_len(&self, class: usize) -> usize {
        self.classes[class].free.len()
    }

    pub fn stats(&self) -> CoreStats {
        let mut s = CoreStats {
            max_bytes: self.max_bytes(),
            bytes_pooled: self.pooled.load(Ordering::Relaxed),
            oversize_misses: self.oversize_misses.load(Ordering::Relaxed),
            ..Default::default()
        };
        s.misses = s.oversize_misses;
        s.acquired = s.oversize_misses;
        for c in &self.classes {
            let acquired = c
                .stripes
                .iter()
                .map(|st| st.acquired.load(Ordering::Relaxed))
                .sum();
            let misses = c.misses.load(Ordering::Relaxed);
            let grown = c.grown.load(Ordering::Relaxed);
            let blocks = c.blocks.load(Ordering::Relaxed);
            let out = c.stripes.iter().fold(0usize, |sum, st| {
                sum.wrapping_add(st.out.load(Ordering::Relaxed))
            });
            // Mid-flight a return may be counted before its acquire.
            let out = if out > isize::MAX as usize { 0 } else { out };
            let cs = ClassStats {
                size: c.size,
                acquired,
                recycled: acquired.saturating_sub(misses + grown),
                grown,
                misses,
                blocks,
                blocks_in_use: out,
                high_water_blocks: c.high_water.load(Ordering::Relaxed).max(out),
                bytes_pooled: (blocks * c.size) as u64,
                bytes_in_use: (out * c.size) as u64,
            };
            s.acquired += cs.acquired;
            s.recycled += cs.recycled;
            s.misses += cs.misses;
            s.bytes_in_use += cs.bytes_in_use;
            s.high_water += (cs.high_water_blocks * c.size) as u64;
            s.classes.push(cs);
        }
        s
    }
}

/// Parse "1048576", "64k", "128M", "1g" (binary multiples).
pub fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 1u64 << 10),
        (i, 'm' | 'M') => (&s[..i], 1 << 20),
        (i, 'g' | 'G') => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_fit() {
        assert_eq!(Core::class_for(0), Some(0));
        assert_eq!(Core::class_for(14), Some(0));
        assert_eq!(Core::class_for(64), Some(0));
        assert_eq!(Core::class_for(65), Some(1));
        assert_eq!(Core::class_for(1400), Some(2));
        assert_eq!(Core::class_for(256 << 10), Some(5));
        assert_eq!(Core::class_for((1 << 20) + 1), Some(7));
        assert_eq!(Core::class_for((4 << 20) + 1), None);
        for s in CLASS_SIZES {
            assert_eq!(s % 64, 0);
        }
    }

    #[test]
    fn parse() {
        assert_eq!(parse_bytes("100"), Some(100));
        assert_eq!(parse_bytes("64k"), Some(65536));
        assert_eq!(parse_bytes("2M"), Some(2 << 20));
        assert_eq!(parse_bytes("x"), None);
    }

    #[test]
    fn ceiling_is_never_exceeded_and_misses_count() {
        let max = 200 << 10;
        let core = Core::new(max);
        let mut held = Vec::new();
        let mut misses = 0;
        for _ in 0..20 {
            match core.pop(4) {
                Ok(b) => held.push(b),
                Err(m) => {
                    assert_eq!(m, Miss::Ceiling);
                    misses += 1;
                }
            }
            assert!(core.bytes_pooled() <= max);
        }
        assert_eq!(held.len(), 3); // 3 x 64 KiB fit under 200 KiB
        assert_eq!(misses, 17);
        assert_eq!(core.stats().misses, 17);
        // Small class still gets the remaining 8 KiB.
        let small = core.pop(0).unwrap();
        assert!(core.bytes_pooled() <= max);
        core.push(small);
        for b in held {
            core.push(b);
        }
        let freed = core.trim(&mut |_| unreachable!());
        assert!(freed > 0);
        assert_eq!(core.bytes_pooled(), 0);
    }

    #[test]
    fn trim_keeps_classes_with_blocks_out() {
        let core = Core::new(16 << 20);
        let a = core.pop(2).unwrap();
        let b = core.pop(3).unwrap();
        core.push(b.with_cookie(1));
        let mut undressed = Vec::new();
        let freed = core.trim(&mut |b| undressed.push(b));
        // class 3 got its dressed block handed to undress, and then was not
        // complete (the block is with the undresser) -> nothing freed yet.
        assert_eq!(undressed.len(), 1);
        assert_eq!(freed, 0);
        for b in undressed {
            core.push_uncounted(b.with_cookie(0));
        }
        let freed = core.trim(&mut |_| unreachable!());
        assert_eq!(freed, (9216usize * 64).div_ceil(PAGE) as u64 * PAGE as u64);
        assert_eq!(core.blocks(3), 0);
        assert!(core.blocks(2) > 0);
        core.push(a);
        core.trim(&mut |_| unreachable!());
        assert_eq!(core.bytes_pooled(), 0);
        // Usable again after trimming.
        let a = core.pop(2).unwrap();
        core.push(a);
    }

    #[test]
    fn slabs_are_carved_a_page_at_a_time_as_blocks_are_needed() {
        let core = Core::new(64 << 20);
        // One block in use at a time: always the same block, one carved, so
        // the slab's other pages are never touched.
        let first = core.pop(5).unwrap();
        let ptr = first.as_ptr();
        core.push(first);
        for _ in 0..100 {
            let b = core.pop(5).unwrap();
            assert_eq!(b.as_ptr(), ptr);
            core.push(b);
        }
        assert_eq!(core.blocks(5), 1);
        assert_eq!(core.bytes_pooled(), 2 << 20, "the slab is mapped whole");
        // Three at once: three carved, from the same slab, all distinct.
        let held: Vec<_> = (0..3).map(|_| core.pop(5).unwrap()).collect();
        assert_eq!(core.blocks(5), 3);
        assert_eq!(core.bytes_pooled(), 2 << 20);
        let mut ptrs: Vec<_> = held.iter().map(|b| b.as_ptr() as usize).collect();
        ptrs.sort();
        ptrs.dedup();
        assert_eq!(ptrs.len(), 3);
        held.into_iter().for_each(|b| core.push(b));
        // Small classes carve a page's worth: 64 blocks of 64 bytes.
        let small = core.pop(0).unwrap();
        assert_eq!(core.blocks(0), PAGE / 64);
        core.push(small);
        // A slab used up: the next growth maps another one.
        let per_slab = (2 << 20) / CLASS_SIZES[5];
        let held: Vec<_> = (0..per_slab + 1).map(|_| core.pop(5).unwrap()).collect();
        assert_eq!(core.blocks(5), per_slab + 1);
        assert_eq!(
            core.bytes_pooled(),
            (4 << 20) + Class::new(0).slab_len() as u64
        );
        held.into_iter().for_each(|b| core.push(b));
        core.trim(&mut |_| unreachable!());
        assert_eq!(core.bytes_pooled(), 0);
    }

    #[test]
    fn class_capacity_bounds_blocks() {
        let core = Core::new(u64::MAX);
        let mut held = Vec::new();
        loop {
            match core.pop(6) {
                Ok(b) => held.push(b),
                Err(m) => {
                    assert_eq!(m, Miss::Ceiling);
                    break;
                }
            }
        }
        assert_eq!(held.len(), CLASS_MAX_BLOCKS[6]);
        for b in held {
            core.push(b);
        }
        assert_eq!(core.trim(&mut |_| {}), 64 << 20);
    }
}
