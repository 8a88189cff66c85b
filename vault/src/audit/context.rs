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
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The system RNG failing is fatal elsewhere; here a zero id is still a valid trace.
    let _ = crate::crypto::random_bytes(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
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
