//! Test media: generated once with stock GStreamer encoders, cached under
//! `target/rtp_perf_media/` as simple length-prefixed frames with timestamps.
//!
//! File layout (all integers little endian):
//! `b"RPM1"`, u32 caps-string length, caps string, then per frame:
//! u64 pts, u64 dts, u64 duration (u64::MAX = none), u32 flags (bit 0 = delta
//! unit), u32 length, payload bytes.

use gst::prelude::*;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 4] = b"RPM1";
const NONE: u64 = u64::MAX;

/// Which kind of input media a pair needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaKind {
    H264,
    H265,
    L16,
    L24,
    Opus,
    Mp2t,
    Vraw,
}

impl MediaKind {
    /// Cache file stem; bump the suffix when the generating pipeline changes.
    pub fn file_stem(self) -> &'static str {
        match self {
            MediaKind::H264 => "h264_1080p30_20M_snow.v1",
            MediaKind::H265 => "h265_1080p30_20M_snow.v1",
            MediaKind::L16 => "l16_48k_stereo_s16be.v1",
            MediaKind::L24 => "l24_48k_stereo_s24be.v1",
            MediaKind::Opus => "opus_48k_stereo_128k.v1",
            MediaKind::Mp2t => "mp2t_720p30_h264_8M_align7.v1",
            MediaKind::Vraw => "vraw_1080p_uyvp_snow.v2",
        }
    }

    /// Human description for the report.
    pub fn describe(self) -> &'static str {
        match self {
            MediaKind::H264 => {
                "H.264 1080p30 ~20 Mbit/s (x264 ultrafast zerolatency, snow), AU per buffer"
            }
            MediaKind::H265 => {
                "H.265 1080p30 ~20 Mbit/s (x265 ultrafast zerolatency, snow), AU per buffer"
            }
            MediaKind::L16 => "S16BE 48 kHz stereo, 20 ms per buffer (white noise)",
            MediaKind::L24 => "S24BE 48 kHz stereo, 20 ms per buffer (white noise)",
            MediaKind::Opus => "Opus 48 kHz stereo 128 kbit/s, 20 ms frames",
            MediaKind::Mp2t => "MPEG-TS (H.264 720p ~8 Mbit/s), 7 TS packets per buffer",
            MediaKind::Vraw => "raw video 1920x1080 UYVP (10-bit 4:2:2) 30 fps (snow)",
        }
    }

    /// The stock payloader that turns this media into RTP (for depayloader input).
    pub fn stock_payloader(self) -> &'static str {
        match self {
            MediaKind::H264 => "rtph264pay",
            MediaKind::H265 => "rtph265pay",
            MediaKind::L16 => "rtpL16pay",
            MediaKind::L24 => "rtpL24pay",
            MediaKind::Opus => "rtpopuspay",
            MediaKind::Mp2t => "rtpmp2tpay",
            MediaKind::Vraw => "rtpvrawpay",
        }
    }

    fn pipeline(self) -> String {
        let x264 = "x264enc bitrate=20000 tune=zerolatency speed-preset=ultrafast key-int-max=30";
        match self {
            MediaKind::H264 => format!(
                "videotestsrc pattern=snow num-buffers=90 \
                 ! video/x-raw,format=I420,width=1920,height=1080,framerate=30/1 \
                 ! {x264} ! video/x-h264,stream-format=byte-stream,alignment=au"
            ),
            MediaKind::H265 => "videotestsrc pattern=snow num-buffers=60 \
                 ! video/x-raw,format=I420,width=1920,height=1080,framerate=30/1 \
                 ! x265enc bitrate=20000 tune=zerolatency speed-preset=ultrafast key-int-max=30 \
                 ! video/x-h265,stream-format=byte-stream,alignment=au"
                .to_string(),
            MediaKind::L16 => "audiotestsrc wave=white-noise num-buffers=250 samplesperbuffer=960 \
                 ! audio/x-raw,format=S16BE,rate=48000,channels=2,layout=interleaved"
                .to_string(),
            MediaKind::L24 => "audiotestsrc wave=white-noise num-buffers=250 samplesperbuffer=960 \
                 ! audio/x-raw,format=S24BE,rate=48000,channels=2,layout=interleaved"
                .to_string(),
            MediaKind::Opus => "audiotestsrc wave=ticks num-buffers=500 samplesperbuffer=960 \
                 ! audio/x-raw,rate=48000,channels=2 ! opusenc bitrate=128000 frame-size=20"
                .to_string(),
            MediaKind::Mp2t => "videotestsrc pattern=snow num-buffers=60 \
                 ! video/x-raw,format=I420,width=1280,height=720,framerate=30/1 \
                 ! x264enc bitrate=8000 tune=zerolatency speed-preset=ultrafast key-int-max=30 \
                 ! h264parse ! mpegtsmux alignment=7"
                .to_string(),
            MediaKind::Vraw => "videotestsrc pattern=snow num-buffers=10 \
                 ! video/x-raw,format=UYVP,width=1920,height=1080,framerate=30/1"
                .to_string(),
        }
    }
}

/// One encoded frame (or audio/TS chunk) as the encoder produced it.
#[derive(Clone, Debug)]
pub struct Frame {
    pub pts: Option<u64>,
    pub dts: Option<u64>,
    pub duration: Option<u64>,
    pub delta: bool,
    pub data: Vec<u8>,
}

/// A cached media stream: exact appsink caps plus frames.
#[derive(Clone, Debug)]
pub struct Media {
    pub kind: MediaKind,
    pub caps: gst::Caps,
    pub frames: Vec<Frame>,
}

impl Media {
    /// Total payload bytes.
    pub fn bytes(&self) -> usize {
        self.frames.iter().map(|f| f.data.len()).sum()
    }

    /// Keep at most `n` frames (0 = all).
    pub fn truncate(&mut self, n: usize) {
        if n > 0 && self.frames.len() > n {
            self.frames.truncate(n);
        }
    }

    /// Time from the first frame's PTS to the end of the last frame; used to
    /// shift timestamps when the input is repeated.
    pub fn span_ns(&self) -> u64 {
        let first = self.frames.iter().find_map(|f| f.pts);
        let last = self
            .frames
            .iter()
            .rev()
            .find_map(|f| f.pts.map(|p| (p, f.duration)));
        match (first, last) {
            (Some(a), Some((b, d))) => {
                let step = d.unwrap_or_else(|| {
                    let n = self.frames.len().max(2) as u64 - 1;
                    (b - a) / n
                });
                b.saturating_sub(a) + step
            }
            _ => 0,
        }
    }
}

/// Cache directory: `$RTP_PERF_MEDIA_DIR`, else `<target>/rtp_perf_media`
/// where `<target>` is two levels above this executable (target/release/x).
pub fn default_cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("RTP_PERF_MEDIA_DIR") {
        return PathBuf::from(d);
    }
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().and_then(|p| p.parent()).map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("rtp_perf_media")
}

/// Load from the cache or generate (and cache) the media.
pub fn load_or_generate(kind: MediaKind, dir: &Path) -> Result<Media, String> {
    let path = dir.join(format!("{}.bin", kind.file_stem()));
    if let Ok(m) = read_file(kind, &path) {
        return Ok(m);
    }
    eprintln!(
        "generating {} media -> {}",
        kind.file_stem(),
        path.display()
    );
    let m = generate(kind)?;
    std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    // Write to a temp file and rename so concurrent runs never see half a file.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    write_file(&m, &tmp).map_err(|e| format!("write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("rename {}: {e}", path.display()))?;
    Ok(m)
}

fn generate(kind: MediaKind) -> Result<Media, String> {
    let desc = format!("{} ! appsink name=sink sync=false", kind.pipeline());
    let pipeline = gst::parse::launch(&desc)
        .map_err(|e| format!("parse '{desc}': {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_string())?;
    let sink = pipeline.by_name("sink").ok_or("no appsink")?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("{desc}: cannot play: {e}"))?;
    let mut caps = None;
    let mut frames = Vec::new();
    loop {
        let sample = sink.emit_by_name::<Option<gst::Sample>>("pull-sample", &[]);
        let Some(sample) = sample else { break };
        if caps.is_none() {
            caps = sample.caps().map(|c| c.to_owned());
        }
        let Some(buf) = sample.buffer() else { continue };
        let map = buf.map_readable().map_err(|e| e.to_string())?;
        frames.push(Frame {
            pts: buf.pts().map(|t| t.nseconds()),
            dts: buf.dts().map(|t| t.nseconds()),
            duration: buf.duration().map(|t| t.nseconds()),
            delta: buf.flags().contains(gst::BufferFlags::DELTA_UNIT),
            data: map.as_slice().to_vec(),
        });
    }
    // Surface pipeline errors (missing encoder etc.).
    let bus = pipeline.bus().ok_or("no bus")?;
    let err = bus
        .pop_filtered(&[gst::MessageType::Error])
        .and_then(|m| match m.view() {
            gst::MessageView::Error(e) => Some(format!("{} ({:?})", e.error(), e.debug())),
            _ => None,
        });
    let _ = pipeline.set_state(gst::State::Null);
    if let Some(e) = err {
        return Err(format!("generating {}: {e}", kind.file_stem()));
    }
    let caps = caps.ok_or_else(|| format!("generating {}: no samples", kind.file_stem()))?;
    if frames.is_empty() {
        return Err(format!("generating {}: no frames", kind.file_stem()));
    }
    Ok(Media { kind, caps, frames })
}

fn opt(v: Option<u64>) -> u64 {
    v.unwrap_or(NONE)
}

fn unopt(v: u64) -> Option<u64> {
    (v != NONE).then_some(v)
}

fn write_file(m: &Media, path: &Path) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(m.bytes() + m.frames.len() * 32 + 1024);
    out.extend_from_slice(MAGIC);
    let caps = m.caps.to_string();
    out.extend_from_slice(&(caps.len() as u32).to_le_bytes());
    out.extend_from_slice(caps.as_bytes());
    for f in &m.frames {
        out.extend_from_slice(&opt(f.pts).to_le_bytes());
        out.extend_from_slice(&opt(f.dts).to_le_bytes());
        out.extend_from_slice(&opt(f.duration).to_le_bytes());
        out.extend_from_slice(&(f.delta as u32).to_le_bytes());
        out.extend_from_slice(&(f.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&f.data);
    }
    let mut file = std::fs::File::create(path)?;
    file.write_all(&out)?;
    file.sync_all()
}

fn read_file(kind: MediaKind, path: &Path) -> Result<Media, String> {
    let mut data = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(|e| e.to_string())?;
    let mut r = Reader { d: &data, pos: 0 };
    if r.take(4)? != MAGIC {
        return Err("bad magic".into());
    }
    let clen = r.u32()? as usize;
    let caps_str = std::str::from_utf8(r.take(clen)?).map_err(|e| e.to_string())?;
    let caps = caps_str
        .parse::<gst::Caps>()
        .map_err(|e| format!("caps: {e}"))?;
    let mut frames = Vec::new();
    while r.pos < data.len() {
        let pts = unopt(r.u64()?);
        let dts = unopt(r.u64()?);
        let duration = unopt(r.u64()?);
        let flags = r.u32()?;
        let len = r.u32()? as usize;
        frames.push(Frame {
            pts,
            dts,
            duration,
            delta: flags & 1 != 0,
            data: r.take(len)?.to_vec(),
        });
    }
    if frames.is_empty() {
        return Err("empty".into());
    }
    Ok(Media { kind, caps, frames })
}

struct Reader<'a> {
    d: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).ok_or("overflow")?;
        let s = self.d.get(self.pos..end).ok_or("truncated file")?;
        self.pos = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
}
