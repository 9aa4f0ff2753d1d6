//! `rtpfastmp2tpay`: whole 188-byte TS packets in RTP packets up to the MTU
//! (RFC 2250), on `GstRtpFastBasePay`, packet for packet as rtpmp2tpay 1.22
//! cuts them (`core::mp2t::Packer`).
//!
//! A packet within one input is a zero-copy view of it; one that spans two
//! inputs (a partial TS packet left from the previous input) is copied into
//! a pooled block. An input that is exactly one packet goes out with
//! `push_packet` (no list, no queue); several packets go out as lists.
//! Packets carry the untagged metas of every input they have bytes of, as
//! stock's adapter merges them. Where we differ from stock: at EOS the
//! whole TS packets still queued are sent (stock loses them), a flush
//! forgets the queue (stock keeps it), an MTU too small for one TS packet
//! is an error (stock queues input forever), CSRCs and header extensions
//! count against the MTU (stock overshoots it), and at most 64 queued
//! empty inputs wait for their metas to be sent (stock: no limit).

use crate::core::mp2t::{self, Limits, Packer, PacketPlan};
use crate::elements::base::lock;
use crate::elements::base::pay::RtpFastBasePayExt as _;
use crate::elements::base::pay::RtpFastBasePayImplExt as _;
use crate::elements::base::pay::{OutPacket, PacketTiming, RtpFastBasePay, RtpFastBasePayImpl};
use crate::elements::base::queued_bytes::{self, Queue};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use smallvec::SmallVec;
use std::ops::Range;
use std::sync::{LazyLock, Mutex, MutexGuard};

/// Queue entries an empty input (with metas) may join.
const MAX_QUEUED_EMPTY: usize = 64;

type BaseImp = crate::elements::base::pay::imp::RtpFastBasePay;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "rtpfastmp2tpay",
        gst::DebugColorFlags::empty(),
        Some("rsrtpfast MPEG-TS payloader"),
    )
});

#[derive(Default)]
struct State {
    packer: Packer,
    /// Queued input bytes, in order: (buffer, bytes not yet sent).
    queue: Queue,
    /// Reused per input: the plans, the packets cut from them and the
    /// buffers they view.
    plans: Vec<PacketPlan>,
    cuts: Vec<Cut>,
    sources: Vec<Source>,
}

/// Bytes packets are views of, and the inputs whose metas they carry
/// (every input a packet has bytes of, as stock's adapter merges them;
/// empty: `data` is the input).
struct Source {
    data: gst::Buffer,
    metas: SmallVec<[gst::Buffer; 2]>,
}

impl Source {
    fn copy_metas(&self, out: &mut gst::BufferRef) {
        if self.metas.is_empty() {
            super::super::copy_untagged_metas(&self.data, out);
        }
        for input in &self.metas {
            super::super::copy_untagged_metas(input, out);
        }
    }

    fn has_metas(&self) -> bool {
        let any = |b: &gst::Buffer| b.iter_meta::<gst::Meta>().next().is_some();
        if self.metas.is_empty() {
            any(&self.data)
        } else {
            self.metas.iter().any(any)
        }
    }
}

/// A planned packet: which source buffer and which of its bytes.
struct Cut {
    source: usize,
    range: Range<usize>,
    plan: PacketPlan,
}

#[derive(Default)]
pub struct RtpFastMp2tPay {
    state: Mutex<State>,
}

#[glib::object_subclass]
impl ObjectSubclass for RtpFastMp2tPay {
    const NAME: &'static str = "GstRtpFastMp2tPay";
    type Type = super::RtpFastMp2tPay;
    type ParentType = RtpFastBasePay;
}

impl ObjectImpl for RtpFastMp2tPay {
    fn constructed(&self) {
        self.parent_constructed();
        // As stock: pt 33 until the property is set (its pspec default
        // stays the base class's 96, as stock's does).
        self.obj().pay_base().set_default_pt(mp2t::PAYLOAD_TYPE);
    }
}

impl GstObjectImpl for RtpFastMp2tPay {}

impl ElementImpl for RtpFastMp2tPay {
    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        self.base_change_state(transition)
    }

    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "RTP MPEG2 Transport Stream payloader (rsrtpfast)",
                "Codec/Payloader/Network/RTP",
                "Payload-encodes MPEG2 TS into RTP packets (RFC 2250), drop-in for rtpmp2tpay",
                "rsrtpfast developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let rtp = |payload: glib::SendValue| {
                gst::Structure::builder("application/x-rtp")
                    .field("media", "video")
                    .field("payload", payload)
                    .field("clock-rate", mp2t::CLOCK_RATE as i32)
                    .field("encoding-name", mp2t::ENCODING_NAME)
                    .build()
            };
            let src = gst::Caps::builder_full()
                .structure(rtp((mp2t::PAYLOAD_TYPE as i32).to_send_value()))
                .structure(rtp(gst::IntRange::new(96, 127).to_send_value()))
                .build();
            crate::elements::base::pad_templates(&super::super::ts_caps(), &src)
        });
        TEMPLATES.as_ref()
    }
}

impl RtpFastMp2tPay {
    fn clear(&self) {
        let mut st = lock(&self.state);
        st.packer.clear();
        st.queue.clear();
    }

    /// Payload bytes a packet may carry for `input` (MTU budget minus the
    /// header and CSRCs; stock ignores CSRCs and overshoots) and max-ptime.
    fn limits(base: &BaseImp, input: Option<&gst::BufferRef>) -> Limits {
        let empty;
        let input = match input {
            Some(b) => b,
            None => {
                empty = gst::Buffer::new();
                empty.as_ref()
            }
        };
        let (room, settings) = base.payload_room(input);
        Limits::new(room, settings.max_ptime)
    }

    /// Cut the plans from the front of the queue and push them (without
    /// our lock): one packet alone as a buffer, else lists of views per
    /// source buffer.
    fn cut_and_push(
        base: &BaseImp,
        mut guard: MutexGuard<'_, State>,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let st = &mut *guard;
        if st.plans.is_empty() {
            return Ok(gst::FlowSuccess::Ok);
        }
        st.cuts.clear();
        st.sources.clear();
        for plan in st.plans.iter().copied() {
            // Empty inputs queued before the packet: stock's adapter gives
            // the packet their metas too.
            let mut empties: SmallVec<[gst::Buffer; 2]> = SmallVec::new();
            while let Some((front, range)) = st.queue.front() {
                if range.start < range.end {
                    break;
                }
                empties.push(front.clone());
                st.queue.pop_front();
            }
            let Some((front, range)) = st.queue.front_mut() else {
                break;
            };
            if range.len() >= plan.len {
                if !empties.is_empty() {
                    empties.push(front.clone());
                    st.sources.push(Source {
                        data: front.clone(),
                        metas: empties,
                    });
                } else if st
                    .sources
                    .last()
                    .is_none_or(|s| s.data.as_ptr() != front.as_ptr() || !s.metas.is_empty())
                {
                    st.sources.push(Source {
                        data: front.clone(),
                        metas: SmallVec::new(),
                    });
                }
                let start = range.start;
                range.start += plan.len;
                st.cuts.push(Cut {
                    source: st.sources.len() - 1,
                    range: start..start + plan.len,
                    plan,
                });
                if range.start >= range.end {
                    st.queue.pop_front();
                }
                continue;
            }
            // Across inputs: a pooled copy of its own.
            let mut metas = empties;
            let data = queued_bytes::copy_front(&mut st.queue, plan.len, Some(&mut metas))?;
            st.sources.push(Source { data, metas });
            st.cuts.push(Cut {
                source: st.sources.len() - 1,
                range: 0..plan.len,
                plan,
            });
        }
        if let [cut] = st.cuts.as_slice() {
            let source = st.sources.swap_remove(cut.source);
            let timing = timing(&cut.plan);
            let packet = OutPacket {
                marker: false,
                inline: &[],
                payload: cut.range.clone(),
                timing: None,
                flags: gst::BufferFlags::empty(),
            };
            drop(guard);
            return base.push_packet(&source.data, timing, packet, |out| source.copy_metas(out));
        }
        let mut lists: SmallVec<[gst::BufferList; 2]> = SmallVec::new();
        let mut i = 0;
        while i < st.cuts.len() {
            let source = st.cuts[i].source;
            let end = i + st.cuts[i..]
                .iter()
                .take_while(|c| c.source == source)
                .count();
            let packets = st.cuts[i..end].iter().map(|c| OutPacket {
                marker: false,
                inline: &[],
                payload: c.range.clone(),
                timing: Some(timing(&c.plan)),
                flags: gst::BufferFlags::empty(),
            });
            let src = &st.sources[source];
            if let Some(mut list) = base.build_list(Some(&src.data), None, None, packets)? {
                if src.has_metas() {
                    list.make_mut().foreach_mut(|mut b, _| {
                        src.copy_metas(b.make_mut());
                        std::ops::ControlFlow::Continue(Some(b))
                    });
                }
                lists.push(list);
            }
            i = end;
        }
        st.sources.clear();
        drop(guard);
        let mut ret = Ok(gst::FlowSuccess::Ok);
        for list in lists {
            ret = base.push_list(list);
            if ret.is_err() {
                break;
            }
        }
        ret
    }
}

/// As stock: the PTS and summed duration of the flush, no DTS, and the RTP
/// time from the PTS (stock's packets have no offset).
fn timing(plan: &PacketPlan) -> PacketTiming {
    PacketTiming {
        pts: plan.pts.map(gst::ClockTime::from_nseconds),
        dts: None,
        duration: plan.duration.map(gst::ClockTime::from_nseconds),
        offset: None,
        discont: false,
    }
}

impl RtpFastBasePayImpl for RtpFastMp2tPay {
    fn start(&self) {
        self.clear();
    }

    fn set_sink_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        // The template fixes packetsize=188, systemstream=true: nothing
        // else in the caps matters (as stock).
        gst::debug!(CAT, imp = self, "sink caps {caps}");
        let obj = self.obj();
        let base = obj.pay_base();
        base.set_options("video", mp2t::ENCODING_NAME, mp2t::CLOCK_RATE);
        base.set_outcaps(gst::Structure::new_empty("fields").as_ref())
    }

    fn handle_buffer(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let obj = self.obj();
        let base = obj.pay_base();
        let limits = Self::limits(base, Some(&buffer));
        let len = buffer.size();
        let mut guard = lock(&self.state);
        let st = &mut *guard;
        st.plans.clear();
        if let Err(e) = st.packer.push(
            limits,
            len,
            buffer.pts().map(|t| t.nseconds()),
            buffer.duration().map(|t| t.nseconds()),
            &mut st.plans,
        ) {
            drop(guard);
            gst::element_imp_error!(self, gst::StreamError::Format, ["{e}"]);
            return Err(gst::FlowError::Error);
        }
        // The common case (an aligned burst that fits one packet, nothing
        // queued before): the whole input is the packet, no queue.
        if let ([plan], true) = (st.plans.as_slice(), st.queue.is_empty()) {
            if plan.len == len {
                let timing = timing(plan);
                drop(guard);
                let packet = OutPacket {
                    marker: false,
                    inline: &[],
                    payload: 0..len,
                    timing: None,
                    flags: gst::BufferFlags::empty(),
                };
                return base.push_packet(&buffer, timing, packet, |out| {
                    super::super::copy_untagged_metas(&buffer, out)
                });
            }
        }
        // An empty input only for its metas, which go with the next packet
        // (as stock's adapter gives them); a bounded number of them (stock
        // queues empty inputs without end).
        if len > 0
            || (buffer.iter_meta::<gst::Meta>().next().is_some()
                && st.queue.len() < MAX_QUEUED_EMPTY)
        {
            st.queue.push_back((buffer, 0..len));
        }
        Self::cut_and_push(base, guard)
    }

    fn drain(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        let obj = self.obj();
        let base = obj.pay_base();
        let limits = Self::limits(base, None);
        let mut guard = lock(&self.state);
        let st = &mut *guard;
        st.plans.clear();
        let rest = st.packer.drain(limits, &mut st.plans);
        if rest > 0 {
            gst::warning!(
                CAT,
                imp = self,
                "EOS: dropping {rest} bytes of a partial TS packet"
            );
        }
        let ret = Self::cut_and_push(base, guard);
        lock(&self.state).queue.clear();
        ret
    }

    fn flush(&self) {
        self.clear();
    }
}
