//! Which common upstream elements take the pool/allocator we propose in the
//! ALLOCATION query? A probe on a fakesink's sink pad answers the query with
//! `pool::propose_allocation` (exactly what our depayloaders/payloaders do)
//! and inspects every buffer that arrives: does it come from an
//! RtpFastBufferPool instance, or at least carry memory of our allocator?
//! The table printed here is the source of src/pool/README.md.

use gst::prelude::*;
use gstrsrtpfast::pool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Default, Debug)]
struct Seen {
    queries: AtomicU64,
    buffers: AtomicU64,
    from_pool: AtomicU64,
    our_memory: AtomicU64,
}

fn has(name: &str) -> bool {
    gst::ElementFactory::find(name).is_some()
}

fn buffer_from_our_pool(b: &gst::BufferRef) -> bool {
    // SAFETY: `b` is a live buffer borrowed for the call; `pool` is a public
    // GstBuffer field, only read, and when non-null the buffer holds a
    // reference on that GstBufferPool (a GTypeInstance) while it is out of
    // the pool, so the type check reads a live instance.
    unsafe {
        let p = (*b.as_ptr()).pool;
        !p.is_null()
            && gst::glib::gobject_ffi::g_type_check_instance_is_a(
                p as *mut _,
                pool::RtpFastBufferPool::static_type().into_glib(),
            ) != 0
    }
}

use gst::glib::translate::IntoGlib;

/// Run `launch` (ending in `fakesink name=sink`) to EOS, optionally feeding
/// it with `feed`; return what the sink saw.
type Feed = Option<Box<dyn FnOnce(&gst::Pipeline) + Send>>;

fn run(launch: &str, feed: Feed) -> Arc<Seen> {
    let pipeline = gst::parse::launch(launch)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sink = pipeline.by_name("sink").unwrap();
    let pad = sink.static_pad("sink").unwrap();
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    pad.add_probe(gst::PadProbeType::QUERY_DOWNSTREAM, move |pad, info| {
        if let Some(gst::PadProbeData::Query(q)) = info.data.as_mut() {
            if let gst::QueryViewMut::Allocation(a) = q.view_mut() {
                s.queries.fetch_add(1, Ordering::Relaxed);
                pool::propose_allocation(a, pad);
                return gst::PadProbeReturn::Handled;
            }
        }
        gst::PadProbeReturn::Ok
    });
    let s = seen.clone();
    pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
        if let Some(b) = info.buffer() {
            s.buffers.fetch_add(1, Ordering::Relaxed);
            if buffer_from_our_pool(b) {
                s.from_pool.fetch_add(1, Ordering::Relaxed);
            }
            if b.n_memory() > 0
                && b.peek_memory(0)
                    .allocator()
                    .is_some_and(|a| a.type_() == pool::memory::allocator_type())
            {
                s.our_memory.fetch_add(1, Ordering::Relaxed);
            }
        }
        gst::PadProbeReturn::Ok
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    if let Some(f) = feed {
        f(&pipeline);
    }
    let bus = pipeline.bus().unwrap();
    let msg = bus.timed_pop_filtered(
        gst::ClockTime::from_seconds(30),
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    if let Some(gst::MessageView::Error(e)) = msg.as_ref().map(|m| m.view()) {
        panic!("{launch}: {}", e.error());
    }
    pipeline.set_state(gst::State::Null).unwrap();
    seen
}

#[test]
fn which_upstream_elements_take_the_proposed_pool() {
    gst::init().unwrap();
    pool::register_types();
    let _h = pool::StreamHandle::new();
    let file = std::env::temp_dir().join(format!("rsrtpfast-pool-{}.bin", std::process::id()));
    std::fs::write(&file, vec![0x5au8; 256 << 10]).unwrap();
    let port = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };

    let mut cases: Vec<(&str, String, Feed)> = vec![
        (
            "appsrc",
            "appsrc name=src format=time caps=application/x-rtp ! fakesink name=sink".into(),
            Some(Box::new(|p: &gst::Pipeline| {
                let src = p
                    .by_name("src")
                    .unwrap()
                    .downcast::<gst_app::AppSrc>()
                    .unwrap();
                for _ in 0..30 {
                    src.push_buffer(gst::Buffer::with_size(1200).unwrap()).unwrap();
                }
                src.end_of_stream().unwrap();
            })),
        ),
        (
            "filesrc",
            format!("filesrc location={} ! fakesink name=sink", file.display()),
            None,
        ),
        (
            "udpsrc",
            format!(
                "udpsrc address=127.0.0.1 port={port} num-buffers=30 caps=application/x-rtp ! fakesink name=sink"
            ),
            Some(Box::new(move |_p: &gst::Pipeline| {
                let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                for _ in 0..400 {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    let _ = s.send_to(&[0x80u8; 1200], ("127.0.0.1", port));
                }
            })),
        ),
        (
            "videotestsrc",
            "videotestsrc num-buffers=30 ! video/x-raw,width=320,height=240 ! fakesink name=sink"
                .into(),
            None,
        ),
        (
            "audiotestsrc",
            "audiotestsrc num-buffers=30 ! fakesink name=sink".into(),
            None,
        ),
    ];
    if has("x264enc") {
        cases.push((
            "x264enc",
            "videotestsrc num-buffers=30 ! video/x-raw,width=320,height=240 ! x264enc tune=zerolatency speed-preset=ultrafast ! fakesink name=sink".into(),
            None,
        ));
        cases.push((
            "h264parse",
            "videotestsrc num-buffers=30 ! video/x-raw,width=320,height=240 ! x264enc tune=zerolatency speed-preset=ultrafast ! h264parse ! fakesink name=sink".into(),
            None,
        ));
    }

    let mut table = String::new();
    let mut videotestsrc_ok = false;
    for (name, launch, feed) in cases {
        let before = pool::stats();
        let seen = run(&launch, feed);
        let after = pool::stats();
        let (q, n, p, m) = (
            seen.queries.load(Ordering::Relaxed),
            seen.buffers.load(Ordering::Relaxed),
            seen.from_pool.load(Ordering::Relaxed),
            seen.our_memory.load(Ordering::Relaxed),
        );
        let verdict = if p > 0 {
            "takes the pool"
        } else if m > 0 {
            "takes the allocator only"
        } else {
            "takes neither"
        };
        table += &format!(
            "| {name} | {q} | {n} | {p} | {m} | {} | {verdict} |\n",
            after.acquired - before.acquired
        );
        if name == "videotestsrc" {
            videotestsrc_ok = p == n && n > 0 && after.acquired >= before.acquired + n;
        }
    }
    let _ = std::fs::remove_file(&file);
    eprintln!(
        "| upstream | alloc queries | buffers | from our pool | our memory | pool acquires | verdict |\n|---|---|---|---|---|---|---|\n{table}"
    );
    assert!(
        videotestsrc_ok,
        "videotestsrc should draw every buffer from the proposed pool"
    );
}
