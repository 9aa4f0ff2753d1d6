//! Small statistics helpers: mean, sample standard deviation, Student-t 95%
//! confidence interval, percentiles.

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

/// Two-sided 97.5% quantile of Student's t with `df` degrees of freedom.
fn t975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => T[df - 1],
        31..=60 => 2.000,
        61..=120 => 1.980,
        _ => 1.960,
    }
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
        assert!((hi - m - 3.182 * stddev(&v) / 2.0).abs() < 1e-9);
        assert!(lo < m);
        assert_eq!(percentile(&[5, 1, 3, 2, 4], 50.0), 3);
        assert_eq!(percentile(&[5, 1, 3, 2, 4], 99.0), 5);
    }
}
