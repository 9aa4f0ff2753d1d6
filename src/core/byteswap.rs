//! Byte-swapping copies for raw audio (big-endian RTP L16/L24 <-> native
//! little-endian).
//!
//! Minimal scalar placeholder with the final API: the SIMD kernels land from
//! a parallel branch and replace this file at merge.

use super::simd::SimdLevel;

/// Copy `min(src.len(), dst.len())` bytes, swapping the bytes of every whole
/// 16-bit sample; a trailing odd byte is copied as is.
pub fn swap16_copy(_level: SimdLevel, src: &[u8], dst: &mut [u8]) {
    let n = src.len().min(dst.len());
    let (src, dst) = (&src[..n], &mut dst[..n]);
    let whole = n / 2 * 2;
    for (d, s) in dst[..whole]
        .chunks_exact_mut(2)
        .zip(src[..whole].chunks_exact(2))
    {
        d[0] = s[1];
        d[1] = s[0];
    }
    dst[whole..].copy_from_slice(&src[whole..]);
}

/// Copy `min(src.len(), dst.len())` bytes, reversing the bytes of every whole
/// 24-bit sample; a trailing partial sample is copied as is.
pub fn swap24_copy(_level: SimdLevel, src: &[u8], dst: &mut [u8]) {
    let n = src.len().min(dst.len());
    let (src, dst) = (&src[..n], &mut dst[..n]);
    let whole = n / 3 * 3;
    for (d, s) in dst[..whole]
        .chunks_exact_mut(3)
        .zip(src[..whole].chunks_exact(3))
    {
        d[0] = s[2];
        d[1] = s[1];
        d[2] = s[0];
    }
    dst[whole..].copy_from_slice(&src[whole..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_whole_samples_and_copies_the_tail() {
        let mut d = [0u8; 5];
        swap16_copy(SimdLevel::Scalar, &[1, 2, 3, 4, 5], &mut d);
        assert_eq!(d, [2, 1, 4, 3, 5]);
        let mut d = [0u8; 8];
        swap24_copy(SimdLevel::Scalar, &[1, 2, 3, 4, 5, 6, 7, 8], &mut d);
        assert_eq!(d, [3, 2, 1, 6, 5, 4, 7, 8]);
        // Only min(len) bytes.
        let mut d = [9u8; 4];
        swap16_copy(SimdLevel::Scalar, &[1, 2], &mut d);
        assert_eq!(d, [2, 1, 9, 9]);
    }
}
