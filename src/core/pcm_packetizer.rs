//! Packet sizes and timing of raw PCM payloaders (L16, L24), as
//! GstRTPBaseAudioPayload's sample mode chooses them, without GObject.
//!
//! Input buffers of interleaved frames are cut into packets of
//! `[min, max]` bytes, whole frames (or whole `ptime-multiple`s) each. Bytes
//! that do not yet make `min` wait for the next buffer, as in stock's
//! adapter. Every packet carries the PTS stock would give it (the PTS of the
//! buffer its first byte came from plus the time of the bytes before it),
//! a duration, an RTP offset (frames since the start, for perfect-rtptime)
//! and the marker of the first packet after a discontinuity.
//!
//! The packetizer only counts bytes; the element keeps the bytes themselves
//! (in the same FIFO order) and cuts packet `n` from them.

use std::collections::VecDeque;

const SECOND: u64 = 1_000_000_000;

/// `val * num / denom`, rounded down, saturating (gst_util_uint64_scale).
/// In 64 bits when the product fits: the 128-bit division is a libcall of
/// ~100 instructions, and this runs three times per packet.
#[inline]
fn scale(val: u64, num: u64, denom: u64) -> u64 {
    if denom == 0 {
        return u64::MAX;
    }
    match val.checked_mul(num) {
        Some(product) => product / denom,
        None => u64::try_from(val as u128 * num as u128 / denom as u128).unwrap_or(u64::MAX),
    }
}

/// Bytes per frame (sample bytes × channels) and the clock rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcmFormat {
    pub frame_bytes: usize,
    pub clock_rate: u32,
}

impl PcmFormat {
    /// Bytes of whole frames in `time` ns (stock: samples rounded down).
    pub fn time_to_bytes(&self, time: u64) -> u64 {
        scale(time, self.clock_rate as u64, SECOND).saturating_mul(self.frame_bytes as u64)
    }

    /// Duration of `bytes` (whole frames, rounded down) in ns.
    pub fn bytes_to_time(&self, bytes: u64) -> u64 {
        scale(
            bytes / self.frame_bytes as u64,
            SECOND,
            self.clock_rate as u64,
        )
    }

    /// Frames in `bytes`: the RTP clock ticks of PCM.
    pub fn bytes_to_rtptime(&self, bytes: u64) -> u64 {
        bytes / self.frame_bytes as u64
    }
}

/// The payloader properties and caps that size packets (ns; `max_ptime`
/// -1 = no limit; `ptime` 0 = none asked for).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PtimeSettings {
    pub min_ptime: i64,
    pub max_ptime: i64,
    pub ptime: u64,
    pub ptime_multiple: i64,
}

/// Payload bytes of one packet: between `min` and `max`, a multiple of
/// `align` (except what EOS or a discontinuity flushes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketLimits {
    pub min: usize,
    pub max: usize,
    pub align: usize,
    /// Where stock would spin forever (no whole `align` fits in `max`), we
    /// cut smaller packets: what we changed, for a warning.
    pub clamped: Option<Clamp>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clamp {
    /// ptime-multiple needed `wanted` bytes, the MTU leaves room for
    /// `align` (the largest number of whole frames that fits).
    MultipleOverMtu { wanted: usize, align: usize },
    /// max-ptime is shorter than one `align`: packets are one `align`.
    MaxPtimeUnderAlign {
        max_ptime_bytes: usize,
        align: usize,
    },
}

/// Not even one frame fits in a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameOverMtu {
    pub frame_bytes: usize,
    pub room: usize,
}

impl std::fmt::Display for FrameOverMtu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "one audio frame is {} bytes but the MTU leaves {} bytes of payload",
            self.frame_bytes, self.room
        )
    }
}

fn align_down(v: usize, to: usize) -> usize {
    v - v % to
}

fn to_len(bytes: u64) -> usize {
    // stock keeps these in a guint
    bytes.min(u32::MAX as u64) as usize
}

/// Packet limits for a format and `room`, the payload bytes one packet may
/// hold (MTU minus the RTP header and CSRCs). Stock's
/// gst_rtp_base_audio_payload_get_lengths, except that it never returns
/// limits under which no packet can be cut (stock then loops forever).
pub fn packet_limits(
    fmt: PcmFormat,
    room: usize,
    p: PtimeSettings,
) -> Result<PacketLimits, FrameOverMtu> {
    let frame = fmt.frame_bytes.max(1);
    if room < frame {
        return Err(FrameOverMtu {
            frame_bytes: frame,
            room,
        });
    }
    let multiple = to_len(fmt.time_to_bytes(p.ptime_multiple.max(0) as u64));
    let mut align = align_down(frame.max(multiple), frame);
    let mut clamped = None;
    let mut max_mtu = align_down(room, align);
    if max_mtu == 0 {
        let fits = align_down(room, frame);
        clamped = Some(Clamp::MultipleOverMtu {
            wanted: align,
            align: fits,
        });
        align = fits;
        max_mtu = fits;
    }
    let max_ptime_bytes = if p.max_ptime == -1 {
        usize::MAX
    } else {
        to_len(fmt.time_to_bytes(p.max_ptime.max(0) as u64))
    };
    let mut max = max_mtu.min(max_ptime_bytes);
    if max < align {
        clamped = clamped.or(Some(Clamp::MaxPtimeUnderAlign {
            max_ptime_bytes: max,
            align,
        }));
        max = align;
    }
    let min_ptime_bytes = to_len(fmt.time_to_bytes(p.min_ptime.max(0) as u64));
    let mut min = min_ptime_bytes.max(align).min(max);
    if p.ptime != 0 {
        let ptime_bytes = to_len(fmt.time_to_bytes(p.ptime)).max(min).min(max);
        min = ptime_bytes;
        max = ptime_bytes;
    }
    Ok(PacketLimits {
        min,
        max,
        align,
        clamped,
    })
}

/// One packet to cut from the front of the pending bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketPlan {
    pub len: usize,
    pub pts: Option<u64>,
    pub duration: u64,
    /// Frames since the start (GST_BUFFER_OFFSET of stock's packet).
    pub rtp_offset: u64,
    pub marker: bool,
}

/// Bytes of one input buffer still pending, with its PTS.
#[derive(Clone, Copy, Debug)]
struct Pending {
    len: usize,
    pts: Option<u64>,
}

/// The byte-counting state machine.
#[derive(Debug, Default)]
pub struct PcmPacketizer {
    /// Input still pending (stock's adapter); the front one partly used.
    pending: VecDeque<Pending>,
    front_used: usize,
    available: usize,
    /// PTS of the last input whose start the read position passed, and the
    /// bytes read since (gst_adapter_prev_pts).
    prev_pts: Option<u64>,
    distance: u64,
    /// Bytes since the start, plus the time gaps of discontinuities.
    offset: u64,
    discont: bool,
    last_timestamp: Option<u64>,
}

impl PcmPacketizer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes waiting for more input.
    pub fn available(&self) -> usize {
        self.available
    }

    /// New stream (READY -> PAUSED).
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// FLUSH_STOP: the pending bytes are gone.
    pub fn clear(&mut self) {
        self.pending.clear();
        self.front_used = 0;
        self.available = 0;
    }

    /// One input buffer of `len` bytes: the packets to cut now, appended to
    /// `out`. A DISCONT (or RESYNC) input first flushes what is pending.
    pub fn push(
        &mut self,
        fmt: PcmFormat,
        limits: &PacketLimits,
        len: usize,
        pts: Option<u64>,
        discont: bool,
        out: &mut Vec<PacketPlan>,
    ) {
        if discont {
            self.flush(fmt, out);
            self.discont = true;
            // Carry the time gap into the RTP timestamps (forward only).
            // Wrapping, as stock's unsigned C arithmetic (a huge gap at a
            // huge rate scales to u64::MAX).
            if let (Some(last), Some(now)) = (self.last_timestamp, pts) {
                if now > last {
                    self.offset = self.offset.wrapping_add(fmt.time_to_bytes(now - last));
                }
            }
        }
        if self.available == 0
            && (limits.min..=limits.max).contains(&len)
            && len.is_multiple_of(limits.align)
        {
            // Fits one packet as it is: pushed through with its own PTS.
            let plan = self.plan(fmt, len, pts);
            out.push(plan);
            return;
        }
        if len == 0 {
            return;
        }
        if self.pending.is_empty() {
            self.enter(pts);
            // Nothing pending (the common case): cut straight from this
            // input, only a remainder goes to the queue. The same packets
            // as through the queue, without its bookkeeping per packet.
            let mut at = 0;
            while len - at >= limits.min {
                let take = align_down(limits.max.min(len - at), limits.align);
                if take == 0 {
                    break; // cannot happen with packet_limits(); never spin
                }
                let pts = self.read_pts(fmt);
                out.push(self.plan(fmt, take, pts));
                self.distance += take as u64;
                at += take;
            }
            if at < len {
                self.pending.push_back(Pending { len: len - at, pts });
                self.front_used = 0;
                self.available = len - at;
            }
            return;
        }
        self.pending.push_back(Pending { len, pts });
        self.available += len;
        while self.available >= limits.min {
            let take = align_down(limits.max.min(self.available), limits.align);
            if take == 0 {
                break; // cannot happen with packet_limits(); never spin
            }
            self.take(fmt, take, out);
        }
    }

    /// EOS: everything pending as one last packet.
    pub fn flush(&mut self, fmt: PcmFormat, out: &mut Vec<PacketPlan>) {
        if self.available > 0 {
            self.take(fmt, self.available, out);
        }
    }

    /// The read position moved onto the start of an input.
    fn enter(&mut self, pts: Option<u64>) {
        if pts.is_some() {
            self.prev_pts = pts;
            self.distance = 0;
        }
    }

    /// PTS at the read position: the last input's PTS plus the time of the
    /// bytes read since (gst_adapter_prev_pts and its distance).
    fn read_pts(&self, fmt: PcmFormat) -> Option<u64> {
        self.prev_pts.map(|p| {
            p.wrapping_add(if self.distance > 0 {
                fmt.bytes_to_time(self.distance)
            } else {
                0
            })
        })
    }

    fn take(&mut self, fmt: PcmFormat, len: usize, out: &mut Vec<PacketPlan>) {
        let pts = self.read_pts(fmt);
        out.push(self.plan(fmt, len, pts));
        self.available -= len;
        let mut left = len;
        while left > 0 {
            let Some(front) = self.pending.front() else {
                break;
            };
            let here = front.len - self.front_used;
            if left < here {
                self.front_used += left;
                self.distance += left as u64;
                break;
            }
            left -= here;
            self.distance += here as u64;
            self.pending.pop_front();
            self.front_used = 0;
            if let Some(next) = self.pending.front() {
                let pts = next.pts;
                self.enter(pts);
            }
        }
    }

    fn plan(&mut self, fmt: PcmFormat, len: usize, pts: Option<u64>) -> PacketPlan {
        let plan = PacketPlan {
            len,
            pts,
            duration: fmt.bytes_to_time(len as u64),
            rtp_offset: fmt.bytes_to_rtptime(self.offset),
            marker: std::mem::take(&mut self.discont),
        };
        self.offset = self.offset.wrapping_add(len as u64);
        self.last_timestamp = pts;
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEREO16_48K: PcmFormat = PcmFormat {
        frame_bytes: 4,
        clock_rate: 48000,
    };
    const MS: i64 = 1_000_000;

    fn limits(fmt: PcmFormat, mtu: usize, p: PtimeSettings) -> PacketLimits {
        packet_limits(fmt, mtu - 12, p).unwrap()
    }

    fn no_ptime() -> PtimeSettings {
        PtimeSettings {
            max_ptime: -1,
            ..Default::default()
        }
    }

    #[test]
    fn default_limits_fill_the_mtu_with_whole_frames() {
        let l = limits(STEREO16_48K, 1400, no_ptime());
        assert_eq!((l.min, l.max, l.align, l.clamped), (4, 1388, 4, None));
        let l24 = PcmFormat {
            frame_bytes: 6,
            clock_rate: 48000,
        };
        let l = limits(l24, 1400, no_ptime());
        assert_eq!((l.min, l.max, l.align), (6, 1386, 6));
    }

    #[test]
    fn ptime_settings_size_packets() {
        // 48 kHz stereo S16: 1 ms = 192 bytes.
        let p = PtimeSettings {
            min_ptime: 2 * MS,
            max_ptime: 4 * MS,
            ptime: 0,
            ptime_multiple: MS,
        };
        let l = limits(STEREO16_48K, 1400, p);
        assert_eq!((l.min, l.max, l.align), (384, 768, 192));
        // ptime from caps pins both ends, within the others.
        let l = limits(
            STEREO16_48K,
            1400,
            PtimeSettings {
                ptime: 3 * MS as u64,
                ..p
            },
        );
        assert_eq!((l.min, l.max), (576, 576));
    }

    #[test]
    fn a_multiple_over_the_mtu_is_clamped_not_a_hang() {
        // The stock rtpL24pay hang: 48 kHz stereo S24, multiple 5 ms = 1440
        // bytes, more than 1388 of payload.
        let fmt = PcmFormat {
            frame_bytes: 6,
            clock_rate: 48000,
        };
        let p = PtimeSettings {
            min_ptime: 5 * MS,
            max_ptime: 20 * MS,
            ptime: 0,
            ptime_multiple: 5 * MS,
        };
        let l = limits(fmt, 1400, p);
        assert_eq!(
            l.clamped,
            Some(Clamp::MultipleOverMtu {
                wanted: 1440,
                align: 1386
            })
        );
        assert_eq!((l.min, l.max, l.align), (1386, 1386, 1386));
        let mut pk = PcmPacketizer::new();
        let mut out = Vec::new();
        pk.push(fmt, &l, 5760, Some(0), false, &mut out);
        assert_eq!(out.iter().map(|p| p.len).collect::<Vec<_>>(), [1386; 4]);
        assert_eq!(pk.available(), 5760 - 4 * 1386);
    }

    #[test]
    fn max_ptime_under_one_frame_still_cuts_packets() {
        let p = PtimeSettings {
            max_ptime: 1000, // 1 µs: no whole frame
            ..no_ptime()
        };
        let l = limits(STEREO16_48K, 1400, p);
        assert_eq!((l.min, l.max, l.align), (4, 4, 4));
        assert!(matches!(l.clamped, Some(Clamp::MaxPtimeUnderAlign { .. })));
    }

    #[test]
    fn frame_larger_than_the_mtu_is_an_error() {
        let fmt = PcmFormat {
            frame_bytes: 24,
            clock_rate: 48000,
        };
        assert_eq!(
            packet_limits(fmt, 16, no_ptime()),
            Err(FrameOverMtu {
                frame_bytes: 24,
                room: 16
            })
        );
    }

    #[test]
    fn buffers_are_cut_and_timed_like_the_adapter() {
        let fmt = STEREO16_48K;
        let l = limits(fmt, 1400, no_ptime());
        let mut pk = PcmPacketizer::new();
        let mut out = Vec::new();
        // 20 ms = 3840 bytes: 1388 + 1388 + 1064, nothing left.
        pk.push(fmt, &l, 3840, Some(0), true, &mut out);
        let lens: Vec<_> = out.iter().map(|p| p.len).collect();
        assert_eq!(lens, [1388, 1388, 1064]);
        assert_eq!(pk.available(), 0);
        assert_eq!(
            out.iter().map(|p| p.pts).collect::<Vec<_>>(),
            [Some(0), Some(7_229_166), Some(14_458_333)]
        );
        assert_eq!(
            out.iter().map(|p| p.rtp_offset).collect::<Vec<_>>(),
            [0, 347, 694]
        );
        assert_eq!(
            out.iter().map(|p| p.marker).collect::<Vec<_>>(),
            [true, false, false]
        );
        out.clear();
        pk.push(fmt, &l, 3840, Some(20_000_000), false, &mut out);
        assert_eq!(out[0].pts, Some(20_000_000));
        assert_eq!(out[0].rtp_offset, 960);
    }

    #[test]
    fn a_fitting_buffer_is_one_packet_and_remainders_wait() {
        let fmt = STEREO16_48K;
        let p = PtimeSettings {
            min_ptime: 10 * MS,
            ..no_ptime()
        };
        let l = limits(fmt, 4000, p);
        assert_eq!((l.min, l.max), (1920, 3988));
        let mut pk = PcmPacketizer::new();
        let mut out = Vec::new();
        // 12 ms fits: one packet with the buffer's own PTS.
        pk.push(fmt, &l, 2304, Some(5), false, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].len, out[0].pts), (2304, Some(5)));
        out.clear();
        // 5 ms waits; the next 5 ms completes a 10 ms packet timed from the
        // first of the two.
        pk.push(fmt, &l, 960, Some(12_000_005), false, &mut out);
        assert!(out.is_empty());
        pk.push(fmt, &l, 960, None, false, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].len, out[0].pts), (1920, Some(12_000_005)));
        out.clear();
        // EOS flushes a short remainder.
        pk.push(fmt, &l, 100, Some(22_000_005), false, &mut out);
        assert!(out.is_empty());
        pk.flush(fmt, &mut out);
        assert_eq!((out[0].len, out[0].pts), (100, Some(22_000_005)));
    }

    #[test]
    fn pts_counts_the_bytes_read_into_the_next_input() {
        // min 10 ms, clipped to max 1388 bytes: packet 0 takes all of A
        // (960) and 428 bytes of B; packet 1 starts 428 bytes (107 frames)
        // into B.
        let fmt = STEREO16_48K;
        let l = limits(
            fmt,
            1400,
            PtimeSettings {
                min_ptime: 10 * MS,
                ..no_ptime()
            },
        );
        let mut pk = PcmPacketizer::new();
        let mut out = Vec::new();
        pk.push(fmt, &l, 960, Some(0), false, &mut out);
        pk.push(fmt, &l, 960, Some(5 * MS as u64), false, &mut out);
        assert_eq!(out.len(), 1);
        pk.push(fmt, &l, 1920, Some(10 * MS as u64), false, &mut out);
        assert_eq!(out[1].pts, Some(5_000_000 + 107 * 1_000_000_000 / 48000));
    }

    #[test]
    fn discont_flushes_marks_and_carries_the_gap() {
        let fmt = STEREO16_48K;
        let p = PtimeSettings {
            min_ptime: 10 * MS,
            ..no_ptime()
        };
        let l = limits(fmt, 4000, p);
        let mut pk = PcmPacketizer::new();
        let mut out = Vec::new();
        pk.push(fmt, &l, 960, Some(0), false, &mut out);
        assert!(out.is_empty());
        // 100 ms later, DISCONT: the 5 ms pending go out unmarked, the new
        // buffer's packet is marked and its RTP offset jumps by the gap
        // from the last packet's PTS (stock counts from its start).
        pk.push(fmt, &l, 1920, Some(100 * MS as u64), true, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(
            (out[0].len, out[0].marker, out[0].rtp_offset),
            (960, false, 0)
        );
        assert_eq!((out[1].len, out[1].marker), (1920, true));
        assert_eq!(out[1].rtp_offset, 240 + 4800);
    }

    #[test]
    fn random_inputs_never_spin_and_account_for_every_byte() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        for _ in 0..300 {
            let fmt = PcmFormat {
                frame_bytes: [2, 3, 4, 6, 8, 24][next(6) as usize],
                clock_rate: [8000, 44100, 48000, 96000][next(4) as usize],
            };
            let p = PtimeSettings {
                min_ptime: next(30) as i64 * MS,
                max_ptime: if next(2) == 0 {
                    -1
                } else {
                    next(40) as i64 * MS
                },
                ptime: if next(3) == 0 {
                    next(30) * MS as u64
                } else {
                    0
                },
                ptime_multiple: next(8) as i64 * MS,
            };
            let room = 16 + next(9000) as usize;
            let Ok(l) = packet_limits(fmt, room, p) else {
                assert!(room < fmt.frame_bytes);
                continue;
            };
            assert!(l.align >= fmt.frame_bytes && l.align % fmt.frame_bytes == 0);
            assert!(l.min <= l.max && l.max <= room.max(l.align));
            let mut pk = PcmPacketizer::new();
            let mut out = Vec::new();
            let mut fed = 0usize;
            for _ in 0..20 {
                let len = next(20000) as usize;
                fed += len;
                pk.push(fmt, &l, len, Some(0), next(10) == 0, &mut out);
            }
            pk.flush(fmt, &mut out);
            assert_eq!(out.iter().map(|p| p.len).sum::<usize>(), fed);
            assert!(out.iter().all(|p| p.len > 0 && p.len <= l.max.max(l.min)));
        }
    }

    /// Found by fuzzing (fuzz/regressions/pcm_pay): a DISCONT whose PTS jump
    /// scales past u64 at a huge rate, and a PTS near the end of the clock,
    /// overflowed the offset / packet PTS (a panic with overflow checks).
    /// They wrap, like the stock base class's unsigned C arithmetic.
    #[test]
    fn extreme_timestamps_wrap_instead_of_overflowing() {
        let fmt = PcmFormat {
            frame_bytes: 256,
            clock_rate: i32::MAX as u32,
        };
        let l = packet_limits(fmt, 512, no_ptime()).unwrap();
        let mut p = PcmPacketizer::new();
        let mut out = Vec::new();
        p.push(fmt, &l, 256, Some(0), false, &mut out);
        p.push(fmt, &l, 256, Some(u64::MAX - 1), true, &mut out);
        p.push(fmt, &l, 512 * 4, Some(u64::MAX - 1), false, &mut out);
        assert_eq!(out.iter().map(|p| p.len).sum::<usize>(), 256 * 2 + 512 * 4);
        assert!(out[1].marker);
    }
}
