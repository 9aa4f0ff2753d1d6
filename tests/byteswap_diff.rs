//! Differential tests of the L16/L24 byte-swap kernels: every SIMD level
//! (and every level this CPU lacks, which must fall back) against the scalar
//! twins and an independent naive model, over all short lengths, lengths
//! around every block size, random lengths up to 10 KB, and unaligned
//! source/destination offsets 0..=31.
//!
//! Needs only std (seeded PRNG, no pipeline), so it also builds for other
//! architectures against the core alone.

use gstrsrtpfast::core::byteswap::{
    swap16_copy, swap16_copy_scalar, swap16_in_place, swap16_in_place_scalar, swap24_copy,
    swap24_copy_scalar, swap24_in_place, swap24_in_place_scalar,
};
use gstrsrtpfast::core::simd::SimdLevel;

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Sample width and its four entry points.
#[derive(Clone, Copy)]
struct Width {
    bytes: usize,
    copy: fn(SimdLevel, &[u8], &mut [u8]),
    in_place: fn(SimdLevel, &mut [u8]),
    copy_scalar: fn(&[u8], &mut [u8]),
    in_place_scalar: fn(&mut [u8]),
}

const W16: Width = Width {
    bytes: 2,
    copy: swap16_copy,
    in_place: swap16_in_place,
    copy_scalar: swap16_copy_scalar,
    in_place_scalar: swap16_in_place_scalar,
};
const W24: Width = Width {
    bytes: 3,
    copy: swap24_copy,
    in_place: swap24_in_place,
    copy_scalar: swap24_copy_scalar,
    in_place_scalar: swap24_in_place_scalar,
};

/// Independent model: reverse each whole sample, keep the partial tail.
fn naive(width: usize, src: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(src.len());
    let chunks = src.chunks_exact(width);
    let tail = chunks.remainder();
    for s in chunks {
        out.extend(s.iter().rev());
    }
    out.extend_from_slice(tail);
    out
}

/// Every level, runnable here or not: an unavailable one must fall back.
fn all_levels() -> [SimdLevel; 4] {
    SimdLevel::ALL
}

const GUARD: u8 = 0xA5;

/// Runs every level's copy and in-place swap of `data` with the source at
/// `src_off` and the destination at `dst_off` inside guard-filled buffers,
/// and checks them against the scalar twin and the naive model, including
/// that nothing outside the destination range is written.
fn check(w: Width, data: &[u8], src_off: usize, dst_off: usize) {
    let n = data.len();
    let want = naive(w.bytes, data);

    let mut sbuf = vec![GUARD; src_off + n + 64];
    sbuf[src_off..src_off + n].copy_from_slice(data);
    let src = &sbuf[src_off..src_off + n];

    let mut scalar = vec![0u8; n];
    (w.copy_scalar)(src, &mut scalar);
    assert_eq!(scalar, want, "scalar copy twin, n={n}");
    let mut scalar_ip = data.to_vec();
    (w.in_place_scalar)(&mut scalar_ip);
    assert_eq!(scalar_ip, want, "scalar in-place twin, n={n}");

    for level in all_levels() {
        let ctx = format!(
            "{}-bit {level:?} n={n} src_off={src_off} dst_off={dst_off}",
            w.bytes * 8
        );

        let mut dbuf = vec![GUARD; dst_off + n + 64];
        (w.copy)(level, src, &mut dbuf[dst_off..dst_off + n]);
        assert_eq!(&dbuf[dst_off..dst_off + n], &want[..], "copy {ctx}");
        assert!(
            dbuf[..dst_off].iter().all(|&b| b == GUARD),
            "copy wrote before dst, {ctx}"
        );
        assert!(
            dbuf[dst_off + n..].iter().all(|&b| b == GUARD),
            "copy wrote past dst, {ctx}"
        );

        let mut ibuf = vec![GUARD; dst_off + n + 64];
        ibuf[dst_off..dst_off + n].copy_from_slice(data);
        (w.in_place)(level, &mut ibuf[dst_off..dst_off + n]);
        assert_eq!(&ibuf[dst_off..dst_off + n], &want[..], "in place {ctx}");
        assert!(
            ibuf[..dst_off].iter().all(|&b| b == GUARD),
            "in place wrote before, {ctx}"
        );
        assert!(
            ibuf[dst_off + n..].iter().all(|&b| b == GUARD),
            "in place wrote past, {ctx}"
        );
    }
}

#[test]
fn lengths_0_to_200_every_offset() {
    let mut rng = Rng(0x5EED_0001);
    for w in [W16, W24] {
        for n in 0..=200 {
            let data = rng.bytes(n);
            for off in 0..=31 {
                // Each side swept on its own, the other at a varying offset.
                check(w, &data, off, (off * 7 + 3) % 32);
                check(w, &data, (off * 11 + 5) % 32, off);
            }
        }
    }
}

#[test]
fn lengths_around_every_block_size() {
    // Blocks are 16/32 bytes (16-bit) and 48/96 bytes (24-bit); the AVX2
    // kernels hand their remainder to SSE2 and then scalar.
    let mut rng = Rng(0x5EED_0002);
    for w in [W16, W24] {
        for block in [16usize, 32, 48, 64, 96, 192] {
            for k in 1..=12 {
                let base = block * k;
                for n in base.saturating_sub(4)..=base + 4 {
                    let data = rng.bytes(n);
                    check(w, &data, rng.below(32), rng.below(32));
                }
            }
        }
    }
}

#[test]
fn random_lengths_up_to_10k() {
    let mut rng = Rng(0x5EED_0003);
    for _ in 0..300 {
        let n = rng.below(10 * 1024 + 1);
        let data = rng.bytes(n);
        let (so, doff) = (rng.below(32), rng.below(32));
        check(W16, &data, so, doff);
        check(W24, &data, so, doff);
    }
}

#[test]
fn mismatched_lengths_touch_only_the_common_prefix() {
    let mut rng = Rng(0x5EED_0004);
    for w in [W16, W24] {
        for _ in 0..200 {
            let (ns, nd) = (rng.below(400), rng.below(400));
            let src = rng.bytes(ns);
            let n = ns.min(nd);
            let mut want = vec![GUARD; nd];
            want[..n].copy_from_slice(&naive(w.bytes, &src[..n]));
            for level in all_levels() {
                let mut dst = vec![GUARD; nd];
                (w.copy)(level, &src, &mut dst);
                assert_eq!(dst, want, "{}-bit {level:?} src={ns} dst={nd}", w.bytes * 8);
            }
        }
    }
}

#[test]
fn involution_and_in_place_equals_copy() {
    let mut rng = Rng(0x5EED_0005);
    for w in [W16, W24] {
        for n in (0..600).chain([3840, 5760, 4095, 4097, 10 * 1024]) {
            let data = rng.bytes(n);
            for level in all_levels() {
                let mut once = vec![0u8; n];
                (w.copy)(level, &data, &mut once);
                let mut twice = vec![0u8; n];
                (w.copy)(level, &once, &mut twice);
                assert_eq!(twice, data, "{}-bit {level:?} n={n} twice", w.bytes * 8);

                let mut ip = data.clone();
                (w.in_place)(level, &mut ip);
                assert_eq!(
                    ip,
                    once,
                    "{}-bit {level:?} n={n} in place vs copy",
                    w.bytes * 8
                );
                (w.in_place)(level, &mut ip);
                assert_eq!(
                    ip,
                    data,
                    "{}-bit {level:?} n={n} in place twice",
                    w.bytes * 8
                );
            }
        }
    }
}

#[test]
fn known_samples() {
    // S16BE 0x1234, 0xABCD -> S16LE; S24BE 0x123456, 0xABCDEF -> S24LE.
    let s16 = [0x12, 0x34, 0xAB, 0xCD, 0x77];
    let s24 = [0x12, 0x34, 0x56, 0xAB, 0xCD, 0xEF, 0x77, 0x88];
    // Long enough for every kernel's block: the pattern repeated.
    let long16: Vec<u8> = s16[..4].repeat(64);
    let long24: Vec<u8> = s24[..6].repeat(64);
    for level in all_levels() {
        let mut d = [0u8; 5];
        swap16_copy(level, &s16, &mut d);
        assert_eq!(d, [0x34, 0x12, 0xCD, 0xAB, 0x77], "{level:?}");
        let mut d = [0u8; 8];
        swap24_copy(level, &s24, &mut d);
        assert_eq!(
            d,
            [0x56, 0x34, 0x12, 0xEF, 0xCD, 0xAB, 0x77, 0x88],
            "{level:?}"
        );

        let mut d = long16.clone();
        swap16_in_place(level, &mut d);
        for s in d.chunks_exact(4) {
            assert_eq!(s, [0x34, 0x12, 0xCD, 0xAB], "{level:?}");
        }
        let mut d = long24.clone();
        swap24_in_place(level, &mut d);
        for s in d.chunks_exact(6) {
            assert_eq!(s, [0x56, 0x34, 0x12, 0xEF, 0xCD, 0xAB], "{level:?}");
        }
    }
}

#[test]
fn unavailable_levels_fall_back_correctly() {
    // On x86_64 this exercises NEON (never available), on aarch64 SSE2/AVX2,
    // and on an SSE2-only x86 CPU AVX2 too. A kernel run without its CPU
    // support would crash the test process (SIGILL), not just fail.
    let unavailable: Vec<SimdLevel> = SimdLevel::ALL
        .into_iter()
        .filter(|l| !l.is_available())
        .collect();
    assert!(!unavailable.is_empty(), "some level is always missing");
    let mut rng = Rng(0x5EED_0006);
    for level in unavailable {
        for n in [0, 1, 2, 3, 47, 48, 95, 96, 97, 1000, 3840, 5760] {
            let data = rng.bytes(n);
            for w in [W16, W24] {
                let mut d = vec![0u8; n];
                (w.copy)(level, &data, &mut d);
                assert_eq!(d, naive(w.bytes, &data), "{level:?} n={n}");
            }
        }
    }
}
