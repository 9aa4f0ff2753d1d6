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

/// What is wrong with an `RSRTPFAST_SIMD` value, in words for the user
/// (None: unset, `auto`, or a level this CPU has).
pub fn env_problem(env_value: Option<&str>) -> Option<String> {
    let v = env_value?.trim();
    if v.is_empty() || v.eq_ignore_ascii_case("auto") {
        return None;
    }
    let here: Vec<&str> = SimdLevel::available_levels()
        .into_iter()
        .map(SimdLevel::nick)
        .collect();
    let best = SimdLevel::best().nick();
    match SimdLevel::from_nick(v) {
        None => Some(format!(
            "{SIMD_ENV_VAR}={v:?} is not a SIMD level (this CPU: auto, {}); using {best}",
            here.join(", ")
        )),
        Some(level) if !level.is_available() => Some(format!(
            "{SIMD_ENV_VAR}={v} is not available on this CPU (it has {}); using {best}",
            here.join(", ")
        )),
        Some(_) => None,
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
pub(crate) fn resolve_pure(
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
    fn bad_environment_values_are_named() {
        assert_eq!(env_problem(None), None);
        assert_eq!(env_problem(Some(" Auto ")), None);
        assert_eq!(env_problem(Some(SimdLevel::best().nick())), None);
        let typo = env_problem(Some("bogus")).expect("a typo is reported");
        assert!(typo.contains("\"bogus\" is not a SIMD level"), "{typo}");
        assert!(typo.contains(SimdLevel::best().nick()), "{typo}");
        if let Some(missing) = SimdLevel::ALL.into_iter().find(|l| !l.is_available()) {
            let msg = env_problem(Some(missing.nick())).expect("unavailable level reported");
            assert!(msg.contains("not available on this CPU"), "{msg}");
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
}
