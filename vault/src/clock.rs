//! The one place that reads the wall clock.
//!
//! Everything that depends on time (record timestamps, session timeouts, grant expiry, audit
//! entries) takes a [`Clock`] and asks it. Production uses [`Clock::system`]; tests use
//! [`Clock::manual`] and move time forward instead of sleeping, so expiry is tested exactly
//! and without flakiness. `clippy.toml` forbids `SystemTime::now` and `Utc::now` elsewhere.

use chrono::{DateTime, TimeDelta, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A source of the current time.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The real wall clock.
    pub fn system() -> Clock {
        Clock { manual: None }
    }

    /// A clock that stands still at `start` until a test moves it.
    pub fn manual(start: DateTime<Utc>) -> Clock {
        Clock {
            manual: Some(Arc::new(AtomicI64::new(start.timestamp_micros()))),
        }
    }

    /// The current time (microsecond precision).
    #[allow(clippy::disallowed_methods)] // the one sanctioned read of the wall clock
    pub fn now(&self) -> DateTime<Utc> {
        match &self.manual {
            None => Utc::now(),
            Some(micros) => DateTime::from_timestamp_micros(micros.load(Ordering::SeqCst))
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        }
    }

    /// Moves a manual clock forward (or back, with a negative delta). Does nothing to the
    /// system clock: production time cannot be steered.
    pub fn advance(&self, by: TimeDelta) {
        if let Some(micros) = &self.manual {
            micros.fetch_add(by.num_microseconds().unwrap_or(i64::MAX), Ordering::SeqCst);
        }
    }

    /// Sets a manual clock to `to`. Does nothing to the system clock.
    pub fn set(&self, to: DateTime<Utc>) {
        if let Some(micros) = &self.manual {
            micros.store(to.timestamp_micros(), Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let clock = Clock::manual(start);
        assert_eq!(clock.now(), start);
        clock.advance(TimeDelta::seconds(90));
        assert_eq!(clock.now(), start + TimeDelta::seconds(90));
        let shared = clock.clone();
        shared.set(start);
        assert_eq!(clock.now(), start, "clones share one time");
    }

    #[test]
    fn system_clock_ignores_steering() {
        let clock = Clock::system();
        let before = clock.now();
        clock.advance(TimeDelta::days(-365));
        assert!(clock.now() >= before);
    }
}
