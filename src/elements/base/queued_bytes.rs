//! Input bytes a payloader holds until they make a packet (what stock's
//! GstAdapter holds for rtpL16pay and rtpmp2tpay): the input buffers, in
//! order, each with its unsent range. A packet within one input is a view
//! of it; one that spans inputs is copied here.

use smallvec::SmallVec;
use std::collections::VecDeque;
use std::ops::Range;

/// Queued inputs and the range of each still to send.
pub type Queue = VecDeque<(gst::Buffer, Range<usize>)>;

/// The first `len` queued bytes, copied into one pooled block (a packet
/// that spans inputs), taken off the queue. With `inputs`, the input
/// buffers they came from are added to it (for their metas).
pub fn copy_front(
    queue: &mut Queue,
    len: usize,
    mut inputs: Option<&mut SmallVec<[gst::Buffer; 2]>>,
) -> Result<gst::Buffer, gst::FlowError> {
    let mut failed = false;
    let block = crate::pool::acquire_filled(len, |dst| {
        let mut at = 0;
        while at < len {
            let Some((buf, range)) = queue.front_mut() else {
                failed = true;
                break;
            };
            let n = range.len().min(len - at);
            if let Some(inputs) = inputs.as_deref_mut() {
                inputs.push(buf.clone());
            }
            // copy_to_slice: inputs of several memories too.
            if buf
                .copy_to_slice(range.start, &mut dst[at..at + n])
                .is_err()
            {
                failed = true;
            }
            at += n;
            range.start += n;
            if range.start >= range.end {
                queue.pop_front();
            }
        }
    });
    if failed {
        return Err(gst::FlowError::Error);
    }
    Ok(block)
}
