//! GObject implementation of `GstRtpFastBufferPool`.
//!
//! Every instance is a *handle* on the process-wide core: acquire pops a
//! dressed buffer (or a block to dress) from the shared lock-free free list,
//! release parks it there again. GstBufferPool's own queue is never used.

use super::core::Core;
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

pub struct RtpFastBufferPool {
    flushing: AtomicBool,
    /// Config: buffer size, max buffers (0 = unbounded, our default).
    size: AtomicUsize,
    max: AtomicU32,
    /// The config names an allocator that is not ours: behave like a plain
    /// GstBufferPool (parent implementation) with that allocator.
    passthrough: AtomicBool,
    registered: AtomicBool,
    outstanding: AtomicU32,
    acquired: AtomicU64,
    wait: Mutex<()>,
    cond: Condvar,
    /// "element -> upstream" when an element offered this pool in an
    /// ALLOCATION answer: logged when upstream activates (takes) it.
    pub(super) offered: Mutex<Option<String>>,
}

impl Default for RtpFastBufferPool {
    fn default() -> Self {
        RtpFastBufferPool {
            flushing: AtomicBool::new(true),
            size: AtomicUsize::new(0),
            max: AtomicU32::new(0),
            passthrough: AtomicBool::new(false),
            registered: AtomicBool::new(false),
            outstanding: AtomicU32::new(0),
            acquired: AtomicU64::new(0),
            wait: Mutex::new(()),
            cond: Condvar::new(),
            offered: Mutex::new(None),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for RtpFastBufferPool {
    const NAME: &'static str = "GstRtpFastBufferPool";
    type Type = super::RtpFastBufferPool;
    type ParentType = gst::BufferPool;
}

impl ObjectImpl for RtpFastBufferPool {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPS: std::sync::OnceLock<Vec<glib::ParamSpec>> = std::sync::OnceLock::new();
        PROPS.get_or_init(|| {
            vec![
                glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
                    .nick("Statistics")
                    .blurb("Shared pool statistics plus buffers acquired through this handle")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt64::builder("max-bytes")
                    .nick("Max bytes")
                    .blurb("Process-wide ceiling on pooled bytes (shared by all handles)")
                    .default_value(super::core::DEFAULT_MAX_BYTES)
                    .build(),
            ]
        })
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "stats" => {
                let mut s = super::stats().to_structure();
                s.set("handle-acquired", self.acquired.load(Ordering::Relaxed));
                s.to_value()
            }
            "max-bytes" => super::max_bytes().to_value(),
            _ => unreachable!(),
        }
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if pspec.name() == "max-bytes" {
            super::set_max_bytes(value.get().unwrap());
        }
    }
}

impl GstObjectImpl for RtpFastBufferPool {}

impl RtpFastBufferPool {
    /// Take a buffer of `size` bytes for this handle (no contract checks).
    #[inline]
    fn take(&self, size: usize) -> gst::Buffer {
        self.acquired.fetch_add(1, Ordering::Relaxed);
        super::take_pooled(size).unwrap_or_else(|| {
            // Ordinary allocation; the miss is already counted by the core.
            gst::Buffer::with_size(size).expect("allocation")
        })
    }

    fn wait_for_slot(
        &self,
        max: u32,
        params: Option<&gst::BufferPoolAcquireParams>,
    ) -> Result<(), gst::FlowError> {
        let dontwait =
            params.is_some_and(|p| p.flags().contains(gst::BufferPoolAcquireFlags::DONTWAIT));
        let mut guard = None;
        loop {
            if self.flushing.load(Ordering::Acquire) {
                return Err(gst::FlowError::Flushing);
            }
            let cur = self.outstanding.load(Ordering::Acquire);
            if cur < max {
                if self
                    .outstanding
                    .compare_exchange(cur, cur + 1, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
                {
                    return Ok(());
                }
                continue;
            }
            if dontwait {
                return Err(gst::FlowError::Eos);
            }
            let g = guard
                .take()
                .unwrap_or_else(|| self.wait.lock().unwrap_or_else(|e| e.into_inner()));
            let (g, _) = self
                .cond
                .wait_timeout(g, std::time::Duration::from_millis(20))
                .unwrap_or_else(|e| e.into_inner());
            guard = Some(g);
        }
    }
}

impl BufferPoolImpl for RtpFastBufferPool {
    fn acquire_buffer(
        &self,
        params: Option<&gst::BufferPoolAcquireParams>,
    ) -> Result<gst::Buffer, gst::FlowError> {
        if self.passthrough.load(Ordering::Relaxed) {
            return self.parent_acquire_buffer(params);
        }
        if self.flushing.load(Ordering::Acquire) {
            return Err(gst::FlowError::Flushing);
        }
        let size = match params {
            Some(p) if p.format() == gst::Format::Bytes && p.start().value() >= 0 => {
                p.start().value() as usize
            }
            _ => self.size.load(Ordering::Relaxed),
        };
        let max = self.max.load(Ordering::Relaxed);
        if max > 0 {
            self.wait_for_slot(max, params)?;
        } else {
            self.outstanding.fetch_add(1, Ordering::Relaxed);
        }
        Ok(self.take(size))
    }

    fn alloc_buffer(
        &self,
        params: Option<&gst::BufferPoolAcquireParams>,
    ) -> Result<gst::Buffer, gst::FlowError> {
        if self.passthrough.load(Ordering::Relaxed) {
            return self.parent_alloc_buffer(params);
        }
        Ok(self.take(self.size.load(Ordering::Relaxed)))
    }

    fn free_buffer(&self, buffer: gst::Buffer) {
        if self.passthrough.load(Ordering::Relaxed) {
            return self.parent_free_buffer(buffer);
        }
        drop(buffer)
    }

    fn reset_buffer(&self, buffer: &mut gst::BufferRef) {
        if self.passthrough.load(Ordering::Relaxed) {
            return self.parent_reset_buffer(buffer);
        }
        super::reset(buffer);
    }

    fn release_buffer(&self, buffer: gst::Buffer) {
        if self.passthrough.load(Ordering::Relaxed) {
            return self.parent_release_buffer(buffer);
        }
        let prev = self.outstanding.fetch_sub(1, Ordering::AcqRel);
        let max = self.max.load(Ordering::Relaxed);
        if max > 0 && prev >= max {
            let _g = self.wait.lock().unwrap_or_else(|e| e.into_inner());
            self.cond.notify_all();
        }
        super::recycle(buffer);
    }

    fn start(&self) -> bool {
        if self.passthrough.load(Ordering::Relaxed) {
            return self.parent_start();
        }
        if !self.registered.swap(true, Ordering::AcqRel) {
            super::activate();
            if let Some(offer) = self
                .offered
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_deref()
            {
                gst::info!(
                    super::CAT,
                    imp = self,
                    "Upstream took the pool ({offer}): activated, {} bytes a buffer",
                    self.size.load(Ordering::Relaxed)
                );
            }
        }
        // Pre-warm `min` buffers of the configured size into the shared lists.
        if let Some(s) = self.obj().config().params().map(|p| p.2) {
            let size = self.size.load(Ordering::Relaxed);
            let warm: Vec<_> = (0..s).filter_map(|_| super::take_pooled(size)).collect();
            for b in warm {
                super::recycle(b);
            }
        }
        true
    }

    fn stop(&self) -> bool {
        if self.passthrough.load(Ordering::Relaxed) {
            return self.parent_stop();
        }
        if self.registered.swap(false, Ordering::AcqRel) {
            super::deactivate();
        }
        true
    }

    fn flush_start(&self) {
        self.flushing.store(true, Ordering::Release);
        let _g = self.wait.lock().unwrap_or_else(|e| e.into_inner());
        self.cond.notify_all();
        if self.passthrough.load(Ordering::Relaxed) {
            self.parent_flush_start();
        }
    }

    fn flush_stop(&self) {
        self.flushing.store(false, Ordering::Release);
        if self.passthrough.load(Ordering::Relaxed) {
            self.parent_flush_stop();
        }
    }

    fn set_config(&self, config: &mut gst::BufferPoolConfigRef) -> bool {
        let Some((_caps, size, _min, max)) = config.params() else {
            return false;
        };
        let foreign = match config.allocator() {
            Some((Some(a), params)) => {
                let ours = a.type_() == super::memory::allocator_type();
                let sysmem = a.type_().name() == "GstAllocatorSysmem";
                !(ours || sysmem) || params.align() >= 64
            }
            Some((None, params)) => params.align() >= 64,
            None => false,
        };
        self.passthrough.store(foreign, Ordering::Relaxed);
        self.size.store(size as usize, Ordering::Relaxed);
        self.max.store(max, Ordering::Relaxed);
        let _ = Core::class_for(size as usize);
        self.parent_set_config(config)
    }
}
