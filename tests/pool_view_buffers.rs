//! Single-view buffers (what rtpfastopusdepay pushes: one read-only memory,
//! a zero-copy view of the input) park whole and come back re-pointed; the
//! input is read-only while a view lives and free again once it is back.
//! Its own test binary: the parked list is process-wide.

use gstrsrtpfast::pool;

#[test]
fn view_buffers_recycle_and_release_the_input() {
    gst::init().unwrap();
    let _stream = pool::StreamHandle::new();
    let bytes: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let mut input = gst::Buffer::from_slice(bytes.clone());
    let (reused0, parked0) = pool::view_buffer_counters();
    let mut seen = Vec::new();
    let held;
    {
        let views = pool::PayloadViews::new(input.peek_memory(0));
        assert!(views.recycles());
        for round in 0..3usize {
            let a = round * 1000;
            let out = pool::acquire_view_buffer(&views, a..a + 700);
            assert_eq!(out.n_memory(), 1);
            assert_eq!(out.size(), 700);
            // One memory: a map of the whole buffer is the view itself.
            let map = out.map_readable().unwrap();
            assert_eq!(map.as_slice(), &bytes[a..a + 700]);
            seen.push(out.as_ptr() as usize);
        }
        held = pool::acquire_view_buffer(&views, 5..10);
        // Metas and flags a consumer leaves on a buffer do not come back.
        let mut dressed = pool::acquire_view_buffer(&views, 0..4);
        let dm = dressed.make_mut();
        dm.set_flags(gst::BufferFlags::DISCONT);
        dm.set_pts(gst::ClockTime::from_seconds(1));
        gst::ReferenceTimestampMeta::add(
            dm,
            &gst::Caps::new_empty_simple("timestamp/x-test"),
            gst::ClockTime::ZERO,
            None,
        );
        drop(dressed);
        let again = pool::acquire_view_buffer(&views, 0..4);
        assert!(again.flags().is_empty() && again.pts().is_none());
        assert_eq!(again.iter_meta::<gst::Meta>().count(), 0);
        // A buffer that gained a memory is not ours to park: freed.
        let mut grown = pool::acquire_view_buffer(&views, 0..4);
        grown
            .make_mut()
            .append_memory(gst::Memory::from_slice(vec![1u8; 3]));
        drop(grown);
    }
    let (reused, parked) = pool::view_buffer_counters();
    assert!(reused - reused0 >= 3, "reused {reused0} -> {reused}");
    assert!(parked - parked0 >= 3, "parked {parked0} -> {parked}");
    assert_eq!(seen[1], seen[2], "the parked buffer was not reused");
    assert_eq!(held.map_readable().unwrap().as_slice(), &bytes[5..10]);
    // A live view keeps the input read-only; once it is back, nothing holds
    // the input any more.
    assert!(input.get_mut().unwrap().peek_memory_mut(0).is_err());
    drop(held);
    assert!(input.get_mut().unwrap().peek_memory_mut(0).is_ok());
    // Draining frees what is parked.
    pool::trim();
}
