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
//! `self.obj().upcast_ref::<RtpFastBasePay>().imp()`.

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
    /// format's. (The base keeps GstElement's vfuncs: a format's
    /// `ElementImpl::change_state` and the like are not called.)
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
#[repr(C)]
pub struct Class {
    parent: gst::ffi::GstElementClass,
    set_sink_caps: fn(&RtpFastBasePay, &gst::Caps) -> Result<(), gst::LoggableError>,
    handle_buffer: fn(&RtpFastBasePay, gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError>,
    drain: fn(&RtpFastBasePay) -> Result<gst::FlowSuccess, gst::FlowError>,
    flush: fn(&RtpFastBasePay),
    custom_downstream_event: fn(&RtpFastBasePay, &gst::StructureRef),
    start: fn(&RtpFastBasePay),
    sink_caps: fn(&RtpFastBasePay, &gst::Caps, Option<&gst::Caps>, Option<&gst::Caps>) -> gst::Caps,
}

// SAFETY: FFI edge. `Class` starts with the parent's class struct, as GObject
// requires, and is the class struct of `imp::RtpFastBasePay`.
unsafe impl ClassStruct for Class {
    type Type = imp::RtpFastBasePay;
}

impl Class {
    /// The GstElementClass this class struct starts with.
    pub(crate) fn parent_mut(&mut self) -> &mut gst::ffi::GstElementClass {
        &mut self.parent
    }
}

impl std::ops::Deref for Class {
    type Target = glib::Class<gst::Element>;

    fn deref(&self) -> &Self::Target {
        // SAFETY: FFI edge. `parent` is a GstElementClass, the first field of
        // a `#[repr(C)]` struct, which is what glib::Class<Element> wraps.
        unsafe { &*(&self.parent as *const _ as *const _) }
    }
}

// SAFETY: FFI edge. class_init chains up first and then only stores Rust
// function pointers in our own class struct fields.
unsafe impl<T: RtpFastBasePayImpl> IsSubclassable<T> for RtpFastBasePay {
    fn class_init(class: &mut glib::Class<Self>) {
        // The element vfuncs stay the base's (see `copy_element_vfuncs`).
        let inherited = class.as_ref().parent;
        Self::parent_class_init::<T>(class);
        super::copy_element_vfuncs(&mut class.as_mut().parent, &inherited);
        let class = class.as_mut();
        // Every entry below is only called through `obj.class()`, i.e. the
        // class struct of `obj` itself: this one, initialised for `T`, or a
        // copy a subclass of `T::Type` inherited, so `obj` is a `T::Type`.
        // SAFETY: `obj`'s class is this class (or a subclass's copy of it),
        // so `obj` is a `T::Type` (see above).
        class.set_sink_caps =
            |obj, caps| unsafe { obj.unsafe_cast_ref::<T::Type>().imp().set_sink_caps(caps) };
        // SAFETY: `obj`'s class is this class (or a subclass's copy of it),
        // so `obj` is a `T::Type` (see above).
        class.handle_buffer =
            |obj, buf| unsafe { obj.unsafe_cast_ref::<T::Type>().imp().handle_buffer(buf) };
        // SAFETY: `obj`'s class is this class (or a subclass's copy of it),
        // so `obj` is a `T::Type` (see above).
        class.drain = |obj| unsafe { obj.unsafe_cast_ref::<T::Type>().imp().drain() };
        // SAFETY: `obj`'s class is this class (or a subclass's copy of it),
        // so `obj` is a `T::Type` (see above).
        class.flush = |obj| unsafe { obj.unsafe_cast_ref::<T::Type>().imp().flush() };
        // SAFETY: `obj`'s class is this class (or a subclass's copy of it),
        // so `obj` is a `T::Type` (see above).
        class.custom_downstream_event = |obj, s| unsafe {
            obj.unsafe_cast_ref::<T::Type>()
                .imp()
                .custom_downstream_event(s)
        };
        // SAFETY: `obj`'s class is this class (or a subclass's copy of it),
        // so `obj` is a `T::Type` (see above).
        class.start = |obj| unsafe { obj.unsafe_cast_ref::<T::Type>().imp().start() };
        // SAFETY: `obj`'s class is this class (or a subclass's copy of it),
        // so `obj` is a `T::Type` (see above).
        class.sink_caps = |obj, templ, allowed, filter| unsafe {
            obj.unsafe_cast_ref::<T::Type>()
                .imp()
                .sink_caps(templ, allowed, filter)
        };
    }

    /// Not chained up: GstElement's `instance_init` would allocate this
    /// level's instance-data map, which only the element vfunc trampolines
    /// that `class_init` does not install read (~300 bytes per stream).
    fn instance_init(_instance: &mut glib::subclass::InitializingObject<T>) {}
}

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
