//! `[limits]`: the limits every connection and caller meets, with defaults that hold on a
//! two-core machine. `docs/threat-model.md` ("Limits") says what each one protects.

use super::{ConfigError, Env};
use serde::Deserialize;
use std::time::Duration;

/// The limits, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// A client must send a request's headers within this time; a keep-alive connection
    /// that sends nothing for this long is closed too.
    pub header_read: Duration,
    /// The longest a request may take, its body included: then 408.
    pub request: Duration,
    /// Requests served at once; more are answered 503 with `Retry-After` at once.
    pub concurrent_requests: usize,
    /// The largest header section taken (431 beyond it).
    pub max_header_bytes: usize,
    /// Requests per second each department may make (client id or grant's department).
    pub department_per_second: u32,
    /// Refused, unauthenticated requests per minute from one source address (an IPv6
    /// address counts by its /64); beyond them, 429.
    pub refused_per_minute: u32,
    /// Logins started per minute from one source address (each is stored until it finishes
    /// or expires); beyond them, 429.
    pub login_starts_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            header_read: Duration::from_secs(10),
            request: Duration::from_secs(30),
            concurrent_requests: 1024,
            max_header_bytes: 16 * 1024,
            department_per_second: 200,
            refused_per_minute: 120,
            login_starts_per_minute: 30,
        }
    }
}

/// The section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitsSection {
    header_read_seconds: Option<u64>,
    request_seconds: Option<u64>,
    concurrent_requests: Option<usize>,
    max_header_bytes: Option<usize>,
    department_requests_per_second: Option<u32>,
    refused_requests_per_minute: Option<u32>,
    login_starts_per_minute: Option<u32>,
}

fn check<T: PartialOrd + std::fmt::Display + Copy>(
    setting: &'static str,
    value: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::Invalid {
            setting,
            reason: format!("{value} is outside {}..={}", range.start(), range.end()),
        })
    }
}

impl Limits {
    /// The section's values over the defaults, then `KLUIS_DEPARTMENT_RATE` and
    /// `KLUIS_REFUSED_RATE` (for `kluis dev` and benchmarks, which have no file).
    pub(super) fn from_section(
        section: LimitsSection,
        env: &dyn Env,
    ) -> Result<Limits, ConfigError> {
        let d = Limits::default();
        let number = |name: &'static str| -> Result<Option<u32>, ConfigError> {
            env.var(name)
                .map(|v| {
                    v.trim().parse::<u32>().map_err(|_| ConfigError::Invalid {
                        setting: name,
                        reason: format!("{v:?} is not a whole number such as 1000"),
                    })
                })
                .transpose()
        };
        let seconds = |s: Option<u64>, default: Duration| s.map_or(default, Duration::from_secs);
        Ok(Limits {
            header_read: seconds(
                section
                    .header_read_seconds
                    .map(|s| check("[limits] header_read_seconds", s, 1..=300))
                    .transpose()?,
                d.header_read,
            ),
            request: seconds(
                section
                    .request_seconds
                    .map(|s| check("[limits] request_seconds", s, 1..=600))
                    .transpose()?,
                d.request,
            ),
            concurrent_requests: check(
                "[limits] concurrent_requests",
                section.concurrent_requests.unwrap_or(d.concurrent_requests),
                1..=65_536,
            )?,
            max_header_bytes: check(
                "[limits] max_header_bytes",
                section.max_header_bytes.unwrap_or(d.max_header_bytes),
                4096..=262_144,
            )?,
            department_per_second: check(
                "[limits] department_requests_per_second (KLUIS_DEPARTMENT_RATE)",
                number("KLUIS_DEPARTMENT_RATE")?
                    .or(section.department_requests_per_second)
                    .unwrap_or(d.department_per_second),
                1..=1_000_000,
            )?,
            refused_per_minute: check(
                "[limits] refused_requests_per_minute (KLUIS_REFUSED_RATE)",
                number("KLUIS_REFUSED_RATE")?
                    .or(section.refused_requests_per_minute)
                    .unwrap_or(d.refused_per_minute),
                1..=1_000_000,
            )?,
            login_starts_per_minute: check(
                "[limits] login_starts_per_minute",
                section
                    .login_starts_per_minute
                    .unwrap_or(d.login_starts_per_minute),
                1..=100_000,
            )?,
        })
    }

    /// The defaults with the `KLUIS_*_RATE` variables applied (`kluis dev`).
    pub fn from_env(env: &dyn Env) -> Result<Limits, ConfigError> {
        Limits::from_section(LimitsSection::default(), env)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(toml_text: &str) -> LimitsSection {
        toml::from_str(toml_text).expect("a [limits] section")
    }

    #[test]
    fn the_file_sets_limits_the_environment_overrides_rates_and_every_mistake_names_its_setting() {
        let none: &[(&str, &str)] = &[];
        assert_eq!(
            Limits::from_section(section(""), &none).unwrap(),
            Limits::default()
        );
        let set = Limits::from_section(
            section("header_read_seconds = 5\nrequest_seconds = 20\ndepartment_requests_per_second = 50"),
            &none,
        )
        .unwrap();
        assert_eq!(set.header_read, Duration::from_secs(5));
        assert_eq!(set.request, Duration::from_secs(20));
        assert_eq!(set.department_per_second, 50);
        let env: &[(&str, &str)] = &[("KLUIS_DEPARTMENT_RATE", "7"), ("KLUIS_REFUSED_RATE", "9")];
        let overridden =
            Limits::from_section(section("department_requests_per_second = 50"), &env).unwrap();
        assert_eq!(
            (
                overridden.department_per_second,
                overridden.refused_per_minute
            ),
            (7, 9)
        );

        for (text, setting) in [
            ("header_read_seconds = 0", "[limits] header_read_seconds"),
            ("request_seconds = 601", "[limits] request_seconds"),
            ("concurrent_requests = 0", "[limits] concurrent_requests"),
            ("max_header_bytes = 100", "[limits] max_header_bytes"),
            (
                "login_starts_per_minute = 0",
                "[limits] login_starts_per_minute",
            ),
        ] {
            let error = Limits::from_section(section(text), &none)
                .unwrap_err()
                .to_string();
            assert!(error.contains(setting), "{text}: {error}");
        }
        let env: &[(&str, &str)] = &[("KLUIS_DEPARTMENT_RATE", "fast")];
        let error = Limits::from_section(section(""), &env)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("KLUIS_DEPARTMENT_RATE") && error.contains("1000"),
            "{error}"
        );
        assert!(
            toml::from_str::<LimitsSection>("rate = 1").is_err(),
            "unknown keys are refused"
        );
    }
}
