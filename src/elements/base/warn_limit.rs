//! Rate limit for the warnings logged when bad input is dropped, so a storm
//! of bad packets cannot flood the log: a burst of warnings first, then at
//! most one per second, which carries the number suppressed since the last
//! one logged. Every drop is still counted in `stats`; only the log lines
//! are limited. Only the drop paths call it, the good path never does.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Warnings logged before the limit applies (refilled at one a second).
pub const BURST: u32 = 10;
/// One more warning allowed per this interval.
pub const REFILL: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct State {
    tokens: u32,
    refilled_at: Option<Instant>,
    suppressed: u64,
}

/// A token bucket of [`BURST`] warnings refilled at one per [`REFILL`].
#[derive(Debug)]
pub struct WarnLimit {
    state: Mutex<State>,
}

impl Default for WarnLimit {
    fn default() -> Self {
        WarnLimit {
            state: Mutex::new(State {
                tokens: BURST,
                refilled_at: None,
                suppressed: 0,
            }),
        }
    }
}

impl WarnLimit {
    /// `Some(n)`: log this warning, mentioning the `n` suppressed since the
    /// last one logged. `None`: suppressed (and counted for the next one).
    #[cold]
    pub fn allow(&self) -> Option<u64> {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> Option<u64> {
        let mut s = crate::elements::base::lock(&self.state);
        let since = *s.refilled_at.get_or_insert(now);
        let elapsed = now.saturating_duration_since(since);
        if elapsed >= REFILL {
            let refills = (elapsed.as_millis() / REFILL.as_millis()).min(BURST as u128) as u32;
            s.tokens = (s.tokens + refills).min(BURST);
            s.refilled_at = Some(now);
        }
        if s.tokens == 0 {
            s.suppressed += 1;
            return None;
        }
        s.tokens -= 1;
        Some(std::mem::take(&mut s.suppressed))
    }

    /// Back to a full burst (a new stream starts).
    pub fn reset(&self) {
        let mut s = crate::elements::base::lock(&self.state);
        s.tokens = BURST;
        s.refilled_at = None;
        s.suppressed = 0;
    }
}

/// `gst::warning!` through a [`WarnLimit`]: logged only when the limit
/// allows, with the count of the suppressed ones since the last logged.
macro_rules! warn_limited {
    ($limit:expr, $cat:expr, $kind:ident = $obj:expr, $($args:tt)+) => {
        if let Some(suppressed) = $crate::elements::base::warn_limit::WarnLimit::allow($limit) {
            if suppressed == 0 {
                gst::warning!($cat, $kind = $obj, $($args)+);
            } else {
                gst::warning!(
                    $cat,
                    $kind = $obj,
                    "{} ({} similar warnings suppressed)",
                    format_args!($($args)+),
                    suppressed
                );
            }
        }
    };
}
pub(crate) use warn_limited;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_one_per_interval_with_suppressed_count() {
        let l = WarnLimit::default();
        let t0 = Instant::now();
        for _ in 0..BURST {
            assert_eq!(l.allow_at(t0), Some(0));
        }
        for _ in 0..1000 {
            assert_eq!(l.allow_at(t0 + Duration::from_millis(500)), None);
        }
        // One refill after a second: logged, with the 1000 suppressed.
        assert_eq!(l.allow_at(t0 + REFILL), Some(1000));
        assert_eq!(l.allow_at(t0 + REFILL), None);
        assert_eq!(l.allow_at(t0 + REFILL * 2), Some(1));
        // A long quiet spell refills the whole burst, no more.
        let later = t0 + REFILL * 100;
        for _ in 0..BURST {
            assert!(l.allow_at(later).is_some());
        }
        assert_eq!(l.allow_at(later), None);
    }

    #[test]
    fn storm_of_n_logs_far_fewer_than_n() {
        let l = WarnLimit::default();
        let t0 = Instant::now();
        // 100,000 drops over 10 s.
        let logged = (0..100_000u64)
            .filter(|i| l.allow_at(t0 + Duration::from_micros(i * 100)).is_some())
            .count() as u32;
        assert!(logged <= BURST + 10, "{logged}");
        assert!(logged >= BURST + 9, "{logged}");
    }

    #[test]
    fn reset_restores_the_burst() {
        let l = WarnLimit::default();
        let t0 = Instant::now();
        while l.allow_at(t0).is_some() {}
        l.reset();
        assert_eq!(l.allow_at(t0), Some(0));
    }
}
