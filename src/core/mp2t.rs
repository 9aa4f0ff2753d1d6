//! MPEG-2 transport stream over RTP (RFC 2250 §2), without GObject: how
//! `rtpmp2tpay` 1.22 groups TS packets into RTP packets, and what
//! `rtpmp2tdepay` 1.22 takes out of a payload.
//!
//! Payloader: input bytes queue up (stock's adapter) and leave as packets
//! of whole 188-byte TS packets, as many as fit the MTU. The queue is
//! flushed when the next input would overflow a packet (or `max-ptime`),
//! on an empty input, and after every input of two TS packets or more
//! (upstream already sends bursts, so latency stays low). A tail that is
//! not a whole TS packet waits for the next input. Every packet of a flush
//! carries the PTS of the input that started the queued data and the
//! durations summed since (stock counts the first input's duration twice,
//! and sums in C's wrapping arithmetic: so do we); no DTS, no marker.
//!
//! The packer only counts bytes; the element keeps the bytes themselves
//! (in the same FIFO order) and cuts the planned packets from them.

/// Bytes of one TS packet.
pub const TS_PACKET_LEN: usize = 188;
/// RFC 3551 static payload type of MP2T (the stock payloader's default).
pub const PAYLOAD_TYPE: u32 = 33;
pub const ENCODING_NAME: &str = "MP2T";
pub const CLOCK_RATE: u32 = 90_000;

/// GST_CLOCK_TIME_NONE: stock keeps times in this form and adds durations
/// with C's wrapping arithmetic; so do we, to give the same values.
const NONE: u64 = u64::MAX;

fn raw(t: Option<u64>) -> u64 {
    t.unwrap_or(NONE)
}

fn opt(t: u64) -> Option<u64> {
    (t != NONE).then_some(t)
}

/// What sizes packets: payload bytes per packet (MTU minus the RTP header,
/// CSRCs and extensions) and `max-ptime` (ns, None: unlimited).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub room: usize,
    pub max_ptime: Option<u64>,
}

impl Limits {
    /// From the base's MTU budget and its `max-ptime` (-1: none).
    pub fn new(room: usize, max_ptime: i64) -> Limits {
        Limits {
            room,
            max_ptime: u64::try_from(max_ptime).ok(),
        }
    }

    /// gst_rtp_base_payload_is_filled: `bytes` of payload or `duration`
    /// would overflow one packet.
    fn is_filled(&self, bytes: usize, duration: u64) -> bool {
        bytes > self.room || self.max_ptime.is_some_and(|max| duration >= max)
    }
}

/// One RTP packet: its payload length (whole TS packets, from the front of
/// the queued bytes), PTS and duration (ns).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketPlan {
    pub len: usize,
    pub pts: Option<u64>,
    pub duration: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackError {
    /// Not one TS packet fits: stock would queue input forever.
    MtuTooSmall { room: usize },
}

impl std::fmt::Display for PackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PackError::MtuTooSmall { room } => write!(
                f,
                "the MTU leaves {room} payload bytes, less than one {TS_PACKET_LEN}-byte TS packet"
            ),
        }
    }
}

/// The payloader's queue, in bytes, with the timing of its packets.
#[derive(Clone, Debug)]
pub struct Packer {
    pending: usize,
    first_pts: u64,
    duration: u64,
}

impl Default for Packer {
    fn default() -> Self {
        Packer {
            pending: 0,
            first_pts: NONE,
            duration: NONE,
        }
    }
}

impl Packer {
    pub fn new() -> Packer {
        Packer::default()
    }

    /// Queued bytes not yet planned.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Forget the queue (flush, new stream).
    pub fn clear(&mut self) {
        *self = Packer::default();
    }

    /// One input of `len` bytes: appends the packets it completes to `out`
    /// (their bytes come from the queue first, then the input).
    pub fn push(
        &mut self,
        limits: Limits,
        len: usize,
        pts: Option<u64>,
        duration: Option<u64>,
        out: &mut Vec<PacketPlan>,
    ) -> Result<(), PackError> {
        if limits.room < TS_PACKET_LEN {
            return Err(PackError::MtuTooSmall { room: limits.room });
        }
        let (pts, duration) = (raw(pts), raw(duration));
        // Stock's loop: a second pass (as if an empty input followed) sends
        // what a burst of two or more TS packets completed.
        let mut size = len;
        let mut queued = false;
        loop {
            if self.pending == 0 {
                self.first_pts = pts;
                self.duration = duration;
            }
            if size == 0
                || limits.is_filled(self.pending + size, self.duration.wrapping_add(duration))
            {
                self.flush(limits, out);
                self.first_pts = pts;
                self.duration = duration;
            } else if duration != NONE {
                self.duration = self.duration.wrapping_add(duration);
            }
            if !queued {
                self.pending += len;
                queued = true;
            }
            if size < 2 * TS_PACKET_LEN {
                return Ok(());
            }
            size = 0;
        }
    }

    /// EOS: the whole TS packets still queued (stock loses them), and how
    /// many bytes of a partial TS packet are left over (dropped).
    pub fn drain(&mut self, limits: Limits, out: &mut Vec<PacketPlan>) -> usize {
        if limits.room >= TS_PACKET_LEN {
            self.flush(limits, out);
        }
        let rest = self.pending;
        self.clear();
        rest
    }

    /// Packets of at most `room` bytes of whole TS packets while the queue
    /// has a whole TS packet.
    fn flush(&mut self, limits: Limits, out: &mut Vec<PacketPlan>) {
        loop {
            let len = self.pending.min(limits.room);
            let len = len - len % TS_PACKET_LEN;
            if len == 0 {
                return;
            }
            out.push(PacketPlan {
                len,
                pts: opt(self.first_pts),
                duration: opt(self.duration),
            });
            self.pending -= len;
        }
    }
}

/// What the depayloader makes of a payload of `len` bytes with
/// `skip-first-bytes` = `skip`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DepayCut {
    /// No bytes after the skipped ones: stock drops it ("Packet was empty").
    Empty,
    /// Fewer than 188 bytes: stock pushes an empty buffer; nothing of it is
    /// TS data, so we drop it.
    Short { len: usize },
    /// These bytes of the payload, whole TS packets; `leftover` bytes of a
    /// partial TS packet at the end are cut off (stock warns and does the
    /// same). No sync-byte check: stock passes any bytes through.
    Ts {
        range: std::ops::Range<usize>,
        leftover: usize,
    },
}

pub fn depay_cut(len: usize, skip: usize) -> DepayCut {
    if len <= skip {
        return DepayCut::Empty;
    }
    let data = len - skip;
    let leftover = data % TS_PACKET_LEN;
    if data == leftover {
        return DepayCut::Short { len: data };
    }
    DepayCut::Ts {
        range: skip..len - leftover,
        leftover,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: usize = TS_PACKET_LEN;

    fn limits(mtu: usize) -> Limits {
        Limits::new(mtu - 12, -1)
    }

    fn push(
        p: &mut Packer,
        l: Limits,
        len: usize,
        pts: Option<u64>,
        dur: Option<u64>,
    ) -> Vec<PacketPlan> {
        let mut out = Vec::new();
        p.push(l, len, pts, dur, &mut out).unwrap();
        out
    }

    fn lens(v: &[PacketPlan]) -> Vec<usize> {
        v.iter().map(|p| p.len).collect()
    }

    #[test]
    fn burst_of_seven_is_one_packet_at_mtu_1400() {
        let mut p = Packer::new();
        let out = push(&mut p, limits(1400), 7 * TS, Some(1000), Some(33));
        assert_eq!(
            out,
            vec![PacketPlan {
                len: 7 * TS,
                pts: Some(1000),
                // Stock counts the duration of the input that starts the
                // queue twice (set, then added).
                duration: Some(66)
            }]
        );
        assert_eq!(p.pending(), 0);
    }

    #[test]
    fn big_input_is_cut_at_the_mtu_and_keeps_its_partial_tail() {
        let mut p = Packer::new();
        // 20 TS packets and 50 bytes; MTU 400 takes 2 TS packets (388 bytes).
        let out = push(&mut p, limits(400), 20 * TS + 50, Some(5), None);
        assert_eq!(lens(&out), vec![2 * TS; 10]);
        assert!(out.iter().all(|o| o.pts == Some(5) && o.duration.is_none()));
        assert_eq!(p.pending(), 50);
        // The tail leads the next input's first packet, with the new PTS.
        let out = push(&mut p, limits(400), 3 * TS - 50, Some(9), Some(1));
        assert_eq!(lens(&out), vec![2 * TS, TS]);
        assert!(out
            .iter()
            .all(|o| o.pts == Some(9) && o.duration == Some(1)));
        assert_eq!(p.pending(), 0);
    }

    #[test]
    fn single_ts_packets_gather_up_to_the_mtu() {
        let mut p = Packer::new();
        let l = limits(1400);
        let mut all = Vec::new();
        for i in 0..15u64 {
            all.extend(push(&mut p, l, TS, Some(i * 10), Some(10)));
        }
        // 7 fit 1388 bytes; the 8th flushes them before it is queued.
        assert_eq!(lens(&all), vec![7 * TS, 7 * TS]);
        assert_eq!(all[0].pts, Some(0));
        // The first input's duration twice (as stock), after a flush once.
        assert_eq!(all[0].duration, Some(80));
        assert_eq!(all[1].pts, Some(70));
        assert_eq!(all[1].duration, Some(70));
        assert_eq!(p.pending(), TS);
        let mut out = Vec::new();
        assert_eq!(p.drain(l, &mut out), 0);
        assert_eq!(
            out,
            vec![PacketPlan {
                len: TS,
                pts: Some(140),
                duration: Some(10)
            }]
        );
    }

    #[test]
    fn empty_input_flushes() {
        let mut p = Packer::new();
        let l = limits(1400);
        assert!(push(&mut p, l, TS, Some(1), Some(2)).is_empty());
        let out = push(&mut p, l, 0, Some(7), Some(3));
        assert_eq!(
            out,
            vec![PacketPlan {
                len: TS,
                pts: Some(1),
                duration: Some(4)
            }]
        );
    }

    #[test]
    fn max_ptime_flushes_by_duration() {
        let mut p = Packer::new();
        let l = Limits::new(1388, 35);
        // 10 + 10 < 35: gathers (20, the first duration twice).
        assert!(push(&mut p, l, TS, Some(0), Some(10)).is_empty());
        // 20 + 10 < 35: gathers.
        assert!(push(&mut p, l, TS, Some(10), Some(10)).is_empty());
        // 30 + 10 >= 35: flush before this one.
        let out = push(&mut p, l, TS, Some(20), Some(10));
        assert_eq!(lens(&out), vec![2 * TS]);
        assert_eq!(out[0].duration, Some(30));
    }

    #[test]
    fn durations_add_like_stock_c() {
        // A NONE duration first, then valid ones: C's guint64 sum wraps.
        let mut p = Packer::new();
        let l = limits(1400);
        assert!(push(&mut p, l, TS, Some(0), None).is_empty());
        assert!(push(&mut p, l, TS, Some(1), Some(10)).is_empty());
        let out = push(&mut p, l, 0, None, None);
        assert_eq!(out[0].duration, Some(9));
        assert_eq!(out[0].pts, Some(0));
    }

    #[test]
    fn partial_input_waits() {
        let mut p = Packer::new();
        let l = limits(1400);
        // Under two TS packets: queued, nothing sent until it overflows.
        assert!(push(&mut p, l, 300, Some(0), None).is_empty());
        assert!(push(&mut p, l, 300, Some(1), None).is_empty());
        assert_eq!(p.pending(), 600);
        // 600 + 900 > 1388: flushes 3 TS (564) first, keeps 36.
        let out = push(&mut p, l, 900, Some(2), None);
        // ... then the second pass flushes 36 + 900 = 936 -> 4 TS (752).
        assert_eq!(lens(&out), vec![3 * TS, 4 * TS]);
        assert_eq!(out[0].pts, Some(0));
        assert_eq!(out[1].pts, Some(2));
        assert_eq!(p.pending(), 936 - 752);
    }

    #[test]
    fn mtu_too_small_is_an_error_not_a_growing_queue() {
        let mut p = Packer::new();
        let mut out = Vec::new();
        let err = p.push(limits(199), TS, None, None, &mut out).unwrap_err();
        assert_eq!(err, PackError::MtuTooSmall { room: 187 });
        assert_eq!(p.pending(), 0);
        assert!(p.push(limits(200), TS, None, None, &mut out).is_ok());
    }

    #[test]
    fn drain_drops_a_partial_tail() {
        let mut p = Packer::new();
        let l = limits(400);
        let mut out = push(&mut p, l, 100, Some(3), None);
        assert!(out.is_empty());
        assert_eq!(p.drain(l, &mut out), 100);
        assert!(out.is_empty());
        assert_eq!(p.pending(), 0);
    }

    /// Every queued byte leaves in order, in whole TS packets within the
    /// room, whatever the input sizes.
    #[test]
    fn bytes_are_conserved_for_any_input_sizes() {
        let mut seed = 0x1234_5678u32;
        let mut rnd = |n: u32| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed % n
        };
        for mtu in [200, 400, 1400, 9000] {
            let l = limits(mtu);
            let mut p = Packer::new();
            let (mut fed, mut sent) = (0, 0);
            for _ in 0..2000 {
                let len = match rnd(4) {
                    0 => TS,
                    1 => rnd(3 * TS as u32) as usize,
                    2 => TS * rnd(60) as usize,
                    _ => rnd(20_000) as usize,
                };
                fed += len;
                let out = push(&mut p, l, len, None, None);
                for o in &out {
                    assert!(o.len > 0 && o.len % TS == 0 && o.len <= l.room);
                }
                sent += out.iter().map(|o| o.len).sum::<usize>();
                assert_eq!(fed - sent, p.pending());
                assert!(p.pending() <= l.room.max(3 * TS), "queue bounded");
            }
            let mut out = Vec::new();
            let rest = p.drain(l, &mut out);
            sent += out.iter().map(|o| o.len).sum::<usize>();
            assert_eq!(sent + rest, fed);
            assert!(rest < TS);
        }
    }

    #[test]
    fn depay_cuts() {
        assert_eq!(depay_cut(0, 0), DepayCut::Empty);
        assert_eq!(depay_cut(4, 4), DepayCut::Empty);
        assert_eq!(depay_cut(100, 0), DepayCut::Short { len: 100 });
        assert_eq!(
            depay_cut(7 * TS, 0),
            DepayCut::Ts {
                range: 0..7 * TS,
                leftover: 0
            }
        );
        assert_eq!(
            depay_cut(4 + 2 * TS + 5, 4),
            DepayCut::Ts {
                range: 4..4 + 2 * TS,
                leftover: 5
            }
        );
        assert_eq!(depay_cut(4 + 187, 4), DepayCut::Short { len: 187 });
    }
}
