//! `GstRtpFastBaseDepay`: our own abstract base class of the depayloaders, a
//! plain `GstElement` subclass (not GstRTPBaseDepayload).
//!
//! The base owns the pads, parses and validates every packet in the pure-Rust
//! core (`crate::core::rtp::parse`: one memory map, no GstRTPBuffer, no
//! allocation, no lock on the common path), tracks seqnums (`max-reorder`,
//! DISCONT on gaps and ssrc/pt changes), keeps the stock base class's
//! segment/`stats`/`source-info`/header-extension behaviour, and answers the
//! ALLOCATION query with the shared pool. A format implements
//! [`RtpFastBaseDepayImpl`]: caps checks and one call per valid packet.

mod imp;

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

pub use imp::CAT;

glib::wrapper! {
    /// GType `GstRtpFastBaseDepay` (abstract).
    pub struct RtpFastBaseDepay(ObjectSubclass<imp::RtpFastBaseDepay>)
        @extends gst::Element, gst::Object;
}

/// Register the type (called when the plugin loads).
pub fn register() {
    let _ = RtpFastBaseDepay::static_type();
}

/// One valid RTP packet, parsed by the base class. Borrowed for the duration
/// of [`RtpFastBaseDepayImpl::handle_packet`].
#[derive(Debug)]
pub struct RtpPacket<'a> {
    pub marker: bool,
    pub payload_type: u8,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    /// Packets were lost before this one (seqnum gap, ssrc/pt change), or
    /// the input buffer was flagged DISCONT.
    pub discont: bool,
    /// The payload (after CSRCs and extension, without padding).
    pub payload: &'a [u8],
    /// The input buffer (for pts/dts/flags/metas).
    pub buffer: &'a gst::BufferRef,
    /// The whole packet as mapped.
    data: &'a [u8],
    csrcs: std::ops::Range<usize>,
}

impl RtpPacket<'_> {
    pub fn pts(&self) -> Option<gst::ClockTime> {
        self.buffer.pts()
    }

    pub fn dts(&self) -> Option<gst::ClockTime> {
        self.buffer.dts()
    }

    /// Where the payload starts in `buffer` (for a zero-copy view of it).
    pub fn payload_offset(&self) -> usize {
        self.payload.as_ptr() as usize - self.data.as_ptr() as usize
    }

    /// Zero-copy views on the input when it is one memory (the base has it
    /// mapped, so no second map); None for a packet gathered from several.
    pub fn payload_views(&self) -> Option<crate::pool::PayloadViews<'_>> {
        (self.buffer.n_memory() == 1).then(|| {
            // SAFETY: with one memory the base maps memory 0 and hands us
            // that map as `data` (see `sink_chain`); it lives as long as
            // this packet.
            unsafe {
                crate::pool::PayloadViews::for_mapped(
                    self.buffer.peek_memory(0),
                    self.data.as_ptr(),
                )
            }
        })
    }

    pub fn csrcs(&self) -> impl Iterator<Item = u32> + '_ {
        self.data[self.csrcs.clone()]
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }
}

/// Class struct: the virtual methods a format overrides. `Option`s, so the
/// zero-filled class struct GObject creates is a valid value (None until a
/// subclass's `class_init` fills them in).
type Flow = Result<gst::FlowSuccess, gst::FlowError>;
type SetCapsFn = fn(&RtpFastBaseDepay, &gst::Caps) -> Result<(), gst::LoggableError>;
type HandlePacketFn = fn(&RtpFastBaseDepay, &RtpPacket<'_>) -> Flow;

#[repr(C)]
pub struct Class {
    parent: gst::ffi::GstElementClass,
    pub(crate) set_sink_caps: Option<SetCapsFn>,
    pub(crate) handle_packet: Option<HandlePacketFn>,
    pub(crate) drain: Option<fn(&RtpFastBaseDepay) -> Flow>,
    pub(crate) flush: Option<fn(&RtpFastBaseDepay)>,
    pub(crate) start: Option<fn(&RtpFastBaseDepay)>,
    pub(crate) packet_lost: Option<fn(&RtpFastBaseDepay, &gst::EventRef) -> bool>,
    pub(crate) sink_event: Option<fn(&RtpFastBaseDepay, gst::Event) -> bool>,
    pub(crate) src_event: Option<fn(&RtpFastBaseDepay, gst::Event) -> bool>,
    pub(crate) extend_stats: Option<fn(&RtpFastBaseDepay, &mut gst::Structure)>,
    /// [`RtpFastBaseDepayImpl::LIST_OUTPUT`] (false when zero-filled).
    pub(crate) list_output: bool,
}

// SAFETY: FFI edge. `Class` is `#[repr(C)]` and starts with the parent class
// struct, as GObject requires of a class struct; its other fields are
// `Option<fn>`s, for which GObject's zero filling is `None`, and a bool
// (zero: false).
unsafe impl ClassStruct for Class {
    type Type = imp::RtpFastBaseDepay;
}

impl std::ops::Deref for Class {
    type Target = glib::Class<gst::Element>;

    fn deref(&self) -> &Self::Target {
        // SAFETY: FFI edge. `parent` is the GstElementClass at the start of
        // this class struct; glib::Class<gst::Element> is a transparent
        // wrapper around it.
        unsafe { &*(&self.parent as *const _ as *const _) }
    }
}

/// What a depayloader format implements. Everything has a default except
/// `handle_packet`.
pub trait RtpFastBaseDepayImpl: ElementImpl + ObjectSubclass<Type: IsA<RtpFastBaseDepay>> {
    /// One output buffer per packet (audio, Opus, MP2T): while the base
    /// works through an input buffer list, [`RtpFastBaseDepayExt::push`]
    /// collects into one output list, pushed when the input list is done
    /// (or before any event the base sends in between, and before a
    /// DISCONT buffer), so lists in give lists out. Formats that push per
    /// frame or access unit (H.26x, raw video) keep pushing buffers.
    /// A format that sets this must send events only through the base
    /// ([`RtpFastBaseDepayExt::set_src_caps`]), which keeps them in order.
    const LIST_OUTPUT: bool = false;

    /// New sink caps (the base has already read clock-rate, npt-*, play-*,
    /// onvif-mode and extmap-*). Errors should say `not-negotiated:` and name
    /// the offending field.
    fn set_sink_caps(&self, _caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        Ok(())
    }

    /// One valid packet, in order (duplicates and old packets are dropped by
    /// the base). Push output with [`RtpFastBaseDepayExt::push`].
    fn handle_packet(&self, packet: &RtpPacket<'_>) -> Result<gst::FlowSuccess, gst::FlowError>;

    /// EOS: push what is complete.
    fn drain(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        Ok(gst::FlowSuccess::Ok)
    }

    /// FLUSH_STOP / state reset: drop what is in progress.
    fn flush(&self) {}

    /// READY→PAUSED, after the base reset its own stream state: reset the
    /// format's. (Called from the base's `ElementImpl::change_state`, which a
    /// format's own reaches through `parent_change_state`.)
    fn start(&self) {}

    /// A `GstRTPPacketLost` event from a jitterbuffer. The default pushes a
    /// GAP event downstream, as the stock base class does.
    fn packet_lost(&self, event: &gst::EventRef) -> bool {
        self.parent_packet_lost(event)
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        self.parent_sink_event(event)
    }

    fn src_event(&self, event: gst::Event) -> bool {
        self.parent_src_event(event)
    }

    /// Add the format's counters to the `stats` structure (the base has put
    /// the stock fields and its own `malformed`/`dropped` counts there).
    fn extend_stats(&self, _stats: &mut gst::Structure) {}
}

/// The base class's own behaviour, for subclasses that override a method
/// and want to chain up.
pub trait RtpFastBaseDepayImplExt: RtpFastBaseDepayImpl {
    fn parent_packet_lost(&self, event: &gst::EventRef) -> bool {
        let obj = self.obj();
        obj.upcast_ref::<RtpFastBaseDepay>()
            .imp()
            .default_packet_lost(event)
    }

    fn parent_sink_event(&self, event: gst::Event) -> bool {
        let obj = self.obj();
        obj.upcast_ref::<RtpFastBaseDepay>()
            .imp()
            .default_sink_event(event)
    }

    fn parent_src_event(&self, event: gst::Event) -> bool {
        let obj = self.obj();
        obj.upcast_ref::<RtpFastBaseDepay>()
            .imp()
            .default_src_event(event)
    }

    /// A format's `ElementImpl::change_state`: see
    /// [`base_change_state`](super::base_change_state).
    fn base_change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        super::base_change_state(self, self.obj().has_panicked(), transition)
    }
}

impl<T: RtpFastBaseDepayImpl> RtpFastBaseDepayImplExt for T {}

/// What the base gives its subclasses.
pub trait RtpFastBaseDepayExt: IsA<RtpFastBaseDepay> + 'static {
    fn src_pad(&self) -> &gst::Pad {
        self.upcast_ref::<RtpFastBaseDepay>().imp().src_pad()
    }

    fn sink_pad(&self) -> &gst::Pad {
        self.upcast_ref::<RtpFastBaseDepay>().imp().sink_pad()
    }

    /// Push one output buffer: pending segment first, then the buffer with
    /// the input's pts/dts where it has none, DISCONT after a gap, and the
    /// source meta / header extensions of the current packet when enabled.
    fn push(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.upcast_ref::<RtpFastBaseDepay>().imp().push(buffer)
    }

    /// [`push`](Self::push) for a list (each buffer decorated).
    fn push_list(&self, list: gst::BufferList) -> Result<gst::FlowSuccess, gst::FlowError> {
        self.upcast_ref::<RtpFastBaseDepay>().imp().push_list(list)
    }

    /// Send caps downstream now; false when downstream refused them.
    fn set_src_caps(&self, caps: &gst::Caps) -> bool {
        self.upcast_ref::<RtpFastBaseDepay>()
            .imp()
            .set_src_caps(caps)
    }

    /// The `stats` structure (stock fields + ours + the format's).
    fn stats(&self) -> gst::Structure {
        self.upcast_ref::<RtpFastBaseDepay>().imp().stats()
    }

    /// SIMD level the `simd` property resolved to.
    fn simd_level(&self) -> crate::core::simd::SimdLevel {
        self.upcast_ref::<RtpFastBaseDepay>().imp().simd_level()
    }

    /// The element's limit on warnings about dropped input: formats log
    /// their drops through it (`warn_limited!`).
    fn drop_warnings(&self) -> &crate::elements::base::warn_limit::WarnLimit {
        self.upcast_ref::<RtpFastBaseDepay>().imp().drop_warnings()
    }

    /// The element panicked (gstreamer-rs's flag, the base's level): it
    /// refuses buffers from then on.
    fn has_panicked(&self) -> bool {
        self.upcast_ref::<RtpFastBaseDepay>()
            .imp()
            .panicked()
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Clock rate from the sink caps (0 before caps).
    fn clock_rate(&self) -> u32 {
        self.upcast_ref::<RtpFastBaseDepay>().imp().clock_rate()
    }
}

impl<O: IsA<RtpFastBaseDepay>> RtpFastBaseDepayExt for O {}

/// The concrete subclass behind a base-class reference.
fn subclass<T: RtpFastBaseDepayImpl>(obj: &RtpFastBaseDepay) -> &T {
    // SAFETY: FFI edge (GObject type system). These entries are installed in
    // the class struct of `T::Type` by `class_init` below and are only ever
    // called with an instance of that class (or of a subclass of it), so the
    // instance is a `T::Type`.
    unsafe { obj.unsafe_cast_ref::<T::Type>() }.imp()
}

// SAFETY: FFI edge. `class_init` chains up to the parent class's (which
// installs gstreamer-rs's GstElement trampolines for `T`) and then only
// fills in this class struct's own entries; `instance_init` is the default,
// which chains up.
unsafe impl<T: RtpFastBaseDepayImpl> IsSubclassable<T> for RtpFastBaseDepay {
    fn class_init(class: &mut glib::Class<Self>) {
        Self::parent_class_init::<T>(class);
        let klass = class.as_mut();
        klass.start = Some(|obj| subclass::<T>(obj).start());
        klass.set_sink_caps = Some(|obj, caps| subclass::<T>(obj).set_sink_caps(caps));
        klass.handle_packet = Some(|obj, packet| subclass::<T>(obj).handle_packet(packet));
        klass.drain = Some(|obj| subclass::<T>(obj).drain());
        klass.flush = Some(|obj| subclass::<T>(obj).flush());
        klass.packet_lost = Some(|obj, event| subclass::<T>(obj).packet_lost(event));
        klass.sink_event = Some(|obj, event| subclass::<T>(obj).sink_event(event));
        klass.src_event = Some(|obj, event| subclass::<T>(obj).src_event(event));
        klass.extend_stats = Some(|obj, s| subclass::<T>(obj).extend_stats(s));
        klass.list_output = T::LIST_OUTPUT;
    }
}

/// The sink pad's chain function, called by `rtpfastdepay` holding this
/// element without a second pad push per packet (~1,000 instructions: the
/// wrapper would otherwise cost +40% on rtpfasth264depay).
#[inline]
pub(crate) fn chain_direct(
    element: &RtpFastBaseDepay,
    buffer: gst::Buffer,
) -> Result<gst::FlowSuccess, gst::FlowError> {
    // SAFETY: `element` is an RtpFastBaseDepay, what `streaming` casts to.
    unsafe {
        super::streaming::<imp::RtpFastBaseDepay>(Some(element.upcast_ref()), |imp| {
            imp.sink_chain(buffer)
        })
    }
}

/// The sink pad's chain-list function, for `rtpfastdepay` holding this
/// element: a list through the wrapper stays one call (see
/// `sink_chain_list`).
#[inline]
pub(crate) fn chain_list_direct(
    element: &RtpFastBaseDepay,
    list: gst::BufferList,
) -> Result<gst::FlowSuccess, gst::FlowError> {
    // SAFETY: `element` is an RtpFastBaseDepay, what `streaming` casts to.
    unsafe {
        super::streaming::<imp::RtpFastBaseDepay>(Some(element.upcast_ref()), |imp| {
            imp.sink_chain_list(list)
        })
    }
}

/// `rtpfastdepay` holding this element: output buffers are pushed on the
/// wrapper's src pad (a ghost of ours) instead of through our src pad and
/// the ghost's proxy, one pad push per output buffer less. Events still
/// take our src pad, so the ghost pad has them before any buffer. Set once,
/// before streaming; false if already set.
pub(crate) fn set_output_pad(element: &RtpFastBaseDepay, pad: &gst::Pad) -> bool {
    element.imp().output.set(pad.clone()).is_ok()
}
