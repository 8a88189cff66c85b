//! One timed phase: `n` connections send pre-signed reads as fast as the vault answers.

use super::floor::Floor;
use super::vault::{Stats, Vault};
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The most requests signed for one phase (memory: about 1.5 KB each).
const MOST_SIGNED: usize = 400_000;

/// One read, signed before the phase.
pub struct Request {
    /// `DPoP <grant>`.
    authorization: Bytes,
    dpop: String,
    assertion: Option<String>,
    body: Bytes,
}

/// The requests of one phase.
pub struct Prepared {
    requests: Arc<Vec<Request>>,
}

impl Prepared {
    /// Signs enough requests for `seconds` at (generously) the fastest rate seen so far.
    pub fn sign(vault: &Vault, connections: usize, seconds: u64) -> Prepared {
        let rate = vault.fastest_rate().max(2_000.0) * if connections > 1 { 4.0 } else { 2.0 };
        let count = ((rate * seconds as f64) as usize).clamp(1_000, MOST_SIGNED);
        let url = format!("{}/v1/dept/read", vault.url);
        let mut jwk = vault.key.public_jwk();
        for field in ["kid", "use", "alg"] {
            jwk.as_object_mut().map(|o| o.remove(field));
        }
        let dpop_header = json!({"alg": "ES256", "typ": "dpop+jwt", "jwk": jwk}).to_string();
        let assertion_header =
            json!({"alg": "ES256", "typ": "client-authentication+jwt", "kid": vault.key.kid()})
                .to_string();
        let authorizations: Vec<Bytes> = vault
            .grants
            .iter()
            .map(|g| Bytes::from(format!("DPoP {}", g.token)))
            .collect();
        let aths: Vec<String> = vault
            .grants
            .iter()
            .map(|g| {
                B64.encode(ring::digest::digest(
                    &ring::digest::SHA256,
                    g.token.as_bytes(),
                ))
            })
            .collect();
        let now = kluis::Clock::system().now().timestamp();
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let sign = |i: usize| {
            // Spread the reads over the residents: a prime stride visits them all.
            let grant = (i * 7919) % authorizations.len();
            let dpop = json!({"jti": uuid::Uuid::new_v4().to_string(), "htm": "POST", "htu": url, "iat": now, "ath": aths[grant]});
            let assertion = vault.with_assertion.then(|| {
                let claims = json!({"iss": "schuldhulpverlening", "sub": "schuldhulpverlening", "aud": vault.url,
                                    "jti": uuid::Uuid::new_v4().to_string(), "iat": now, "exp": now + 60});
                vault.key.sign_raw(&assertion_header, &claims.to_string()).expect("sign")
            });
            let body = json!({"resident": vault.grants[grant].resident, "categories": ["schulden.overzicht"]});
            Request {
                authorization: authorizations[grant].clone(),
                dpop: vault
                    .key
                    .sign_raw(&dpop_header, &dpop.to_string())
                    .expect("sign"),
                assertion,
                body: Bytes::from(body.to_string()),
            }
        };
        let requests: Vec<Request> = std::thread::scope(|scope| {
            let chunk = count.div_ceil(threads);
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let sign = &sign;
                    scope.spawn(move || {
                        (t * chunk..((t + 1) * chunk).min(count))
                            .map(sign)
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("signing thread"))
                .collect()
        });
        Prepared {
            requests: Arc::new(requests),
        }
    }
}

/// What one phase measured.
#[derive(Default)]
pub struct Phase {
    reads: usize,
    failed: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    before: Option<Stats>,
    after: Stats,
    ran_out: bool,
}

/// Sends the prepared reads over `connections` connections for `seconds`.
pub async fn run(vault: &Vault, prepared: &Prepared, connections: usize, seconds: u64) -> Phase {
    let next = Arc::new(AtomicUsize::new(0));
    let authority = vault.url.trim_start_matches("http://").to_owned();
    let before = vault.stats();
    let began = Instant::now();
    let deadline = began + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (requests, next, authority) =
            (prepared.requests.clone(), next.clone(), authority.clone());
        // Spread over the nodes, as a load balancer in front of them would.
        let node = vault.addresses[c % vault.addresses.len()].clone();
        tasks.push(tokio::spawn(async move {
            connection(&requests, &next, &node, &authority, deadline).await
        }));
    }
    let mut phase = Phase::default();
    for task in tasks {
        let (latencies, failed) = task.await.expect("connection task");
        phase.reads += latencies.len();
        phase.failed += failed;
        phase.latencies.extend(latencies);
    }
    phase.elapsed = began.elapsed();
    phase.ran_out = next.load(Ordering::Relaxed) >= prepared.requests.len();
    // Let the vault's background flushes of the phase land before reading its counters.
    tokio::time::sleep(Duration::from_millis(300)).await;
    phase.before = Some(before);
    phase.after = vault.stats();
    vault.saw_rate(phase.reads_per_second());
    phase
}

/// One keep-alive connection's loop to the node at `node`, for the vault at `authority`:
/// (latency of each answered read, failures).
async fn connection(
    requests: &[Request],
    next: &AtomicUsize,
    node: &str,
    authority: &str,
    deadline: Instant,
) -> (Vec<Duration>, usize) {
    let stream = tokio::net::TcpStream::connect(node).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let mut latencies = Vec::new();
    let mut failed = 0;
    while Instant::now() < deadline {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(signed) = requests.get(i) else {
            break;
        };
        let mut request = hyper::Request::post("/v1/dept/read")
            .header("host", authority)
            .header("content-type", "application/json")
            .header("authorization", signed.authorization.as_ref())
            .header("dpop", signed.dpop.as_str());
        if let Some(assertion) = &signed.assertion {
            request = request.header("client-assertion", assertion.as_str());
        }
        let request = request
            .body(Full::new(signed.body.clone()))
            .expect("request");
        let began = Instant::now();
        let response = sender.send_request(request).await.expect("answer");
        let status = response.status();
        let answer = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        if status.is_success() {
            latencies.push(began.elapsed());
        } else {
            failed += 1;
            if failed == 1 {
                eprintln!("refused ({status}): {}", String::from_utf8_lossy(&answer));
            }
        }
    }
    (latencies, failed)
}

impl Phase {
    pub fn reads(&self) -> usize {
        self.reads
    }

    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The CPU the vault's processes spent in the phase.
    pub fn vault_cpu(&self) -> Duration {
        let before = self.before.unwrap_or_default();
        self.after.cpu.saturating_sub(before.cpu)
    }

    pub fn reads_per_second(&self) -> f64 {
        self.reads as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        sorted
            .get(((sorted.len().max(1) - 1) as f64 * p).round() as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    }

    /// Adds a later phase (for the sustained run).
    pub fn add(&mut self, later: Phase) {
        self.reads += later.reads;
        self.failed += later.failed;
        self.elapsed += later.elapsed;
        self.latencies.extend(later.latencies);
        self.before = self.before.or(later.before);
        self.after = later.after;
        self.ran_out |= later.ran_out;
    }

    pub fn print(&self, label: &str, connections: usize, floor: &Floor) {
        let before = self.before.unwrap_or_default();
        let per_read = |v: f64| v / self.reads.max(1) as f64;
        let rate = self.reads_per_second();
        println!(
            "  {label:<14} {connections:>2} connections: {rate:>7.0} reads/s ({:.0}% of the floor)   p50 {:.2} ms   p90 {:.2} ms   p99 {:.2} ms",
            100.0 * rate / floor.reads_per_second,
            self.percentile(0.50),
            self.percentile(0.90),
            self.percentile(0.99),
        );
        println!(
            "  {:<14}    vault CPU {:.0} µs/read   disk written {:.0} B/read   data dir +{:.0} B/read   RSS {:.1} → {:.1} MiB   ({} reads in {:.1} s, {} refused{})",
            "",
            per_read((self.after.cpu.saturating_sub(before.cpu)).as_secs_f64() * 1e6),
            per_read(self.after.written.saturating_sub(before.written) as f64),
            per_read(self.after.kept as f64 - before.kept as f64),
            before.rss_mib,
            self.after.rss_mib,
            self.reads,
            self.elapsed.as_secs_f64(),
            self.failed,
            if self.ran_out {
                ", ran out of signed requests"
            } else {
                ""
            }
        );
    }
}
