//! `GstRtpFastAllocator`: a GstAllocator whose memories are blocks of the
//! shared pool core. Freeing such a memory gives its block back to the core's
//! free list (so upstream elements that take our allocator, but not our
//! pool, recycle memory too), and the buffer pool dresses blocks with these
//! memories.

use super::core::{Block, Core};
use gst::ffi;
use gst::glib;
use gst::glib::translate::*;
use gst::prelude::*;
use std::ptr;
use std::sync::OnceLock;

pub(crate) const MEM_TYPE: &[u8] = b"RtpFastMemory\0";

/// Our GstMemory: the public struct followed by our fields.
///
/// Invariant (relied on by the `SAFETY` comments of this module and of
/// [`super::view`], [`super`]): every GstMemory whose `allocator` is our
/// allocator is the `mem` field (offset 0, `#[repr(C)]`) of a
/// `Box<PoolMemory>`, because only [`alloc`] / [`new_memory`],
/// [`mem_share`] and the payload views create memories with it (GStreamer's
/// fallback `mem_copy` allocates through [`alloc`] too). A root memory
/// (`parent` null) with `block: Some` owns that block; its `data` is the
/// block's start, valid for the block's capacity (= `maxsize`).
#[repr(C)]
pub(crate) struct PoolMemory {
    pub mem: ffi::GstMemory,
    pub data: *mut u8,
    /// The block, for a root memory; `None` for a shared sub-memory.
    pub block: Option<Block>,
    /// True while the memory sits in a buffer parked in the free list (its
    /// block is then accounted as free, not in use).
    pub parked: bool,
    /// For a payload view ([`super::view`]): the viewed memory, referenced
    /// and exclusively locked while the view lives. Null otherwise.
    pub target: *mut ffi::GstMemory,
}

unsafe extern "C" fn alloc(
    allocator: *mut ffi::GstAllocator,
    size: usize,
    params: *mut ffi::GstAllocationParams,
) -> *mut ffi::GstMemory {
    // SAFETY: GstAllocatorClass::alloc is only called by gst_allocator_alloc,
    // which passes a non-null `params` (its static defaults when the caller
    // gave NULL) and our allocator. A popped block is exclusively ours, so
    // `new_memory`'s contract holds; `maxsize` = prefix + size + padding fits
    // the block's capacity (`class_for(maxsize)` chose the class), so the
    // zeroed prefix [0, prefix) and padding [prefix + size, maxsize) lie
    // inside the block `(*mem).data` points to. The fallback calls
    // gst_allocator_alloc on the default allocator with the caller's valid
    // params.
    unsafe {
        let params = &*params;
        let Some(maxsize) = size
            .checked_add(params.prefix)
            .and_then(|s| s.checked_add(params.padding))
        else {
            return ptr::null_mut();
        };
        let core = Core::global();
        // Blocks are 64-byte aligned: larger alignments go to sysmem.
        let block = if params.align < 64 {
            Core::class_for(maxsize).map(|c| core.pop(c))
        } else {
            None
        };
        match block {
            Some(Ok(block)) => {
                let mem = new_memory(allocator, block, params.flags, params.prefix, size);
                if params.prefix > 0 && (params.flags & ffi::GST_MEMORY_FLAG_ZERO_PREFIXED) != 0 {
                    ptr::write_bytes((*mem).data, 0, params.prefix);
                }
                if (params.flags & ffi::GST_MEMORY_FLAG_ZERO_PADDED) != 0 {
                    ptr::write_bytes((*mem).data.add(params.prefix + size), 0, params.padding);
                }
                mem as *mut ffi::GstMemory
            }
            other => {
                if other.is_none() {
                    core.note_miss(maxsize);
                }
                // Ordinary allocation (counted as a miss by the core).
                ffi::gst_allocator_alloc(ptr::null_mut(), size, params as *const _ as *mut _)
            }
        }
    }
}

/// Wrap `block` in a new root memory of `size` bytes at `offset`.
///
/// # Safety
/// `block` must be exclusively owned by the caller (popped from the core,
/// not aliased), `offset + size` must not exceed its capacity, and
/// `allocator` must be our allocator (see [`PoolMemory`]'s invariant).
pub(crate) unsafe fn new_memory(
    allocator: *mut ffi::GstAllocator,
    mut block: Block,
    flags: u32,
    offset: usize,
    size: usize,
) -> *mut PoolMemory {
    // SAFETY: the caller owns `block` exclusively (`as_mut_slice`'s
    // contract). An all-zero GstMemory is a valid plain C struct (integers
    // and nullable pointers) that gst_memory_init then fully initialises;
    // `pm` is a fresh box whose first field is that GstMemory (`#[repr(C)]`),
    // and maxsize = the block's capacity, align mask 63 (blocks are 64-byte
    // aligned) and offset + size <= capacity (caller) describe the block.
    unsafe {
        let data = block.as_mut_slice().as_mut_ptr();
        let maxsize = block.capacity();
        let pm = Box::into_raw(Box::new(PoolMemory {
            mem: std::mem::zeroed(),
            data,
            block: Some(block),
            parked: false,
            target: ptr::null_mut(),
        }));
        ffi::gst_memory_init(
            pm as *mut ffi::GstMemory,
            flags & !ffi::GST_MEMORY_FLAG_NO_SHARE,
            allocator,
            ptr::null_mut(),
            maxsize,
            63,
            offset,
            size,
        );
        pm
    }
}

unsafe extern "C" fn free(_allocator: *mut ffi::GstAllocator, mem: *mut ffi::GstMemory) {
    // SAFETY: GStreamer calls `free` of a memory's allocator once, when its
    // refcount reached zero, so `mem` is one of our `Box<PoolMemory>`s
    // (invariant on [`PoolMemory`]) that nobody references any more: a view
    // (non-null target) satisfies `view_freed`'s contract, anything else is
    // reclaimed as the box it was made from, exactly once.
    unsafe {
        let pm = mem as *mut PoolMemory;
        if !(*pm).target.is_null() {
            return super::view::view_freed(pm);
        }
        let pm = Box::from_raw(pm);
        if let Some(block) = pm.block {
            super::block_freed(block, pm.parked);
        }
    }
}

unsafe extern "C" fn mem_map(
    mem: *mut ffi::GstMemory,
    _maxsize: usize,
    _flags: ffi::GstMapFlags,
) -> glib::ffi::gpointer {
    // SAFETY: gst_memory_map calls this with a live memory of our allocator,
    // i.e. a `PoolMemory` (invariant on [`PoolMemory`]); only its `data`
    // field is read.
    unsafe { (*(mem as *mut PoolMemory)).data as glib::ffi::gpointer }
}

unsafe extern "C" fn mem_unmap(_mem: *mut ffi::GstMemory) {}

unsafe extern "C" fn mem_share(
    mem: *mut ffi::GstMemory,
    offset: isize,
    size: isize,
) -> *mut ffi::GstMemory {
    // SAFETY: gst_memory_share calls this with a live memory of our
    // allocator, i.e. a `PoolMemory` (invariant on [`PoolMemory`]), and holds
    // a reference on it; its fields are only read. The sub-memory is a fresh
    // `PoolMemory` box (keeping the invariant) whose zeroed GstMemory
    // gst_memory_init fully initialises; gst_memory_init also references and
    // locks `parent`, which keeps the root (and its `data`) alive while the
    // sub-memory lives. The range is the caller's contract, as with
    // GStreamer's own sysmem share; nothing is read or written here.
    unsafe {
        let pm = mem as *mut PoolMemory;
        let parent = if (*pm).mem.parent.is_null() {
            mem
        } else {
            (*pm).mem.parent
        };
        let offset = offset as usize;
        let mut size = size as usize;
        let new_offset = (*pm).mem.offset.wrapping_add(offset);
        if size == usize::MAX {
            size = (*pm).mem.size.wrapping_sub(offset);
        }
        let sub = Box::into_raw(Box::new(PoolMemory {
            mem: std::mem::zeroed(),
            data: (*pm).data,
            block: None,
            parked: false,
            target: ptr::null_mut(),
        }));
        ffi::gst_memory_init(
            sub as *mut ffi::GstMemory,
            (*pm).mem.mini_object.flags | ffi::GST_MINI_OBJECT_FLAG_LOCK_READONLY,
            (*pm).mem.allocator,
            parent,
            (*pm).mem.maxsize,
            (*pm).mem.align,
            new_offset,
            size,
        );
        sub as *mut ffi::GstMemory
    }
}

unsafe extern "C" fn mem_is_span(
    mem1: *mut ffi::GstMemory,
    mem2: *mut ffi::GstMemory,
    offset: *mut usize,
) -> glib::ffi::gboolean {
    // SAFETY: gst_memory_is_span calls this with two live memories of the
    // same allocator and only once it checked that `mem1->parent` is
    // non-null and equal to `mem2->parent`, so `parent` is a live memory;
    // `offset` is either null (checked) or the caller's writable gsize.
    unsafe {
        let parent = (*mem1).parent;
        if !offset.is_null() {
            *offset = (*mem1).offset.wrapping_sub((*parent).offset);
        }
        ((*mem1).offset + (*mem1).size == (*mem2).offset).into_glib()
    }
}

unsafe extern "C" fn class_init(class: glib::ffi::gpointer, _data: glib::ffi::gpointer) {
    // SAFETY: GObject calls class_init with the class struct of the type
    // registered in `allocator_type`, whose class_size is that of
    // GstAllocatorClass, exclusively ours during class initialisation.
    unsafe {
        let class = class as *mut ffi::GstAllocatorClass;
        (*class).alloc = Some(alloc);
        (*class).free = Some(free);
    }
}

unsafe extern "C" fn instance_init(
    obj: *mut glib::gobject_ffi::GTypeInstance,
    _class: glib::ffi::gpointer,
) {
    // SAFETY: GObject calls instance_init with a new instance of our type,
    // a GstAllocator (instance_size in `allocator_type`) not yet shared with
    // anyone; MEM_TYPE is a NUL-terminated static string.
    unsafe {
        let allocator = obj as *mut ffi::GstAllocator;
        (*allocator).mem_type = MEM_TYPE.as_ptr() as *const _;
        (*allocator).mem_map = Some(mem_map);
        (*allocator).mem_unmap = Some(mem_unmap);
        (*allocator).mem_share = Some(mem_share);
        (*allocator).mem_is_span = Some(mem_is_span);
        (*allocator).object.flags |= ffi::GST_OBJECT_FLAG_MAY_BE_LEAKED;
    }
}

/// GType `GstRtpFastAllocator`.
pub fn allocator_type() -> glib::Type {
    static TYPE: OnceLock<glib::Type> = OnceLock::new();
    // SAFETY: the GTypeInfo is a valid static one (class/instance sizes of
    // GstAllocator(Class), our init functions), `name` is a NUL-terminated
    // C string, and the parent GType is GstAllocator's, already registered
    // by gst::Allocator::static_type(). g_type_from_name / ..._register_static
    // are thread-safe; OnceLock runs this once per process.
    *TYPE.get_or_init(|| unsafe {
        struct Info(glib::gobject_ffi::GTypeInfo);
        // SAFETY: `Info` is only the immutable static INFO below; its raw
        // pointers are null or point to 'static functions/data, so sharing
        // or sending it across threads is sound (GObject only reads it).
        unsafe impl Send for Info {}
        // SAFETY: as for Send: never mutated after its constant initialiser.
        unsafe impl Sync for Info {}
        static INFO: Info = Info(glib::gobject_ffi::GTypeInfo {
            class_size: std::mem::size_of::<ffi::GstAllocatorClass>() as u16,
            base_init: None,
            base_finalize: None,
            class_init: Some(class_init),
            class_finalize: None,
            class_data: ptr::null_mut(),
            instance_size: std::mem::size_of::<ffi::GstAllocator>() as u16,
            n_preallocs: 0,
            instance_init: Some(instance_init),
            value_table: ptr::null(),
        });
        let name = c"GstRtpFastAllocator";
        let existing = glib::gobject_ffi::g_type_from_name(name.as_ptr());
        if existing != glib::gobject_ffi::G_TYPE_INVALID {
            return from_glib(existing);
        }
        let t = glib::gobject_ffi::g_type_register_static(
            gst::Allocator::static_type().into_glib(),
            name.as_ptr(),
            &INFO.0,
            0,
        );
        assert_ne!(t, glib::gobject_ffi::G_TYPE_INVALID);
        from_glib(t)
    })
}

/// The process-wide allocator instance (registered as "RtpFastMemory").
pub fn allocator() -> &'static gst::Allocator {
    static ALLOC: OnceLock<gst::Allocator> = OnceLock::new();
    ALLOC.get_or_init(|| {
        glib::Object::with_type(allocator_type())
            .downcast::<gst::Allocator>()
            .expect("GstRtpFastAllocator is a GstAllocator")
    })
}

#[inline]
pub(crate) fn allocator_ptr() -> *mut ffi::GstAllocator {
    allocator().as_ptr()
}

/// Is `mem` a root memory of ours that owns a pooled block? Returns it as a
/// `PoolMemory`.
///
/// # Safety
/// `mem` must point to a live GstMemory.
#[inline]
pub(crate) unsafe fn as_pool_memory(mem: *mut ffi::GstMemory) -> Option<*mut PoolMemory> {
    // SAFETY: the caller's `mem` is live; its `block` is only read once its
    // allocator is ours, i.e. once it is known to be a `PoolMemory`
    // (invariant on [`PoolMemory`]).
    unsafe {
        if (*mem).allocator == allocator_ptr()
            && (*mem).parent.is_null()
            && (*(mem as *mut PoolMemory)).block.is_some()
        {
            Some(mem as *mut PoolMemory)
        } else {
            None
        }
    }
}
