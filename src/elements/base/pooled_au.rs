//! Access-unit assembly straight into a pooled GstBuffer: the depacketizer
//! writes each payload byte once, and the finished unit is pushed as is, so
//! steady state allocates nothing per access unit either.

use crate::core::depacketizer::AuSink;

/// Smallest assembly buffer taken from the pool (grows by doubling and
/// remembers the size the stream needed).
const MIN_CAPACITY: usize = 64 * 1024;

#[derive(Default)]
pub struct PooledAu {
    map: Option<gst::MappedBuffer<gst::buffer::Writable>>,
    len: usize,
    /// Capacity the last unit needed: the next one starts there.
    hint: usize,
    /// Where the unit's NAL units came from, once a packet carried metas.
    metas: Option<Box<MetaTrack>>,
}

/// As stock's H.264/H.265 depayloaders: each NAL unit of the output takes
/// the untagged and video metas of the packet it came in (a fragmented one:
/// of each of its fragments' packets), in order.
#[derive(Default)]
struct MetaTrack {
    /// The packet being depacketized, when it has metas.
    current: Option<gst::Buffer>,
    /// The metas of the fragmented NAL unit in progress.
    fragment: Option<gst::Buffer>,
    /// The metas of the unit's NAL units so far.
    carrier: Option<gst::Buffer>,
}

impl PooledAu {
    fn ensure(&mut self, need: usize) {
        let cap = self.map.as_ref().map_or(0, |m| m.len());
        if need <= cap {
            return;
        }
        let new_cap = need.next_power_of_two().max(self.hint).max(MIN_CAPACITY);
        let buffer = crate::pool::acquire(new_cap);
        let mut map = buffer
            .into_mapped_buffer_writable()
            .expect("a fresh pool buffer maps writable");
        if let Some(old) = &self.map {
            map[..self.len].copy_from_slice(&old[..self.len]);
        }
        self.map = Some(map);
        self.hint = self.hint.max(new_cap);
    }

    /// `extend_from_slice` when the unit outgrew the mapped buffer. It
    /// copies itself rather than calling `extend_from_slice` again: that
    /// makes the pair recursive, the fast path is no longer inlined, and
    /// rtpfasth264depay costs 37 instructions per packet more (callgrind).
    #[cold]
    #[inline(never)]
    fn grow_and_extend(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        self.ensure(end);
        self.map.as_mut().unwrap()[self.len..end].copy_from_slice(bytes);
        self.len = end;
    }

    /// Give the assembly memory back and forget the size hint (after an
    /// oversized unit was dropped, later units start small again).
    pub fn release(&mut self) {
        self.map = None;
        self.len = 0;
        self.hint = 0;
    }

    /// The assembled unit as a buffer of exactly its size (with its NAL
    /// units' metas); the sink is empty afterwards. None when nothing was
    /// assembled.
    pub fn take(&mut self) -> Option<gst::Buffer> {
        let len = std::mem::take(&mut self.len);
        let mut buffer = self.map.take()?.into_buffer();
        let b = buffer.get_mut().unwrap();
        b.set_size(len);
        if let Some(carrier) = self.metas.as_mut().and_then(|t| t.carrier.take()) {
            super::copy_rtp_metas(&carrier, b, Some("video"));
        }
        Some(buffer)
    }

    /// The packet about to be depacketized (before the depacketizer's
    /// `push`): kept while it or an earlier one had metas. Nothing to do
    /// for a stream without (one check per packet).
    #[inline]
    pub fn begin_packet(&mut self, packet: &gst::BufferRef) {
        if self.metas.is_some() || packet.iter_meta::<gst::Meta>().next().is_some() {
            self.track_packet(packet);
        }
    }

    #[cold]
    #[inline(never)]
    fn track_packet(&mut self, packet: &gst::BufferRef) {
        let t = self.metas.get_or_insert_with(Box::default);
        t.current = super::has_rtp_metas(packet, Some("video")).then(|| packet.to_owned());
    }

    /// After the depacketizer's `push`: the packet is not held longer
    /// than its fragment needs it.
    #[inline]
    pub fn end_packet(&mut self) {
        if let Some(t) = self.metas.as_mut() {
            t.current = None;
        }
    }

    #[cold]
    #[inline(never)]
    fn note_nal(&mut self, fragmented: bool) {
        let Some(t) = self.metas.as_mut() else {
            return;
        };
        let from = if fragmented {
            t.fragment.take()
        } else {
            t.current.clone()
        };
        if let Some(from) = from {
            append_metas(&mut t.carrier, &from);
        }
    }

    #[cold]
    #[inline(never)]
    fn note_fragment(&mut self, begins: bool) {
        let Some(t) = self.metas.as_mut() else {
            return;
        };
        if begins {
            t.fragment = None;
        }
        if let Some(from) = &t.current {
            append_metas(&mut t.fragment, from);
        }
    }
}

/// `from`'s metas after those already on `carrier` (made on first use), as
/// stock's gst_rtp_copy_video_meta appends them.
fn append_metas(carrier: &mut Option<gst::Buffer>, from: &gst::BufferRef) {
    let carrier = carrier.get_or_insert_with(gst::Buffer::new);
    if let Some(c) = carrier.get_mut() {
        from.copy_into(c, gst::BufferCopyFlags::META, ..).ok();
    }
}

impl AuSink for PooledAu {
    fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        // Common case inline: the unit fits the mapped buffer (~30
        // instructions per packet less than checking through `ensure`).
        if let Some(dst) = self
            .map
            .as_mut()
            .and_then(|m| m.as_mut_slice().get_mut(self.len..end))
        {
            dst.copy_from_slice(bytes);
            self.len = end;
            return;
        }
        self.grow_and_extend(bytes);
    }

    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
        if len == 0 {
            // A unit dropped whole takes its metas along.
            if let Some(t) = self.metas.as_mut() {
                t.carrier = None;
            }
        }
    }

    #[inline(always)]
    fn nal_done(&mut self, fragmented: bool) {
        if self.metas.is_some() {
            self.note_nal(fragmented);
        }
    }

    #[inline(always)]
    fn fragment_part(&mut self, begins: bool) {
        if self.metas.is_some() {
            self.note_fragment(begins);
        }
    }

    fn as_slice(&self) -> &[u8] {
        self.map.as_ref().map_or(&[], |m| &m[..self.len])
    }

    fn patch(&mut self, at: usize, bytes: &[u8]) {
        self.map.as_mut().unwrap()[at..at + bytes.len()].copy_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_keeps_content_and_hands_out_exact_size() {
        gst::init().unwrap();
        let mut au = PooledAu::default();
        assert!(au.take().is_none());
        let chunk: Vec<u8> = (0..=255u8).collect();
        let mut expect = Vec::new();
        for _ in 0..2000 {
            au.extend_from_slice(&chunk);
            expect.extend_from_slice(&chunk);
        }
        au.patch(0, &[9, 9]);
        expect[..2].copy_from_slice(&[9, 9]);
        assert_eq!(au.as_slice(), &expect[..]);
        au.truncate(1000);
        let buf = au.take().unwrap();
        assert_eq!(buf.size(), 1000);
        assert_eq!(&buf.map_readable().unwrap()[..], &expect[..1000]);
        assert_eq!(au.len(), 0);
        // The next unit starts at the size the last one needed.
        au.extend_from_slice(&[1]);
        assert!(au.map.as_ref().unwrap().len() >= 512 * 1024);
    }
}
