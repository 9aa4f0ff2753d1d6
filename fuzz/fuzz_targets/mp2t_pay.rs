//! MP2T packetizer (`core::mp2t::Packer`, RFC 2250): arbitrary MTU room,
//! max-ptime and input buffers (lengths, PTS, durations). Packets are whole
//! TS packets within the room, and every byte queued leaves exactly once
//! (drain gives back the partial tail).
#![no_main]

use fuzz_input::Reader;
use gstrsrtpfast::core::mp2t::{Limits, PackError, Packer, TS_PACKET_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    let room = r.u16() as usize;
    let max_ptime = match r.u8() % 3 {
        0 => -1,
        1 => r.u32() as i64,
        _ => r.u64() as i64,
    };
    let limits = Limits::new(room, max_ptime);
    let mut packer = Packer::new();
    let mut out = Vec::new();
    let (mut total_in, mut total_out) = (0usize, 0usize);
    while !r.is_empty() {
        // Mostly whole TS packets, as muxers send; any length sometimes.
        let bits = r.u8();
        let len = if bits & 1 != 0 {
            r.u8() as usize % 8 * TS_PACKET_LEN
        } else {
            r.u16() as usize
        };
        let pts = (bits & 2 != 0).then(|| r.u64());
        let duration = (bits & 4 != 0).then(|| r.u32() as u64);
        out.clear();
        match packer.push(limits, len, pts, duration, &mut out) {
            Ok(()) => total_in += len,
            Err(PackError::MtuTooSmall { room: r }) => {
                assert!(r < TS_PACKET_LEN && out.is_empty());
                return;
            }
        }
        for plan in &out {
            assert!(
                plan.len > 0 && plan.len % TS_PACKET_LEN == 0,
                "len {}",
                plan.len
            );
            assert!(plan.len <= room, "{} over room {room}", plan.len);
            total_out += plan.len;
        }
        assert_eq!(
            total_out + packer.pending(),
            total_in,
            "bytes lost or made up"
        );
    }
    out.clear();
    let rest = packer.drain(limits, &mut out);
    total_out += out.iter().map(|p| p.len).sum::<usize>();
    assert!(rest < TS_PACKET_LEN || room < TS_PACKET_LEN);
    assert_eq!(total_out + rest, total_in);
    assert_eq!(packer.pending(), 0);
});
