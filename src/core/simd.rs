//! SIMD level selection: what the CPU can run, what the user asked for, and
//! the runtime dispatch decision shared by all scanning kernels.

use std::sync::OnceLock;

/// Environment variable consulted when an element runs with `simd=auto`.
pub const SIMD_ENV_VAR: &str = "RSRTPFAST_SIMD";

/// Instruction-set level a kernel is allowed to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SimdLevel {
    Scalar,
    Sse2,
    Avx2,
    Neon,
}

impl SimdLevel {
    /// Every level, in ascending preference order within an architecture.
    pub const ALL: [SimdLevel; 4] = [
        SimdLevel::Scalar,
        SimdLevel::Sse2,
        SimdLevel::Avx2,
        SimdLevel::Neon,
    ];

    /// Whether this CPU can execute kernels of this level (runtime detection).
    pub fn is_available(self) -> bool {
        match self {
            SimdLevel::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Sse2 => std::arch::is_x86_feature_detected!("sse2"),
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "aarch64")]
            SimdLevel::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// Best level available on this CPU; detected once and cached.
    pub fn best() -> SimdLevel {
        static BEST: OnceLock<SimdLevel> = OnceLock::new();
        *BEST.get_or_init(|| {
            [SimdLevel::Avx2, SimdLevel::Neon, SimdLevel::Sse2]
                .into_iter()
                .find(|l| l.is_available())
                .unwrap_or(SimdLevel::Scalar)
        })
    }

    /// All levels runnable here, `Scalar` first.
    pub fn available_levels() -> Vec<SimdLevel> {
        Self::ALL.into_iter().filter(|l| l.is_available()).collect()
    }

    /// Short name used in element properties and `RSRTPFAST_SIMD`.
    pub fn nick(self) -> &'static str {
        match self {
            SimdLevel::Scalar => "off",
            SimdLevel::Sse2 => "sse2",
            SimdLevel::Avx2 => "avx2",
            SimdLevel::Neon => "neon",
        }
    }

    /// Parses a nick (case-insensitive, surrounding whitespace ignored);
    /// `"scalar"` is accepted as an alias of `"off"`. `"auto"` is not a level.
    pub fn from_nick(s: &str) -> Option<SimdLevel> {
        let s = s.trim();
        [
            ("off", SimdLevel::Scalar),
            ("scalar", SimdLevel::Scalar),
            ("sse2", SimdLevel::Sse2),
            ("avx2", SimdLevel::Avx2),
            ("neon", SimdLevel::Neon),
        ]
        .into_iter()
        .find(|(nick, _)| s.eq_ignore_ascii_case(nick))
        .map(|(_, level)| level)
    }

    /// Level to use for a request; `None` means `simd=auto`.
    ///
    /// An explicit request wins over `RSRTPFAST_SIMD`; with `None` the
    /// variable is used if set to a valid nick (or `"auto"`), else [`best`].
    /// A level this CPU lacks resolves to [`best`] instead, so no illegal
    /// instruction is ever executed. The flag is `true` when the outcome
    /// differs from what was asked for (unavailable level, or an
    /// unrecognised `RSRTPFAST_SIMD` value), so callers can warn.
    ///
    /// [`best`]: SimdLevel::best
    pub fn resolve(requested: Option<SimdLevel>) -> (SimdLevel, bool) {
        let env = std::env::var(SIMD_ENV_VAR).ok();
        resolve_with(requested, env.as_deref())
    }
}

/// [`SimdLevel::resolve`] with the environment value passed in, so it can be
/// tested without mutating the process environment.
pub fn resolve_with(requested: Option<SimdLevel>, env_value: Option<&str>) -> (SimdLevel, bool) {
    resolve_pure(
        requested,
        env_value,
        SimdLevel::is_available,
        SimdLevel::best(),
    )
}

/// Fully pure core of [`resolve_with`]: CPU capabilities are parameters too,
/// so fallback paths are testable on any machine.
fn resolve_pure(
    requested: Option<SimdLevel>,
    env_value: Option<&str>,
    is_available: impl Fn(SimdLevel) -> bool,
    best: SimdLevel,
) -> (SimdLevel, bool) {
    let wanted = match requested {
        Some(level) => level,
        None => match env_value.map(str::trim) {
            None | Some("") => return (best, false),
            Some(v) if v.eq_ignore_ascii_case("auto") => return (best, false),
            Some(v) => match SimdLevel::from_nick(v) {
                Some(level) => level,
                // A typo in the variable should be visible, not silently ignored.
                None => return (best, true),
            },
        },
    };
    if is_available(wanted) {
        (wanted, false)
    } else {
        (best, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn nick_roundtrip() {
        for l in SimdLevel::ALL {
            assert_eq!(SimdLevel::from_nick(l.nick()), Some(l));
            assert_eq!(SimdLevel::from_nick(&l.nick().to_uppercase()), Some(l));
        }
        assert_eq!(SimdLevel::from_nick("Scalar"), Some(SimdLevel::Scalar));
        assert_eq!(SimdLevel::from_nick(" AVX2 "), Some(SimdLevel::Avx2));
        assert_eq!(SimdLevel::from_nick("auto"), None);
        assert_eq!(SimdLevel::from_nick(""), None);
        assert_eq!(SimdLevel::from_nick("avx512"), None);
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
}
