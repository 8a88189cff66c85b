//! The W3C trace context of a request (`traceparent`), which every audit entry carries so
//! that an entry can be matched with the logs of the systems that called the vault.

use crate::clock::Clock;
use chrono::{DateTime, Utc};

/// The W3C trace context of one request, and when it began.
#[derive(Clone, Debug)]
pub struct Context {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// This request's span: 16 lowercase hex digits.
    pub span_id: String,
    /// The caller's span, from its `traceparent`.
    pub parent_span_id: Option<String>,
    /// When the request began.
    pub started: DateTime<Utc>,
    /// The address the request came from (for the counts of unattributed refusals only;
    /// never written into an entry of its own).
    pub source: Option<std::net::IpAddr>,
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The system RNG failing is fatal elsewhere; here a zero id is still a valid trace.
    let _ = crate::crypto::random_bytes(&mut buf);
    data_encoding::HEXLOWER.encode(&buf)
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && s.bytes().any(|b| b != b'0')
}

impl Context {
    /// A new trace, for work the vault starts itself (seeding, CLI, maintenance).
    pub fn new(clock: &Clock) -> Context {
        Context {
            trace_id: random_hex(16),
            span_id: random_hex(8),
            parent_span_id: None,
            started: clock.now(),
            source: None,
        }
    }

    /// The context of a request with the caller's `traceparent` header, if it sent a
    /// valid one (W3C Trace Context, version 00); a new trace otherwise.
    pub fn from_traceparent(header: Option<&str>, clock: &Clock) -> Context {
        let mut context = Context::new(clock);
        if let Some(value) = header {
            let parts: Vec<&str> = value.trim().split('-').collect();
            if let [version, trace, parent, flags] = parts[..]
                && version == "00"
                && is_hex(trace, 32)
                && is_hex(parent, 16)
                && flags.len() == 2
                && flags
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                context.trace_id = trace.to_owned();
                context.parent_span_id = Some(parent.to_owned());
            }
        }
        context
    }

    /// The `traceparent` to pass on: this trace, this request's span.
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-01", self.trace_id, self.span_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_well_formed_traceparent_is_taken_and_anything_else_starts_a_new_trace() {
        let clock = Clock::manual(chrono::DateTime::UNIX_EPOCH);
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let taken = Context::from_traceparent(Some(good), &clock);
        assert_eq!(taken.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(taken.parent_span_id.as_deref(), Some("00f067aa0ba902b7"));
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736\u{0}-00f067aa0ba902b7-01",
            &format!("00-{}-00f067aa0ba902b7-01", "a".repeat(10_000)),
        ] {
            let replaced = Context::from_traceparent(Some(bad), &clock);
            assert_eq!(replaced.parent_span_id, None, "{bad:?} was taken");
            assert_eq!(replaced.trace_id.len(), 32);
            assert!(replaced.trace_id.bytes().all(|b| b.is_ascii_hexdigit()));
        }
    }
}
