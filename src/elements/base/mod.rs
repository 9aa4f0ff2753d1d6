//! Shared machinery of all rsrtpfast payloaders and depayloaders.

pub mod depay;
pub mod hdrext;
pub mod nal_depay;
pub mod nal_pay;
pub mod pay;
pub mod pcm_pay;
pub mod pooled_au;
pub mod profile_caps;
pub mod queued_bytes;
pub mod raw_audio_depay;
pub mod stats;
pub mod warn_limit;

use crate::core::nal::NalCodec;
use crate::elements::SimdMode;
use gst::glib;
use gst::prelude::*;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};

/// Where `RSRTPFAST_TEST_PANIC` makes the streaming thread panic, to prove
/// the panic becomes an element error (tests/panic_to_error.rs).
#[derive(Clone, Copy)]
#[repr(u8)]
pub(crate) enum TestPanic {
    PayChain = 1,
    DepayChain = 2,
    /// A custom downstream event on a base's sink pad.
    SinkEvent = 4,
    /// A base's PLAYING→PAUSED.
    ChangeState = 8,
}

/// The env var's sites as bits, read once; bit 7: read.
#[cfg(feature = "test-panic")]
static TEST_PANIC: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Test-only fault injection, built only with the `test-panic` feature
/// (`make test` enables it for tests/panic_*.rs; the plugin never has it):
/// panics when `RSRTPFAST_TEST_PANIC` (a comma list of `pay-chain`,
/// `depay-chain`, `sink-event`, `change-state`) names `site`.
#[cfg(not(feature = "test-panic"))]
#[inline(always)]
pub(crate) fn test_panic_point(_site: TestPanic) {}

/// See the other `test_panic_point`: one relaxed load once the variable has
/// been read.
#[cfg(feature = "test-panic")]
#[inline]
pub(crate) fn test_panic_point(site: TestPanic) {
    let sites = TEST_PANIC.load(Ordering::Relaxed);
    if sites == 0x80 {
        return;
    }
    test_panic_slow(sites, site);
}

/// The bases' sink event functions' test site: [`TestPanic::SinkEvent`]
/// on a custom downstream event.
#[inline]
pub(crate) fn test_panic_on_event(event: &gst::EventRef) {
    if event.type_() == gst::EventType::CustomDownstream {
        test_panic_point(TestPanic::SinkEvent);
    }
}

#[cfg(feature = "test-panic")]
#[cold]
fn test_panic_slow(mut sites: u8, site: TestPanic) {
    if sites == 0 {
        sites = 0x80;
        if let Ok(v) = std::env::var("RSRTPFAST_TEST_PANIC") {
            for s in v.split(',') {
                match s.trim() {
                    "pay-chain" => sites |= TestPanic::PayChain as u8,
                    "depay-chain" => sites |= TestPanic::DepayChain as u8,
                    "sink-event" => sites |= TestPanic::SinkEvent as u8,
                    "change-state" => sites |= TestPanic::ChangeState as u8,
                    _ => {}
                }
            }
        }
        TEST_PANIC.store(sites, Ordering::Relaxed);
    }
    if sites & site as u8 != 0 {
        panic!("RSRTPFAST_TEST_PANIC: deliberate panic in the streaming thread");
    }
}

/// `f` on `imp`, unless the element panicked before (then `fallback()`). A
/// panic in `f` marks the element in gstreamer-rs's own per-instance flag
/// ([`ElementImplExt::panicked`], the base's level: the one its
/// `panic_to_error!` and element vfunc trampolines read), posts an element
/// ERROR "Panicked" and gives `fallback()`: from then on every entry gives
/// its fallback (buffers a flow error) without posting again.
///
/// [`ElementImplExt::panicked`]: gst::subclass::prelude::ElementImplExt::panicked
#[inline]
pub(crate) fn guard<T: gst::subclass::prelude::ElementImpl, R>(
    imp: &T,
    fallback: impl FnOnce() -> R,
    f: impl FnOnce(&T) -> R,
) -> R {
    use gst::subclass::prelude::*;
    let panicked = imp.panicked();
    if panicked.load(Ordering::Relaxed) {
        return fallback();
    }
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(imp))) {
        Ok(ret) => ret,
        Err(_) => {
            panicked.store(true, Ordering::Relaxed);
            gst::element_imp_error!(imp, gst::LibraryError::Failed, ("Panicked"));
            fallback()
        }
    }
}

/// The pad functions of our bases' own pads: [`guard`] on the parent's
/// implementation, cast without `catch_panic_pad_function`'s checked
/// downcast (a type walk per buffer: ~140 instructions with its bookkeeping
/// per depayloaded packet, measured).
///
/// # Safety
/// `parent` must be an instance of `T::Type` (the pad is one of the
/// element's own always pads, which GStreamer calls with their parent).
#[inline]
pub(crate) unsafe fn pad_function<T: gst::subclass::prelude::ElementImpl, R>(
    parent: Option<&gst::Object>,
    fallback: impl FnOnce() -> R,
    f: impl FnOnce(&T) -> R,
) -> R {
    let Some(parent) = parent else {
        return fallback();
    };
    use gst::subclass::prelude::*;
    // SAFETY: the caller guarantees `parent` is an instance of `T::Type`
    // (the pad is one of that element's own always pads), so the unchecked
    // GObject cast is to the object's real type or an ancestor of it.
    let element = unsafe { parent.unsafe_cast_ref::<T::Type>() };
    guard(element.imp(), fallback, f)
}

/// The chain functions' entry: [`pad_function`] with a flow error as the
/// fallback.
///
/// # Safety
/// As [`pad_function`].
#[inline]
pub(crate) unsafe fn streaming<T: gst::subclass::prelude::ElementImpl>(
    parent: Option<&gst::Object>,
    f: impl FnOnce(&T) -> Result<gst::FlowSuccess, gst::FlowError>,
) -> Result<gst::FlowSuccess, gst::FlowError> {
    // SAFETY: our caller guarantees `parent` is a `T::Type`, exactly
    // `pad_function`'s requirement.
    unsafe { pad_function(parent, || Err(gst::FlowError::Error), f) }
}

/// A state change the bases never fail after a panic: a downward one
/// (GStreamer deadlocks or crashes on that; gstreamer-rs's trampoline lets
/// them through too) or one to the same state (gstreamer-rs's trampoline
/// fails NULL→NULL, so a second set_state(NULL), as gst_harness_teardown
/// makes, would abort the harness).
pub(crate) fn never_fails_after_panic(transition: gst::StateChange) -> bool {
    matches!(
        transition,
        gst::StateChange::PlayingToPaused
            | gst::StateChange::PausedToReady
            | gst::StateChange::ReadyToNull
            | gst::StateChange::NullToNull
            | gst::StateChange::ReadyToReady
            | gst::StateChange::PausedToPaused
            | gst::StateChange::PlayingToPlaying
    )
}

/// A format's `ElementImpl::change_state` for both bases: its parent's
/// (the base's, through `parent_change_state`), except after a panic
/// (`panicked`), when a downward or same-state change succeeds without
/// going there ([`never_fails_after_panic`]).
pub(crate) fn base_change_state<T: gst::subclass::prelude::ElementImpl>(
    imp: &T,
    panicked: bool,
    transition: gst::StateChange,
) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
    use gst::subclass::prelude::ElementImplExt;
    if panicked && never_fails_after_panic(transition) {
        return Ok(gst::StateChangeSuccess::Success);
    }
    imp.parent_change_state(transition)
}

/// The message of a LoggableError (it only exposes it through Display:
/// `Error "category": "message" at file:line`), without a leading
/// "not-negotiated: ".
pub(crate) fn loggable_message(err: &gst::LoggableError) -> String {
    let text = err.to_string();
    let msg = match (text.find(": \""), text.rfind("\" at ")) {
        (Some(a), Some(b)) if a + 3 <= b => text[a + 3..b].replace("\\\"", "\""),
        _ => text.clone(),
    };
    msg.strip_prefix("not-negotiated: ")
        .map(str::to_string)
        .unwrap_or(msg)
}

/// A poisoned lock still holds consistent counters and settings here.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Elementary-stream caps of codec `C`: the given length-prefixed formats
/// (access units) and byte-stream (NAL units or access units).
pub(crate) fn elementary_caps<C: NalCodec>(packed_formats: &[&str]) -> gst::Caps {
    // A single format is a plain string, as in the stock templates.
    let packed = match packed_formats {
        [one] => one.to_send_value(),
        many => gst::List::new(many.iter().copied()).to_send_value(),
    };
    gst::Caps::builder_full()
        .structure(
            gst::Structure::builder(C::CAPS_MEDIA)
                .field("stream-format", packed)
                .field("alignment", "au")
                .build(),
        )
        .structure(
            gst::Structure::builder(C::CAPS_MEDIA)
                .field("stream-format", "byte-stream")
                .field("alignment", gst::List::new(["nal", "au"]))
                .build(),
        )
        .build()
}

/// An element's always-present sink and src pad templates.
pub(crate) fn pad_templates(sink: &gst::Caps, src: &gst::Caps) -> Vec<gst::PadTemplate> {
    [
        ("sink", gst::PadDirection::Sink, sink),
        ("src", gst::PadDirection::Src, src),
    ]
    .into_iter()
    .map(|(name, dir, caps)| {
        gst::PadTemplate::new(name, dir, gst::PadPresence::Always, caps).unwrap()
    })
    .collect()
}

/// The properties every rsrtpfast element has: `simd`, `stats`,
/// `stats-interval`, `pool-max-bytes`.
pub(crate) fn common_properties(simd_blurb: &str, stats_blurb: &str) -> [glib::ParamSpec; 4] {
    [
        glib::ParamSpecEnum::builder_with_default("simd", SimdMode::Auto)
            .nick("SIMD level")
            .blurb(simd_blurb)
            .mutable_ready()
            .build(),
        glib::ParamSpecBoxed::builder::<gst::Structure>("stats")
            .nick("Statistics")
            .blurb(stats_blurb)
            .read_only()
            .build(),
        glib::ParamSpecUInt::builder("stats-interval")
            .nick("Statistics interval")
            .blurb("Post the stats as an element message (rtpfast-stats) every this many ms (0 = never)")
            .default_value(0)
            .mutable_playing()
            .build(),
        glib::ParamSpecUInt64::builder("pool-max-bytes")
            .nick("Pool ceiling")
            .blurb(
                "Process-wide ceiling on pooled bytes shared by all rsrtpfast elements \
                 (default from RSRTPFAST_POOL_MAX_BYTES)",
            )
            .default_value(crate::pool::max_bytes())
            .mutable_playing()
            .build(),
    ]
}

/// What every element keeps besides its codec state: the posting interval
/// and its handle on the shared pool while streaming.
#[derive(Default)]
pub struct ElementCommon {
    stats_interval_ms: AtomicU32,
    stream: Mutex<Option<crate::pool::StreamHandle>>,
    /// The clock tick that posts `rtpfast-stats` every `stats-interval` ms
    /// while PLAYING. On the clock, not on buffers: under a storm of
    /// garbage no buffer reaches the timed path, and that is when the
    /// numbers matter (issue 23).
    ticker: Mutex<Option<gst::PeriodicClockId>>,
    /// Limits the warnings logged for dropped input (a storm of bad packets
    /// must not flood the log).
    pub drop_warnings: warn_limit::WarnLimit,
}

impl ElementCommon {
    pub fn stats_interval_ms(&self) -> u32 {
        self.stats_interval_ms.load(Ordering::Relaxed)
    }

    /// Handles the properties it owns; false for any other.
    pub fn set_property(
        &self,
        obj: &gst::Element,
        value: &glib::Value,
        pspec: &glib::ParamSpec,
    ) -> bool {
        match pspec.name() {
            "stats-interval" => {
                self.stats_interval_ms
                    .store(value.get().unwrap(), Ordering::Relaxed);
                // A new interval while PLAYING takes effect now.
                if obj.current_state() == gst::State::Playing {
                    self.stop_ticker();
                    self.start_ticker(obj);
                }
            }
            "pool-max-bytes" => crate::pool::set_max_bytes(value.get().unwrap()),
            _ => return false,
        }
        true
    }

    pub fn property(&self, pspec: &glib::ParamSpec) -> Option<glib::Value> {
        match pspec.name() {
            "stats-interval" => Some(self.stats_interval_ms().to_value()),
            "pool-max-bytes" => Some(crate::pool::max_bytes().to_value()),
            _ => None,
        }
    }

    /// Hold a pool handle from READY->PAUSED to PAUSED->READY, so the pool
    /// can give memory back when no stream is running.
    pub fn change_state(&self, obj: &gst::Element, transition: gst::StateChange) {
        match transition {
            gst::StateChange::PausedToPlaying => self.start_ticker(obj),
            gst::StateChange::PlayingToPaused => self.stop_ticker(),
            gst::StateChange::ReadyToPaused => {
                *lock(&self.stream) = Some(crate::pool::StreamHandle::new());
                self.drop_warnings.reset();
            }
            gst::StateChange::PausedToReady => {
                lock(&self.stream).take();
            }
            _ => {}
        }
    }

    /// Post the element's `stats` every `stats-interval` ms on its clock
    /// (from the clock's thread) until [`stop_ticker`](Self::stop_ticker).
    /// Without a clock or an interval, nothing.
    fn start_ticker(&self, obj: &gst::Element) {
        let ms = self.stats_interval_ms();
        let Some(clock) = obj.clock().filter(|_| ms > 0) else {
            return;
        };
        let interval = gst::ClockTime::from_mseconds(ms as u64);
        let id = clock.new_periodic_id(clock.time() + interval, interval);
        let weak = obj.downgrade();
        let scheduled = id.wait_async(move |_, _, _| {
            if let Some(obj) = weak.upgrade() {
                post_stats(&obj);
            }
        });
        if scheduled.is_ok() {
            if let Some(old) = lock(&self.ticker).replace(id) {
                old.unschedule();
            }
        }
    }

    /// At EOS, with `stats-interval` set: the final numbers, posted once
    /// more (a stream shorter than the interval still reports).
    pub fn post_final_stats(&self, obj: &gst::Element) {
        if self.stats_interval_ms() > 0 {
            post_stats(obj);
        }
    }

    fn stop_ticker(&self) {
        if let Some(id) = lock(&self.ticker).take() {
            id.unschedule();
        }
    }
}

/// Post the element's `stats`, renamed `rtpfast-stats`, as an element
/// message.
fn post_stats(obj: &gst::Element) {
    if let Ok(Some(mut stats)) = obj.property_value("stats").get::<Option<gst::Structure>>() {
        stats.set_name(stats::STATS_MESSAGE_NAME);
        let _ = obj.post_message(gst::message::Element::builder(stats).src(obj).build());
    }
}

/// Copy `from`'s metas onto `to` as `gst_rtp_copy_meta` does: untagged ones,
/// and those whose only tag is `tag` (`video` for video formats, `audio` for
/// audio ones; None: untagged only). `to` is a fresh buffer without metas of
/// its own. Costs nothing when `from` has none to copy.
/// `from` has a meta [`copy_rtp_metas`] would copy.
pub(crate) fn has_rtp_metas(from: &gst::BufferRef, tag: Option<&str>) -> bool {
    from.iter_meta::<gst::Meta>().any(|m| {
        let tags = m.tags();
        tags.is_empty() || (tags.len() == 1 && Some(tags[0].as_str()) == tag)
    })
}

pub(crate) fn copy_rtp_metas(from: &gst::BufferRef, to: &mut gst::BufferRef, tag: Option<&str>) {
    let wanted = |tags: &[glib::GStringPtr]| {
        tags.is_empty() || (tags.len() == 1 && Some(tags[0].as_str()) == tag)
    };
    if !from.iter_meta::<gst::Meta>().any(|m| wanted(m.tags())) {
        return;
    }
    if from.copy_into(to, gst::BufferCopyFlags::META, ..).is_err() {
        return;
    }
    to.foreach_meta_mut(|meta| {
        std::ops::ControlFlow::Continue(if wanted(meta.tags()) {
            gst::buffer::BufferMetaForeachAction::Keep
        } else {
            gst::buffer::BufferMetaForeachAction::Remove
        })
    });
}
