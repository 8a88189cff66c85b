//! Rate limits (GCRA, by the `governor` crate): requests per department, refused requests
//! per source address, and login starts per source address. They run on real time, not the vault's clock: a limit
//! protects the machine, which lives in real time.

use crate::config::Limits;
use crate::{Error, Result};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;

/// The limiters of one vault.
pub struct Throttle {
    departments: DefaultKeyedRateLimiter<String>,
    refused: DefaultKeyedRateLimiter<IpAddr>,
    logins: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("departments", &self.departments.len())
            .field("sources", &self.refused.len())
            .finish()
    }
}

fn at_least_one(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// The key of a source: an IPv4 address (also when mapped into IPv6), or the /64 of an IPv6
/// address (one host holds a whole /64, so counting single IPv6 addresses would count
/// nothing). The rate limits and the counts of refusals in the audit log both use it.
pub fn source_key(source: IpAddr) -> IpAddr {
    match source {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

impl Throttle {
    /// Limiters for `limits`: a department may burst to one second's worth of requests.
    pub fn new(limits: &Limits) -> Throttle {
        let per_second = at_least_one(limits.department_per_second);
        let per_minute = at_least_one(limits.refused_per_minute);
        Throttle {
            departments: RateLimiter::keyed(Quota::per_second(per_second)),
            refused: RateLimiter::keyed(Quota::per_minute(per_minute)),
            logins: RateLimiter::keyed(Quota::per_minute(at_least_one(
                limits.login_starts_per_minute,
            ))),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one request of `key` from `limiter`, or says (as `what`) when to try again.
    fn take<K: Clone + Eq + std::hash::Hash>(
        &self,
        limiter: &DefaultKeyedRateLimiter<K>,
        key: &K,
        what: &'static str,
    ) -> Result<()> {
        limiter
            .check_key(key)
            .map_err(|not_until| Error::RateLimited {
                what,
                retry_after: not_until
                    .wait_time_from(self.clock.now())
                    .as_secs_f64()
                    .ceil()
                    .max(1.0) as u64,
            })
    }

    /// Takes one request of department `id`, or says when to try again.
    pub fn department(&self, id: &str) -> Result<()> {
        self.take(&self.departments, &id.to_owned(), "this department")
    }

    /// Counts one refused, unauthenticated request from `source`; past the limit, the
    /// refusal becomes a 429.
    pub fn refused(&self, source: IpAddr) -> Result<()> {
        self.take(
            &self.refused,
            &source_key(source),
            "refused requests from this address",
        )
    }

    /// Takes one login start from `source` (each stores a login in progress until it
    /// finishes or expires), or says when to try again.
    pub fn login_start(&self, source: IpAddr) -> Result<()> {
        self.take(
            &self.logins,
            &source_key(source),
            "logins started from this address",
        )
    }

    /// Forgets the state of keys that have been quiet for longer than their period, so that
    /// memory follows the callers of the last minute, not every caller ever seen.
    pub fn forget_quiet(&self) {
        self.departments.retain_recent();
        self.departments.shrink_to_fit();
        self.refused.retain_recent();
        self.refused.shrink_to_fit();
        self.logins.retain_recent();
        self.logins.shrink_to_fit();
    }

    /// How many departments and sources are remembered now.
    pub fn remembered(&self) -> (usize, usize) {
        (self.departments.len(), self.refused.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(department_per_second: u32, refused_per_minute: u32) -> Limits {
        Limits {
            department_per_second,
            refused_per_minute,
            ..Limits::default()
        }
    }

    #[test]
    fn a_department_is_held_to_its_rate_and_others_are_not_touched() {
        // One a second: the second call within the same second is refused, however slowly
        // this test runs (a refill takes a whole second).
        let throttle = Throttle::new(&limits(1, 60));
        throttle.department("schuldhulp").unwrap();
        match throttle.department("schuldhulp") {
            Err(Error::RateLimited { retry_after, .. }) => assert_eq!(retry_after, 1),
            other => panic!("{other:?}"),
        }
        throttle.department("jeugdhulp").unwrap();
    }

    #[test]
    fn refusals_count_per_address_and_ipv6_per_64() {
        let throttle = Throttle::new(&limits(5, 3));
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "192.0.2.7".parse().unwrap();
        throttle.refused(a).unwrap();
        throttle.refused(b).unwrap();
        throttle.refused(a).unwrap();
        match throttle.refused(b) {
            Err(Error::RateLimited { retry_after, .. }) => assert!((1..=20).contains(&retry_after)),
            other => panic!("the same /64 shares one budget: {other:?}"),
        }
        throttle.refused(other).unwrap();
        assert_eq!(throttle.remembered().1, 2);
    }
}
