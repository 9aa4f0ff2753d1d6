//! Byte-order swaps for L16/L24 audio: 16-bit samples (S16BE <-> S16LE) and
//! packed 24-bit samples (S24BE <-> S24LE), with per-level kernels.
//!
//! `swap16_copy_scalar` / `swap24_copy_scalar` (and their in-place twins)
//! are the references; every vector kernel is tested to produce exactly what
//! they produce.
//!
//! Every entry point works on `n = min(src.len(), dst.len())` bytes: whole
//! samples are swapped, the bytes of a trailing incomplete sample are copied
//! unchanged. Nothing panics whatever the lengths.
//!
//! Kernel shape: a vector kernel swaps as many whole blocks as fit (a block
//! holds whole samples: 16/32 bytes for 16-bit, 48/60 bytes for 24-bit, so no
//! sample straddles two blocks) and returns how many bytes it did; the rest
//! goes to the next smaller kernel and finally to the scalar twin. Each block
//! is loaded before it is stored, which makes the same kernels correct for
//! `src == dst` (in place).
//!
//! Measured on an AMD EPYC (Zen, AVX2), `benches/rtp_suite.rs`, copy of
//! 20 ms of 48 kHz stereo, thread CPU time:
//!
//! ```text
//!                       off (scalar)   sse2     avx2
//! 16-bit, 3840 bytes      798 ns       81 ns    35 ns
//! 24-bit, 5760 bytes     1200 ns      282 ns   119 ns
//! ```
//!
//! So every level runs its own kernel; none loses to scalar.

use super::simd::SimdLevel;

/// Copy `src` into `dst` swapping the two bytes of every 16-bit sample.
pub fn swap16_copy(level: SimdLevel, src: &[u8], dst: &mut [u8]) {
    let n = src.len().min(dst.len());
    let (src, dst) = (&src[..n], &mut dst[..n]);
    // SAFETY: src is valid for n reads, dst for n writes, and a shared and a
    // mutable slice never overlap.
    let done = unsafe { swap16_blocks(runnable(level), src.as_ptr(), dst.as_mut_ptr(), n) };
    swap16_copy_scalar(&src[done..], &mut dst[done..]);
}

/// Copy `src` into `dst` reversing the three bytes of every 24-bit sample
/// (S24BE <-> S24LE, packed 3 bytes).
pub fn swap24_copy(level: SimdLevel, src: &[u8], dst: &mut [u8]) {
    let n = src.len().min(dst.len());
    let (src, dst) = (&src[..n], &mut dst[..n]);
    // SAFETY: as in `swap16_copy`.
    let done = unsafe { swap24_blocks(runnable(level), src.as_ptr(), dst.as_mut_ptr(), n) };
    swap24_copy_scalar(&src[done..], &mut dst[done..]);
}

/// [`swap16_copy`] in place.
pub fn swap16_in_place(level: SimdLevel, buf: &mut [u8]) {
    let p = buf.as_mut_ptr();
    // SAFETY: p is valid for buf.len() reads and writes; the kernels accept
    // src == dst.
    let done = unsafe { swap16_blocks(runnable(level), p, p, buf.len()) };
    swap16_in_place_scalar(&mut buf[done..]);
}

/// [`swap24_copy`] in place.
pub fn swap24_in_place(level: SimdLevel, buf: &mut [u8]) {
    let p = buf.as_mut_ptr();
    // SAFETY: as in `swap16_in_place`.
    let done = unsafe { swap24_blocks(runnable(level), p, p, buf.len()) };
    swap24_in_place_scalar(&mut buf[done..]);
}

/// Reference twin of [`swap16_copy`]: one sample at a time.
pub fn swap16_copy_scalar(src: &[u8], dst: &mut [u8]) {
    let n = src.len().min(dst.len());
    let whole = n - n % 2;
    for (d, s) in dst[..whole]
        .chunks_exact_mut(2)
        .zip(src[..whole].chunks_exact(2))
    {
        d[0] = s[1];
        d[1] = s[0];
    }
    dst[whole..n].copy_from_slice(&src[whole..n]);
}

/// Reference twin of [`swap24_copy`]: one sample at a time.
pub fn swap24_copy_scalar(src: &[u8], dst: &mut [u8]) {
    let n = src.len().min(dst.len());
    let whole = n - n % 3;
    for (d, s) in dst[..whole]
        .chunks_exact_mut(3)
        .zip(src[..whole].chunks_exact(3))
    {
        d[0] = s[2];
        d[1] = s[1];
        d[2] = s[0];
    }
    dst[whole..n].copy_from_slice(&src[whole..n]);
}

/// Reference twin of [`swap16_in_place`].
pub fn swap16_in_place_scalar(buf: &mut [u8]) {
    for s in buf.chunks_exact_mut(2) {
        s.swap(0, 1);
    }
}

/// Reference twin of [`swap24_in_place`].
pub fn swap24_in_place_scalar(buf: &mut [u8]) {
    for s in buf.chunks_exact_mut(3) {
        s.swap(0, 2);
    }
}

/// The level actually run for a request: an unavailable AVX2 steps down to
/// SSE2, anything else unavailable (NEON on x86, x86 levels on aarch64) to
/// scalar, so no unsupported instruction is ever executed.
fn runnable(level: SimdLevel) -> SimdLevel {
    match level {
        SimdLevel::Avx2 if !level.is_available() => runnable(SimdLevel::Sse2),
        l if l.is_available() => l,
        _ => SimdLevel::Scalar,
    }
}

/// Swaps the whole blocks `level` handles (its own, then the smaller x86
/// ones) and returns the bytes done, a multiple of 2.
///
/// # Safety
/// `level` must be runnable on this CPU; `src` valid for `n` reads, `dst`
/// for `n` writes; the two ranges are either identical or disjoint.
unsafe fn swap16_blocks(level: SimdLevel, src: *const u8, dst: *mut u8, n: usize) -> usize {
    match level {
        SimdLevel::Scalar => 0,
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller vouches `level` (SSE2) runs on this CPU and for
        // the pointer contract, which the kernel takes unchanged.
        SimdLevel::Sse2 => unsafe { x86::swap16_sse2(src, dst, n) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: AVX2 is runnable (caller), and AVX2 implies SSE2; the AVX2
        // kernel returns `done <= n`, so the SSE2 call gets the remaining
        // `n - done` bytes at the same offset in both ranges, still inside
        // them and identical or disjoint as the caller guaranteed.
        SimdLevel::Avx2 => unsafe {
            let done = x86::swap16_avx2(src, dst, n);
            done + x86::swap16_sse2(src.add(done), dst.add(done), n - done)
        },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: the caller vouches `level` (NEON) runs on this CPU and for
        // the pointer contract, which the kernel takes unchanged.
        SimdLevel::Neon => unsafe { neon::swap16_neon(src, dst, n) },
        #[allow(unreachable_patterns)]
        _ => 0,
    }
}

/// [`swap16_blocks`] for 24-bit samples; the bytes done are a multiple of 3.
///
/// # Safety
/// As for [`swap16_blocks`].
unsafe fn swap24_blocks(level: SimdLevel, src: *const u8, dst: *mut u8, n: usize) -> usize {
    match level {
        SimdLevel::Scalar => 0,
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller vouches `level` (SSE2) runs on this CPU and for
        // the pointer contract, which the kernel takes unchanged.
        SimdLevel::Sse2 => unsafe { x86::swap24_sse2(src, dst, n) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: AVX2 is runnable (caller), and AVX2 implies SSE2; the AVX2
        // kernel returns `done <= n`, so the SSE2 call gets the remaining
        // `n - done` bytes at the same offset in both ranges, still inside
        // them and identical or disjoint as the caller guaranteed.
        SimdLevel::Avx2 => unsafe {
            let done = x86::swap24_avx2(src, dst, n);
            done + x86::swap24_sse2(src.add(done), dst.add(done), n - done)
        },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: the caller vouches `level` (NEON) runs on this CPU and for
        // the pointer contract, which the kernel takes unchanged.
        SimdLevel::Neon => unsafe { neon::swap24_neon(src, dst, n) },
        #[allow(unreachable_patterns)]
        _ => 0,
    }
}

/// Per-byte source of a 24-bit reverse, by position in the stream modulo 3:
/// the first byte of a sample takes the byte 2 ahead, the middle keeps its
/// own, the last takes the byte 2 behind. `mask(phase)` has 0xFF at the
/// positions `k` (counted from a sample start) with `k % 3 == phase`.
#[cfg(target_arch = "x86_64")]
const fn phase_mask<const N: usize>(phase: usize) -> [u8; N] {
    let mut m = [0u8; N];
    let mut k = 0;
    while k < N {
        if k % 3 == phase {
            m[k] = 0xFF;
        }
        k += 1;
    }
    m
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::phase_mask;
    use std::arch::x86_64::*;

    /// Masks for a 48-byte block (3 x 16): byte takes from 2 ahead / 2 behind.
    const AHEAD48: [u8; 48] = phase_mask(0);
    const BEHIND48: [u8; 48] = phase_mask(2);

    /// 16-bit swap, 16 bytes at a time, shifts only (SSE2 has no byte shuffle).
    ///
    /// # Safety
    /// SSE2 must be available; pointer contract of `super::swap16_blocks`.
    #[target_feature(enable = "sse2")]
    pub(super) unsafe fn swap16_sse2(src: *const u8, dst: *mut u8, n: usize) -> usize {
        let mut i = 0;
        while i + 16 <= n {
            // SAFETY: i + 16 <= n keeps the 16-byte load and store in bounds;
            // the block is loaded before it is stored (in-place safe).
            unsafe {
                let v = _mm_loadu_si128(src.add(i).cast());
                let s = _mm_or_si128(_mm_slli_epi16::<8>(v), _mm_srli_epi16::<8>(v));
                _mm_storeu_si128(dst.add(i).cast(), s);
            }
            i += 16;
        }
        i
    }

    /// 16-bit swap, 32 bytes at a time with one in-lane byte shuffle.
    ///
    /// # Safety
    /// AVX2 must be available; pointer contract of `super::swap16_blocks`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn swap16_avx2(src: *const u8, dst: *mut u8, n: usize) -> usize {
        let shuf = _mm256_setr_epi8(
            1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14, //
            1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14,
        );
        let mut i = 0;
        // 128 bytes per turn: the loop overhead was 3 of 8 instructions
        // per 32 bytes (callgrind, 20 ms of S16 stereo: 967 -> ~560).
        while i + 128 <= n {
            // SAFETY: i + 128 <= n keeps the four loads and stores in
            // bounds; all four loads happen before the stores (in-place safe).
            unsafe {
                let v0 = _mm256_loadu_si256(src.add(i).cast());
                let v1 = _mm256_loadu_si256(src.add(i + 32).cast());
                let v2 = _mm256_loadu_si256(src.add(i + 64).cast());
                let v3 = _mm256_loadu_si256(src.add(i + 96).cast());
                _mm256_storeu_si256(dst.add(i).cast(), _mm256_shuffle_epi8(v0, shuf));
                _mm256_storeu_si256(dst.add(i + 32).cast(), _mm256_shuffle_epi8(v1, shuf));
                _mm256_storeu_si256(dst.add(i + 64).cast(), _mm256_shuffle_epi8(v2, shuf));
                _mm256_storeu_si256(dst.add(i + 96).cast(), _mm256_shuffle_epi8(v3, shuf));
            }
            i += 128;
        }
        while i + 32 <= n {
            // SAFETY: i + 32 <= n keeps the load and store in bounds; load
            // before store (in-place safe).
            unsafe {
                let v = _mm256_loadu_si256(src.add(i).cast());
                _mm256_storeu_si256(dst.add(i).cast(), _mm256_shuffle_epi8(v, shuf));
            }
            i += 32;
        }
        i
    }

    /// 24-bit reverse, 48 bytes (16 samples) at a time with byte shifts and
    /// masks: each output byte is the input byte 2 ahead, itself, or 2 behind.
    ///
    /// # Safety
    /// SSE2 must be available; pointer contract of `super::swap24_blocks`.
    #[target_feature(enable = "sse2")]
    pub(super) unsafe fn swap24_sse2(src: *const u8, dst: *mut u8, n: usize) -> usize {
        // SAFETY: the mask arrays are 48 bytes; unaligned loads.
        let (ahead, behind) = unsafe {
            let a = AHEAD48.as_ptr();
            let b = BEHIND48.as_ptr();
            (
                [0, 16, 32].map(|o| _mm_loadu_si128(a.add(o).cast())),
                [0, 16, 32].map(|o| _mm_loadu_si128(b.add(o).cast())),
            )
        };
        let mut i = 0;
        while i + 48 <= n {
            // SAFETY: i + 48 <= n keeps the three loads and stores in
            // bounds; all loads precede the stores (in-place safe).
            unsafe {
                let p = src.add(i);
                let v0 = _mm_loadu_si128(p.cast());
                let v1 = _mm_loadu_si128(p.add(16).cast());
                let v2 = _mm_loadu_si128(p.add(32).cast());
                // Byte k of `a*` is input byte k + 2, of `b*` byte k - 2
                // (bytes outside the block come in as zero and are masked).
                let a0 = _mm_or_si128(_mm_srli_si128::<2>(v0), _mm_slli_si128::<14>(v1));
                let a1 = _mm_or_si128(_mm_srli_si128::<2>(v1), _mm_slli_si128::<14>(v2));
                let a2 = _mm_srli_si128::<2>(v2);
                let b0 = _mm_slli_si128::<2>(v0);
                let b1 = _mm_or_si128(_mm_slli_si128::<2>(v1), _mm_srli_si128::<14>(v0));
                let b2 = _mm_or_si128(_mm_slli_si128::<2>(v2), _mm_srli_si128::<14>(v1));
                let pick = |v, a, b, ma, mb| {
                    // Middle bytes are neither "ahead" nor "behind".
                    let keep = _mm_andnot_si128(_mm_or_si128(ma, mb), v);
                    _mm_or_si128(
                        keep,
                        _mm_or_si128(_mm_and_si128(a, ma), _mm_and_si128(b, mb)),
                    )
                };
                let q = dst.add(i);
                _mm_storeu_si128(q.cast(), pick(v0, a0, b0, ahead[0], behind[0]));
                _mm_storeu_si128(q.add(16).cast(), pick(v1, a1, b1, ahead[1], behind[1]));
                _mm_storeu_si128(q.add(32).cast(), pick(v2, a2, b2, ahead[2], behind[2]));
            }
            i += 48;
        }
        i
    }

    /// 24-bit reverse with SSSE3 shuffles (AVX2 implies SSSE3), 60 bytes
    /// (20 samples) per turn: four 16-byte loads 15 bytes apart each hold
    /// five whole samples and the first byte of the next; one `pshufb`
    /// reverses the five and leaves that 16th byte as it was. The stores,
    /// 15 bytes apart and in order, each overwrite the previous one's 16th
    /// byte with its reversed value; the last one's 16th byte (the next
    /// block's first) is written back unchanged, so in place stays right.
    /// Measured with callgrind on 20 ms of S24 stereo (5,760 bytes): ~1,800
    /// instructions with the 96-byte alignr/blend scheme on 32-byte vectors,
    /// ~1,450 with this.
    ///
    /// # Safety
    /// AVX2 must be available; pointer contract of `super::swap24_blocks`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn swap24_avx2(src: *const u8, dst: *mut u8, n: usize) -> usize {
        let shuf = _mm_setr_epi8(2, 1, 0, 5, 4, 3, 8, 7, 6, 11, 10, 9, 14, 13, 12, 15);
        let mut i = 0;
        // 61: the last load reads byte i + 60 (written back unchanged).
        while i + 61 <= n {
            // SAFETY: i + 61 <= n keeps the four loads and stores (bytes i
            // .. i + 61) in bounds; all loads precede the stores, and the
            // one byte past the block is stored as it was loaded.
            unsafe {
                let p = src.add(i);
                let v0 = _mm_loadu_si128(p.cast());
                let v1 = _mm_loadu_si128(p.add(15).cast());
                let v2 = _mm_loadu_si128(p.add(30).cast());
                let v3 = _mm_loadu_si128(p.add(45).cast());
                let q = dst.add(i);
                _mm_storeu_si128(q.cast(), _mm_shuffle_epi8(v0, shuf));
                _mm_storeu_si128(q.add(15).cast(), _mm_shuffle_epi8(v1, shuf));
                _mm_storeu_si128(q.add(30).cast(), _mm_shuffle_epi8(v2, shuf));
                _mm_storeu_si128(q.add(45).cast(), _mm_shuffle_epi8(v3, shuf));
            }
            i += 60;
        }
        i
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use std::arch::aarch64::*;

    /// 16-bit swap, 16 bytes at a time (`rev16`).
    ///
    /// # Safety
    /// NEON must be available; pointer contract of `super::swap16_blocks`.
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn swap16_neon(src: *const u8, dst: *mut u8, n: usize) -> usize {
        let mut i = 0;
        while i + 16 <= n {
            // SAFETY: i + 16 <= n keeps the load and store in bounds; load
            // before store (in-place safe).
            unsafe { vst1q_u8(dst.add(i), vrev16q_u8(vld1q_u8(src.add(i)))) };
            i += 16;
        }
        i
    }

    /// 24-bit reverse, 48 bytes at a time: `ld3` splits the samples into
    /// first/middle/last byte planes, `st3` writes them back last-first.
    ///
    /// # Safety
    /// NEON must be available; pointer contract of `super::swap24_blocks`.
    #[target_feature(enable = "neon")]
    pub(super) unsafe fn swap24_neon(src: *const u8, dst: *mut u8, n: usize) -> usize {
        let mut i = 0;
        while i + 48 <= n {
            // SAFETY: i + 48 <= n keeps the 48-byte load and store in bounds;
            // load before store (in-place safe).
            unsafe {
                let v = vld3q_u8(src.add(i));
                vst3q_u8(dst.add(i), uint8x16x3_t(v.2, v.1, v.0));
            }
            i += 48;
        }
        i
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernels of `level` alone (no scalar tail): what they leave
    /// undone must be a whole number of samples short of one block.
    #[test]
    fn block_kernels_stop_on_sample_boundaries() {
        for level in SimdLevel::available_levels() {
            for n in 0..400usize {
                let src: Vec<u8> = (0..n).map(|i| i as u8).collect();
                let mut dst = vec![0u8; n];
                // SAFETY: level is available; distinct buffers of n bytes.
                let d16 = unsafe { swap16_blocks(level, src.as_ptr(), dst.as_mut_ptr(), n) };
                // SAFETY: as for `d16`: an available level, distinct buffers
                // of n bytes each.
                let d24 = unsafe { swap24_blocks(level, src.as_ptr(), dst.as_mut_ptr(), n) };
                assert!(d16 <= n && d16 % 2 == 0, "{level:?} n={n} d16={d16}");
                assert!(d24 <= n && d24 % 3 == 0, "{level:?} n={n} d24={d24}");
                if level != SimdLevel::Scalar {
                    assert!(n - d16 < 16, "{level:?} n={n} d16={d16}");
                    assert!(n - d24 < 48, "{level:?} n={n} d24={d24}");
                }
            }
        }
    }

    #[test]
    fn runnable_never_unavailable() {
        for level in SimdLevel::ALL {
            let r = runnable(level);
            assert!(r.is_available(), "{level:?} -> {r:?}");
            if level.is_available() {
                assert_eq!(r, level);
            }
        }
        #[cfg(target_arch = "x86_64")]
        assert_eq!(runnable(SimdLevel::Neon), SimdLevel::Scalar);
    }

    #[test]
    fn scalar_hand_made() {
        let mut d = [0u8; 5];
        swap16_copy_scalar(&[1, 2, 3, 4, 5], &mut d);
        assert_eq!(d, [2, 1, 4, 3, 5]);
        let mut d = [0u8; 8];
        swap24_copy_scalar(&[1, 2, 3, 4, 5, 6, 7, 8], &mut d);
        assert_eq!(d, [3, 2, 1, 6, 5, 4, 7, 8]);
        // Shorter dst: only min(len) bytes are touched.
        let mut d = [9u8; 3];
        swap16_copy_scalar(&[1, 2, 3, 4], &mut d);
        assert_eq!(d, [2, 1, 3]);
        let mut b = [1u8, 2, 3, 4, 5, 6, 7];
        swap24_in_place_scalar(&mut b);
        assert_eq!(b, [3, 2, 1, 6, 5, 4, 7]);
        let mut b = [1u8, 2, 3];
        swap16_in_place_scalar(&mut b);
        assert_eq!(b, [2, 1, 3]);
    }
}
