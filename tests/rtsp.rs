//! gst-rtsp-server serving our payloader (`name=pay0`), in process on a free
//! localhost port, played by three clients: rtspsrc (frames decoded),
//! FFmpeg's RTSP client (exits 0 having decoded frames), and a small raw
//! RTSP client over interleaved TCP that checks the PLAY response's
//! RTP-Info (`seq`, `rtptime`, which the server reads from the payloader)
//! against the first RTP packet. The same checks run on rtph264pay first,
//! so a failure on ours is a difference from stock.

mod common;
#[path = "common/rtsp_server.rs"]
mod rtsp_server;
use common::*;
use gst::prelude::*;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Serve `pay` (as `pay0`) behind a live H.264 source.
fn start(pay: &str) -> rtsp_server::Server {
    init();
    rtsp_server::start(&format!(
        "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10 ! {pay} name=pay0 pt=96 )"
    ))
}

const PAYS: [&str; 2] = ["rtph264pay", "rtpfasth264pay"];

fn rtspsrc_receives_frames(pay: &str) {
    let server = start(pay);
    let desc = format!(
        "rtspsrc location={} protocols=tcp latency=0 ! rtph264depay ! video/x-h264,stream-format=byte-stream,alignment=au ! tee name=t ! queue ! avdec_h264 ! appsink name=sink sync=false max-buffers=100 drop=true t. ! queue ! appsink name=es sync=false max-buffers=100 drop=true",
        server.url
    );
    let pipeline = gst::parse::launch(&desc)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sink = common::app_sink(&pipeline);
    let es = pipeline
        .by_name("es")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut decoded = 0;
    let mut vcl = 0;
    let mut caps = None;
    // A live stream: stop once 5 frames are decoded and slices were seen.
    while decoded < 5 || vcl == 0 {
        assert!(
            Instant::now() < deadline,
            "{pay}: only {decoded} frames, {vcl} slices"
        );
        if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            panic!("{pay}: rtspsrc pipeline error: {msg:?}");
        }
        if let Some(s) = sink.try_pull_sample(gst::ClockTime::from_mseconds(100)) {
            caps = s.caps_owned();
            decoded += 1;
        }
        // The elementary stream carries slices.
        while let Some(s) = es.try_pull_sample(gst::ClockTime::ZERO) {
            let b = s.buffer().unwrap();
            vcl += annexb_nals(&b.map_readable().unwrap())
                .iter()
                .filter(|n| Codec::H264.is_vcl(n))
                .count();
        }
    }
    let caps = caps.unwrap();
    let st = caps.structure(0).unwrap();
    assert_eq!(st.name(), "video/x-raw");
    assert_eq!(
        (
            st.get::<i32>("width").unwrap(),
            st.get::<i32>("height").unwrap()
        ),
        (320, 240),
        "{pay}: decoded frame size"
    );
    assert!(vcl > 0, "{pay}: slices received");
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn rtspsrc_plays_our_payloader() {
    for pay in PAYS {
        rtspsrc_receives_frames(pay);
    }
}

fn ffmpeg_decodes(pay: &str) {
    let server = start(pay);
    let mut child = std::process::Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-hide_banner",
            "-rtsp_transport",
            "tcp",
            "-i",
            &server.url,
            "-frames:v",
            "5",
            "-f",
            "null",
            "-",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ffmpeg installed (scripts/install-deps.sh)");
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{pay}: ffmpeg did not finish: {}", reader.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = reader.join().unwrap();
    assert!(status.success(), "{pay}: ffmpeg failed ({status}):\n{log}");
    assert!(
        log.contains("Stream #0:0") && log.contains("h264"),
        "{pay}: ffmpeg saw no H.264 stream:\n{log}"
    );
    // The progress line ends with the frame count: "frame=    5 ...".
    let frames = log
        .rsplit("frame=")
        .next()
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0);
    assert!(frames >= 5, "{pay}: ffmpeg decoded {frames} frames:\n{log}");
}

#[test]
fn ffmpeg_plays_our_payloader() {
    for pay in PAYS {
        ffmpeg_decodes(pay);
    }
}

/// A minimal RTSP client over one TCP connection.
struct Rtsp {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    cseq: u32,
}

struct Response {
    status: u32,
    headers: HashMap<String, String>,
    body: String,
}

impl Rtsp {
    fn connect(port: i32) -> Rtsp {
        let s = TcpStream::connect(("127.0.0.1", port as u16)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Rtsp {
            writer: s.try_clone().unwrap(),
            reader: BufReader::new(s),
            cseq: 0,
        }
    }

    fn request(&mut self, method: &str, url: &str, headers: &[(&str, &str)]) -> Response {
        self.cseq += 1;
        let mut req = format!("{method} {url} RTSP/1.0\r\nCSeq: {}\r\n", self.cseq);
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("User-Agent: rsrtpfast-test\r\n\r\n");
        self.writer.write_all(req.as_bytes()).unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status: u32 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{method}: bad status line {line:?}"));
        let mut headers = HashMap::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').unwrap();
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
        assert_eq!(
            headers.get("cseq").map(String::as_str),
            Some(self.cseq.to_string().as_str()),
            "{method}: CSeq"
        );
        let len: usize = headers
            .get("content-length")
            .map(|v| v.parse().unwrap())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        self.reader.read_exact(&mut body).unwrap();
        Response {
            status,
            headers,
            body: String::from_utf8(body).unwrap(),
        }
    }

    /// The next interleaved packet on `channel` (others are skipped).
    fn interleaved(&mut self, channel: u8) -> Vec<u8> {
        loop {
            let mut hdr = [0u8; 4];
            self.reader.read_exact(&mut hdr).unwrap();
            assert_eq!(hdr[0], b'$', "interleaved frame expected");
            let len = u16::from_be_bytes([hdr[2], hdr[3]]) as usize;
            let mut data = vec![0u8; len];
            self.reader.read_exact(&mut data).unwrap();
            if hdr[1] == channel {
                return data;
            }
        }
    }
}

/// The PLAY response's RTP-Info (seq, rtptime) and the first RTP packet's
/// (seq, timestamp).
fn rtp_info_and_first_packet(pay: &str) -> ((u16, u32), (u16, u32)) {
    let server = start(pay);
    let url = server.url.clone();
    let mut c = Rtsp::connect(server.port);
    assert_eq!(c.request("OPTIONS", &url, &[]).status, 200);
    let d = c.request("DESCRIBE", &url, &[("Accept", "application/sdp")]);
    assert_eq!(d.status, 200, "DESCRIBE");
    assert!(d.body.contains("H264/90000"), "SDP: {}", d.body);
    let control = d
        .body
        .lines()
        .skip_while(|l| !l.starts_with("m=video"))
        .find_map(|l| l.strip_prefix("a=control:"))
        .expect("media control")
        .trim()
        .to_string();
    let setup_url = if control.starts_with("rtsp://") {
        control
    } else {
        let base = d
            .headers
            .get("content-base")
            .cloned()
            .unwrap_or(format!("{url}/"));
        format!("{}{control}", base)
    };
    let s = c.request(
        "SETUP",
        &setup_url,
        &[("Transport", "RTP/AVP/TCP;unicast;interleaved=0-1")],
    );
    assert_eq!(s.status, 200, "SETUP");
    let session = s.headers["session"].split(';').next().unwrap().to_string();
    let p = c.request("PLAY", &url, &[("Session", &session), ("Range", "npt=0-")]);
    assert_eq!(p.status, 200, "PLAY");
    let info = p
        .headers
        .get("rtp-info")
        .expect("RTP-Info in PLAY response");
    let field = |name: &str| -> u64 {
        info.split([';', ','])
            .find_map(|kv| kv.trim().strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in RTP-Info {info:?}"))
            .parse()
            .unwrap()
    };
    let rtp_info = (field("seq") as u16, field("rtptime") as u32);
    let pkt = c.interleaved(0);
    let p = rtp_types::RtpPacket::parse(&pkt).expect("RTP on channel 0");
    assert_eq!(p.payload_type(), 96);
    (rtp_info, (p.sequence_number(), p.timestamp()))
}

#[test]
fn rtp_info_matches_first_packet() {
    for pay in PAYS {
        let (info, first) = rtp_info_and_first_packet(pay);
        eprintln!("{pay}: RTP-Info seq/rtptime {info:?}, first packet {first:?}");
        assert_eq!(
            info, first,
            "{pay}: RTP-Info (seq, rtptime) vs first RTP packet"
        );
    }
}
