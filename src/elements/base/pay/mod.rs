//! `GstRtpFastBasePay`: the abstract base class of every rsrtpfast
//! payloader (a GstElement, not GstRTPBasePayload).
//!
//! It owns what every payloader shares, with GstRTPBasePayload's property
//! names, types, defaults and signals: pads and negotiation of the output
//! caps with downstream, seqnum / timestamp / ssrc / pt, segment to RTP time,
//! CSRCs from `source-info`, header extensions, `stats`, and building the
//! output: a format hands it a plan of packets (inline bytes + a range of the
//! input) and the base writes every header of the list in one pass into
//! pooled memory and pushes one buffer list.
//!
//! A format implements [`RtpFastBasePayImpl`] and reaches the base through
//! [`RtpFastBasePayExt`] on its object.

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

pub mod imp;

pub use imp::{OutPacket, PacketTiming};

/// MARKER for a packet that carries the RTP marker bit, for the formats
/// whose stock payloader flags it (H.264, H.265, Opus, raw video; the raw
/// audio base class and rtpmp2tpay do not).
pub fn marker_flag(marker: bool) -> gst::BufferFlags {
    if marker {
        gst::BufferFlags::MARKER
    } else {
        gst::BufferFlags::empty()
    }
}

glib::wrapper! {
    pub struct RtpFastBasePay(ObjectSubclass<imp::RtpFastBasePay>)
        @extends gst::Element, gst::Object;
}

/// What a payloader implements.
pub trait RtpFastBasePayImpl: ElementImpl + ObjectSubclass<Type: IsA<RtpFastBasePay>> {
    /// New caps on the sink pad: configure the format and call
    /// `base().set_options()` and `base().set_outcaps()`.
    fn set_sink_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError>;

    /// One input buffer: plan its packets and `base().push_packets()` them.
    fn handle_buffer(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError>;

    /// EOS: push what is still pending.
    fn drain(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        Ok(gst::FlowSuccess::Ok)
    }

    /// FLUSH_STOP: forget pending data.
    fn flush(&self) {}

    /// A custom downstream event on the sink pad (e.g. `GstForceKeyUnit`),
    /// seen before the base forwards it.
    fn custom_downstream_event(&self, _structure: &gst::StructureRef) {}

    /// READY→PAUSED, after the base reset its own stream state: reset the
    /// format's. (Called from the base's `ElementImpl::change_state`, which a
    /// format's own reaches through `parent_change_state`.)
    fn start(&self) {}

    /// The sink pad's CAPS query: what upstream may send, knowing what
    /// downstream accepts (`allowed`, the src pad peer's caps). Default: the
    /// template, filtered.
    fn sink_caps(
        &self,
        template: &gst::Caps,
        _allowed: Option<&gst::Caps>,
        filter: Option<&gst::Caps>,
    ) -> gst::Caps {
        match filter {
            Some(f) => f.intersect_with_mode(template, gst::CapsIntersectMode::First),
            None => template.clone(),
        }
    }
}

/// Class struct: the format's entry points, filled in `class_init`.
/// `Option`s, so the zero-filled class struct GObject creates (the abstract
/// base's own) is a valid value: None until a subclass's `class_init` fills
/// them in.
type Flow = Result<gst::FlowSuccess, gst::FlowError>;
type SetCapsFn = fn(&RtpFastBasePay, &gst::Caps) -> Result<(), gst::LoggableError>;
type HandleBufferFn = fn(&RtpFastBasePay, gst::Buffer) -> Flow;
type SinkCapsFn =
    fn(&RtpFastBasePay, &gst::Caps, Option<&gst::Caps>, Option<&gst::Caps>) -> gst::Caps;

#[repr(C)]
pub struct Class {
    parent: gst::ffi::GstElementClass,
    pub(crate) set_sink_caps: Option<SetCapsFn>,
    pub(crate) handle_buffer: Option<HandleBufferFn>,
    pub(crate) drain: Option<fn(&RtpFastBasePay) -> Flow>,
    pub(crate) flush: Option<fn(&RtpFastBasePay)>,
    pub(crate) custom_downstream_event: Option<fn(&RtpFastBasePay, &gst::StructureRef)>,
    pub(crate) start: Option<fn(&RtpFastBasePay)>,
    pub(crate) sink_caps: Option<SinkCapsFn>,
}

// SAFETY: FFI edge. `Class` is `#[repr(C)]`, starts with the parent's class
// struct, as GObject requires, and its other fields are `Option<fn>`s, for
// which GObject's zero filling is `None`.
unsafe impl ClassStruct for Class {
    type Type = imp::RtpFastBasePay;
}

impl std::ops::Deref for Class {
    type Target = glib::Class<gst::Element>;

    fn deref(&self) -> &Self::Target {
        // SAFETY: FFI edge. `parent` is a GstElementClass, the first field of
        // a `#[repr(C)]` struct, which is what glib::Class<Element> wraps.
        unsafe { &*(&self.parent as *const _ as *const _) }
    }
}

/// The concrete subclass behind a base-class reference.
fn subclass<T: RtpFastBasePayImpl>(obj: &RtpFastBasePay) -> &T {
    // SAFETY: FFI edge (GObject type system). These entries are installed in
    // the class struct of `T::Type` by `class_init` below and are only ever
    // called through `obj.class()`, the class struct of `obj` itself (this
    // one, or a copy a subclass of `T::Type` inherited), so the instance is
    // a `T::Type`.
    unsafe { obj.unsafe_cast_ref::<T::Type>() }.imp()
}

// SAFETY: FFI edge. `class_init` chains up to the parent class's (which
// installs gstreamer-rs's GstElement trampolines for `T`) and then only fills
// in this class struct's own entries; `instance_init` is the default, which
// chains up.
unsafe impl<T: RtpFastBasePayImpl> IsSubclassable<T> for RtpFastBasePay {
    fn class_init(class: &mut glib::Class<Self>) {
        Self::parent_class_init::<T>(class);
        let klass = class.as_mut();
        klass.set_sink_caps = Some(|obj, caps| subclass::<T>(obj).set_sink_caps(caps));
        klass.handle_buffer = Some(|obj, buf| subclass::<T>(obj).handle_buffer(buf));
        klass.drain = Some(|obj| subclass::<T>(obj).drain());
        klass.flush = Some(|obj| subclass::<T>(obj).flush());
        klass.custom_downstream_event =
            Some(|obj, s| subclass::<T>(obj).custom_downstream_event(s));
        klass.start = Some(|obj| subclass::<T>(obj).start());
        klass.sink_caps = Some(|obj, templ, allowed, filter| {
            subclass::<T>(obj).sink_caps(templ, allowed, filter)
        });
    }
}

/// What a format calls on the base: its object (`self.obj()`) is an
/// `RtpFastBasePay`.
pub trait RtpFastBasePayExt: IsA<RtpFastBasePay> + 'static {
    /// The base's implementation: negotiation (`set_options`,
    /// `set_outcaps`), numbering, and `push_packets` / `push_packet`.
    fn pay_base(&self) -> &imp::RtpFastBasePay {
        self.upcast_ref::<RtpFastBasePay>().imp()
    }

    /// The element panicked (gstreamer-rs's flag, the base's level): it
    /// refuses buffers from then on.
    fn has_panicked(&self) -> bool {
        self.pay_base()
            .panicked()
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl<O: IsA<RtpFastBasePay>> RtpFastBasePayExt for O {}

/// What a format's `ElementImpl` chains to.
pub trait RtpFastBasePayImplExt: RtpFastBasePayImpl {
    /// A format's `ElementImpl::change_state`: see
    /// [`base_change_state`](super::base_change_state).
    fn base_change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        super::base_change_state(self, self.obj().has_panicked(), transition)
    }
}

impl<T: RtpFastBasePayImpl> RtpFastBasePayImplExt for T {}

pub fn register_type() -> glib::Type {
    RtpFastBasePay::static_type()
}

/// The sink pad's chain function, called by `rtpfastpay` holding this
/// element without a second pad push per input buffer.
#[inline]
pub(crate) fn chain_direct(
    element: &RtpFastBasePay,
    sinkpad: &gst::Pad,
    buffer: gst::Buffer,
) -> Result<gst::FlowSuccess, gst::FlowError> {
    // SAFETY: `element` is an RtpFastBasePay, what `streaming` casts to.
    unsafe {
        super::streaming::<imp::RtpFastBasePay>(Some(element.upcast_ref()), |imp| {
            imp.chain(sinkpad, buffer)
        })
    }
}

/// `rtpfastpay` holding this element: output buffers are pushed on the
/// wrapper's src pad (a ghost of ours) instead of through our src pad and
/// the ghost's proxy, one pad push per output buffer less. Events still
/// take our src pad, so the ghost pad has them before any buffer. Set once,
/// before streaming; false if already set.
pub(crate) fn set_output_pad(element: &RtpFastBasePay, pad: &gst::Pad) -> bool {
    element.imp().output.set(pad.clone()).is_ok()
}
