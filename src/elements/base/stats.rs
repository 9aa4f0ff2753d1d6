//! Live statistics every rsrtpfast element exposes in `stats`.

use crate::core::simd::SimdLevel;
use gst::glib;
use gst::prelude::*;

/// Samples in the window: enough for p99 to stand on (512 bytes, allocated
/// at the first sample, so an idle negotiated stream does not carry it).
const WINDOW: usize = 128;

/// Sliding window of per-packet processing time in ns, sampled (measuring
/// every buffer would cost more than the 2% budget on depayloaders). A
/// sample is the wall time of the element's handling of a buffer divided by
/// the packets in it, the push downstream included: in a live pipeline that
/// is also what downstream does in the same thread up to its next queue (a
/// decoder, a sink). u32 samples: up to 4.29 s per packet before they
/// saturate (u16 samples saturated at 65.5 µs, which such pipelines reach).
#[derive(Clone, Default)]
pub struct ProcessingWindow {
    samples: Option<Box<[u32; WINDOW]>>,
    next: u8,
    filled: u8,
}

impl ProcessingWindow {
    pub fn record(&mut self, ns_per_packet: u32) {
        let samples = self.samples.get_or_insert_with(|| Box::new([0; WINDOW]));
        samples[self.next as usize] = ns_per_packet;
        self.next = ((self.next as usize + 1) % WINDOW) as u8;
        self.filled = (self.filled as usize + 1).min(WINDOW) as u8;
    }

    /// (p50, p99) in ns, or None before the first sample.
    pub fn percentiles(&self) -> Option<(u32, u32)> {
        let samples = self.samples.as_ref().filter(|_| self.filled > 0)?;
        let mut v = samples[..self.filled as usize].to_vec();
        v.sort_unstable();
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        Some((at(0.5), at(0.99)))
    }
}

/// The fields every payloader and depayloader adds to the stock base
/// class's (a macro: `concat!` takes only literals).
macro_rules! our_stats_fields {
    () => {
        "packets, bytes (in), units-out, dropped, malformed, lost-fragments (counts); \
         simd-level; processing-ns-p50 / processing-ns-p99 (wall ns per packet over the last \
         128 timed buffers, downstream's work in the same thread included); pool-acquired, \
         pool-recycled (acquisitions a returned buffer served), pool-misses, \
         pool-bytes-in-use (the shared pool, process-wide)"
    };
}

/// What gst-inspect shows for `stats`: every field (tests/element_common.rs
/// checks each field an element reports is named here).
pub const PAY_STATS_BLURB: &str = concat!(
    "Statistics. As rtpbasepayload: clock-rate, running-time, seqnum, timestamp, ssrc, pt, \
     seqnum-offset, timestamp-offset. Ours: ",
    our_stats_fields!()
);

pub const DEPAY_STATS_BLURB: &str = concat!(
    "Statistics. As rtpbasedepayload: clock_rate (and clock-rate), npt-start, npt-stop, \
     play-speed, play-scale, running-time-dts, running-time-pts, seqnum, timestamp. Ours: ",
    our_stats_fields!(),
    ". rtpfastopusdepay: empty-payloads; rtpfastmp2tdepay: trimmed (bytes cut to whole TS \
     packets)"
);

pub const WRAPPER_STATS_BLURB: &str = "Statistics: active-element (factory inside), native \
    (whether it is an rsrtpfast one), packets, bytes (the child's counts, or the wrapper's own \
    around a stock element), then every field of the element inside's own stats";

/// Name of the structure posted on the bus every `stats-interval` ms.
pub const STATS_MESSAGE_NAME: &str = "rtpfast-stats";

#[derive(Clone, Default)]
pub struct ElementStats {
    pub buffers_in: u64,
    pub packets: u64,
    pub bytes: u64,
    pub units_out: u64,
    pub dropped: u64,
    pub malformed: u64,
    pub lost_fragments: u64,
    pub window: ProcessingWindow,
}

impl ElementStats {
    /// Whether this buffer's processing time should be measured: every
    /// `period`-th buffer (timing every packet of a depayloader would cost
    /// more than the 2% budget).
    #[inline]
    pub fn sample_now(&self, period: u64) -> bool {
        self.buffers_in.is_multiple_of(period)
    }

    /// Our counters appended to the base class's `stats` structure.
    pub fn to_structure(&self, base: Option<gst::Structure>, simd: SimdLevel) -> gst::Structure {
        let mut s =
            base.unwrap_or_else(|| gst::Structure::new_empty("application/x-rtp-fast-stats"));
        s.set("packets", self.packets);
        s.set("bytes", self.bytes);
        s.set("units-out", self.units_out);
        s.set("dropped", self.dropped);
        s.set("malformed", self.malformed);
        s.set("lost-fragments", self.lost_fragments);
        s.set("simd-level", simd.nick());
        let (p50, p99) = self.window.percentiles().unwrap_or((0, 0));
        s.set("processing-ns-p50", p50);
        s.set("processing-ns-p99", p99);
        let pool = crate::pool::stats();
        s.set("pool-acquired", pool.acquired);
        s.set("pool-recycled", pool.recycled);
        s.set("pool-misses", pool.misses);
        s.set("pool-bytes-in-use", pool.bytes_in_use);
        s
    }
}

/// Read a property as the parent class implements it, even though the
/// subclass installs a property of the same name (we shadow `stats` to add
/// our counters to the base class's).
pub fn parent_property(
    obj: &impl IsA<glib::Object>,
    parent: glib::Type,
    name: &str,
) -> Option<glib::Value> {
    use glib::translate::*;
    let class = glib::Class::<glib::Object>::from_type(parent)?;
    let pspec = class.find_property(name)?;
    let mut value = glib::Value::from_type(pspec.value_type());
    // SAFETY: FFI edge. `pspec` belongs to `parent`, an ancestor of `obj`'s
    // type, so calling the owning class's get_property vfunc with the pspec's
    // own param_id is exactly what g_object_get_property would do for it.
    unsafe {
        let pspec_ptr: *mut glib::gobject_ffi::GParamSpec = pspec.to_glib_none().0;
        let owner = glib::gobject_ffi::g_type_class_peek((*pspec_ptr).owner_type)
            as *mut glib::gobject_ffi::GObjectClass;
        let get = (*owner).get_property?;
        get(
            obj.as_ref().to_glib_none().0,
            (*pspec_ptr).param_id,
            value.to_glib_none_mut().0,
            pspec_ptr,
        );
    }
    Some(value)
}

pub fn parent_stats(obj: &impl IsA<glib::Object>, parent: glib::Type) -> Option<gst::Structure> {
    parent_property(obj, parent, "stats")
        .and_then(|v| v.get::<Option<gst::Structure>>().ok().flatten())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_percentiles_over_the_last_samples_without_saturating() {
        let mut w = ProcessingWindow::default();
        assert_eq!(w.percentiles(), None);
        assert!(w.samples.is_none(), "no window before the first sample");
        // 1..=100 ns: p50 is the middle, p99 the 99th.
        for ns in 1..=100 {
            w.record(ns);
        }
        assert_eq!(w.percentiles(), Some((51, 99)));
        // 300 more samples: only the last WINDOW count, the old ones rotate out.
        for _ in 0..300 {
            w.record(1_000);
        }
        assert_eq!(w.percentiles(), Some((1_000, 1_000)));
        // A millisecond per packet (a decoder downstream in the same
        // thread) is reported as it is, not pinned at 65,535 ns.
        for _ in 0..WINDOW {
            w.record(1_000_000);
        }
        assert_eq!(w.percentiles(), Some((1_000_000, 1_000_000)));
        for _ in 0..WINDOW {
            w.record(u32::MAX);
        }
        assert_eq!(w.percentiles(), Some((u32::MAX, u32::MAX)));
        assert!(std::mem::size_of::<ProcessingWindow>() <= 16);
    }
}
