#!/usr/bin/env bash
# Install the build and runtime packages rsrtpfast needs (Debian/Ubuntu).
set -euo pipefail
PKGS="pkg-config libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-plugins-base
gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
gstreamer1.0-tools meson ninja-build valgrind libgstrtspserver-1.0-dev ffmpeg"
# tests/founding_commands.rs runs the founding document's heaptrack command.
PKGS="$PKGS heaptrack"
# rtp_perf_compare --plot (plotters with ab_glyph): the TTF it draws text with.
PKGS="$PKGS fonts-dejavu-core"
# fuzz/: libFuzzer (built by cargo-fuzz) is C++; seed framing is python3.
PKGS="$PKGS g++ python3"
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
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "Installing cargo-fuzz"
  cargo install cargo-fuzz --version 0.13.2 --locked
fi
