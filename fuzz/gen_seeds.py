#!/usr/bin/env python3
"""Frame the stock elements' output (gen-corpus.sh) as seeds for each fuzz
target, in the input format its source reads (settings, then body; see
fuzz/src/lib.rs and fuzz/fuzz_targets/*.rs)."""
import os
import struct
import sys

raw, out = sys.argv[1], sys.argv[2]
count = 0


def seed(target, name, data):
    global count
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
    count += 1


def packets(name):
    """RTP packets of an RFC 4571 stream written by rtpstreampay."""
    path = os.path.join(raw, name + ".rtp")
    if not os.path.exists(path):
        return []
    data = open(path, "rb").read()
    pkts, at = [], 0
    while at + 2 <= len(data):
        n = struct.unpack(">H", data[at:at + 2])[0]
        pkts.append(data[at + 2:at + 2 + n])
        at += 2 + n
    return pkts


def buffers(name):
    d = os.path.join(raw, name)
    if not os.path.isdir(d):
        return []
    return [open(os.path.join(d, f), "rb").read() for f in sorted(os.listdir(d))]


def framed(pkts):
    return b"".join(struct.pack(">H", len(p)) + p for p in pkts)


def groups(pkts, size):
    for i in range(0, len(pkts), size):
        yield i, pkts[i:i + size]


def chunk(b):
    return struct.pack(">H", len(b)) + b


def nal_units(au):
    """Annex-B access unit -> NAL units (start codes dropped)."""
    nals, i, start = [], 0, None
    while i + 3 <= len(au):
        if au[i:i + 3] == b"\0\0\1":
            if start is not None:
                nals.append(au[start:i].rstrip(b"\0"))
            start = i + 3
            i += 3
        else:
            i += 1
    if start is not None:
        nals.append(au[start:])
    return [n for n in nals if n]


# RTP header parser: single packets of every format.
for src in ["h264", "h265", "l16", "l24", "opus", "mp2t", "vraw_UYVY", "vraw_I420"]:
    for i, p in enumerate(packets(src)[:24]):
        seed("rtp_parse", f"{src}-{i}", p)

# NAL depacketizers: runs of packets under several settings (bit 0
# avc/hvc1, bit 1 AU alignment, bit 2 wait-for-keyframe).
for codec in ["h264", "h265"]:
    for src in [codec, codec + ("_stap" if codec == "h264" else "_ap")]:
        for i, g in groups(packets(src), 24):
            for flags in [0x02, 0x03, 0x00, 0x06]:
                seed(f"{codec}_depay", f"{src}-{i}-{flags:02x}", bytes([flags]) + framed(g))

# NAL packetizers: access units with MTU / aggregate / config-interval /
# framing settings.
for codec, fu in [("h264", 2), ("h265", 3)]:
    aus = buffers(codec + "_es")
    for mtu in [1400, 300, 100]:
        for flags in [0x00, 0x01, 0x02, 0x08, 0x0c, 0x70, 0x72]:
            body = b""
            for au in aus[:6]:
                if flags & 0x10:
                    au = b"".join(struct.pack(">I", len(n)) + n for n in nal_units(au))
                if len(au) > 0xffff:
                    continue
                body += chunk(au) + bytes([1])
            extra = bytes([1]) if flags & 0x0c == 0x0c else b""
            head = struct.pack(">H", mtu - 12 - fu - 1) + bytes([flags]) + extra
            seed(f"{codec}_pay", f"mtu{mtu}-{flags:02x}", head + body)

# Raw audio depacketizer: L16 44.1 kHz stereo / L24 48 kHz stereo caps as
# strings, then the packets.
for src, fmt, rate in [("l16", 0, b"44100"), ("l24", 1, b"48000")]:
    for order in [b"", b"DV.LRLsRs"]:
        head = bytes([fmt]) + chunk(rate) + chunk(b"2") + chunk(order)
        # payload None; clock-rate = strings[0]; encoding-params = strings[1];
        # channels absent; channel-order = strings[2] when set.
        head += bytes([0, 3, 0, 3, 1, 0, 2 if order else 0])
        for i, g in groups(packets(src), 8):
            seed("pcm_depay", f"{src}-{order.decode() or 'none'}-{i}", head + framed(g))

# Raw audio packetizer: the stock source's buffers (960 frames) with PTS.
for frame, rate in [(4, 44100), (6, 48000), (2, 8000)]:
    for flags, times in [(0x05, b"\0\0"), (0x04, b"\1\0\x32\0\1\0\x0a\0")]:
        head = bytes([frame - 1]) + struct.pack(">IH", rate - 1, 1400 - 12)
        head += bytes([flags]) + times
        body = b""
        for n in range(12):
            pts = n * 960 * 1_000_000_000 // rate
            body += struct.pack(">HBQ", 960 * frame, 1, pts)
        seed("pcm_pay", f"f{frame}-r{rate}-{flags:02x}", head + body)

# MP2T: depacketizer packets; packetizer with the muxer's buffer sizes.
for i, g in groups(packets("mp2t"), 16):
    seed("mp2t_depay", f"mp2t-{i}", bytes([0]) + framed(g))
ts = buffers("ts_es")
for room in [1400 - 12, 188, 1316]:
    body = b""
    for n, b in enumerate(ts[:40]):
        body += bytes([0x06]) + struct.pack(">HQI", len(b), n * 33_333_333, 33_333_333)
    seed("mp2t_pay", f"room{room}", struct.pack(">H", room) + bytes([0]) + body)

# Opus: depacketizer caps (the stock payloader's, and a 5.1 MULTIOPUS);
# payloader with the encoder's packet sizes, DTX on and off.
opus_fields = [
    (1, 0x30, [b"", b"", b"", b"", b"1", b"48000"]),
    (1, 0x10, [b"", b"", b"", b"", b"0", b""]),
    (2, 0x0f, [b"6", b"4", b"2", b"0,4,1,2,3,5", b"", b""]),
]
for i, (enc, present, vals) in enumerate(opus_fields):
    seed("opus_depay", f"caps-{i}", bytes([enc, present]) + b"".join(chunk(v) for v in vals))
sizes = [len(b) for b in buffers("opus_es")]
for dtx in [0, 1]:
    for ch in [1, 2, 6]:
        head = bytes([1, ch, 0, 0, 0, 2]) + struct.pack(">I", 48000) + bytes([1])
        body = b"".join(struct.pack(">HB", s, dtx) for s in sizes[:64])
        seed("opus_pay", f"ch{ch}-dtx{dtx}", head + body)

# Raw video: depacketizer packets under their caps; payloader settings of
# each sampling.
samplings = ["RGB", "RGBA", "BGR", "BGRA", "AYUV", "UYVY", "I420", "Y41B", "UYVP"]
for idx, fmt in enumerate(samplings):
    pkts = packets("vraw_" + fmt)
    for i, g in groups(pkts, 12):
        head = bytes([idx, 0]) + struct.pack(">HH", 64 - 1, 18 - 1) + bytes([0])
        seed("vraw_depay", f"{fmt}-{i}", head + framed(g))
    fill = b"".join(p[12:] for p in pkts[:4])[:4096]
    for inter in [0, 1]:
        for mtu, w, h in [(1400, 64, 18), (400, 320, 24), (1500, 17, 5)]:
            head = bytes([idx, inter]) + struct.pack(">HBB", mtu, 0, 1)
            head += struct.pack(">II", w - 1, h - 1) + bytes([0])
            seed("vraw_pay", f"{fmt}-{inter}-{mtu}-{w}x{h}", head + fill)

# SIMD kernels: encoded video (start codes) and audio samples, misaligned.
for i, au in enumerate(buffers("h264_es")[:8] + buffers("h265_es")[:8]):
    seed("simd_kernels", f"es-{i}", bytes([i % 64]) + au[:8192])
for i, p in enumerate(packets("l24")[:4]):
    seed("simd_kernels", f"l24-{i}", bytes([i]) + p[12:])

print(f"gen_seeds: {count} seeds")
