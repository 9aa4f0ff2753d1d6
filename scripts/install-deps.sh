#!/usr/bin/env bash
# Install the packages rsrtpfast needs (Debian/Ubuntu).
#   scripts/install-deps.sh --demo   what building and running needs (make demo,
#                                    make build, the examples)
#   scripts/install-deps.sh          that plus the test toolchain (make test, CI)
set -euo pipefail
# Build and run: GStreamer's development files, the plugins the demo's
# pipelines use (x264enc: ugly, avdec_h264: libav), gst-launch/gst-inspect.
# The examples link the dev-dependencies: gstreamer-rtsp-server, and
# gstreamer-webrtc (plugins-bad's development files); webrtcbin needs
# libnice's plugin at run time.
PKGS="pkg-config libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-plugins-base
gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
gstreamer1.0-tools libgstrtspserver-1.0-dev libgstreamer-plugins-bad1.0-dev gstreamer1.0-nice"
FULL=1
[ "${1:-}" = "--demo" ] && FULL=0
if [ "$FULL" = 1 ]; then
  # meson build + install check, memcheck, a third-party RTP/RTSP client.
  PKGS="$PKGS meson ninja-build valgrind ffmpeg"
  # tests/udpsrc.rs: multicast inside a network namespace it creates (ip, unshare).
  PKGS="$PKGS iproute2 util-linux"
  # tests/founding_commands.rs runs the founding document's heaptrack command.
  PKGS="$PKGS heaptrack"
  # rtp_perf_compare --plot (plotters with ab_glyph): the TTF it draws text with.
  PKGS="$PKGS fonts-dejavu-core"
  # fuzz/: libFuzzer (built by cargo-fuzz) is C++; seed framing is python3.
  PKGS="$PKGS g++ python3"
fi
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
else
  echo "rsrtpfast: not a Debian/Ubuntu system; install GStreamer >= 1.22 development files," >&2
  echo "plugins base/good/bad/ugly/libav, gst tools, meson and ninja with your package manager." >&2
  exit 0
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null 2>&1 || { echo "rsrtpfast: cargo (Rust >= 1.95) is required: https://rustup.rs" >&2; exit 1; }
# fuzz/ (make fuzz-smoke, make fuzz): cargo-fuzz, pinned to the version
# checked with Rust 1.95 (it runs libFuzzer on stable with `-s none`).
if [ "$FULL" = 1 ] && ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "Installing cargo-fuzz"
  cargo install cargo-fuzz --version 0.13.2 --locked
fi
