//! `cargo test h265::pay::performance`: the payloader's fast path.

use crate::performance::{buffer_pool, zero_copy as t};

const CAPS: &str = "video/x-h265,stream-format=byte-stream,alignment=au";

#[test]
fn pushes_one_buffer_list_per_frame() {
    t::pushes_one_list_per_frame("rtpfasth265pay", CAPS, true);
}

#[test]
fn zero_copy_payload() {
    t::payload_memory_is_shared_not_copied("rtpfasth265pay", CAPS, true);
}

#[test]
fn pooled_headers_no_buffer_allocation_per_packet() {
    buffer_pool::headers_come_from_the_pool("rtpfasth265pay", CAPS, true);
}
