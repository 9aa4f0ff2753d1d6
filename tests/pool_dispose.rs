//! The dispose contract (src/pool/README.md, "Dispose contract"): what the
//! pool's dispose hooks rely on in GStreamer 1.22 and what a buffer or list
//! looks like when it is handed out again. Each test would fail if
//! GStreamer's side changed (dispose/free/copy behaviour) or if a hook
//! parked something it must not, or parked it dirty.
//!
//! "Parked" is told apart from "freed" with a weak reference: GStreamer only
//! notifies weak references when a mini object is really freed
//! (`gst_mini_object_unref` calls `free_priv_data` only when dispose returned
//! TRUE), so a parked buffer's notify does not fire, a freed one's does.
//! Pointer identity alone would not do: a freed buffer's address is often
//! the next buffer's.
//!
//! The free lists are process-wide: the tests of this binary run one at a
//! time (`serial`).

use gst::ffi;
use gst::glib;
use gst::glib::translate::IntoGlib;
use gstrsrtpfast::pool;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

static SERIAL: Mutex<()> = Mutex::new(());

/// Held for a whole test: the stream handle drops first (draining the pool
/// when it was the last one), then the lock.
struct Serial {
    stream: Option<pool::StreamHandle>,
    _guard: MutexGuard<'static, ()>,
}

fn serial() -> Serial {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    gst::init().unwrap();
    pool::register_types();
    Serial {
        stream: Some(pool::StreamHandle::new()),
        _guard: guard,
    }
}

// ---- helpers ----

unsafe extern "C" fn set_flag(data: glib::ffi::gpointer, _obj: *mut ffi::GstMiniObject) {
    // SAFETY: `data` is the leaked, 'static AtomicBool `watch` registered.
    unsafe { (*(data as *const AtomicBool)).store(true, Ordering::SeqCst) };
}

/// A flag set when `obj` is really freed (finalized), not when it is parked.
fn watch(obj: *const ffi::GstMiniObject) -> &'static AtomicBool {
    let flag: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
    // SAFETY: `obj` is a live mini object the caller holds; the notify data
    // is 'static, so it outlives the weak reference however long that is.
    unsafe {
        ffi::gst_mini_object_weak_ref(
            obj as *mut _,
            Some(set_flag),
            flag as *const AtomicBool as glib::ffi::gpointer,
        )
    };
    flag
}

/// Remove the weak reference `watch` added (on an object handed out again).
fn unwatch(obj: *const ffi::GstMiniObject, flag: &'static AtomicBool) {
    // SAFETY: `obj` is live and carries exactly this weak reference.
    unsafe {
        ffi::gst_mini_object_weak_unref(
            obj as *mut _,
            Some(set_flag),
            flag as *const AtomicBool as glib::ffi::gpointer,
        )
    };
}

fn mini(b: &gst::BufferRef) -> *const ffi::GstMiniObject {
    b.as_ptr() as *const ffi::GstMiniObject
}

/// All mini object flags (gstreamer-rs's `flags()` hides the non-buffer ones).
fn raw_flags(b: &gst::BufferRef) -> u32 {
    // SAFETY: reading a plain field of a live buffer we borrow.
    unsafe { (*b.as_ptr()).mini_object.flags }
}

fn refcount(obj: *const ffi::GstMiniObject) -> i32 {
    // SAFETY: reading the refcount of a live object (no other thread
    // touches these test objects).
    unsafe { (*obj).refcount }
}

type Dispose = Option<unsafe extern "C" fn(*mut ffi::GstMiniObject) -> glib::ffi::gboolean>;

fn dispose_of(obj: *const ffi::GstMiniObject) -> usize {
    // SAFETY: reading a plain field of a live mini object.
    let d: Dispose = unsafe { (*obj).dispose };
    d.map_or(0, |f| f as usize)
}

fn pool_of(b: &gst::BufferRef) -> *mut ffi::GstBufferPool {
    // SAFETY: reading a plain field of a live buffer.
    unsafe { (*b.as_ptr()).pool }
}

fn n_metas(b: &gst::BufferRef) -> usize {
    b.iter_meta::<gst::Meta>().count()
}

/// Set `flags` on every meta of `b` (what GstBufferPool does to the metas
/// of buffers it allocates: POOLED | LOCKED).
fn flag_metas(b: &mut gst::BufferRef, flags: ffi::GstMetaFlags) {
    // SAFETY: `b` is borrowed mutably (writable); iterating its metas and
    // writing their plain `flags` field races with nobody.
    unsafe {
        let mut state: glib::ffi::gpointer = std::ptr::null_mut();
        loop {
            let meta = ffi::gst_buffer_iterate_meta(b.as_mut_ptr(), &mut state);
            if meta.is_null() {
                break;
            }
            (*meta).flags |= flags;
        }
    }
}

/// Every buffer flag there is, including TAG_MEMORY and LAST.
fn all_buffer_flags() -> gst::BufferFlags {
    gst::BufferFlags::LIVE
        | gst::BufferFlags::DECODE_ONLY
        | gst::BufferFlags::DISCONT
        | gst::BufferFlags::RESYNC
        | gst::BufferFlags::CORRUPTED
        | gst::BufferFlags::MARKER
        | gst::BufferFlags::HEADER
        | gst::BufferFlags::GAP
        | gst::BufferFlags::DROPPABLE
        | gst::BufferFlags::DELTA_UNIT
        | gst::BufferFlags::TAG_MEMORY
        | gst::BufferFlags::SYNC_AFTER
        | gst::BufferFlags::NON_DROPPABLE
        | gst::BufferFlags::from_bits_retain(ffi::GST_BUFFER_FLAG_LAST)
}

fn custom_meta_name() -> &'static str {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| gst::meta::CustomMeta::register("RsrtpfastDisposeTestMeta", &[]));
    "RsrtpfastDisposeTestMeta"
}

/// Dress `b` the way downstream elements might: metas of several kinds,
/// every buffer flag, timestamps and offsets.
fn dirty(b: &mut gst::BufferRef, video: bool) {
    let caps = gst::Caps::new_empty_simple("timestamp/x-ntp");
    gst::ReferenceTimestampMeta::add(b, &caps, gst::ClockTime::from_seconds(5), None);
    gst::meta::CustomMeta::add(b, custom_meta_name()).unwrap();
    gst::ProtectionMeta::add(b, gst::Structure::new_empty("application/x-cenc"));
    if video {
        gst_video::VideoMeta::add(
            b,
            gst_video::VideoFrameFlags::empty(),
            gst_video::VideoFormat::Gray8,
            8,
            8,
        )
        .unwrap();
    }
    b.set_flags(all_buffer_flags());
    b.set_pts(gst::ClockTime::from_mseconds(1));
    b.set_dts(gst::ClockTime::from_mseconds(2));
    b.set_duration(gst::ClockTime::from_mseconds(3));
    b.set_offset(4);
    b.set_offset_end(5);
}

/// `b` as handed out again: no metas, no flags but `born_flags`, no
/// timestamps or offsets.
/// (TAG_MEMORY never: a fresh packet or view buffer is born with it, as
/// `gst_buffer_append_memory` sets it, and the reset clears it.)
fn assert_clean(b: &gst::BufferRef, born_flags: u32) {
    assert_eq!(n_metas(b), 0, "metas survived the recycle");
    assert_eq!(
        raw_flags(b),
        born_flags & !ffi::GST_BUFFER_FLAG_TAG_MEMORY,
        "flags survived the recycle"
    );
    assert_eq!(b.pts(), None);
    assert_eq!(b.dts(), None);
    assert_eq!(b.duration(), None);
    assert_eq!(b.offset(), ffi::GST_BUFFER_OFFSET_NONE);
    assert_eq!(b.offset_end(), ffi::GST_BUFFER_OFFSET_NONE);
    assert!(pool_of(b).is_null());
}

/// Take pooled buffers of `size` until `ptr` comes out (the free lists are
/// FIFO: other parked buffers of the class may come first).
fn reacquire(ptr: usize, size: usize) -> gst::Buffer {
    let mut held = Vec::new();
    for _ in 0..20_000 {
        let b = pool::acquire(size);
        if b.as_ptr() as usize == ptr {
            return b;
        }
        held.push(b);
    }
    panic!("buffer {ptr:#x} was not handed out again");
}

fn reacquire_packet(ptr: usize, views: &pool::PayloadViews<'_>) -> gst::Buffer {
    let mut held = Vec::new();
    for _ in 0..5_000 {
        let b = pool::acquire_packet(12, |h| h.fill(0xAB), views, 0..100);
        if b.as_ptr() as usize == ptr {
            return b;
        }
        held.push(b);
    }
    panic!("packet buffer {ptr:#x} was not handed out again");
}

fn reacquire_view_buffer(ptr: usize, views: &pool::PayloadViews<'_>) -> gst::Buffer {
    let mut held = Vec::new();
    for _ in 0..5_000 {
        let b = pool::acquire_view_buffer(views, 0..100);
        if b.as_ptr() as usize == ptr {
            return b;
        }
        held.push(b);
    }
    panic!("view buffer {ptr:#x} was not handed out again");
}

fn reacquire_list(ptr: usize) -> gst::BufferList {
    let mut held = Vec::new();
    for _ in 0..1_000 {
        let l = pool::acquire_list(4);
        if l.as_ptr() as usize == ptr {
            return l;
        }
        held.push(l);
    }
    panic!("buffer list {ptr:#x} was not handed out again");
}

fn input(n: usize) -> gst::Buffer {
    gst::Buffer::from_slice((0..n).map(|i| i as u8).collect::<Vec<u8>>())
}

fn filled(size: usize, byte: u8) -> gst::Buffer {
    pool::acquire_filled(size, |d| d.fill(byte))
}

/// Churn the size class of `size`: take and overwrite many pooled buffers
/// (a block wrongly handed out while still in use would be overwritten).
fn churn(size: usize, byte: u8) {
    let held: Vec<_> = (0..256).map(|_| filled(size, byte)).collect();
    drop(held);
}

const SIZE: usize = 1000;

/// GST_BUFFER_COPY_ALL (gstreamer-rs's `all()` would add MERGE and DEEP).
const COPY_ALL: gst::BufferCopyFlags = gst::BufferCopyFlags::FLAGS
    .union(gst::BufferCopyFlags::TIMESTAMPS)
    .union(gst::BufferCopyFlags::META)
    .union(gst::BufferCopyFlags::MEMORY);

// ---- GStreamer's side of the contract ----

/// What the hooks assume of GStreamer 1.22 itself (gstbuffer.c
/// `gst_buffer_init` / `_gst_buffer_dispose`, gstbufferlist.c
/// `gst_buffer_list_init`): every GstBuffer gets the same dispose function,
/// which returns TRUE (free it) for a buffer without a pool and touches
/// nothing; GstBufferList has no dispose; copies are made with
/// `gst_buffer_new` / `gst_buffer_list_new_sized`, so they never carry a
/// hook of ours.
#[test]
fn gstreamer_dispose_functions_are_what_the_hooks_assume() {
    let _s = serial();
    let plain = gst::Buffer::new();
    let gst_dispose = dispose_of(mini(&plain));
    assert_ne!(gst_dispose, 0, "GstBuffer has a dispose function");
    for other in [
        gst::Buffer::with_size(10).unwrap(),
        gst::Buffer::from_slice([1u8, 2, 3]),
        gst::Buffer::new().copy_deep().unwrap(),
    ] {
        assert_eq!(dispose_of(mini(&other)), gst_dispose);
    }

    // _gst_buffer_dispose on a buffer without a pool: TRUE, no side effect
    // (what the hooks' "not ours" fallbacks return on its behalf).
    // SAFETY: calling GstBuffer's own dispose on a live, pool-less buffer
    // we own, as GStreamer would; it only reads `buffer->pool`.
    let ret = unsafe {
        let d: Dispose = (*mini(&plain)).dispose;
        d.unwrap()(mini(&plain) as *mut _)
    };
    assert_eq!(ret, glib::ffi::GTRUE);
    assert_eq!(refcount(mini(&plain)), 1);

    // Our buffers carry a hook; their copies do not.
    let pooled = pool::acquire(SIZE);
    assert_ne!(dispose_of(mini(&pooled)), gst_dispose);
    assert!(pool_of(&pooled).is_null());
    assert_eq!(dispose_of(mini(&pooled.copy())), gst_dispose);
    assert_eq!(dispose_of(mini(&pooled.copy_deep().unwrap())), gst_dispose);
    let region = pooled.copy_region(COPY_ALL, 10..20).unwrap();
    assert_eq!(dispose_of(mini(&region)), gst_dispose);

    let data = input(4000);
    let views = pool::PayloadViews::new(data.peek_memory(0));
    let packet = pool::acquire_packet(12, |h| h.fill(1), &views, 0..100);
    let view_buffer = pool::acquire_view_buffer(&views, 0..100);
    for ours in [&packet, &view_buffer] {
        assert_ne!(dispose_of(mini(ours)), gst_dispose);
        assert_eq!(dispose_of(mini(&ours.copy())), gst_dispose);
    }

    // GstBufferList: no dispose of its own; ours on pooled lists only.
    let list = gst::BufferList::new();
    assert_eq!(dispose_of(list.as_ptr() as *const _), 0);
    let pooled_list = pool::acquire_list(4);
    assert_ne!(dispose_of(pooled_list.as_ptr() as *const _), 0);
    assert_eq!(dispose_of(pooled_list.copy().as_ptr() as *const _), 0);
}

// ---- GstParentBufferMeta ----

/// A pooled buffer carrying a GstParentBufferMeta on another buffer: parking
/// it drops the meta, so the parent loses that reference (is writable again)
/// and the buffer comes back without any meta.
#[test]
fn parent_meta_reference_is_released_when_parked() {
    let _s = serial();
    let data = input(4000);
    let views = pool::PayloadViews::new(data.peek_memory(0));
    // (buffer, its flags when fresh, how to take it again)
    type Again<'a> = Box<dyn Fn(usize) -> gst::Buffer + 'a>;
    let kinds: Vec<(gst::Buffer, Again<'_>)> = vec![
        (filled(SIZE, 1), Box::new(|p| reacquire(p, SIZE))),
        (
            pool::acquire_packet(12, |h| h.fill(2), &views, 0..100),
            Box::new(|p| reacquire_packet(p, &views)),
        ),
        (
            pool::acquire_view_buffer(&views, 0..100),
            Box::new(|p| reacquire_view_buffer(p, &views)),
        ),
    ];
    for (i, (mut buffer, again)) in kinds.into_iter().enumerate() {
        let born = raw_flags(&buffer);
        let parent = gst::Buffer::with_size(16).unwrap();
        gst::ParentBufferMeta::add(buffer.get_mut().unwrap(), &parent);
        assert!(!parent.is_writable(), "kind {i}: the meta holds the parent");
        let ptr = buffer.as_ptr() as usize;
        let freed = watch(mini(&buffer));
        drop(buffer);
        assert!(!freed.load(Ordering::SeqCst), "kind {i}: parked, not freed");
        assert_eq!(refcount(mini(&parent)), 1, "kind {i}: parent released");
        assert!(parent.is_writable());
        let back = again(ptr);
        unwatch(mini(&back), freed);
        assert_clean(&back, born);
        assert!(back.meta::<gst::ParentBufferMeta>().is_none());
    }
}

/// A pooled buffer that is the *parent* of another buffer (referenced by
/// that buffer's GstParentBufferMeta) is only recycled once the child lets
/// go; when the child is itself pooled, its reset (inside its dispose hook)
/// drops the last reference of the parent, whose dispose hook then parks it
/// too (a hook re-entered from a hook).
#[test]
fn pooled_parent_recycles_when_its_child_lets_go() {
    let _s = serial();
    for pooled_child in [false, true] {
        let parent = filled(SIZE, 3);
        let pptr = parent.as_ptr() as usize;
        let parent_freed = watch(mini(&parent));
        let mut child = if pooled_child {
            filled(200, 4)
        } else {
            gst::Buffer::new()
        };
        gst::ParentBufferMeta::add(child.get_mut().unwrap(), &parent);
        let cptr = child.as_ptr() as usize;
        let child_freed = watch(mini(&child));
        drop(parent);
        assert!(!parent_freed.load(Ordering::SeqCst));
        drop(child);
        assert_eq!(child_freed.load(Ordering::SeqCst), !pooled_child);
        assert!(!parent_freed.load(Ordering::SeqCst), "the parent is parked");
        let back = reacquire(pptr, SIZE);
        unwatch(mini(&back), parent_freed);
        assert_clean(&back, raw_flags(&pool::acquire(SIZE)));
        if pooled_child {
            let back = reacquire(cptr, 200);
            unwatch(mini(&back), child_freed);
            assert_clean(&back, ffi::GST_MINI_OBJECT_FLAG_MAY_BE_LEAKED);
        }
    }
}

/// `copy_region` of a pooled buffer shares its memory (GStreamer's
/// `gst_buffer_copy_into` → `gst_memory_share`): the original must then be
/// freed, not parked (its block is still in use), and the region's bytes
/// survive the class being churned. A deep region copies, so the original
/// parks.
#[test]
fn copy_region_of_a_pooled_buffer_keeps_its_bytes() {
    let _s = serial();
    let original = pool::acquire_filled(SIZE, |d| {
        d.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8)
    });
    let freed = watch(mini(&original));
    let region = original.copy_region(COPY_ALL, 10..500).unwrap();
    assert_eq!(
        dispose_of(mini(&region)),
        dispose_of(mini(&gst::Buffer::new()))
    );
    drop(original);
    assert!(
        freed.load(Ordering::SeqCst),
        "memory shared: freed, not parked"
    );
    churn(SIZE, 0xEE);
    let expect: Vec<u8> = (10..500).map(|i| i as u8).collect();
    assert_eq!(region.map_readable().unwrap().as_slice(), &expect[..]);
    drop(region);

    let original = filled(SIZE, 7);
    let ptr = original.as_ptr() as usize;
    let freed = watch(mini(&original));
    let deep = original
        .copy_region(COPY_ALL | gst::BufferCopyFlags::DEEP, 0..100)
        .unwrap();
    drop(original);
    assert!(!freed.load(Ordering::SeqCst), "deep copy: original parked");
    let mut back = reacquire(ptr, SIZE);
    unwatch(mini(&back), freed);
    back.get_mut().unwrap().map_writable().unwrap().fill(0x55);
    assert_eq!(deep.map_readable().unwrap().as_slice(), &[7u8; 100]);
}

// ---- other metas and flags ----

/// Metas of several kinds, every buffer flag, timestamps and offsets: gone
/// when a pooled, packet or view buffer is handed out again (it keeps only
/// the mini object flags it was born with).
#[test]
fn metas_flags_and_fields_are_cleared() {
    let _s = serial();
    let data = input(4000);
    let views = pool::PayloadViews::new(data.peek_memory(0));

    let mut b = filled(SIZE, 1);
    let born = raw_flags(&b);
    assert_eq!(born, ffi::GST_MINI_OBJECT_FLAG_MAY_BE_LEAKED);
    dirty(b.get_mut().unwrap(), true);
    assert_eq!(n_metas(&b), 4);
    let (ptr, freed) = (b.as_ptr() as usize, watch(mini(&b)));
    drop(b);
    assert!(!freed.load(Ordering::SeqCst));
    let back = reacquire(ptr, SIZE);
    unwatch(mini(&back), freed);
    assert_clean(&back, born);
    drop(back);

    let mut p = pool::acquire_packet(12, |h| h.fill(2), &views, 0..100);
    let born = raw_flags(&p);
    dirty(p.get_mut().unwrap(), false);
    let (ptr, freed) = (p.as_ptr() as usize, watch(mini(&p)));
    drop(p);
    assert!(!freed.load(Ordering::SeqCst));
    let back = reacquire_packet(ptr, &views);
    unwatch(mini(&back), freed);
    assert_clean(&back, born);
    assert_eq!(back.n_memory(), 2);
    drop(back);

    let mut v = pool::acquire_view_buffer(&views, 0..100);
    let born = raw_flags(&v);
    dirty(v.get_mut().unwrap(), false);
    let (ptr, freed) = (v.as_ptr() as usize, watch(mini(&v)));
    drop(v);
    assert!(!freed.load(Ordering::SeqCst));
    let back = reacquire_view_buffer(ptr, &views);
    unwatch(mini(&back), freed);
    assert_clean(&back, born);
    assert_eq!(back.n_memory(), 1);
}

/// Metas flagged POOLED | LOCKED (as GstBufferPool flags the metas of the
/// buffers it allocates) are removed too. `gst_buffer_foreach_meta` refuses
/// to remove a LOCKED meta (g_return_val_if_fail, and it stops there), so
/// the reset has to unlock it first, as GstBufferPool's
/// `default_reset_buffer` does.
#[test]
fn locked_and_pooled_metas_are_removed_too() {
    let _s = serial();
    let data = input(4000);
    let views = pool::PayloadViews::new(data.peek_memory(0));

    let mut b = filled(SIZE, 1);
    let born = raw_flags(&b);
    dirty(b.get_mut().unwrap(), true);
    flag_metas(
        b.get_mut().unwrap(),
        ffi::GST_META_FLAG_LOCKED | ffi::GST_META_FLAG_POOLED,
    );
    let ptr = b.as_ptr() as usize;
    drop(b);
    assert_clean(&reacquire(ptr, SIZE), born);

    let mut p = pool::acquire_packet(12, |h| h.fill(2), &views, 0..100);
    let born = raw_flags(&p);
    dirty(p.get_mut().unwrap(), false);
    flag_metas(p.get_mut().unwrap(), ffi::GST_META_FLAG_LOCKED);
    let ptr = p.as_ptr() as usize;
    drop(p);
    assert_clean(&reacquire_packet(ptr, &views), born);

    let mut v = pool::acquire_view_buffer(&views, 0..100);
    let born = raw_flags(&v);
    dirty(v.get_mut().unwrap(), false);
    flag_metas(v.get_mut().unwrap(), ffi::GST_META_FLAG_LOCKED);
    let ptr = v.as_ptr() as usize;
    drop(v);
    assert_clean(&reacquire_view_buffer(ptr, &views), born);
}

/// GST_MINI_OBJECT_FLAG_LOCKABLE set on a buffer downstream must not outlive
/// it: a LOCKABLE mini object's writability follows its lock state instead
/// of its refcount (gstminiobject.c `gst_mini_object_is_writable`), so a
/// recycled buffer still carrying it would read as writable while shared.
/// MAY_BE_LEAKED (set on pool-born buffers for the leaks tracer) stays.
#[test]
fn lockable_set_downstream_does_not_survive() {
    let _s = serial();
    let mut b = filled(SIZE, 1);
    let born = raw_flags(&b);
    // SAFETY: `b` is ours alone (refcount 1); writing its flags races with
    // nobody.
    unsafe {
        (*b.get_mut().unwrap().as_mut_ptr()).mini_object.flags |=
            ffi::GST_MINI_OBJECT_FLAG_LOCKABLE | ffi::GST_MINI_OBJECT_FLAG_LOCK_READONLY;
    }
    let ptr = b.as_ptr() as usize;
    drop(b);
    let back = reacquire(ptr, SIZE);
    assert_eq!(raw_flags(&back), born);
    let shared = back.clone();
    assert!(
        !back.is_writable(),
        "a shared recycled buffer is not writable"
    );
    drop(shared);
    assert!(back.is_writable());
}

// ---- copies and make_writable downstream ----

/// `copy()` of a pooled buffer is an ordinary buffer sharing the pooled
/// memory: the original, its memory still referenced, is freed rather than
/// parked; the copy's bytes survive the class being churned. `copy_deep()`
/// has its own memory: the original parks and is reused, the copy's bytes
/// stay.
#[test]
fn copies_made_downstream_never_alias_a_recycled_block() {
    let _s = serial();
    let gst_dispose = dispose_of(mini(&gst::Buffer::new()));

    let original = filled(SIZE, 0x11);
    let freed = watch(mini(&original));
    let copy = original.copy();
    assert_eq!(dispose_of(mini(&copy)), gst_dispose);
    assert!(pool_of(&copy).is_null());
    assert_eq!(
        copy.peek_memory(0).as_ptr(),
        original.peek_memory(0).as_ptr(),
        "a shallow copy shares the memory"
    );
    drop(original);
    assert!(freed.load(Ordering::SeqCst), "memory shared: freed");
    churn(SIZE, 0xEE);
    assert_eq!(copy.map_readable().unwrap().as_slice(), &[0x11u8; SIZE]);
    let copy_freed = watch(mini(&copy));
    drop(copy);
    assert!(
        copy_freed.load(Ordering::SeqCst),
        "a copy is freed, never parked"
    );

    let original = filled(SIZE, 0x22);
    let ptr = original.as_ptr() as usize;
    let freed = watch(mini(&original));
    let deep = original.copy_deep().unwrap();
    assert_eq!(dispose_of(mini(&deep)), gst_dispose);
    drop(original);
    assert!(!freed.load(Ordering::SeqCst), "deep copy: original parked");
    let mut back = reacquire(ptr, SIZE);
    unwatch(mini(&back), freed);
    back.get_mut().unwrap().map_writable().unwrap().fill(0x33);
    churn(SIZE, 0xEE);
    assert_eq!(deep.map_readable().unwrap().as_slice(), &[0x22u8; SIZE]);
}

/// `make_mut` (gst_mini_object_make_writable) on a shared pooled buffer
/// makes an ordinary copy; writing to it gives the copy its own memory, so
/// the original, once dropped by its other holder, parks and is reused
/// while the copy keeps what was written. On an unshared pooled buffer
/// `make_mut` is a no-op and the buffer still parks.
#[test]
fn make_mut_downstream() {
    let _s = serial();
    let original = filled(SIZE, 0x44);
    let ptr = original.as_ptr() as usize;
    let freed = watch(mini(&original));
    let mut writable = original.clone();
    writable.make_mut();
    assert_ne!(writable.as_ptr() as usize, ptr, "shared: make_mut copied");
    assert_eq!(
        dispose_of(mini(&writable)),
        dispose_of(mini(&gst::Buffer::new()))
    );
    writable
        .make_mut()
        .map_writable()
        .unwrap()
        .as_mut_slice()
        .fill(0x66);
    assert_eq!(original.map_readable().unwrap().as_slice(), &[0x44u8; SIZE]);
    drop(original);
    assert!(!freed.load(Ordering::SeqCst), "original parked");
    let back = reacquire(ptr, SIZE);
    unwatch(mini(&back), freed);
    drop(back);
    churn(SIZE, 0xEE);
    assert_eq!(writable.map_readable().unwrap().as_slice(), &[0x66u8; SIZE]);
    let wfreed = watch(mini(&writable));
    drop(writable);
    assert!(wfreed.load(Ordering::SeqCst));

    // make_mut on an unshared one: same buffer, still parks.
    let mut only = filled(SIZE, 0x77);
    let ptr = only.as_ptr() as usize;
    only.make_mut().set_flags(gst::BufferFlags::MARKER);
    assert_eq!(only.as_ptr() as usize, ptr);
    let freed = watch(mini(&only));
    drop(only);
    assert!(!freed.load(Ordering::SeqCst));
    let back = reacquire(ptr, SIZE);
    unwatch(mini(&back), freed);
    assert!(back.flags().is_empty());
}

/// A downstream that maps a whole (writable) packet buffer merges header
/// and view into one new memory (gst_buffer_map_range replaces them): the
/// buffer is then no packet any more and must be freed, not parked, and the
/// payloader's input is released. One that appends a memory leaves the
/// header first: the header parks as a plain pooled buffer.
#[test]
fn packet_buffers_reshaped_downstream() {
    let _s = serial();
    let mut data = input(4000);
    let (_, parked0) = pool::packet_counters();
    {
        let views = pool::PayloadViews::new(data.peek_memory(0));
        let mut p = pool::acquire_packet(12, |h| h.fill(9), &views, 100..200);
        let freed = watch(mini(&p));
        {
            let map = p.get_mut().unwrap().map_readable().unwrap();
            assert_eq!(map.len(), 112);
            assert_eq!(map[12], 100);
        }
        assert_eq!(p.n_memory(), 1, "merged by the map");
        drop(p);
        assert!(freed.load(Ordering::SeqCst), "merged: freed, not parked");
        assert_eq!(pool::packet_counters().1, parked0);

        let mut p = pool::acquire_packet(12, |h| h.fill(9), &views, 100..200);
        let ptr = p.as_ptr() as usize;
        let freed = watch(mini(&p));
        p.get_mut()
            .unwrap()
            .append_memory(gst::Memory::from_slice([1u8, 2, 3]));
        drop(p);
        assert!(!freed.load(Ordering::SeqCst), "header block parked");
        assert_eq!(pool::packet_counters().1, parked0);
        let back = reacquire(ptr, 12);
        unwatch(mini(&back), freed);
        assert_eq!(back.n_memory(), 1);
        assert_clean(&back, ffi::GST_MINI_OBJECT_FLAG_MAY_BE_LEAKED);
    }
    // Nothing holds the input any more.
    assert!(data.get_mut().unwrap().peek_memory_mut(0).is_ok());
}

// ---- buffer lists ----

/// A pooled list holding pooled buffers and a foreign one: when the list
/// goes, its pooled buffers park, the foreign buffer loses the list's
/// reference and parent link (writable again for its other holder), and the
/// list comes back empty and writable.
#[test]
fn pooled_list_returns_its_buffers_and_comes_back_empty() {
    let _s = serial();
    let mut list = pool::acquire_list(4);
    let foreign = gst::Buffer::with_size(10).unwrap();
    let mut watched = Vec::new();
    {
        let l = list.get_mut().unwrap();
        for i in 0..3u8 {
            let mut b = filled(SIZE, i);
            dirty(b.get_mut().unwrap(), false);
            watched.push((b.as_ptr() as usize, watch(mini(&b))));
            l.add(b);
        }
        l.add(foreign.clone());
    }
    assert!(!foreign.is_writable());
    let lptr = list.as_ptr() as usize;
    let list_freed = watch(list.as_ptr() as *const _);
    drop(list);
    assert!(!list_freed.load(Ordering::SeqCst), "list parked");
    assert_eq!(refcount(mini(&foreign)), 1);
    assert!(foreign.is_writable(), "no parent link left");
    for (ptr, freed) in watched {
        assert!(!freed.load(Ordering::SeqCst), "pooled buffer parked");
        let back = reacquire(ptr, SIZE);
        unwatch(mini(&back), freed);
        assert!(back.is_writable(), "no parent link left");
        assert_clean(&back, ffi::GST_MINI_OBJECT_FLAG_MAY_BE_LEAKED);
    }
    let back = reacquire_list(lptr);
    unwatch(back.as_ptr() as *const _, list_freed);
    assert_eq!(back.len(), 0);
    assert!(back.is_writable());
}

/// Pooled buffers in an ordinary list park when the list is freed; a copy
/// of a pooled list (or `make_mut` of a shared one) is an ordinary list
/// that holds its own references: the buffers park only once it goes too.
#[test]
fn lists_of_pooled_buffers_and_copied_lists() {
    let _s = serial();
    let mut list = gst::BufferList::new();
    let b = filled(SIZE, 1);
    let (ptr, freed) = (b.as_ptr() as usize, watch(mini(&b)));
    list.get_mut().unwrap().add(b);
    drop(list);
    assert!(!freed.load(Ordering::SeqCst));
    unwatch(mini(&reacquire(ptr, SIZE)), freed);

    let mut pooled = pool::acquire_list(2);
    let b = filled(SIZE, 2);
    let (ptr, freed) = (b.as_ptr() as usize, watch(mini(&b)));
    pooled.get_mut().unwrap().add(b);
    let mut copy = pooled.clone();
    copy.make_mut();
    assert_ne!(copy.as_ptr(), pooled.as_ptr());
    assert_eq!(dispose_of(copy.as_ptr() as *const _), 0, "an ordinary list");
    let copy_freed = watch(copy.as_ptr() as *const _);
    drop(pooled);
    assert_eq!(
        refcount(mini(copy.get(0).unwrap())),
        1,
        "the copy's own ref"
    );
    assert!(!freed.load(Ordering::SeqCst));
    drop(copy);
    assert!(copy_freed.load(Ordering::SeqCst), "the copy is freed");
    assert!(!freed.load(Ordering::SeqCst), "the buffer parked");
    unwatch(mini(&reacquire(ptr, SIZE)), freed);
}

// ---- qdata and weak references ----

/// Resurrecting skips `free_priv_data` (gstminiobject.c
/// `gst_mini_object_unref`): qdata and weak references stay on a parked
/// buffer, exactly as on a GstBufferPool's, and are released when the
/// buffer is finally freed (here: the last stream handle goes and the pool
/// drains).
#[test]
fn qdata_and_weak_refs_outlive_parking_until_the_buffer_is_freed() {
    let mut s = serial();
    let quark = glib::Quark::from_str("rsrtpfast-dispose-test");
    let b = filled(SIZE, 1);
    let ptr = b.as_ptr() as usize;
    let freed = watch(mini(&b));
    // SAFETY: `b` is live; the data is a static string, no destroy notify.
    unsafe {
        ffi::gst_mini_object_set_qdata(
            mini(&b) as *mut _,
            quark.into_glib(),
            c"kept".as_ptr() as glib::ffi::gpointer,
            None,
        )
    };
    drop(b);
    assert!(!freed.load(Ordering::SeqCst));
    let back = reacquire(ptr, SIZE);
    // SAFETY: reading qdata of a live buffer.
    let q = unsafe { ffi::gst_mini_object_get_qdata(mini(&back) as *mut _, quark.into_glib()) };
    assert!(
        !q.is_null(),
        "qdata survive a recycle (GStreamer's contract)"
    );
    drop(back);
    assert!(!freed.load(Ordering::SeqCst), "parked again");
    // The last handle goes: the pool drains and frees parked buffers.
    s.stream.take();
    assert!(freed.load(Ordering::SeqCst), "freed when the pool drains");
}
