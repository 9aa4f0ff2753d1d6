//! malloc-counting interposer for measurement binaries and tests.
//!
//! GStreamer and GLib allocate with libc `malloc`, not with the Rust global
//! allocator, so counting heap allocations means interposing the C entry
//! points. The executable that includes this module defines `malloc`,
//! `calloc`, `realloc`, `free`, `posix_memalign`, `aligned_alloc` and
//! `memalign`; the dynamic linker then resolves every shared library's calls
//! to them (glibc supports this kind of replacement). Each one bumps a relaxed
//! atomic counter and forwards to glibc's own exported implementation
//! (`__libc_malloc` & co.), so the heap itself stays glibc's and
//! `malloc_usable_size`, `valloc` etc. keep working unchanged.
//!
//! NEVER compile this into the plugin library: it would interpose malloc in
//! every process that loads the plugin. Include it from a binary or an
//! integration test only:
//!
//! ```ignore
//! #[path = "../alloc_counter.rs"]
//! mod alloc_counter;
//! ```
//!
//! GLib 2.74 still serves small blocks (GstBuffer, GstMemory, ...) from its
//! slice allocator, which grabs big chunks and hides individual allocations.
//! Set `G_SLICE=always-malloc` before the first GLib call (before
//! `gst::init()`) so that every slice allocation is a `malloc` we can see.

#![allow(dead_code)]

use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};

/// Number of allocating calls (malloc, calloc, realloc, memalign family).
static ALLOCS: AtomicU64 = AtomicU64::new(0);
/// Number of `free` calls with a non-null pointer.
static FREES: AtomicU64 = AtomicU64::new(0);

/// Allocating calls seen so far (process-wide, all threads).
pub fn allocations() -> u64 {
    ALLOCS.load(Ordering::Relaxed)
}

/// Allocating calls made by the calling thread so far. Lets a measurement
/// bracket one element's work on its streaming thread while other threads of
/// the process (encoders, decoders) allocate at the same time.
pub fn thread_allocations() -> u64 {
    THREAD_ALLOCS.with(|c| c.get())
}

/// `free` calls (non-null) seen so far (process-wide, all threads).
pub fn frees() -> u64 {
    FREES.load(Ordering::Relaxed)
}

/// True if this process's `malloc` really is the counting one: performs one
/// Rust heap allocation (the System allocator calls `malloc`) and checks the
/// counter moved.
pub fn is_active() -> bool {
    let before = allocations();
    let b = std::hint::black_box(Box::new([0u8; 64]));
    drop(b);
    allocations() > before
}

thread_local! {
    // Const-initialised and without a destructor: reading or bumping it never
    // allocates or registers anything, so it is safe to touch from `malloc`.
    static THREAD_ALLOCS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

#[inline(always)]
fn count() {
    ALLOCS.fetch_add(1, Ordering::Relaxed);
    THREAD_ALLOCS.with(|c| c.set(c.get() + 1));
}

// SAFETY: these are glibc's exported (GLIBC_2.2.5) implementation entry
// points with exactly the C signatures of malloc/calloc/realloc/free/memalign;
// declaring them does not call anything.
extern "C" {
    fn __libc_malloc(size: usize) -> *mut c_void;
    fn __libc_calloc(nmemb: usize, size: usize) -> *mut c_void;
    fn __libc_realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
    fn __libc_free(ptr: *mut c_void);
    fn __libc_memalign(alignment: usize, size: usize) -> *mut c_void;
}

/// Counting `malloc`.
///
/// # Safety
/// Same contract as C `malloc`.
#[no_mangle]
pub unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
    count();
    // SAFETY: forwards the caller's malloc contract unchanged to glibc.
    unsafe { __libc_malloc(size) }
}

/// Counting `calloc`.
///
/// # Safety
/// Same contract as C `calloc`.
#[no_mangle]
pub unsafe extern "C" fn calloc(nmemb: usize, size: usize) -> *mut c_void {
    count();
    // SAFETY: forwards the caller's calloc contract unchanged to glibc.
    unsafe { __libc_calloc(nmemb, size) }
}

/// Counting `realloc` (every call counts as one allocation, like valgrind).
///
/// # Safety
/// Same contract as C `realloc`: `ptr` is null or came from this heap.
#[no_mangle]
pub unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    count();
    // SAFETY: `ptr` came from glibc's heap (all our allocators forward there);
    // the caller's realloc contract is passed on unchanged.
    unsafe { __libc_realloc(ptr, size) }
}

/// Counting `free`.
///
/// # Safety
/// Same contract as C `free`: `ptr` is null or came from this heap.
#[no_mangle]
pub unsafe extern "C" fn free(ptr: *mut c_void) {
    if !ptr.is_null() {
        FREES.fetch_add(1, Ordering::Relaxed);
    }
    // SAFETY: `ptr` is null or was returned by glibc's allocator, which every
    // function here forwards to.
    unsafe { __libc_free(ptr) }
}

/// Counting `memalign`.
///
/// # Safety
/// Same contract as C `memalign`.
#[no_mangle]
pub unsafe extern "C" fn memalign(alignment: usize, size: usize) -> *mut c_void {
    count();
    // SAFETY: forwards the caller's memalign contract unchanged to glibc.
    unsafe { __libc_memalign(alignment, size) }
}

/// Counting `aligned_alloc`.
///
/// # Safety
/// Same contract as C `aligned_alloc`.
#[no_mangle]
pub unsafe extern "C" fn aligned_alloc(alignment: usize, size: usize) -> *mut c_void {
    count();
    // SAFETY: glibc's aligned_alloc is memalign; same arguments, same contract.
    unsafe { __libc_memalign(alignment, size) }
}

/// Counting `posix_memalign`.
///
/// # Safety
/// Same contract as C `posix_memalign`: `memptr` is valid for one write.
#[no_mangle]
pub unsafe extern "C" fn posix_memalign(
    memptr: *mut *mut c_void,
    alignment: usize,
    size: usize,
) -> i32 {
    const EINVAL: i32 = 22;
    const ENOMEM: i32 = 12;
    if !alignment.is_multiple_of(std::mem::size_of::<*mut c_void>()) || !alignment.is_power_of_two()
    {
        return EINVAL;
    }
    count();
    // SAFETY: alignment was validated above as POSIX requires; glibc's
    // memalign returns null or a block from its heap.
    let p = unsafe { __libc_memalign(alignment, size) };
    if p.is_null() && size != 0 {
        return ENOMEM;
    }
    // SAFETY: the caller guarantees `memptr` is valid for a pointer write.
    unsafe { *memptr = p };
    0
}
