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

    /// The assembled unit as a buffer of exactly its size; the sink is
    /// empty afterwards. None when nothing was assembled.
    pub fn take(&mut self) -> Option<gst::Buffer> {
        let len = std::mem::take(&mut self.len);
        let mut buffer = self.map.take()?.into_buffer();
        buffer.get_mut().unwrap().set_size(len);
        Some(buffer)
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
