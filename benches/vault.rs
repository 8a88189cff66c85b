// Long: one benchmark binary, one section per part of the vault, run together so figures compare.
//! Kluis benchmarks: `cargo bench --bench vault [-- SECTION...]`.
//!
//! Sections: `records` (record write and read through store and crypto, and through the
//! HTTP API) and `consent` (consented reads by a department over HTTP through the SDK, and
//! the cost of the crypto alone per read), and `audit` (append throughput with and without
//! concurrency, proof generation at a million entries, offline verification speed), and
//! `schemes` (every scheme for one resident: decrypt, evaluate, receipt; the uptake report
//! over 1,000 residents), and `reports` (every officer report over a million entries, in a
//! fresh process: time and peak RSS). With no section, all run. `KLUIS_BENCH_QUICK=1` runs a short smoke version.
//! Every run prints the machine it ran on and the process's memory at the end.

mod reports;
mod schemes;
mod support;

use kluis::{App, Clock, Config};
use serde_json::json;
use std::sync::Arc;
use support::{drive, machine, memory, one_kb_record, scaled};

/// The allocator the `kluis` binary runs on, so appends and reads are measured as served.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Bench {
    app: App,
    /// The sled store under the app, for its flush counter.
    sled: kluis::store::sled::SledStore,
    url: String,
    _dir: tempfile::TempDir,
}

/// A fresh audit context for calling the vault's services directly.
fn context_now() -> kluis::audit::Context {
    kluis::audit::Context::new(&kluis::Clock::system())
}

async fn start() -> Bench {
    let dir = tempfile::tempdir().expect("temp dir");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let root = kluis::crypto::RootKey::generate().expect("root key");
    let mut config = Config::development(dir.path(), listener.local_addr().expect("addr"), root);
    // Throughput is measured here, not the department's rate limit.
    config.limits.department_per_second = 1_000_000;
    let sled = kluis::store::sled::SledStore::open(&config.data_dir, config.cache_bytes)
        .expect("store opens");
    let app = App::open(
        &config,
        Arc::new(sled.clone()),
        Clock::system(),
        url.clone(),
    )
    .await
    .expect("vault opens");
    let served = app.clone();
    tokio::spawn(async move { kluis::run(listener, served, std::future::pending()).await });
    Bench {
        app,
        sled,
        url,
        _dir: dir,
    }
}

async fn records() {
    let bench = start().await;
    let size = serde_json::to_vec(&one_kb_record(0)).expect("json").len();
    println!("records ({size}-byte records):");

    // Through the domain service: schema check, seal, store (durable on return).
    let residents = bench.app.residents().clone();
    let resident = residents
        .ensure_resident("urn:bench", "writer")
        .await
        .expect("resident")
        .id;
    for concurrency in [1, 16, 64] {
        let residents = residents.clone();
        let flushes_before = bench.sled.flush_count();
        let m = drive(
            &format!("store+crypto write, {concurrency} concurrent"),
            scaled(4000),
            concurrency,
            move |i| {
                let residents = residents.clone();
                async move {
                    residents
                        .write(
                            &context_now(),
                            resident,
                            "schulden.overzicht",
                            &one_kb_record(i),
                        )
                        .await
                        .expect("write");
                }
            },
        )
        .await;
        let flushes = bench.sled.flush_count() - flushes_before;
        println!(
            "  {:<52} {:>10.1} writes per flush",
            "  group commit",
            m.ops as f64 / flushes.max(1) as f64
        );
    }
    for concurrency in [1, 16, 64] {
        let residents = residents.clone();
        drive(
            &format!("store+crypto read current, {concurrency} concurrent"),
            scaled(20000),
            concurrency,
            move |_| {
                let residents = residents.clone();
                async move {
                    residents
                        .read(resident, "schulden.overzicht", None)
                        .await
                        .expect("read");
                }
            },
        )
        .await;
    }

    // Through the HTTP API: the same, plus HTTP, JSON and session lookup.
    let http = reqwest::Client::new();
    let token = support::dev_token(&http, &bench.url, "bench").await;
    let target = Arc::new((
        http,
        token,
        format!("{}/v1/me/records/schulden.overzicht", bench.url),
    ));
    for concurrency in [1, 16, 64] {
        let target = target.clone();
        drive(
            &format!("HTTP PUT record, {concurrency} concurrent"),
            scaled(3000),
            concurrency,
            move |i| {
                let target = target.clone();
                async move {
                    let (http, token, url) = &*target;
                    let response = http
                        .put(url)
                        .bearer_auth(token)
                        .json(&one_kb_record(i))
                        .send()
                        .await
                        .expect("PUT");
                    assert_eq!(response.status(), 201);
                }
            },
        )
        .await;
    }
    for concurrency in [1, 16, 64] {
        let target = target.clone();
        drive(
            &format!("HTTP GET record, {concurrency} concurrent"),
            scaled(10000),
            concurrency,
            move |_| {
                let target = target.clone();
                async move {
                    let (http, token, url) = &*target;
                    let response = http.get(url).bearer_auth(token).send().await.expect("GET");
                    assert_eq!(response.status(), 200);
                    response.bytes().await.expect("body");
                }
            },
        )
        .await;
    }
}

async fn consent() {
    use kluis::jose::keys::{KeySet, generate_department_jwk};
    use kluis::jose::{ClientAssertion, DpopProof, GrantClaims};
    use kluis_proto::consent::{DepartmentSpec, OwnInitiativeGrant};

    let bench = start().await;
    let record = one_kb_record(0);
    println!(
        "consent (consented reads of one {}-byte record):",
        serde_json::to_vec(&record).expect("json").len()
    );
    let (private, public) = generate_department_jwk("bench-1").expect("key");
    let activities = kluis::dev::demo_departments().remove(1).2;
    let spec = DepartmentSpec {
        id: "schuldhulpverlening".into(),
        name: "Bench".into(),
        jwks: json!({"keys": [public.clone()]}),
        processing_activities: activities,
        privacy_officer: kluis::dev::DEMO_PRIVACY_OFFICER.into(),
        events_endpoint: None,
    };
    bench
        .app
        .consent()
        .register_department(&context_now(), kluis::audit::entry::Actor::Operator, &spec)
        .await
        .expect("register");
    let resident = bench
        .app
        .residents()
        .ensure_resident("urn:bench", "reader")
        .await
        .expect("resident")
        .id;
    bench
        .app
        .residents()
        .write(&context_now(), resident, "schulden.overzicht", &record)
        .await
        .expect("write");
    let own = OwnInitiativeGrant {
        department: "schuldhulpverlening".into(),
        processing_activity: "schuldhulp-traject".into(),
        categories: vec!["schulden.overzicht".into()],
        duration_days: 30,
    };
    bench
        .app
        .consent()
        .grant_own_initiative(&context_now(), resident, &own)
        .await
        .expect("grant");
    let client = kluis_sdk::Client::new(
        &bench.url,
        "schuldhulpverlening",
        kluis_sdk::DepartmentKey::from_jwk(&private).expect("key"),
    )
    .expect("client");
    let grant = client.grants().await.expect("grants").remove(0);
    let target = Arc::new((client, grant));
    for concurrency in [1, 16, 64] {
        let target = target.clone();
        drive(
            &format!("HTTP consented read (SDK), {concurrency} concurrent"),
            scaled(6000),
            concurrency,
            move |_| {
                let target = target.clone();
                async move {
                    let (client, grant) = &*target;
                    let read = client
                        .read(grant, &["schulden.overzicht"])
                        .await
                        .expect("read");
                    assert_eq!(read.records.len(), 1);
                }
            },
        )
        .await;
    }

    // The crypto alone, per read, in the same run and process.
    println!("  crypto per read, alone:");
    let (_, grant) = &*target;
    let key = kluis_sdk::DepartmentKey::from_jwk(&private).expect("key");
    let issuer = bench.url.clone();
    let now = kluis::Clock::system().now();
    let n = scaled(4000);
    let stored = grant.token.clone();
    let grant_compare = support::time_sync(
        "    grant token = the stored one (constant time)",
        n,
        |_| {
            assert!(kluis::crypto::secrets_equal(&stored, &grant.token));
        },
    );
    let ath = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ring::digest::digest(&ring::digest::SHA256, grant.token.as_bytes()),
    );
    let mut jwk = public.clone();
    for drop in ["kid", "use", "alg"] {
        jwk.as_object_mut().expect("object").remove(drop);
    }
    let header = json!({"alg": "ES256", "typ": "dpop+jwt", "jwk": jwk}).to_string();
    let url = format!("{issuer}/v1/dept/read");
    let claims = json!({"jti": "j", "htm": "POST", "htu": url, "iat": now.timestamp(), "ath": ath})
        .to_string();
    let proof = key.sign_raw(&header, &claims).expect("sign");
    let jwks = json!({"keys": [public]});
    let keys = KeySet::from_jwks(&jwks).expect("keys");
    let dpop_verify = support::time_sync(
        "    DPoP proof: thumbprint, registered key, ES256 (josekit)",
        n,
        |_| {
            let unverified = DpopProof::parse(&proof).expect("proof");
            let registered = keys.by_thumbprint(&unverified.jkt).expect("registered");
            unverified
                .verify(registered, "POST", &url, &grant.token, now)
                .expect("proof");
        },
    );
    support::time_sync(
        "    department JWKS to verifier (once per key set change)",
        n,
        |_| {
            KeySet::from_jwks(&jwks).expect("keys");
        },
    );
    let assertion_claims = json!({"iss": "schuldhulpverlening", "sub": "schuldhulpverlening", "aud": issuer, "jti": "a", "iat": now.timestamp(), "exp": now.timestamp() + 60});
    let assertion = key
        .sign_raw(
            &json!({"alg": "ES256", "typ": "client-authentication+jwt", "kid": "bench-1"})
                .to_string(),
            &assertion_claims.to_string(),
        )
        .expect("sign");
    support::time_sync(
        "    client assertion (only if a department sends one)",
        n,
        |_| {
            ClientAssertion::parse(&assertion, &issuer, now)
                .expect("parse")
                .verify(&keys)
                .expect("verify");
        },
    );
    let signing_key = bench.app.consent().vault_keys().current();
    support::time_sync(
        "    grant signature (no longer checked per read)",
        n,
        |_| {
            GrantClaims::verify(
                &grant.token,
                &issuer,
                "schuldhulpverlening",
                std::slice::from_ref(&*signing_key),
            )
            .expect("grant");
        },
    );
    let dir = tempfile::tempdir().expect("dir");
    let keyring = kluis::crypto::Keyring::open(
        dir.path(),
        kluis::crypto::RootKey::generate().expect("root"),
        true,
    )
    .expect("keyring");
    let id = uuid::Uuid::new_v4();
    let (data_key, wrapped) = keyring.new_data_key(&id).expect("data key");
    let aad = kluis::crypto::record_aad(&id, "schulden.overzicht", 1);
    let sealed = data_key
        .seal(&aad, &serde_json::to_vec(&record).expect("json"))
        .expect("seal");
    let decrypt = support::time_sync(
        "    unwrap data key + open record (AES-256-GCM, ring)",
        n,
        |_| {
            let key = keyring.unwrap(&id, &wrapped).expect("unwrap");
            key.open(&aad, &sealed.0).expect("open");
        },
    );
    let signing = support::time_sync("    department side: sign a DPoP proof (ring)", n, |_| {
        key.sign_raw(&header, &claims).expect("sign");
    });
    let per_read = [&grant_compare, &dpop_verify, &decrypt]
        .iter()
        .map(|m| m.mean())
        .sum::<std::time::Duration>();
    println!(
        "  vault crypto per read (sum of means): {:.3} ms; department signing per read: {:.3} ms",
        per_read.as_secs_f64() * 1e3,
        signing.mean().as_secs_f64() * 1e3
    );
}

/// A realistic read entry.
fn read_entry(i: usize) -> kluis::audit::entry::Entry {
    use kluis::audit::entry::{Action, Actor, Entry, Outcome};
    let mut entry = Entry::new(
        Action::Read,
        Outcome::Allowed,
        Actor::Department {
            id: "schuldhulpverlening".into(),
        },
    );
    entry.resident = Some(format!("{:043}", i % 50_000));
    entry.department = Some("schuldhulpverlening".into());
    entry.grant = Some(uuid::Uuid::new_v4());
    entry.categories = vec!["schulden.overzicht".into(), "inkomen.bronnen".into()];
    entry.processing_activity = Some(kluis_proto::consent::ActivityRef {
        id: "schuldhulp-traject".into(),
        version: 1,
    });
    entry.purpose = Some("We maken samen met u een plan om uw schulden op te lossen.".into());
    entry.legal_basis = Some("Wet gemeentelijke schuldhulpverlening, artikel 3".into());
    entry.policy = Some(kluis::audit::entry::ACCESS_POLICY.into());
    entry
}

async fn audit() {
    let bench = start().await;
    let audit_log = bench.app.audit();
    println!(
        "audit (entries of {} bytes as JSON, stored compactly):",
        read_entry(0).canonical().len() + 60
    );
    for concurrency in [1, 16, 64] {
        let app = bench.app.clone();
        drive(
            &format!("append (durable), {concurrency} concurrent"),
            // Long enough that the concurrent runs last seconds, not a fraction of one.
            scaled(if concurrency == 1 { 3000 } else { 50_000 }),
            concurrency,
            move |i| {
                let app = app.clone();
                async move {
                    app.audit()
                        .record(&context_now(), read_entry(i))
                        .await
                        .expect("append");
                }
            },
        )
        .await;
    }

    let target: u64 = if std::env::var("KLUIS_BENCH_QUICK").is_ok_and(|v| v == "1") {
        20_000
    } else {
        1_000_000
    };
    let started = std::time::Instant::now();
    let app = bench.app.clone();
    let missing = (target - audit_log.size().await) as usize;
    let grown = drive(
        &format!("grow the log to {target} entries, 256 concurrent"),
        missing,
        256,
        move |i| {
            let app = app.clone();
            async move {
                app.audit()
                    .record(&context_now(), read_entry(i))
                    .await
                    .expect("append");
            }
        },
    )
    .await;
    println!(
        "  {:<52} {:>10.1} s",
        "  time to grow",
        started.elapsed().as_secs_f64()
    );
    let _ = grown;
    let size = audit_log.size().await;

    reports::proofs(&bench.app, size, "in the process that grew it").await;
    let positions: Vec<u64> = (0..1000u64).map(|i| (i * 7919 * 104_729) % size).collect();
    let log = Arc::new(positions);
    let app = bench.app.clone();
    drive(
        &format!("consistency proof to size {size}"),
        1000,
        1,
        move |i| {
            let (app, picks) = (app.clone(), log.clone());
            async move {
                app.audit()
                    .consistency_proof(picks[i].max(1), size)
                    .await
                    .expect("proof");
            }
        },
    )
    .await;

    let export_to = size;
    let started = std::time::Instant::now();
    let export = audit_log.export(0, export_to).await.expect("export");
    println!(
        "  {:<52} {:>10.1} s ({} MiB)",
        format!("export of {export_to} entries"),
        started.elapsed().as_secs_f64(),
        export.len() / 1024 / 1024
    );
    let jwks = bench.app.consent().jwks();
    let started = std::time::Instant::now();
    let verified = kluis::audit::export::verify(&export, Some(&jwks), None).expect("verifies");
    let secs = started.elapsed().as_secs_f64();
    println!(
        "  {:<52} {:>10.0} entries/s ({} entries in {secs:.2} s)",
        "offline verification (kluis audit verify)",
        (verified.to - verified.from) as f64 / secs,
        verified.to - verified.from
    );
    let started = std::time::Instant::now();
    audit_log.verify_entries(0, size).await.expect("verifies");
    println!(
        "  {:<52} {:>10.1} s for {size} entries",
        "rehash of every entry (the check that runs while serving)",
        started.elapsed().as_secs_f64()
    );
}

fn main() {
    if reports::run_child_if_asked() {
        return;
    }
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let runs = |section: &str| args.is_empty() || args.iter().any(|a| a == section);
    // The vault's errors (a stalled flush, a failed append) show in the benchmark's output.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("error"))
        .with_writer(std::io::stderr)
        .init();
    println!("Kluis benchmark on {}", machine());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        if runs("records") {
            records().await;
        }
        if runs("consent") {
            consent().await;
        }
        if runs("audit") {
            audit().await;
        }
        if runs("schemes") {
            schemes::schemes().await;
        }
        if runs("reports") {
            reports::reports().await;
        }
    });
    println!("memory: {}", memory());
}
