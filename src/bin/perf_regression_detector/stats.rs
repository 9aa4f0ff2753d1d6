//! Statistics for the detector: medians and the Mann–Whitney U test
//! (exact distribution for small samples without ties, normal approximation
//! with tie and continuity correction otherwise; the normal tail from
//! `statrs`).
//!
//! The U test itself is kept by hand: no maintained crate offers the exact
//! small-sample distribution with one-sided p-values and tie correction
//! (statrs has the distributions, not the test); it is unit-tested below
//! against known values.

/// Median of `xs` (NaN-free); None when empty.
pub fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// One-sided Mann–Whitney U test results for samples `a` (baseline) and `b`
/// (current).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MannWhitney {
    /// U statistic of `b`: how many (a, b) pairs have b > a (ties count 1/2).
    pub u_current: f64,
    /// P(values of `b` are stochastically *larger*), i.e. current slower.
    pub p_slower: f64,
    /// P(values of `b` are stochastically *smaller*), i.e. current faster.
    pub p_faster: f64,
    pub exact: bool,
}

/// Largest sample sizes for which the exact null distribution is computed.
const EXACT_MAX: usize = 30;

pub fn mann_whitney(a: &[f64], b: &[f64]) -> Option<MannWhitney> {
    let (n1, n2) = (a.len(), b.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    // Pool, sort, rank with average ranks for ties.
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, false))
        .chain(b.iter().map(|&x| (x, true)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let n = all.len();
    let mut rank_sum_b = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i + 1;
        while j < n && all[j].0 == all[i].0 {
            j += 1;
        }
        let t = (j - i) as f64;
        let avg_rank = (i + 1 + j) as f64 / 2.0;
        rank_sum_b += avg_rank * all[i..j].iter().filter(|x| x.1).count() as f64;
        tie_term += t * t * t - t;
        i = j;
    }
    let u_b = rank_sum_b - (n2 * (n2 + 1)) as f64 / 2.0;
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    if tie_term == 0.0 && n1 <= EXACT_MAX && n2 <= EXACT_MAX {
        let dist = exact_u_distribution(n1, n2);
        let total: f64 = dist.iter().sum();
        let u = u_b.round() as usize;
        let p_ge: f64 = dist[u..].iter().sum::<f64>() / total;
        let p_le: f64 = dist[..=u].iter().sum::<f64>() / total;
        return Some(MannWhitney {
            u_current: u_b,
            p_slower: p_ge.min(1.0),
            p_faster: p_le.min(1.0),
            exact: true,
        });
    }
    let mean = n1f * n2f / 2.0;
    let nf = n as f64;
    let var = n1f * n2f / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)));
    if var <= 0.0 {
        // Every value identical: no evidence either way.
        return Some(MannWhitney {
            u_current: u_b,
            p_slower: 1.0,
            p_faster: 1.0,
            exact: false,
        });
    }
    let sd = var.sqrt();
    let z_slower = (u_b - mean - 0.5) / sd;
    let z_faster = (u_b - mean + 0.5) / sd;
    Some(MannWhitney {
        u_current: u_b,
        p_slower: normal_sf(z_slower),
        p_faster: normal_cdf(z_faster),
        exact: false,
    })
}

/// Counts of U = 0..=n1*n2 under the null hypothesis (no ties).
fn exact_u_distribution(n1: usize, n2: usize) -> Vec<f64> {
    // f[i][j][u]: arrangements of i a's and j b's with U(b) = u; adding a `b`
    // last adds i (it beats every a), adding an `a` last adds 0.
    let max = n1 * n2;
    let mut prev: Vec<Vec<f64>> = vec![vec![0.0; max + 1]; n2 + 1];
    // i = 0: only b's, U = 0.
    for row in prev.iter_mut() {
        row[0] = 1.0;
    }
    for i in 1..=n1 {
        let mut cur: Vec<Vec<f64>> = vec![vec![0.0; max + 1]; n2 + 1];
        cur[0][0] = 1.0;
        for j in 1..=n2 {
            for u in 0..=max {
                let mut c = prev[j][u];
                if u >= i {
                    c += cur[j - 1][u - i];
                }
                cur[j][u] = c;
            }
        }
        prev = cur;
    }
    prev.swap_remove(n2)
}

/// Standard normal CDF.
pub fn normal_cdf(z: f64) -> f64 {
    statrs::function::erf::erfc(-z / std::f64::consts::SQRT_2) / 2.0
}

/// Standard normal survival function, 1 - CDF, accurate in the tail.
pub fn normal_sf(z: f64) -> f64 {
    statrs::function::erf::erfc(z / std::f64::consts::SQRT_2) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn normal_tails() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_sf(1.959_964) - 0.025).abs() < 1e-6);
        assert!((normal_sf(-1.959_964) - 0.975).abs() < 1e-6);
        assert!((normal_sf(4.0) - 3.167e-5).abs() < 1e-8);
    }

    #[test]
    fn exact_distribution_sums_to_binomial() {
        let d = exact_u_distribution(4, 3);
        assert_eq!(d.iter().sum::<f64>(), 35.0); // C(7,3)
        assert_eq!(d.len(), 13);
        // Symmetric around n1*n2/2.
        for u in 0..=12 {
            assert_eq!(d[u], d[12 - u]);
        }
    }

    #[test]
    fn completely_separated_small_samples() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        let b = [6.0, 7.0, 8.0, 9.0, 10.0];
        let r = mann_whitney(&a, &b).unwrap();
        assert!(r.exact);
        assert_eq!(r.u_current, 25.0);
        // 1 / C(10,5)
        assert!((r.p_slower - 1.0 / 252.0).abs() < 1e-12);
        assert!((r.p_faster - 1.0).abs() < 1e-12);
    }

    #[test]
    fn identical_samples_are_not_significant() {
        let a: Vec<f64> = (0..50).map(|i| 100.0 + (i % 7) as f64).collect();
        let r = mann_whitney(&a, &a).unwrap();
        assert!(r.p_slower > 0.4 && r.p_faster > 0.4, "{r:?}");
        let same = [5.0; 40];
        let r = mann_whitney(&same, &same).unwrap();
        assert_eq!((r.p_slower, r.p_faster), (1.0, 1.0));
    }

    #[test]
    fn normal_approximation_matches_exact_roughly() {
        let a: Vec<f64> = (0..30).map(|i| i as f64 * 1.01).collect();
        let b: Vec<f64> = (0..30).map(|i| i as f64 + 6.5).collect();
        let exact = mann_whitney(&a, &b).unwrap();
        assert!(exact.exact);
        let a2: Vec<f64> = a.iter().chain(&a).copied().collect();
        let b2: Vec<f64> = b.iter().chain(&b).copied().collect();
        let approx = mann_whitney(&a2, &b2).unwrap();
        assert!(!approx.exact);
        assert!(exact.p_slower < 0.05 && approx.p_slower < 0.05);
    }
}
