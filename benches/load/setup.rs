//! Residents for the load: each logs in (the development login), stores a 1 KB debts
//! record and shares it with the debt counsellors on their own initiative; the department
//! then lists its grants, as its system would.

use super::support::{dev_token, one_kb_record};
use super::vault::{Grant, Vault};
use futures_util::StreamExt;
use serde_json::json;
use std::time::Instant;

/// How many residents are set up at once.
const PARALLEL: usize = 32;

/// Grows `vault` to `target` load residents, each with a record and a grant.
pub async fn grow(vault: &mut Vault, target: usize) {
    if vault.residents >= target {
        return;
    }
    let began = Instant::now();
    let http = vault.http();
    let url = vault.url.clone();
    let added = target - vault.residents;
    futures_util::stream::iter(vault.residents..target)
        .map(|i| {
            let (http, url) = (http.clone(), url.clone());
            async move { add_resident(&http, &url, i).await }
        })
        .buffer_unordered(PARALLEL)
        .collect::<Vec<()>>()
        .await;
    vault.residents = target;

    let key = kluis_sdk::DepartmentKey::from_file(vault.key_file()).expect("key");
    let client = kluis_sdk::Client::new(&vault.url, "schuldhulpverlening", key)
        .expect("client")
        .with_http_client(http);
    vault.grants = client
        .grants()
        .await
        .expect("grants")
        .into_iter()
        .map(|g| Grant {
            token: g.token,
            resident: g.resident,
        })
        .collect();
    assert!(
        vault.grants.len() >= target,
        "{}: {} grants for {target} residents",
        vault.label,
        vault.grants.len()
    );
    println!(
        "{}: added {added} residents in {:.1} s ({} grants)",
        vault.label,
        began.elapsed().as_secs_f64(),
        vault.grants.len()
    );
}

async fn add_resident(http: &reqwest::Client, url: &str, i: usize) {
    let token = dev_token(http, url, &format!("load-{i}")).await;
    let stored = http
        .put(format!("{url}/v1/me/records/schulden.overzicht"))
        .bearer_auth(&token)
        .json(&one_kb_record(i))
        .send()
        .await
        .expect("store");
    assert!(stored.status().is_success(), "store: {}", stored.status());
    let shared = http
        .post(format!("{url}/v1/me/grants"))
        .bearer_auth(&token)
        .json(&json!({
            "department": "schuldhulpverlening", "processing_activity": "schuldhulp-traject",
            "categories": ["schulden.overzicht"], "duration_days": 30
        }))
        .send()
        .await
        .expect("share");
    assert!(shared.status().is_success(), "share: {}", shared.status());
}
