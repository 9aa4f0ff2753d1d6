//! Small statistics helpers: mean, sample standard deviation, Student-t 95%
//! confidence interval (quantile from `statrs`), percentiles.
//!
//! Kept by hand: mean / standard deviation / nearest-rank percentile are a
//! few lines each and defined for empty input as the report needs (statrs'
//! give NaN there, and its percentile interpolates instead of nearest-rank).

use statrs::distribution::{ContinuousCDF, StudentsT};

/// Arithmetic mean (0 for an empty slice).
pub fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// Sample standard deviation (n-1); 0 for fewer than two values.
pub fn stddev(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}

/// 97.5% quantile of Student's t with `df` degrees of freedom (the
/// half-width factor of a two-sided 95% interval).
fn t975(df: usize) -> f64 {
    if df == 0 {
        return f64::INFINITY;
    }
    StudentsT::new(0.0, 1.0, df as f64)
        .map(|t| t.inverse_cdf(0.975))
        .unwrap_or(f64::NAN)
}

/// Mean with a 95% t-interval: (mean, low, high). With one value the
/// interval is unbounded (reported as NaN-free infinities → clamp by caller).
pub fn mean_ci95(v: &[f64]) -> (f64, f64, f64) {
    let m = mean(v);
    if v.len() < 2 {
        return (m, f64::NAN, f64::NAN);
    }
    let half = t975(v.len() - 1) * stddev(v) / (v.len() as f64).sqrt();
    (m, m - half, m + half)
}

/// Nearest-rank percentile (p in 0..=100) of unsorted data.
pub fn percentile(v: &[u64], p: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    let mut s = v.to_vec();
    s.sort_unstable();
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_and_percentiles() {
        let v = [1.0, 2.0, 3.0, 4.0];
        let (m, lo, hi) = mean_ci95(&v);
        assert_eq!(m, 2.5);
        // t(0.975, df=3) = 3.18245 (tables).
        assert!((hi - m - 3.182_446 * stddev(&v) / 2.0).abs() < 1e-5);
        assert!((t975(1) - 12.706_2).abs() < 1e-3);
        assert!((t975(1000) - 1.962_3).abs() < 1e-3);
        assert!(lo < m);
        assert_eq!(percentile(&[5, 1, 3, 2, 4], 50.0), 3);
        assert_eq!(percentile(&[5, 1, 3, 2, 4], 99.0), 5);
    }
}
