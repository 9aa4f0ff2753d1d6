//! What `rtpfastpay` and `rtpfastdepay` share: two ghost pads, the child
//! chosen from the sink caps (swapped when the format changes), the
//! properties passed on to whichever child is inside, and the stats.

use super::select::{self, Role};
use crate::elements::base::{depay::RtpFastBaseDepay, pay::RtpFastBasePay};
use crate::elements::SimdMode;
use gst::glib;
use gst::prelude::*;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

pub static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rtpfastwrapper",
        gst::DebugColorFlags::empty(),
        Some("rsrtpfast wrapper bins (rtpfastpay, rtpfastdepay)"),
    )
});

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Packets and bytes counted by a pad probe around a stock child (ours
/// count their own).
#[derive(Default)]
struct Counters {
    packets: AtomicU64,
    bytes: AtomicU64,
    /// `stats-interval` (ms): our elements post their own stats; around a
    /// stock child the probe posts the wrapper's.
    interval_ms: AtomicU32,
    last_post: Mutex<Option<std::time::Instant>>,
}

impl Counters {
    /// Whether `stats-interval` has passed since the last post (and note
    /// the post). Off when the interval is 0.
    fn due(&self) -> bool {
        let ms = self.interval_ms.load(Ordering::Relaxed);
        if ms == 0 {
            return false;
        }
        let now = std::time::Instant::now();
        let mut last = lock(&self.last_post);
        match *last {
            Some(t) if now.duration_since(t).as_millis() < ms as u128 => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }

    fn count(&self, info: &gst::PadProbeInfo) {
        match &info.data {
            Some(gst::PadProbeData::Buffer(b)) => {
                self.packets.fetch_add(1, Ordering::Relaxed);
                self.bytes.fetch_add(b.size() as u64, Ordering::Relaxed);
            }
            Some(gst::PadProbeData::BufferList(l)) => {
                self.packets.fetch_add(l.len() as u64, Ordering::Relaxed);
                self.bytes
                    .fetch_add(l.calculate_size() as u64, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

/// Where the ghost sink pad's buffers go: a native child's chain function,
/// called straight (one pad push per buffer instead of two), or through the
/// ghost pad into a stock child.
enum Direct {
    Pay(RtpFastBasePay, gst::Pad),
    Depay(RtpFastBaseDepay),
    Proxy,
}

#[derive(Default)]
struct Child {
    element: Option<gst::Element>,
    native: bool,
    probe: Option<(gst::Pad, gst::PadProbeId)>,
}

/// Properties the wrapper passes on: those set on it (in the order set, the
/// last value of each), applied to every child it creates and to the current
/// one when set.
pub struct WrapperCore {
    role: Role,
    pub sinkpad: gst::GhostPad,
    /// A plain pad, not a ghost: a native child pushes its buffers on it
    /// directly, and a push on a ghost pad pays a full GType check (~55
    /// instructions) that a plain pad's skips.
    pub srcpad: gst::Pad,
    /// Unparented sink pad the child's src pad links to: events, buffers of
    /// a stock child and queries pass through it to and from `srcpad`.
    internal: gst::Pad,
    child: Mutex<Child>,
    /// Written only in the caps event, under the sink pad's stream lock,
    /// which the chain function holds too: never contended. Held while the
    /// child's chain runs (it is not taken anywhere else).
    direct: Arc<Mutex<Option<Direct>>>,
    forwarded: Mutex<Vec<(String, glib::SendValue)>>,
    simd: Mutex<Option<SimdMode>>,
    stats_interval_ms: AtomicU32,
    counters: Arc<Counters>,
}

/// The ghost sink pad's chain function: straight into a native child, else
/// what a ghost pad does (a push into the child's pad).
#[inline]
fn sink_chain(
    direct: &Mutex<Option<Direct>>,
    pad: &gst::GhostPad,
    parent: Option<&gst::Object>,
    buffer: gst::Buffer,
) -> Result<gst::FlowSuccess, gst::FlowError> {
    let direct = lock(direct);
    match &*direct {
        Some(Direct::Depay(e)) => crate::elements::base::depay::chain_direct(e, buffer),
        Some(Direct::Pay(e, sinkpad)) => {
            crate::elements::base::pay::chain_direct(e, sinkpad, buffer)
        }
        Some(Direct::Proxy) => {
            drop(direct);
            gst::ProxyPad::chain_default(pad, parent, buffer)
        }
        // Data before caps: there is no element to give it to.
        None => {
            drop(direct);
            if let Some(bin) = parent.and_then(|p| p.downcast_ref::<gst::Element>()) {
                gst::element_error!(
                    bin,
                    gst::CoreError::Negotiation,
                    ["not-negotiated: a buffer arrived before any caps (set caps upstream)"]
                );
            }
            Err(gst::FlowError::NotNegotiated)
        }
    }
}

/// The ghost sink pad's chain-list function: a native depayloader takes
/// the whole list in one call (`chain_list_direct`); otherwise what a ghost
/// pad does (the list to the child's pad, whose own chain-list function or
/// GStreamer's per-buffer default takes it).
fn sink_chain_list(
    direct: &Mutex<Option<Direct>>,
    pad: &gst::GhostPad,
    parent: Option<&gst::Object>,
    list: gst::BufferList,
) -> Result<gst::FlowSuccess, gst::FlowError> {
    let guard = lock(direct);
    match &*guard {
        Some(Direct::Depay(e)) => crate::elements::base::depay::chain_list_direct(e, list),
        // A payloader (its pad's own chain-list) or a stock child.
        Some(Direct::Pay(..) | Direct::Proxy) => {
            drop(guard);
            gst::ProxyPad::chain_list_default(pad, parent, list)
        }
        None => {
            drop(guard);
            match list.get_owned(0) {
                // The buffer path's error.
                Some(buffer) => sink_chain(direct, pad, parent, buffer),
                None => Ok(gst::FlowSuccess::Ok),
            }
        }
    }
}

/// The wrapper element a ghost pad's `parent` is.
fn core_of(parent: Option<&gst::Object>) -> Option<(&gst::Bin, &WrapperCore)> {
    use glib::subclass::prelude::*;
    let parent = parent?;
    if let Some(p) = parent.downcast_ref::<super::pay::RtpFastPay>() {
        return Some((p.upcast_ref(), &p.imp().core));
    }
    if let Some(d) = parent.downcast_ref::<super::depay::RtpFastDepay>() {
        return Some((d.upcast_ref(), &d.imp().core));
    }
    None
}

impl WrapperCore {
    pub fn new(role: Role, sink: &gst::PadTemplate, src: &gst::PadTemplate) -> Self {
        let direct: Arc<Mutex<Option<Direct>>> = Arc::default();
        let chain_direct = direct.clone();
        let sinkpad = gst::GhostPad::builder_from_template(sink)
            .name("sink")
            // The closure holds the native child's entry itself: no lookup
            // of the wrapper from `parent` per buffer.
            .chain_function({
                let direct = direct.clone();
                move |pad, parent, buffer| sink_chain(&direct, pad, parent, buffer)
            })
            .chain_list_function(move |pad, parent, list| {
                sink_chain_list(&chain_direct, pad, parent, list)
            })
            .event_function(|pad, parent, event| match core_of(parent) {
                Some((bin, core)) => core.sink_event(bin, pad, event),
                None => false,
            })
            .query_function(|pad, parent, query| match core_of(parent) {
                Some((bin, core)) => core.sink_query(bin, pad, query),
                None => false,
            })
            .build();
        let out: Arc<std::sync::OnceLock<glib::WeakRef<gst::Pad>>> = Arc::default();
        let pad_out = {
            let out = out.clone();
            move || out.get().and_then(|w| w.upgrade())
        };
        let internal = gst::Pad::builder(gst::PadDirection::Sink)
            .name("wrapper_internal")
            .chain_function({
                let pad_out = pad_out.clone();
                move |_, _, buffer| match pad_out() {
                    Some(p) => p.push(buffer),
                    None => Err(gst::FlowError::Flushing),
                }
            })
            .chain_list_function({
                let pad_out = pad_out.clone();
                move |_, _, list| match pad_out() {
                    Some(p) => p.push_list(list),
                    None => Err(gst::FlowError::Flushing),
                }
            })
            .event_function({
                let pad_out = pad_out.clone();
                move |_, _, event| pad_out().is_some_and(|p| p.push_event(event))
            })
            .query_function(move |_, _, query| pad_out().is_some_and(|p| p.peer_query(query)))
            .build();
        let back = internal.downgrade();
        let back_query = internal.downgrade();
        let srcpad = gst::Pad::builder_from_template(src)
            .name("src")
            // From downstream: to the child's src pad.
            .event_function(move |_, _, event| back.upgrade().is_some_and(|i| i.push_event(event)))
            .query_function(move |pad, parent, query| {
                match back_query.upgrade().filter(|i| i.is_linked()) {
                    Some(i) => i.peer_query(query),
                    // No child yet: what the template says.
                    None => gst::Pad::query_default(pad, parent, query),
                }
            })
            .build();
        let _ = out.set(srcpad.downgrade());
        WrapperCore {
            role,
            sinkpad,
            srcpad,
            internal,
            child: Mutex::default(),
            direct,
            forwarded: Mutex::default(),
            simd: Mutex::default(),
            stats_interval_ms: AtomicU32::new(0),
            counters: Arc::default(),
        }
    }

    pub fn add_pads(&self, bin: &gst::Bin) {
        bin.add_pad(&self.sinkpad).unwrap();
        bin.add_pad(&self.srcpad).unwrap();
    }

    /// Around the bin's own state change: the internal pad is active while
    /// the bin streams (READY->PAUSED up to PAUSED->READY), and leaves a
    /// stream with its sticky events and EOS cleared.
    /// The wrapper's state change around the bin's own (`parent`): the
    /// internal pad goes active before READY -> PAUSED and inactive after
    /// PAUSED -> READY.
    pub fn change_state(
        &self,
        transition: gst::StateChange,
        parent: impl FnOnce() -> Result<gst::StateChangeSuccess, gst::StateChangeError>,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::ReadyToPaused {
            let _ = self.internal.set_active(true);
        }
        let ret = parent()?;
        if transition == gst::StateChange::PausedToReady {
            let _ = self.internal.set_active(false);
        }
        Ok(ret)
    }

    /// The factory name of the child, if any.
    pub fn active_element(&self) -> Option<String> {
        lock(&self.child)
            .element
            .as_ref()
            .and_then(|e| e.factory())
            .map(|f| f.name().to_string())
    }

    pub fn native(&self) -> bool {
        let c = lock(&self.child);
        c.element.is_some() && c.native
    }

    fn current(&self) -> Option<gst::Element> {
        lock(&self.child).element.clone()
    }

    fn sink_event(&self, bin: &gst::Bin, pad: &gst::GhostPad, event: gst::Event) -> bool {
        if let gst::EventView::Caps(c) = event.view() {
            if let Err(msg) = self.ensure_child(bin, c.caps()) {
                gst::element_error!(bin, gst::CoreError::Negotiation, ["{}", msg]);
                return false;
            }
        }
        // What the ghost pad would have done: push it into the child.
        match pad.internal() {
            Some(internal) => internal.push_event(event),
            None => false,
        }
    }

    fn sink_query(&self, _bin: &gst::Bin, pad: &gst::GhostPad, query: &mut gst::QueryRef) -> bool {
        let (has_child, native) = {
            let c = lock(&self.child);
            (c.element.is_some(), c.native)
        };
        match query.view_mut() {
            // Any caps some element can take is accepted here, whatever the
            // child is now: a new format swaps the child at the caps event
            // (which names the media type when nothing fits).
            gst::QueryViewMut::AcceptCaps(q) => {
                let ok = match self.role {
                    Role::Pay => !q.caps().is_empty(),
                    Role::Depay => q.caps().can_intersect(&self.sinkpad.pad_template_caps()),
                };
                q.set_result(ok);
                return true;
            }
            gst::QueryViewMut::Caps(q) if !has_child => {
                let all = select::acceptable_caps(self.role);
                let result = match q.filter() {
                    Some(f) => f.intersect_with_mode(&all, gst::CapsIntersectMode::First),
                    None => all,
                };
                q.set_result(&result);
                return true;
            }
            // Around a stock child upstream is still offered our pool (ours
            // answer this themselves).
            gst::QueryViewMut::Allocation(q) if !native => {
                crate::pool::propose_allocation(q, pad.upcast_ref());
                return true;
            }
            _ => {}
        }
        // What the ghost pad would have done: ask the child.
        match pad.internal() {
            Some(internal) => internal.peer_query(query),
            None => false,
        }
    }

    /// Makes sure the child fits `caps`: keeps it when the chosen factory is
    /// the one inside, else replaces it.
    fn ensure_child(&self, bin: &gst::Bin, caps: &gst::CapsRef) -> Result<(), String> {
        let choice = select::choose(self.role, caps).ok_or_else(|| {
            format!(
                "not-negotiated: no installed RTP {} accepts {} (caps: {})",
                self.role.noun(),
                select::describe(caps),
                caps
            )
        })?;
        let name = choice.factory.name();
        if self.active_element().as_deref() == Some(name.as_str()) {
            return Ok(());
        }
        let old = {
            let mut c = lock(&self.child);
            if let Some((pad, id)) = c.probe.take() {
                pad.remove_probe(id);
            }
            c.native = false;
            c.element.take()
        };
        *lock(&self.direct) = None;
        if let Some(old) = old {
            gst::info!(
                CAT,
                obj = bin,
                "caps {caps} need {name}: removing {}",
                old.name()
            );
            let _ = self.sinkpad.set_target(None::<&gst::Pad>);
            let _ = old.set_state(gst::State::Null);
            let _ = bin.remove(&old);
        }
        let element = choice
            .factory
            .create()
            .name(format!("{name}0"))
            .build()
            .map_err(|e| format!("could not create {name}: {e}"))?;
        self.apply_all(&element);
        bin.add(&element)
            .map_err(|e| format!("could not add {name}: {e}"))?;
        let (Some(sink), Some(src)) = (element.static_pad("sink"), element.static_pad("src"))
        else {
            let _ = bin.remove(&element);
            return Err(format!("{name} has no static sink/src pads"));
        };
        self.sinkpad
            .set_target(Some(&sink))
            .map_err(|e| format!("linking {name}: {e}"))?;
        if !self.internal.is_active() {
            let _ = self.internal.set_active(true);
        }
        src.link(&self.internal)
            .map_err(|e| format!("linking {name}: {e:?}"))?;
        let probe = if choice.native {
            None
        } else {
            // Payloaders are counted on what they send, depayloaders on
            // what they receive: RTP packets either way.
            let pad = match self.role {
                Role::Pay => src,
                Role::Depay => sink.clone(),
            };
            let counters = self.counters.clone();
            let wrapper = bin.downgrade();
            pad.add_probe(
                gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST,
                move |_, info| {
                    counters.count(info);
                    if counters.due() {
                        if let Some(wrapper) = wrapper.upgrade() {
                            // The wrapper's own `stats` (the child's inside).
                            let mut stats = wrapper.property::<gst::Structure>("stats");
                            stats.set_name(crate::elements::base::stats::STATS_MESSAGE_NAME);
                            let _ = wrapper.post_message(
                                gst::message::Element::builder(stats).src(&wrapper).build(),
                            );
                        }
                    }
                    gst::PadProbeReturn::Ok
                },
            )
            .map(|id| (pad, id))
        };
        let mut direct = Some(Direct::Proxy);
        if choice.native {
            let out: &gst::Pad = &self.srcpad;
            if let Some(d) = element.downcast_ref::<RtpFastBaseDepay>() {
                crate::elements::base::depay::set_output_pad(d, out);
                direct = Some(Direct::Depay(d.clone()));
            } else if let Some(p) = element.downcast_ref::<RtpFastBasePay>() {
                crate::elements::base::pay::set_output_pad(p, out);
                direct = Some(Direct::Pay(p.clone(), sink.clone()));
            }
        }
        *lock(&self.direct) = direct;
        {
            let mut c = lock(&self.child);
            c.element = Some(element.clone());
            c.native = choice.native;
            c.probe = probe;
        }
        gst::info!(
            CAT,
            obj = bin,
            "caps {caps}: using {name} ({})",
            if choice.native { "native" } else { "stock" }
        );
        element
            .sync_state_with_parent()
            .map_err(|e| format!("{name} did not follow the bin's state: {e}"))?;
        bin.notify("active-element");
        bin.notify("native");
        Ok(())
    }

    /// Every property set on the wrapper, onto a new child.
    fn apply_all(&self, element: &gst::Element) {
        for (name, value) in lock(&self.forwarded).iter() {
            apply(element, name, value);
        }
        if let Some(simd) = *lock(&self.simd) {
            apply(element, "simd", &simd.to_value());
        }
        let interval = self.stats_interval_ms.load(Ordering::Relaxed);
        if interval != 0 {
            apply(element, "stats-interval", &interval.to_value());
        }
    }

    /// A forwarded property set on the wrapper: kept for later children and
    /// passed to the current one.
    pub fn set_forwarded(&self, name: &str, value: &glib::Value) {
        {
            let mut f = lock(&self.forwarded);
            f.retain(|(n, _)| n != name);
            f.push((name.to_string(), sendable(value)));
        }
        if let Some(element) = self.current() {
            apply(&element, name, value);
        }
    }

    /// Forget a forwarded value (the child keeps what it has).
    pub fn unset_forwarded(&self, name: &str) {
        lock(&self.forwarded).retain(|(n, _)| n != name);
    }

    /// An enum property forwarded by nick: the child's value's nick when it
    /// has the property, else the nick set on the wrapper.
    pub fn forwarded_nick(&self, name: &str) -> Option<String> {
        if let Some(element) = self.current() {
            if element.find_property(name).is_some() {
                if let Some(nick) = enum_nick(&element.property_value(name)) {
                    return Some(nick);
                }
            }
        }
        lock(&self.forwarded)
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.get::<Option<String>>().ok().flatten())
    }

    /// A forwarded property's value: the child's when it has it, else the
    /// one set on the wrapper, else the wrapper's default.
    pub fn forwarded(&self, pspec: &glib::ParamSpec) -> glib::Value {
        let name = pspec.name();
        if let Some(element) = self.current() {
            if let Some(p) = element.find_property(name) {
                if p.value_type() == pspec.value_type() {
                    return element.property_value(name);
                }
                if let Some(nick) = enum_nick(&element.property_value(name)) {
                    if pspec.value_type() == glib::Type::STRING {
                        return Some(nick).to_value();
                    }
                }
            }
        }
        lock(&self.forwarded)
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| (**v).clone())
            .unwrap_or_else(|| pspec.default_value().clone())
    }

    pub fn set_simd(&self, mode: SimdMode) {
        *lock(&self.simd) = Some(mode);
        if let Some(element) = self.current() {
            apply(&element, "simd", &mode.to_value());
        }
    }

    pub fn simd(&self) -> SimdMode {
        if let Some(element) = self.current() {
            if element.find_property("simd").is_some() {
                if let Ok(m) = element.property_value("simd").get::<SimdMode>() {
                    return m;
                }
            }
        }
        lock(&self.simd).unwrap_or_default()
    }

    /// Set one of the properties both wrappers have (`simd`,
    /// `stats-interval`, `pool-max-bytes`); false when `pspec` is another.
    pub fn set_common_property(&self, value: &glib::Value, pspec: &glib::ParamSpec) -> bool {
        match pspec.name() {
            "simd" => self.set_simd(value.get().unwrap()),
            "stats-interval" => self.set_stats_interval(value.get().unwrap()),
            "pool-max-bytes" => crate::pool::set_max_bytes(value.get().unwrap()),
            _ => return false,
        }
        true
    }

    /// The value of one of the properties both wrappers have (those above,
    /// `active-element`, `native`, `stats`); None for another.
    pub fn common_property(&self, pspec: &glib::ParamSpec) -> Option<glib::Value> {
        Some(match pspec.name() {
            "active-element" => self.active_element().to_value(),
            "native" => self.native().to_value(),
            "simd" => self.simd().to_value(),
            "stats" => self.stats().to_value(),
            "stats-interval" => self.stats_interval().to_value(),
            "pool-max-bytes" => crate::pool::max_bytes().to_value(),
            _ => return None,
        })
    }

    pub fn set_stats_interval(&self, ms: u32) {
        self.stats_interval_ms.store(ms, Ordering::Relaxed);
        self.counters.interval_ms.store(ms, Ordering::Relaxed);
        if let Some(element) = self.current() {
            apply(&element, "stats-interval", &ms.to_value());
        }
    }

    pub fn stats_interval(&self) -> u32 {
        self.stats_interval_ms.load(Ordering::Relaxed)
    }

    /// The child's own `stats` fields when it has them, plus which element
    /// is inside, whether it is ours, packets and bytes (the child's own
    /// counts when it is ours, the wrapper's probe's around a stock one).
    pub fn stats(&self) -> gst::Structure {
        let (element, native) = {
            let c = lock(&self.child);
            (c.element.clone(), c.native)
        };
        let inner = element.as_ref().and_then(|e| {
            e.find_property("stats")
                .filter(|p| p.value_type() == gst::Structure::static_type())
                .and_then(|_| {
                    e.property_value("stats")
                        .get::<Option<gst::Structure>>()
                        .ok()
                })
                .flatten()
        });
        let (packets, bytes) = match (&inner, native) {
            (Some(s), true) => (
                s.get::<u64>("packets").unwrap_or(0),
                s.get::<u64>("bytes").unwrap_or(0),
            ),
            _ => (
                self.counters.packets.load(Ordering::Relaxed),
                self.counters.bytes.load(Ordering::Relaxed),
            ),
        };
        let active = element
            .as_ref()
            .and_then(|e| e.factory())
            .map(|f| f.name().to_string())
            .unwrap_or_default();
        // The child's fields first (gst-rtsp-server reads seqnum-offset,
        // timestamp, running-time and clock-rate from a payloader's stats),
        // then what the wrapper knows.
        let mut s = gst::Structure::new_empty("application/x-rtpfast-wrapper-stats");
        if let Some(inner) = &inner {
            for (field, value) in inner.iter() {
                s.set_value(field, value.clone());
            }
        }
        s.set("active-element", active);
        s.set("native", element.is_some() && native);
        s.set("packets", packets);
        s.set("bytes", bytes);
        s
    }
}

/// The forwarded properties are plain numbers and strings.
fn sendable(value: &glib::Value) -> glib::SendValue {
    if let Ok(v) = value.get::<u32>() {
        v.to_send_value()
    } else if let Ok(v) = value.get::<i32>() {
        v.to_send_value()
    } else {
        value.get::<Option<String>>().ok().flatten().to_send_value()
    }
}

fn enum_nick(value: &glib::Value) -> Option<String> {
    let (_, v) = glib::EnumValue::from_value(value)?;
    Some(v.nick().to_string())
}

/// Sets `name` on `element` when it has a property of that name: same type
/// as given, or an enum given by nick (stock and ours name the same values
/// with different enum types). Anything else is left alone, with a note.
fn apply(element: &gst::Element, name: &str, value: &glib::Value) {
    let Some(pspec) = element.find_property(name) else {
        gst::debug!(CAT, obj = element, "has no property {name}: not passed on");
        return;
    };
    if !pspec.flags().contains(glib::ParamFlags::WRITABLE) {
        return;
    }
    if pspec.value_type() == value.type_() {
        element.set_property_from_value(name, value);
        return;
    }
    if pspec.value_type().is_a(glib::Type::ENUM) {
        let nick = match value.get::<Option<String>>() {
            Ok(Some(n)) => n,
            _ => match enum_nick(value) {
                Some(n) => n,
                None => return,
            },
        };
        if let Some(class) = glib::EnumClass::with_type(pspec.value_type()) {
            if let Some(v) = class.to_value_by_nick(&nick) {
                element.set_property_from_value(name, &v);
                return;
            }
        }
    }
    gst::warning!(
        CAT,
        obj = element,
        "property {name}: {value:?} does not fit {} here, not passed on",
        pspec.value_type()
    );
}
