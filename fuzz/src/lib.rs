//! What the fuzz targets share: reading settings out of the fuzzer's bytes,
//! and the packet-sequence input of the depacketizer targets.
//!
//! Every reader is total: past the end of the input it yields zeros (or an
//! empty slice), so any byte string is a valid input and the fuzzer never
//! wastes executions on rejected ones.

use gstrsrtpfast::core::rtp;
use gstrsrtpfast::core::simd::SimdLevel;

/// Settings first, then the body, out of one byte string.
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 != 0
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    pub fn u64(&mut self) -> u64 {
        ((self.u32() as u64) << 32) | self.u32() as u64
    }

    /// Up to `n` bytes (fewer at the end of the input).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// The next chunk behind a 16-bit big-endian length.
    pub fn chunk(&mut self) -> &'a [u8] {
        let n = self.u16() as usize;
        self.bytes(n)
    }

    pub fn rest(&mut self) -> &'a [u8] {
        self.bytes(self.data.len())
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// One received RTP packet of a packet-sequence input.
#[derive(Clone, Copy, Debug)]
pub struct RtpIn<'a> {
    pub seq: u16,
    pub timestamp: u32,
    pub marker: bool,
    /// A seqnum gap before this packet (what the depayloader base flags).
    pub discont: bool,
    pub payload: &'a [u8],
}

/// The packets of a depacketizer target's input after its settings: each a
/// 16-bit length and that many bytes of RTP packet (header included, so
/// seqnum, timestamp and marker are the fuzzer's to choose too). Packets the
/// RTP parser refuses are skipped, as the depayloader base drops them.
/// Seed files are real packets in this framing (`fuzz/gen-corpus.sh`).
pub fn rtp_packets<'a: 'r, 'r>(r: &'r mut Reader<'a>) -> impl Iterator<Item = RtpIn<'a>> + 'r {
    let mut prev_seq: Option<u16> = None;
    std::iter::from_fn(move || {
        while !r.is_empty() {
            let packet = r.chunk();
            let Ok(info) = rtp::parse(packet) else {
                continue;
            };
            let payload = &packet[info.payload.clone()];
            let discont = prev_seq.is_some_and(|p| p.wrapping_add(1) != info.seq);
            prev_seq = Some(info.seq);
            return Some(RtpIn {
                seq: info.seq,
                timestamp: info.timestamp,
                marker: info.marker,
                discont,
                payload,
            });
        }
        None
    })
}

/// Every SIMD level this CPU runs, scalar first.
pub fn simd_levels() -> Vec<SimdLevel> {
    SimdLevel::available_levels()
}

pub mod nal;
pub mod vraw;
