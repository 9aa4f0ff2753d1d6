//! WebRTC with rsrtpfast: a `webrtcbin` sending H.264 payloaded by
//! `rtpfasth264pay` to a second `webrtcbin` that depayloads with
//! `rtpfasth264depay`, in one process over loopback. The offer/answer and
//! ICE candidates are handed across directly where a real application
//! would use its signalling channel.
//!
//! ```text
//! cargo run --release --example webrtc -- [--frames 150]
//! ```
//!
//! The sending side is what a browser-facing server uses: constrained
//! baseline H.264 (what every browser decodes), `config-interval=-1` so a
//! late joiner gets parameter sets with each keyframe, and
//! `aggregate-mode=zero-latency`. The SDP carries the payloader's
//! `profile-level-id` and `packetization-mode=1`; print it with `--sdp`.

use clap::Parser;
use gst::prelude::*;
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(about = "webrtcbin -> webrtcbin with rsrtpfast H.264 payloader/depayloader")]
pub struct Opts {
    /// Stop after this many decoded frames.
    #[arg(long, default_value_t = 150)]
    pub frames: u64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Print the offer's SDP.
    #[arg(long)]
    pub sdp: bool,
    /// Frame size.
    #[arg(long, default_value_t = 640)]
    pub width: u32,
    #[arg(long, default_value_t = 360)]
    pub height: u32,
}

/// What a run did.
#[derive(Debug)]
pub struct Outcome {
    pub decoded: u64,
    pub offer_sdp: String,
    /// The depayloader the receiver used.
    pub depayloader: String,
}

fn sender_launch(opts: &Opts) -> String {
    format!(
        "webrtcbin name=send bundle-policy=max-bundle \
         videotestsrc is-live=true pattern=ball \
         ! video/x-raw,width={},height={},framerate=30/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 \
         ! video/x-h264,profile=constrained-baseline \
         ! rtpfasth264pay pt=96 config-interval=-1 aggregate-mode=zero-latency \
         ! application/x-rtp,media=video,encoding-name=H264,payload=96 ! send.",
        opts.width, opts.height
    )
}

/// Run both peers until `opts.frames` frames are decoded (or the timeout).
pub fn run(opts: &Opts) -> Result<Outcome, String> {
    static INIT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    INIT.get_or_init(|| {
        gst::init().map_err(|e| e.to_string())?;
        gstrsrtpfast::plugin_register_static().map_err(|e| e.to_string())
    })
    .clone()?;
    for needed in ["webrtcbin", "nicesrc", "dtlsenc", "x264enc", "avdec_h264"] {
        if gst::ElementFactory::find(needed).is_none() {
            return Err(format!(
                "element {needed} missing (Debian: gstreamer1.0-plugins-bad, gstreamer1.0-nice, \
                 gstreamer1.0-plugins-ugly, gstreamer1.0-libav)"
            ));
        }
    }
    let pipeline = gst::parse::launch(&format!(
        "{} webrtcbin name=recv bundle-policy=max-bundle",
        sender_launch(opts)
    ))
    .map_err(|e| e.to_string())?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "not a pipeline")?;
    let send = pipeline.by_name("send").unwrap();
    let recv = pipeline.by_name("recv").unwrap();

    // ICE: each side's candidates go straight to the other.
    for (from, to) in [(&send, &recv), (&recv, &send)] {
        let to = to.downgrade();
        from.connect("on-ice-candidate", false, move |v| {
            let mline = v[1].get::<u32>().unwrap();
            let cand = v[2].get::<String>().unwrap();
            if let Some(to) = to.upgrade() {
                to.emit_by_name::<()>("add-ice-candidate", &[&mline, &cand]);
            }
            None
        });
    }

    // The receiver: whatever stream webrtcbin exposes goes through our
    // depayloader and a decoder into a counting sink.
    let (frame_tx, frame_rx) = mpsc::channel::<()>();
    let pipeline_weak = pipeline.downgrade();
    recv.connect_pad_added(move |_, pad| {
        let Some(pipeline) = pipeline_weak.upgrade() else {
            return;
        };
        if pad.direction() != gst::PadDirection::Src {
            return;
        }
        let bin = gst::parse::bin_from_description(
            "rtpfasth264depay name=depay ! avdec_h264 ! fakesink name=frames sync=false",
            true,
        )
        .expect("receiver bin");
        let tx = frame_tx.clone();
        let sink = bin.by_name("frames").unwrap();
        sink.static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                let _ = tx.send(());
                gst::PadProbeReturn::Ok
            });
        pipeline.add(&bin).unwrap();
        bin.sync_state_with_parent().unwrap();
        pad.link(&bin.static_pad("sink").unwrap()).unwrap();
    });

    // Offer from the sender when it needs one; the answer from the receiver.
    let (sdp_tx, sdp_rx) = mpsc::channel::<String>();
    let recv_weak = recv.downgrade();
    send.connect("on-negotiation-needed", false, move |v| {
        let send = v[0].get::<gst::Element>().unwrap();
        let recv = recv_weak.clone();
        let sdp_tx = sdp_tx.clone();
        let send_weak = send.downgrade();
        let promise = gst::Promise::with_change_func(move |reply| {
            let (Some(send), Some(recv)) = (send_weak.upgrade(), recv.upgrade()) else {
                return;
            };
            let Ok(Some(reply)) = reply else { return };
            let offer = reply
                .value("offer")
                .unwrap()
                .get::<gst_webrtc::WebRTCSessionDescription>()
                .unwrap();
            let _ = sdp_tx.send(offer.sdp().as_text().unwrap_or_default());
            send.emit_by_name::<()>("set-local-description", &[&offer, &None::<gst::Promise>]);
            recv.emit_by_name::<()>("set-remote-description", &[&offer, &None::<gst::Promise>]);
            let recv_weak = recv.downgrade();
            let send_weak = send.downgrade();
            let answer_promise = gst::Promise::with_change_func(move |reply| {
                let (Some(send), Some(recv)) = (send_weak.upgrade(), recv_weak.upgrade()) else {
                    return;
                };
                let Ok(Some(reply)) = reply else { return };
                let answer = reply
                    .value("answer")
                    .unwrap()
                    .get::<gst_webrtc::WebRTCSessionDescription>()
                    .unwrap();
                recv.emit_by_name::<()>("set-local-description", &[&answer, &None::<gst::Promise>]);
                send.emit_by_name::<()>(
                    "set-remote-description",
                    &[&answer, &None::<gst::Promise>],
                );
            });
            recv.emit_by_name::<()>("create-answer", &[&None::<gst::Structure>, &answer_promise]);
        });
        send.emit_by_name::<()>("create-offer", &[&None::<gst::Structure>, &promise]);
        None
    });

    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("PLAYING: {e}"))?;
    let bus = pipeline.bus().unwrap();
    let deadline = Instant::now() + Duration::from_secs(opts.timeout);
    let mut decoded = 0;
    let mut offer_sdp = String::new();
    let mut error = None;
    while decoded < opts.frames && Instant::now() < deadline {
        if let Ok(sdp) = sdp_rx.try_recv() {
            offer_sdp = sdp;
        }
        if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            error = Some(format!("{msg:?}"));
            break;
        }
        if frame_rx.recv_timeout(Duration::from_millis(50)).is_ok() {
            decoded += 1;
        }
    }
    if offer_sdp.is_empty() {
        offer_sdp = sdp_rx.try_recv().unwrap_or_default();
    }
    let depayloader = pipeline
        .by_name("depay")
        .and_then(|d| d.factory())
        .map(|f| f.name().to_string())
        .unwrap_or_default();
    let _ = pipeline.set_state(gst::State::Null);
    if let Some(e) = error {
        return Err(e);
    }
    Ok(Outcome {
        decoded,
        offer_sdp,
        depayloader,
    })
}

#[allow(dead_code)]
fn main() {
    let opts = Opts::parse();
    match run(&opts) {
        Ok(o) => {
            if opts.sdp {
                println!("offer:\n{}", o.offer_sdp);
            }
            println!(
                "decoded {} of {} frames sent over WebRTC (rtpfasth264pay -> {})",
                o.decoded, opts.frames, o.depayloader
            );
            if o.decoded < opts.frames {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("webrtc: {e}");
            std::process::exit(1);
        }
    }
}
