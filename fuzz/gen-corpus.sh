#!/usr/bin/env bash
# Seed corpora for the fuzz targets, made from real streams: the stock
# GStreamer encoders and payloaders (gst-plugins-good/bad/ugly) write RTP
# packets and elementary-stream buffers, and gen_seeds.py frames them in
# each target's input format (see fuzz/src/lib.rs). Generated, not
# committed: fuzz/corpus/<target>/. A pipeline whose element is missing is
# skipped with a note (its targets then start from the other seeds).
set -euo pipefail
cd "$(dirname "$0")"
out=corpus
raw=$(mktemp -d)
trap 'rm -rf "$raw"' EXIT
export GST_REGISTRY="$raw/registry.bin"

run() { # name, pipeline...
  local name=$1
  shift
  if ! gst-launch-1.0 -q "$@" >/dev/null 2>"$raw/$name.err"; then
    echo "gen-corpus: skipped $name ($(head -c 200 "$raw/$name.err"))" >&2
  fi
}

mkdir -p "$raw"/{h264_es,h265_es,opus_es,ts_es}
VIDEO="videotestsrc num-buffers=24 pattern=ball ! video/x-raw,width=160,height=96,framerate=30/1"
AUDIO="audiotestsrc num-buffers=12 wave=ticks samplesperbuffer=960"

# RTP packets, RFC 4571 framed (16-bit length + packet): the targets' framing.
run h264 $VIDEO ! x264enc key-int-max=8 tune=zerolatency speed-preset=ultrafast ! \
  rtph264pay mtu=300 config-interval=-1 ! rtpstreampay ! filesink location="$raw/h264.rtp"
run h264_stap $VIDEO ! x264enc key-int-max=8 speed-preset=ultrafast ! \
  rtph264pay mtu=1400 aggregate-mode=max-stap ! rtpstreampay ! filesink location="$raw/h264_stap.rtp"
run h265 $VIDEO ! x265enc key-int-max=8 speed-preset=ultrafast ! \
  rtph265pay mtu=300 config-interval=-1 ! rtpstreampay ! filesink location="$raw/h265.rtp"
run h265_ap $VIDEO ! x265enc key-int-max=8 speed-preset=ultrafast ! \
  rtph265pay mtu=1400 aggregate-mode=max ! rtpstreampay ! filesink location="$raw/h265_ap.rtp"
run l16 $AUDIO ! audio/x-raw,format=S16BE,channels=2,rate=44100 ! rtpL16pay ! \
  rtpstreampay ! filesink location="$raw/l16.rtp"
run l24 $AUDIO ! audio/x-raw,format=S24BE,channels=2,rate=48000 ! rtpL24pay ! \
  rtpstreampay ! filesink location="$raw/l24.rtp"
run opus $AUDIO ! audio/x-raw,rate=48000,channels=2 ! opusenc dtx=true ! rtpopuspay ! \
  rtpstreampay ! filesink location="$raw/opus.rtp"
run mp2t $VIDEO ! x264enc key-int-max=8 speed-preset=ultrafast ! mpegtsmux ! rtpmp2tpay ! \
  rtpstreampay ! filesink location="$raw/mp2t.rtp"
for fmt in RGB RGBA BGR BGRA AYUV UYVY I420 Y41B UYVP; do
  run "vraw_$fmt" videotestsrc num-buffers=2 ! video/x-raw,format=$fmt,width=64,height=18 ! \
    rtpvrawpay mtu=400 ! rtpstreampay ! filesink location="$raw/vraw_$fmt.rtp"
done

# Elementary-stream buffers (one file each) for the packetizer targets.
run h264_es $VIDEO ! x264enc key-int-max=8 speed-preset=ultrafast ! h264parse ! \
  video/x-h264,stream-format=byte-stream,alignment=au ! multifilesink location="$raw/h264_es/%05d"
run h265_es $VIDEO ! x265enc key-int-max=8 speed-preset=ultrafast ! h265parse ! \
  video/x-h265,stream-format=byte-stream,alignment=au ! multifilesink location="$raw/h265_es/%05d"
run opus_es $AUDIO ! audio/x-raw,rate=48000,channels=2 ! opusenc dtx=true ! \
  multifilesink location="$raw/opus_es/%05d"
run ts_es $VIDEO ! x264enc key-int-max=8 speed-preset=ultrafast ! mpegtsmux ! \
  multifilesink location="$raw/ts_es/%05d"

python3 gen_seeds.py "$raw" "$out"
echo "gen-corpus: $(find "$out" -type f | wc -l) seeds in fuzz/$out"
