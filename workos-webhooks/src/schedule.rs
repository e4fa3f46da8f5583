//! When a failed delivery is tried again.
//!
//! A [`RetrySchedule`] is a list of delays: entry `n` is how long after attempt `n` failed
//! attempt `n + 1` is made, counting attempts from 0, so entry 0 is the first attempt's delay.
//! The store makes a delivery due the moment it fans the event out, so entry 0 must be `0`.
//! Once every entry is used, the delivery is dead-lettered
//! ([`DeliveryStatus::Failed`](workos_core::domain::DeliveryStatus::Failed)). The default,
//! `0, 5s, 5min, 30min, 2h, 5h, 10h, 10h`, makes 8 attempts over about 28 hours.
//!
//! Non-zero delays get ±10 % jitter, so deliveries that failed together do not retry together.
//! A receiver's `Retry-After` (on 429 and 503) can only lengthen a delay, never shorten it.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::{Rng, RngExt as _};

/// The most entries a schedule may have.
pub const MAX_ENTRIES: usize = 50;
/// The longest delay a schedule entry may hold: 7 days.
pub const MAX_DELAY: Duration = Duration::from_secs(7 * 24 * 3600);
/// Jitter applied to non-zero delays, as a fraction either way.
pub const JITTER: f64 = 0.10;

/// Delays between delivery attempts. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        const SECS: [u64; 8] = [0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000];
        Self {
            delays: SECS.iter().copied().map(Duration::from_secs).collect(),
        }
    }
}

/// Why a schedule is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// The schedule has no entry.
    #[error("retry schedule is empty; expected comma-separated seconds such as 0,5,300")]
    Empty,
    /// The schedule has more than [`MAX_ENTRIES`] entries.
    #[error("retry schedule has {count} entries; at most {MAX_ENTRIES} are allowed")]
    TooLong {
        /// How many entries it has.
        count: usize,
    },
    /// An entry is not a whole number of seconds, or is too long.
    #[error(
        "retry schedule entry {index} ({entry:?}) is not a whole number of seconds up to {}",
        MAX_DELAY.as_secs()
    )]
    InvalidEntry {
        /// The entry's position, from 1.
        index: usize,
        /// The entry as written, trimmed.
        entry: String,
    },
    /// The first entry is not 0.
    #[error(
        "retry schedule entry 1 ({entry:?}) must be 0: the first attempt is made as soon as the \
         event is dispatched"
    )]
    FirstNotZero {
        /// The entry as written, trimmed.
        entry: String,
    },
}

impl RetrySchedule {
    /// A schedule of `delays`.
    ///
    /// # Errors
    /// [`ScheduleError::Empty`], [`ScheduleError::TooLong`], [`ScheduleError::FirstNotZero`], or
    /// [`ScheduleError::InvalidEntry`] for a delay over [`MAX_DELAY`].
    pub fn new(delays: Vec<Duration>) -> Result<Self, ScheduleError> {
        if delays.is_empty() {
            return Err(ScheduleError::Empty);
        }
        if delays.len() > MAX_ENTRIES {
            return Err(ScheduleError::TooLong {
                count: delays.len(),
            });
        }
        if let Some((i, d)) = delays.iter().enumerate().find(|(_, d)| **d > MAX_DELAY) {
            return Err(ScheduleError::InvalidEntry {
                index: i + 1,
                entry: format!("{d:?}"),
            });
        }
        if !delays[0].is_zero() {
            return Err(ScheduleError::FirstNotZero {
                entry: format!("{:?}", delays[0]),
            });
        }
        Ok(Self { delays })
    }

    /// Parses the `WORKOS_WEBHOOK_RETRY_SCHEDULE` format: comma-separated whole seconds, e.g.
    /// `0,5,300,1800,7200,18000,36000,36000`. Whitespace around entries is ignored.
    ///
    /// # Errors
    /// [`ScheduleError::InvalidEntry`] naming the first entry that is not a whole number of
    /// seconds (empty entries included), and the errors of [`RetrySchedule::new`].
    pub fn parse(value: &str) -> Result<Self, ScheduleError> {
        if value.trim().is_empty() {
            return Err(ScheduleError::Empty);
        }
        let mut delays = Vec::new();
        for (i, entry) in value.split(',').enumerate() {
            let entry = entry.trim();
            let secs = entry
                .parse::<u64>()
                .ok()
                .filter(|s| *s <= MAX_DELAY.as_secs())
                .ok_or_else(|| ScheduleError::InvalidEntry {
                    index: i + 1,
                    entry: entry.to_owned(),
                })?;
            if i == 0 && secs != 0 {
                return Err(ScheduleError::FirstNotZero {
                    entry: entry.to_owned(),
                });
            }
            delays.push(Duration::from_secs(secs));
        }
        Self::new(delays)
    }

    /// The delays, entry 0 first.
    #[must_use]
    pub fn delays(&self) -> &[Duration] {
        &self.delays
    }

    /// How many attempts a delivery gets before it is dead-lettered.
    #[must_use]
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.delays.len()).unwrap_or(u32::MAX)
    }

    /// When the next attempt is due, after `attempts_made` attempts (the one that just failed
    /// included) ended at `now`; `None` when the schedule is exhausted (dead letter).
    ///
    /// The delay is the schedule's entry `attempts_made` with ±10 % jitter (none on 0), or
    /// `retry_after` when that is longer.
    #[must_use]
    pub fn next_after(
        &self,
        attempts_made: u32,
        now: DateTime<Utc>,
        retry_after: Option<Duration>,
    ) -> Option<DateTime<Utc>> {
        self.next_after_with(&mut rand::rng(), attempts_made, now, retry_after)
    }

    /// [`RetrySchedule::next_after`] with a given random number generator (for tests).
    #[must_use]
    pub fn next_after_with<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        attempts_made: u32,
        now: DateTime<Utc>,
        retry_after: Option<Duration>,
    ) -> Option<DateTime<Utc>> {
        let delay = *self.delays.get(usize::try_from(attempts_made).ok()?)?;
        let delay = jitter(rng, delay).max(retry_after.unwrap_or_default());
        let delay = chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX);
        Some(
            now.checked_add_signed(delay)
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        )
    }
}

impl fmt::Display for RetrySchedule {
    /// The `WORKOS_WEBHOOK_RETRY_SCHEDULE` format (sub-second parts are dropped).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.delays.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}", d.as_secs())?;
        }
        Ok(())
    }
}

/// `delay` scaled by a random factor in `[1 - JITTER, 1 + JITTER]`; zero stays zero.
fn jitter<R: Rng + ?Sized>(rng: &mut R, delay: Duration) -> Duration {
    if delay.is_zero() {
        return delay;
    }
    delay.mul_f64(rng.random_range((1.0 - JITTER)..=(1.0 + JITTER)))
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn default_schedule() {
        let s = RetrySchedule::default();
        assert_eq!(s.to_string(), "0,5,300,1800,7200,18000,36000,36000");
        assert_eq!(s.max_attempts(), 8);
        assert_eq!(RetrySchedule::parse(&s.to_string()).unwrap(), s);
    }

    #[test]
    fn parse_accepts_whitespace_and_names_bad_entries() {
        let s = RetrySchedule::parse(" 0, 5 ,300").unwrap();
        assert_eq!(s.delays(), [secs(0), secs(5), secs(300)]);

        let bad = |v: &str| RetrySchedule::parse(v).unwrap_err();
        assert_eq!(bad(""), ScheduleError::Empty);
        assert_eq!(bad("  "), ScheduleError::Empty);
        for (value, index, entry) in [
            ("0,5,x", 3, "x"),
            ("0,,5", 2, ""),
            ("0,5,", 3, ""),
            ("0,-5", 2, "-5"),
            ("0,1.5", 2, "1.5"),
            ("0,604801", 2, "604801"),
            ("0,99999999999999999999999", 2, "99999999999999999999999"),
        ] {
            let err = bad(value);
            assert_eq!(
                err,
                ScheduleError::InvalidEntry {
                    index,
                    entry: entry.to_owned()
                },
                "{value}"
            );
            assert!(err.to_string().contains(&format!("entry {index}")), "{err}");
        }
        assert_eq!(
            bad("5,300"),
            ScheduleError::FirstNotZero { entry: "5".into() }
        );
        let long = vec!["0"; MAX_ENTRIES + 1].join(",");
        assert_eq!(
            bad(&long),
            ScheduleError::TooLong {
                count: MAX_ENTRIES + 1
            }
        );
        assert!(RetrySchedule::parse("0,604800").is_ok());
    }

    #[test]
    fn new_validates() {
        assert_eq!(RetrySchedule::new(vec![]), Err(ScheduleError::Empty));
        assert!(matches!(
            RetrySchedule::new(vec![secs(1)]),
            Err(ScheduleError::FirstNotZero { .. })
        ));
        assert!(matches!(
            RetrySchedule::new(vec![secs(0), MAX_DELAY + secs(1)]),
            Err(ScheduleError::InvalidEntry { index: 2, .. })
        ));
        assert!(RetrySchedule::new(vec![secs(0)]).is_ok());
    }

    #[test]
    fn next_after_uses_the_entry_of_the_next_attempt_then_dead_letters() {
        let s = RetrySchedule::parse("0,0,10,100").unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        // After the first attempt (1 made): entry 1 = 0, no jitter.
        assert_eq!(s.next_after_with(&mut rng, 1, t0(), None), Some(t0()));
        // After the second: entry 2 = 10 s ± 10 %.
        let next = s.next_after_with(&mut rng, 2, t0(), None).unwrap();
        let d = (next - t0()).to_std().unwrap();
        assert!(d >= secs(9) && d <= secs(11), "{d:?}");
        // After the fourth: exhausted.
        assert_eq!(s.next_after_with(&mut rng, 4, t0(), None), None);
        assert_eq!(s.next_after_with(&mut rng, 5, t0(), None), None);
        assert_eq!(s.next_after(4, t0(), Some(secs(1))), None);
    }

    #[test]
    fn jitter_stays_within_ten_percent_and_varies() {
        let s = RetrySchedule::parse("0,1000").unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let next = s.next_after_with(&mut rng, 1, t0(), None).unwrap();
            let ms = (next - t0()).num_milliseconds();
            assert!((900_000..=1_100_000).contains(&ms), "{ms}");
            seen.insert(ms);
        }
        assert!(seen.len() > 100, "jitter should spread retries");
    }

    #[test]
    fn retry_after_only_lengthens() {
        let s = RetrySchedule::parse("0,0,10").unwrap();
        let mut rng = StdRng::seed_from_u64(3);
        assert_eq!(
            s.next_after_with(&mut rng, 1, t0(), Some(secs(30))),
            Some(t0() + chrono::Duration::seconds(30))
        );
        // A shorter Retry-After than the (jittered) schedule delay is ignored.
        let next = s.next_after_with(&mut rng, 2, t0(), Some(secs(1))).unwrap();
        assert!(next - t0() >= chrono::Duration::seconds(9));
        // Far future saturates instead of overflowing.
        let end = s.next_after_with(&mut rng, 1, DateTime::<Utc>::MAX_UTC, Some(secs(5)));
        assert_eq!(end, Some(DateTime::<Utc>::MAX_UTC));
    }
}
