//! Extra streams reuse the pool memory earlier streams touched: one fresh
//! rtpfasth264depay after another, each assembling one access unit, all
//! assemble it in the same pool block. Its own binary: nothing else in the
//! process uses the shared pool meanwhile.
//!
//! When a class grew by a whole slab at once, its FIFO free list rotated
//! through every block of the slab, so each new stream paged in a block no
//! stream had used (~16 KB resident per extra H.264 depayloader,
//! `rtp_perf_compare --streams 200`); this test then saw a new block per
//! stream.

mod common;

#[test]
fn each_new_depayloader_assembles_in_the_block_the_last_one_gave_back() {
    common::init();
    let (caps, packets) = common::run_collect(
        "videotestsrc num-buffers=1 pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 \
         ! x264enc key-int-max=1 ! rtph264pay mtu=1400 config-interval=-1 ! appsink name=sink sync=false",
        None,
    );
    // Without sprop-parameter-sets (the packets carry them in-band): with
    // them, a stream's first unit goes out as a copy with the caps'
    // parameter sets ahead of it.
    let mut caps = caps.expect("rtph264pay produced caps");
    caps.make_mut()
        .structure_mut(0)
        .unwrap()
        .remove_field("sprop-parameter-sets");
    assert!(packets.len() > 1, "a keyframe in several packets");
    let depay = || {
        let mut h = gst_check::Harness::new("rtpfasth264depay");
        h.set_sink_caps_str("video/x-h264,stream-format=byte-stream,alignment=au");
        h.set_src_caps(caps.clone());
        for p in &packets {
            h.push(p.clone()).expect("push");
        }
        h
    };
    // One stream stays running, as in a server: with none left the pool
    // gives its memory back and the next stream starts from scratch.
    let mut running = depay();
    drop(running.pull());
    let mut blocks = Vec::new();
    for _ in 0..20 {
        let mut h = depay();
        let unit = h.pull().expect("the access unit");
        assert_eq!(unit.n_memory(), 1, "assembled in one memory");
        let map = unit.map_readable().unwrap();
        blocks.push(map.as_ptr() as usize);
        drop(map);
        drop(unit);
        drop(h);
    }
    drop(running);
    assert!(
        blocks.iter().all(|&b| b == blocks[0]),
        "access units assembled in {} different blocks over 20 streams: {blocks:x?}",
        {
            let mut d = blocks.clone();
            d.sort();
            d.dedup();
            d.len()
        }
    );
}
