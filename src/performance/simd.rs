//! `cargo test performance::simd`: the runtime SIMD dispatch every scanning
//! kernel relies on: what the CPU can run, and how `simd=` and
//! `RSRTPFAST_SIMD` resolve to a level the CPU really has.

use crate::core::simd::{resolve_pure, resolve_with, SimdLevel, SIMD_ENV_VAR};

#[test]
fn scalar_always_available_and_first() {
    assert!(SimdLevel::Scalar.is_available());
    let levels = SimdLevel::available_levels();
    assert_eq!(levels.first(), Some(&SimdLevel::Scalar));
    assert!(levels.contains(&SimdLevel::best()));
    for l in &levels {
        assert!(l.is_available());
    }
}

#[test]
fn best_matches_arch() {
    #[cfg(target_arch = "x86_64")]
    {
        assert!(SimdLevel::Sse2.is_available(), "SSE2 is baseline on x86_64");
        assert!(!SimdLevel::Neon.is_available());
        let expect = if std::arch::is_x86_feature_detected!("avx2") {
            SimdLevel::Avx2
        } else {
            SimdLevel::Sse2
        };
        assert_eq!(SimdLevel::best(), expect);
    }
    #[cfg(target_arch = "aarch64")]
    {
        assert!(!SimdLevel::Sse2.is_available());
        assert!(!SimdLevel::Avx2.is_available());
    }
}

#[test]
fn resolve_pure_rules() {
    use SimdLevel::*;
    // A CPU with SSE2 and AVX2 but no NEON.
    let x86 = |l: SimdLevel| l != Neon;
    let r = |req, env| resolve_pure(req, env, x86, Avx2);

    // Auto: env unset/empty/"auto" -> best, no fallback.
    assert_eq!(r(None, None), (Avx2, false));
    assert_eq!(r(None, Some("")), (Avx2, false));
    assert_eq!(r(None, Some("AUTO")), (Avx2, false));
    // Auto: valid env value is honoured.
    assert_eq!(r(None, Some("off")), (Scalar, false));
    assert_eq!(r(None, Some("sse2")), (Sse2, false));
    assert_eq!(r(None, Some("Avx2")), (Avx2, false));
    // Auto: env asks for a level the CPU lacks -> best, flagged.
    assert_eq!(r(None, Some("neon")), (Avx2, true));
    // Auto: garbage env value -> best, flagged.
    assert_eq!(r(None, Some("fast")), (Avx2, true));
    // Explicit request wins over env.
    assert_eq!(r(Some(Sse2), Some("off")), (Sse2, false));
    assert_eq!(r(Some(Scalar), Some("avx2")), (Scalar, false));
    assert_eq!(r(Some(Scalar), Some("garbage")), (Scalar, false));
    // Explicit request the CPU lacks -> best, flagged.
    assert_eq!(r(Some(Neon), None), (Avx2, true));

    // An SSE2-only CPU asked for AVX2.
    let old = |l: SimdLevel| matches!(l, Scalar | Sse2);
    assert_eq!(resolve_pure(Some(Avx2), None, old, Sse2), (Sse2, true));
    assert_eq!(resolve_pure(None, Some("avx2"), old, Sse2), (Sse2, true));
}

#[test]
fn resolve_with_never_returns_unavailable() {
    let envs = [
        None,
        Some("auto"),
        Some("off"),
        Some("sse2"),
        Some("avx2"),
        Some("neon"),
        Some("x"),
    ];
    for env in envs {
        for req in std::iter::once(None).chain(SimdLevel::ALL.map(Some)) {
            let (level, fell_back) = resolve_with(req, env);
            assert!(level.is_available(), "{req:?} {env:?} -> {level:?}");
            if let Some(r) = req {
                assert_eq!(fell_back, !r.is_available());
                if !fell_back {
                    assert_eq!(level, r);
                }
            }
        }
    }
}

#[test]
fn resolve_reads_env_consistently() {
    // Does not mutate the environment (tests run in parallel); it only
    // checks that `resolve` agrees with `resolve_with` on whatever is set.
    let env = std::env::var(SIMD_ENV_VAR).ok();
    assert_eq!(SimdLevel::resolve(None), resolve_with(None, env.as_deref()));
    assert_eq!(
        SimdLevel::resolve(Some(SimdLevel::Scalar)),
        (SimdLevel::Scalar, false)
    );
}
