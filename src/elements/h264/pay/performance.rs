//! `cargo test h264::pay::performance`: the payloader's fast path.

use crate::performance::{buffer_pool, zero_copy as t};

const CAPS: &str = "video/x-h264,stream-format=byte-stream,alignment=au";

#[test]
fn pushes_one_buffer_list_per_frame() {
    t::pushes_one_list_per_frame("rtpfasth264pay", CAPS, false);
}

#[test]
fn zero_copy_payload() {
    t::payload_memory_is_shared_not_copied("rtpfasth264pay", CAPS, false);
}

#[test]
fn pooled_headers_no_buffer_allocation_per_packet() {
    buffer_pool::headers_come_from_the_pool("rtpfasth264pay", CAPS, false);
}
