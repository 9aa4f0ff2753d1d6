//! Packet buffers (pooled header + payload view) park whole and come back
//! re-pointed; their views release the input when the packet returns. Its
//! own test binary: the pool's packet list is process-wide, and other tests
//! running in parallel would take the parked buffer.

use gstrsrtpfast::pool;

#[test]
fn packet_buffers_recycle_with_their_view_and_release_the_input() {
    gst::init().unwrap();
    let _stream = pool::StreamHandle::new();
    let bytes: Vec<u8> = (0..=255u8).cycle().take(4000).collect();
    let mut input = gst::Buffer::from_slice(bytes.clone());
    let (reused0, _) = pool::packet_counters();
    let mut seen = Vec::new();
    let held;
    {
        let views = pool::PayloadViews::new(input.peek_memory(0));
        assert!(views.recycles());
        for round in 0..3usize {
            let a = round * 1000;
            let pkt = pool::acquire_packet(14, |h| h.fill(round as u8), &views, a..a + 900);
            // Memory by memory: mapping the whole (writable) buffer
            // would merge its memories into a copy.
            assert_eq!(pkt.n_memory(), 2);
            let head = pkt.peek_memory(0).map_readable().unwrap();
            assert_eq!(head.as_slice(), &[round as u8; 14]);
            let payload = pkt.peek_memory(1).map_readable().unwrap();
            assert_eq!(payload.as_slice(), &bytes[a..a + 900]);
            seen.push(pkt.as_ptr() as usize);
        }
        held = pool::acquire_packet(12, |h| h.fill(7), &views, 5..10);
    }
    // The same buffer came back each time (parked whole, reused).
    assert!(
        pool::packet_counters().0 - reused0 >= 2,
        "{:?}",
        pool::packet_counters()
    );
    assert_eq!(seen[1], seen[2]);
    let payload = held.peek_memory(1).map_readable().unwrap();
    assert_eq!(payload.as_slice(), &bytes[5..10]);
    drop(payload);
    // A live view keeps the input read-only; once the packet is back,
    // nothing holds the input any more.
    assert!(input.get_mut().unwrap().peek_memory_mut(0).is_err());
    drop(held);
    assert!(input.get_mut().unwrap().peek_memory_mut(0).is_ok());
}
