//! SIMD kernels against their scalar twins on arbitrary bytes, at every
//! level this CPU runs, at every alignment: start-code scan
//! (`core::startcode`, and the NAL-unit splitter over it) and 16/24-bit
//! byte swaps (`core::byteswap`, copy and in place); and level selection.
#![no_main]

use fuzz_input::{simd_levels, Reader};
use gstrsrtpfast::core::simd::{resolve_with, SimdLevel};
use gstrsrtpfast::core::{byteswap, startcode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut r = Reader::new(data);
    // Shift the slice start so kernels see every alignment.
    let skip = r.u8() as usize % 64;
    let body = r.rest();
    let body = &body[skip.min(body.len())..];
    let levels = simd_levels();
    assert_eq!(levels[0], SimdLevel::Scalar);

    let want = startcode::find_start_code_scalar(body);
    assert_eq!(startcode::find_start_code_memmem(body), want, "memmem");
    let want_nals: Vec<_> = startcode::nal_units(body, SimdLevel::Scalar).collect();
    for w in want_nals.windows(2) {
        assert!(w[0].end < w[1].start);
    }
    for nal in &want_nals {
        assert!(!nal.is_empty() && nal.end <= body.len() && body[nal.end - 1] != 0);
    }
    let mut swapped16 = vec![0u8; body.len()];
    let mut swapped24 = vec![0u8; body.len()];
    byteswap::swap16_copy_scalar(body, &mut swapped16);
    byteswap::swap24_copy_scalar(body, &mut swapped24);
    for (i, (&a, &b)) in body.iter().zip(&swapped16).enumerate() {
        let whole = body.len() - body.len() % 2;
        let expect = if i < whole { body[i ^ 1] } else { a };
        assert_eq!(b, expect, "scalar swap16 at {i}");
    }
    // Every level (and, beyond the CPU's, the portable fallback a level it
    // cannot run gets).
    for level in SimdLevel::ALL {
        assert_eq!(
            startcode::find_start_code(body, level),
            want,
            "{level:?} start code"
        );
        let nals: Vec<_> = startcode::nal_units(body, level).collect();
        assert_eq!(nals, want_nals, "{level:?} NAL units");

        let mut out = vec![0xa5u8; body.len()];
        byteswap::swap16_copy(level, body, &mut out);
        assert_eq!(out, swapped16, "{level:?} swap16_copy");
        let mut out = vec![0xa5u8; body.len()];
        byteswap::swap24_copy(level, body, &mut out);
        assert_eq!(out, swapped24, "{level:?} swap24_copy");
        let mut buf = body.to_vec();
        byteswap::swap16_in_place(level, &mut buf);
        assert_eq!(buf, swapped16, "{level:?} swap16_in_place");
        let mut buf = body.to_vec();
        byteswap::swap24_in_place(level, &mut buf);
        assert_eq!(buf, swapped24, "{level:?} swap24_in_place");
        // Shorter destination: only min(src, dst) bytes are written.
        let n = body.len() / 2;
        let mut out = vec![0xa5u8; n];
        byteswap::swap24_copy(level, body, &mut out);
        let mut want_short = vec![0xa5u8; n];
        byteswap::swap24_copy_scalar(&body[..n], &mut want_short);
        assert_eq!(out, want_short, "{level:?} swap24_copy short dst");
    }
    let mut buf = body.to_vec();
    byteswap::swap16_in_place_scalar(&mut buf);
    assert_eq!(buf, swapped16);
    let mut buf = body.to_vec();
    byteswap::swap24_in_place_scalar(&mut buf);
    assert_eq!(buf, swapped24);

    // Level selection (`simd` property / RSRTPFAST_SIMD): whatever is asked
    // for, the level used runs on this CPU.
    let nick = String::from_utf8_lossy(&body[..body.len().min(16)]);
    if let Some(level) = SimdLevel::from_nick(&nick) {
        assert_eq!(SimdLevel::from_nick(level.nick()), Some(level));
    }
    for requested in [None, SimdLevel::from_nick(&nick)] {
        let (level, _) = resolve_with(requested, Some(&nick));
        assert!(level.is_available(), "{level:?} resolved but not runnable");
    }
});
