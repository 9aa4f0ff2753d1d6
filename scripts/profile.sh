#!/usr/bin/env bash
# Heap profile of each H.264/H.265 element, stock and ours: valgrind massif
# (peak heap) and heaptrack (allocation calls, its own peak), plus
# rtp_perf_compare (small config) for resident bytes per stream and its own
# malloc-interposer count. Prints one table.
#
#   usage: scripts/profile.sh [frames_small] [frames_large]     (make profile)
#
# How, and why this way:
# - rtp_perf_compare runs stock, ours (and identity) of a pair in one process,
#   so a tool that watches a whole process cannot tell the elements apart.
#   massif and heaptrack therefore run one gst-launch-1.0 process per element,
#   fed with the benchmark's own cached media (target/rtp_perf_media, 1080p
#   ~20 Mbit/s, MTU 1400; rtp_perf_compare generates it on first use):
#     payloader:   filesrc ! parse ! ELEMENT mtu=1400 ! fakesink
#     depayloader: filesrc ! parse ! rtphXXXpay mtu=1400 ! ELEMENT ! fakesink
#   and the same pipeline without ELEMENT as the baseline.
# - allocations per packet = heaptrack allocation calls, run with
#   frames_large minus run with frames_small (start-up cancels), minus the
#   same difference of the baseline pipeline, divided by the extra RTP packets.
# - peak heap = massif's peak (mem_heap_B) over the frames_large run, and the
#   growth over the baseline pipeline's peak. malloc heap only: our pool's
#   slabs are mmap'd, so they show up in "resident B/stream", not here.
# - resident B/stream and allocs/packet (interposer) come from one
#   rtp_perf_compare run: --rounds 1 --frames frames_large --min-packets 2000.
# G_SLICE=always-malloc throughout: with GLib 2.74 slices would otherwise
# hide GstBuffer/GstMemory allocations from every tool.
set -euo pipefail
cd "$(dirname "$0")/.."
FS=${1:-${PROFILE_FRAMES_SMALL:-10}}
FL=${2:-${PROFILE_FRAMES:-60}}
STREAMS=${PROFILE_STREAMS:-50}
[ "$FL" -gt "$FS" ] || { echo "profile: frames_large ($FL) must be > frames_small ($FS)" >&2; exit 2; }

# Tools: valgrind and heaptrack from apt when missing (as install-deps.sh does).
need=()
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
command -v heaptrack >/dev/null 2>&1 && command -v heaptrack_print >/dev/null 2>&1 || need+=(heaptrack)
command -v gst-launch-1.0 >/dev/null 2>&1 || need+=(gstreamer1.0-tools)
if [ ${#need[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "Installing: ${need[*]}" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "profile: please install ${need[*]}" >&2; exit 1
  fi
fi
perl -MJSON::PP -e1 2>/dev/null || { echo "profile: perl with JSON::PP is required" >&2; exit 1; }

cargo build --release --quiet --lib --bin rtp_perf_compare
export G_SLICE=always-malloc
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
TARGET=$(cargo metadata --format-version 1 --no-deps 2>/dev/null \
  | perl -MJSON::PP -0ne 'print decode_json($_)->{target_directory}')
TARGET=${TARGET:-$PWD/target}

# 1. rtp_perf_compare, small config (also makes sure the media cache exists).
echo "profile: rtp_perf_compare (small config) ..." >&2
env -u GST_PLUGIN_PATH GST_REGISTRY="$WORK/registry-compare.bin" \
  "$TARGET/release/rtp_perf_compare" --only h264pay,h264depay,h265pay,h265depay \
  --rounds 1 --frames "$FL" --min-packets 2000 --streams "$STREAMS" --format json \
  >"$WORK/compare.json" 2>"$WORK/compare.err" || { cat "$WORK/compare.err" >&2; exit 1; }
# element -> "allocs_per_packet resident_bytes_per_stream"
compare_field() {
  perl -MJSON::PP -0e '
    my ($file, $el) = @ARGV; open my $f, "<", $file or die; local $/; my $j = decode_json(<$f>);
    for my $p (@{$j->{pairs}}) { for my $r (qw(stock ours)) { my $c = $p->{$r} or next;
      next unless $c->{element} eq $el;
      printf "%s %s\n", $c->{allocs_per_packet} // "-", $c->{resident_bytes_per_stream} // "-"; exit } }
    print "- -\n";' "$WORK/compare.json" "$1"
}

# 2. Elementary streams cut from the benchmark's media (length-prefixed RPM1).
MEDIA="$TARGET/rtp_perf_media"
cut_media() { # in, frames, out
  perl -e '
    my ($in, $n, $out) = @ARGV; open my $f, "<:raw", $in or die "$in: $!"; local $/; my $d = <$f>;
    substr($d, 0, 4) eq "RPM1" or die "$in: not an RPM1 media file\n";
    my $o = 8 + unpack("V", substr($d, 4, 4)); my $k = 0; open my $w, ">:raw", $out or die;
    while ($o + 32 <= length($d) && $k < $n) { my $l = unpack("V", substr($d, $o + 28, 4));
      print $w substr($d, $o + 32, $l); $o += 32 + $l; $k++ }
    close $w; print "$k\n";' "$1" "$2" "$3"
}

export GST_REGISTRY="$WORK/registry.bin" GST_PLUGIN_PATH="$TARGET/release"
gst-inspect-1.0 rtpfasth264pay >/dev/null || { echo "profile: plugin not found in $TARGET/release" >&2; exit 1; }

pipeline() { # codec es_file element(optional) depay(0/1)
  local c=$1 es=$2 el=$3 depay=$4
  local p="filesrc location=$es ! ${c}parse ! video/x-${c},stream-format=byte-stream,alignment=au"
  if [ "$depay" = 1 ]; then p="$p ! rtp${c}pay mtu=1400"; [ -n "$el" ] && p="$p ! $el"
  else [ -n "$el" ] && p="$p ! $el mtu=1400"; fi
  echo "$p ! fakesink"
}
heaptrack_run() { # tag, pipeline -> "allocation_calls peak_text"
  local tag=$1; shift
  heaptrack -o "$WORK/ht.$tag" gst-launch-1.0 -q $1 >/dev/null 2>&1 || true
  local f; f=$(ls "$WORK"/ht."$tag".* 2>/dev/null | head -1)
  [ -n "$f" ] || { echo "- -"; return; }
  heaptrack_print "$f" 2>/dev/null | awk '
    /^calls to allocation functions:/ { calls = $5 }
    /^peak heap memory consumption:/ { peak = $5 }
    END { print (calls == "" ? "-" : calls), (peak == "" ? "-" : peak) }'
}
massif_peak() { # tag, pipeline -> bytes
  local tag=$1; shift
  valgrind --tool=massif --massif-out-file="$WORK/ms.$tag" gst-launch-1.0 -q $1 >/dev/null 2>&1 || true
  grep -s mem_heap_B "$WORK/ms.$tag" | cut -d= -f2 | sort -n | tail -1 || echo 0
}
packets() { # codec es_file -> RTP packets the stock payloader makes (ours makes the same)
  gst-launch-1.0 -v $(pipeline "$1" "$2" "rtp${1}pay" 0 | sed 's/fakesink$/fakesink silent=false/') 2>/dev/null \
    | grep -c "last-message = chain" || true
}
kib() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1024 }'; }

declare -A ROW
for c in h264 h265; do
  stem=$(ls "$MEDIA"/${c}_*.bin 2>/dev/null | head -1)
  [ -n "$stem" ] || { echo "profile: no $c media in $MEDIA" >&2; exit 1; }
  nl=$(cut_media "$stem" "$FL" "$WORK/$c.large.es")
  ns=$(cut_media "$stem" "$FS" "$WORK/$c.small.es")
  [ "$nl" -gt "$ns" ] || { echo "profile: $c media has only $nl frames" >&2; exit 1; }
  pl=$(packets "$c" "$WORK/$c.large.es"); ps=$(packets "$c" "$WORK/$c.small.es")
  dp=$((pl - ps))
  [ "$dp" -gt 0 ] || { echo "profile: no $c packets counted" >&2; exit 1; }
  echo "profile: $c: $ns/$nl frames, $ps/$pl RTP packets; heaptrack + massif per element ..." >&2
  for depay in 0 1; do
    base_tag="$c.base$depay"
    read -r bcs _ < <(heaptrack_run "$base_tag.s" "$(pipeline "$c" "$WORK/$c.small.es" "" $depay)")
    read -r bcl _ < <(heaptrack_run "$base_tag.l" "$(pipeline "$c" "$WORK/$c.large.es" "" $depay)")
    bpeak=$(massif_peak "$base_tag" "$(pipeline "$c" "$WORK/$c.large.es" "" $depay)")
    if [ $depay = 1 ]; then kind=depay; else kind=pay; fi
    for el in "rtp${c}${kind}" "rtpfast${c}${kind}"; do
      read -r cs _ < <(heaptrack_run "$el.s" "$(pipeline "$c" "$WORK/$c.small.es" "$el" $depay)")
      read -r cl hpeak < <(heaptrack_run "$el.l" "$(pipeline "$c" "$WORK/$c.large.es" "$el" $depay)")
      peak=$(massif_peak "$el" "$(pipeline "$c" "$WORK/$c.large.es" "$el" $depay)")
      read -r capp cres < <(compare_field "$el")
      apkt=$(awk -v a="$cs" -v b="$cl" -v x="$bcs" -v y="$bcl" -v n="$dp" 'BEGIN {
        if (a == "-" || b == "-" || x == "-" || y == "-") print "-";
        else printf "%.2f", ((b - a) - (y - x)) / n }')
      ROW[$el]=$(printf "| %-17s | %5s | %8s | %+8s | %9s | %9s | %10s | %8s |" \
        "$el" "$( [[ $el == rtpfast* ]] && echo ours || echo stock )" "$(kib "$peak")" \
        "$(kib $((peak - bpeak)))" "$hpeak" "$apkt" "$capp" \
        "$(awk -v r="$cres" 'BEGIN { if (r == "-") print "-"; else printf "%.0f", r }')")
    done
  done
done

cat <<EOF

rsrtpfast heap profile — $(gst-launch-1.0 --gst-version 2>/dev/null | head -1), G_SLICE=always-malloc,
H.264/H.265 1080p ~20 Mbit/s (rtp_perf_compare media), MTU 1400, frames $FS vs $FL, $(date -u +%Y-%m-%dT%H:%MZ)

| element           |  who  | peak KiB | +KiB vs  | heaptrack | allocs/pkt | allocs/pkt | resident |
|                   |       | (massif) | baseline | peak      | heaptrack  | interposer | B/stream |
|-------------------|-------|----------|----------|-----------|------------|------------|----------|
EOF
for c in h264 h265; do
  for el in rtp${c}pay rtpfast${c}pay rtp${c}depay rtpfast${c}depay; do echo "${ROW[$el]}"; done
done
cat <<EOF

peak / +KiB: massif peak heap of gst-launch-1.0 (filesrc ! parse [! stock pay] ! ELEMENT ! fakesink,
  $FL frames) and its growth over the same pipeline without ELEMENT; malloc heap only (our pool's
  mmap'd slabs are not heap: see resident). heaptrack peak: same run under heaptrack.
allocs/pkt heaptrack: extra allocation calls per extra RTP packet ($FL vs $FS frames), baseline
  pipeline's subtracted. interposer: rtp_perf_compare's own count in its pad-to-pad rig (contiguous
  single-memory input packets). resident: rtp_perf_compare RSS growth per stream, $STREAMS streams.
EOF
