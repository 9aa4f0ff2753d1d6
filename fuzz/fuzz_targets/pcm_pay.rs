//! Raw-audio packetizer (`core::pcm_packetizer`, L16/L24 payloaders):
//! arbitrary format, MTU room, ptime settings and input buffers (lengths,
//! PTS, DISCONT). Packets fit the room, are whole frames when the input is,
//! and no byte is lost or made up.
#![no_main]

use fuzz_input::Reader;
use gstrsrtpfast::core::pcm_packetizer::{packet_limits, PcmFormat, PcmPacketizer, PtimeSettings};
use libfuzzer_sys::fuzz_target;

/// Bytes all the buffers of one input may hold: bounds an execution's time.
const MAX_TOTAL: usize = 8 * 1024;

fn time(r: &mut Reader) -> i64 {
    // Small values (ms scale) most of the time, any value sometimes.
    match r.u8() % 4 {
        0 => 0,
        1 => r.u16() as i64 * 100_000,
        2 => r.u32() as i64,
        _ => (r.u64() >> 1) as i64,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let fmt = PcmFormat {
        frame_bytes: 1 + r.u8() as usize,
        clock_rate: 1 + r.u32() % i32::MAX as u32,
    };
    let room = r.u16() as usize;
    let flags = r.u8();
    let settings = PtimeSettings {
        min_ptime: time(&mut r),
        max_ptime: if flags & 1 != 0 { -1 } else { time(&mut r) },
        ptime: if flags & 2 != 0 {
            time(&mut r) as u64
        } else {
            0
        },
        ptime_multiple: time(&mut r),
    };
    let whole_frames = flags & 4 != 0;
    let limits = match packet_limits(fmt, room, settings) {
        Ok(l) => l,
        Err(e) => {
            assert!(room < fmt.frame_bytes, "refused with room: {e}");
            return;
        }
    };
    assert!(room >= fmt.frame_bytes);
    assert!(limits.align > 0 && limits.align % fmt.frame_bytes == 0);
    assert!(1 <= limits.min && limits.min <= limits.max && limits.max <= room);
    assert!(limits.align <= limits.max);

    let mut p = PcmPacketizer::new();
    let mut out = Vec::new();
    let (mut total_in, mut total_out) = (0usize, 0usize);
    while !r.is_empty() {
        let mut len = r.u16() as usize;
        if whole_frames {
            len -= len % fmt.frame_bytes;
        }
        if total_in + len > MAX_TOTAL {
            break;
        }
        let bits = r.u8();
        let pts = (bits & 1 != 0).then(|| r.u64());
        let discont = bits & 2 != 0;
        total_in += len;
        out.clear();
        if bits & 4 != 0 && bits & 8 != 0 {
            p.flush(fmt, &mut out);
        } else {
            p.push(fmt, &limits, len, pts, discont, &mut out);
        }
        if bits & 4 != 0 && bits & 8 != 0 {
            total_in -= len;
        }
        for plan in &out {
            assert!(plan.len > 0, "empty packet");
            assert!(plan.len <= limits.max, "{} > max {}", plan.len, limits.max);
            if whole_frames {
                assert_eq!(plan.len % fmt.frame_bytes, 0, "partial frame");
            }
            total_out += plan.len;
        }
        assert!(p.available() < limits.min || p.available() == 0);
        assert_eq!(total_out + p.available(), total_in, "bytes lost or made up");
    }
    out.clear();
    p.flush(fmt, &mut out);
    total_out += out.iter().map(|plan| plan.len).sum::<usize>();
    assert_eq!(total_out, total_in);
    assert_eq!(p.available(), 0);
});
