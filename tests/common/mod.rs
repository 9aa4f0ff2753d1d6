//! Shared helpers for the integration tests: plugin registration, media
//! generated at test time with the real encoders, pipeline runners.
#![allow(dead_code)]

use gst::prelude::*;
use std::sync::Once;

pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // A private registry so a stale cache never hides a fresh build.
        let reg = std::env::temp_dir().join(format!(
            "rsrtpfast-test-registry-{}.bin",
            std::process::id()
        ));
        std::env::set_var("GST_REGISTRY", reg);
        gst::init().unwrap();
        gstrsrtpfast::plugin_register_static().unwrap();
    });
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    H264,
    H265,
}

impl Codec {
    pub fn media(self) -> &'static str {
        match self {
            Codec::H264 => "video/x-h264",
            Codec::H265 => "video/x-h265",
        }
    }
    pub fn encoder(self) -> &'static str {
        match self {
            Codec::H264 => {
                "x264enc tune=zerolatency key-int-max=10 bitrate=2000 speed-preset=ultrafast"
            }
            Codec::H265 => {
                "x265enc tune=zerolatency key-int-max=10 bitrate=2000 speed-preset=ultrafast"
            }
        }
    }
    pub fn nal_type(self, nal: &[u8]) -> u8 {
        match self {
            Codec::H264 => nal[0] & 0x1f,
            Codec::H265 => (nal[0] >> 1) & 0x3f,
        }
    }
    pub fn is_vcl(self, nal: &[u8]) -> bool {
        let t = self.nal_type(nal);
        match self {
            Codec::H264 => (1..=5).contains(&t),
            Codec::H265 => t < 32,
        }
    }
    pub fn is_param(self, nal: &[u8]) -> bool {
        let t = self.nal_type(nal);
        match self {
            Codec::H264 => t == 7 || t == 8,
            Codec::H265 => (32..=34).contains(&t),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Codec::H264 => "h264",
            Codec::H265 => "h265",
        }
    }
}

/// Encoded byte-stream access units (with PTS) and their caps.
pub struct Media {
    pub caps: gst::Caps,
    pub frames: Vec<gst::Buffer>,
}

pub fn encode(codec: Codec, frames: u32, width: u32, height: u32) -> Media {
    init();
    let desc = format!(
        "videotestsrc num-buffers={frames} pattern=ball ! video/x-raw,width={width},height={height},framerate=30/1,format=I420 ! {} ! {},stream-format=byte-stream,alignment=au ! appsink name=sink sync=false",
        codec.encoder(),
        codec.media()
    );
    let (caps, frames) = run_collect(&desc, None);
    Media {
        caps: caps.expect("encoder produced caps"),
        frames,
    }
}

/// Run this test binary's test `test` again in a child process with
/// `G_SLICE=always-malloc` (so GLib's slices reach the malloc interposer)
/// and `child_env=1` (which makes the child test measure instead of
/// skipping); fails unless the child passed. The child test may be
/// `#[ignore]`d so that a plain run does not run it on its own.
pub fn run_allocation_child(test: &str, child_env: &str) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--include-ignored", "--nocapture"])
        .env("G_SLICE", "always-malloc")
        .env(child_env, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Parse `desc`, a pipeline with an `appsrc name=src` (not started).
pub fn launch_with_src(desc: &str) -> (gst::Pipeline, gst_app::AppSrc) {
    init();
    let pipeline = gst::parse::launch(desc)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let src = app_src(&pipeline);
    (pipeline, src)
}

/// The pipeline's `appsrc name=src`.
pub fn app_src(pipeline: &gst::Pipeline) -> gst_app::AppSrc {
    pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap()
}

/// The pipeline's `appsink name=sink`.
pub fn app_sink(pipeline: &gst::Pipeline) -> gst_app::AppSink {
    app_sink_named(pipeline, "sink")
}

/// The pipeline's `appsink name={name}`.
pub fn app_sink_named(pipeline: &gst::Pipeline, name: &str) -> gst_app::AppSink {
    pipeline
        .by_name(name)
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap()
}

/// A side-by-side pipeline's `appsink name=stock` and `appsink name=ours`.
pub fn stock_and_ours_sinks(pipeline: &gst::Pipeline) -> [gst_app::AppSink; 2] {
    ["stock", "ours"].map(|name| app_sink_named(pipeline, name))
}

/// Parse `desc` and set it playing; with `input`, feed `appsrc name=src`
/// those buffers (time format, given caps) and end the stream.
pub fn play(desc: &str, input: Option<(&gst::Caps, &[gst::Buffer])>) -> gst::Pipeline {
    init();
    let pipeline = gst::parse::launch(desc)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let src = input.map(|(caps, _)| {
        let src = pipeline
            .by_name("src")
            .unwrap()
            .downcast::<gst_app::AppSrc>()
            .unwrap();
        src.set_caps(Some(caps));
        src.set_format(gst::Format::Time);
        src
    });
    pipeline.set_state(gst::State::Playing).unwrap();
    if let (Some(src), Some((_, bufs))) = (src, input) {
        for b in bufs {
            src.push_buffer(b.clone()).unwrap();
        }
        src.end_of_stream().unwrap();
    }
    pipeline
}

/// Run a pipeline whose last element is `appsink name=sink`, optionally
/// feeding `appsrc name=src` with buffers; return the sink caps and buffers.
pub fn run_collect(
    desc: &str,
    input: Option<(&gst::Caps, &[gst::Buffer])>,
) -> (Option<gst::Caps>, Vec<gst::Buffer>) {
    let pipeline = play(desc, input);
    let sink = pipeline
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    let mut out = Vec::new();
    let mut caps = None;
    while let Ok(sample) = sink.pull_sample() {
        caps = sample.caps_owned().or(caps);
        push_sample_buffers(&sample, &mut out);
    }
    assert_no_bus_error(&pipeline, desc);
    pipeline.set_state(gst::State::Null).unwrap();
    (caps, out)
}

/// A sample's buffers (its list's, or its one buffer) onto `out`.
pub fn push_sample_buffers(sample: &gst::Sample, out: &mut Vec<gst::Buffer>) {
    if let Some(list) = sample.buffer_list() {
        out.extend(list.iter_owned());
    } else if let Some(b) = sample.buffer_owned() {
        out.push(b);
    }
}

/// Every buffer `sink` gets until EOS.
pub fn pull_buffers(sink: &gst_app::AppSink) -> Vec<gst::Buffer> {
    let mut out = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        push_sample_buffers(&sample, &mut out);
    }
    out
}

/// Panics with the pipeline's ERROR message, if it posted one.
pub fn assert_no_bus_error(pipeline: &gst::Pipeline, desc: &str) {
    let bus = pipeline.bus().unwrap();
    if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
        if let gst::MessageView::Error(e) = msg.view() {
            panic!("pipeline `{desc}` failed: {} ({:?})", e.error(), e.debug());
        }
    }
}

/// NAL units of an Annex-B buffer.
pub fn annexb_nals(data: &[u8]) -> Vec<Vec<u8>> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::new();
    for (k, &s) in starts.iter().enumerate() {
        let mut e = starts.get(k + 1).map(|n| n - 3).unwrap_or(data.len());
        while e > s && data[e - 1] == 0 {
            e -= 1;
        }
        if e > s {
            nals.push(data[s..e].to_vec());
        }
    }
    nals
}

pub fn buffers_nals(bufs: &[gst::Buffer]) -> Vec<Vec<u8>> {
    bufs.iter()
        .flat_map(|b| annexb_nals(&b.map_readable().unwrap()))
        .collect()
}

/// S16BE stereo 48 kHz raw audio caps (the panic tests' payloader input).
pub const PCM_CAPS: &str = "audio/x-raw,format=S16BE,layout=interleaved,rate=48000,channels=2";
/// L16 stereo 48 kHz RTP caps (the panic tests' depayloader input).
pub const RTP_L16_CAPS: &str =
    "application/x-rtp,media=audio,clock-rate=48000,encoding-name=L16,channels=2,payload=96";

/// 20 ms of S16BE stereo silence at PTS 0.
pub fn pcm_buffer() -> gst::Buffer {
    init();
    let mut b = gst::Buffer::from_mut_slice(vec![0u8; 3840]);
    b.get_mut().unwrap().set_pts(gst::ClockTime::ZERO);
    b
}

/// One L16 RTP packet (pt 96, seq 1) of 80 stereo frames of silence.
pub fn rtp_l16_packet() -> gst::Buffer {
    init();
    let mut v = vec![0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0x12, 0x34];
    v.extend_from_slice(&[0u8; 320]);
    gst::Buffer::from_mut_slice(v)
}

/// A harness around `factory` whose messages go to a bus of our own (a lone
/// element has no bus).
pub fn harness_with_bus(
    factory: &str,
    src_caps: &str,
    sink_caps: Option<&str>,
) -> (gst_check::Harness, gst::Bus) {
    init();
    let mut h = gst_check::Harness::new(factory);
    let bus = gst::Bus::new();
    h.element().unwrap().set_bus(Some(&bus));
    if let Some(c) = sink_caps {
        h.set_sink_caps_str(c);
    }
    h.set_src_caps_str(src_caps);
    (h, bus)
}

/// The first ERROR message waiting on `bus`: (error, debug).
pub fn bus_error(bus: &gst::Bus) -> Option<(String, String)> {
    while let Some(msg) = bus.pop() {
        if let gst::MessageView::Error(e) = msg.view() {
            return Some((
                e.error().to_string(),
                e.debug().map(|d| d.to_string()).unwrap_or_default(),
            ));
        }
    }
    None
}

/// An event as a consumer sees it: its type and content as text, caps as
/// caps (compared as caps: field order is free).
pub type SeenEvent = (String, Option<gst::Caps>);

/// The events that reach `sink` from now on (stream-start, caps, segment,
/// tags, gap, EOS, custom ones).
pub fn record_events(sink: &gst_app::AppSink) -> std::sync::Arc<std::sync::Mutex<Vec<SeenEvent>>> {
    use gst::prelude::*;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    sink.static_pad("sink").unwrap().add_probe(
        gst::PadProbeType::EVENT_DOWNSTREAM,
        move |_, info| {
            if let Some(ev) = info.event() {
                let entry = match ev.view() {
                    gst::EventView::Caps(c) => ("caps".to_string(), Some(c.caps_owned())),
                    gst::EventView::Segment(s) => (format!("segment {:?}", s.segment()), None),
                    gst::EventView::Tag(t) => (format!("tag {}", t.tag()), None),
                    gst::EventView::StreamStart(s) => {
                        (format!("stream-start {}", s.stream_id()), None)
                    }
                    gst::EventView::Gap(g) => {
                        let (ts, dur) = g.get();
                        (format!("gap {ts} {dur:?} {:?}", g.gap_flags()), None)
                    }
                    _ => (format!("{:?} {:?}", ev.type_(), ev.structure()), None),
                };
                log.lock().unwrap().push(entry);
            }
            gst::PadProbeReturn::Ok
        },
    );
    seen
}
