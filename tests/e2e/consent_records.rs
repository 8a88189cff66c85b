//! Consent records (issue 17, must-show 6): the ISO/IEC TS 27560 record of each of Henk's
//! grants validates against a JSON Schema written from the standard's field list
//! (`tests/schemas/`), is signed by the vault, and round-trips: parsed back, it names the
//! same grants and the same events as the vault and its log. The officer exports the same.

use crate::consent::{BSNS, resident_with_bsn};
use crate::signals::{ACTIVITY, DEBTS, debt_grant, jwks};
use crate::support::{TestDepartment, TestVault, assert_problem, project_root};
use serde_json::{Value, json};

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(
        project_root().join("tests/schemas/consent-record-27560.schema.json"),
    )
    .unwrap();
    jsonschema::draft202012::new(&serde_json::from_str(&text).unwrap()).unwrap()
}

/// The payload of the compact JWS `token` once its ES256 signature verifies with the key of
/// `jwks` its `kid` names (checked here with ring, apart from the vault's own code).
fn verified_payload(token: &str, jwks: &Value) -> Option<Value> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let (input, signature) = token.rsplit_once('.')?;
    let (header, payload) = input.split_once('.')?;
    let header: Value = serde_json::from_slice(&b64.decode(header).ok()?).ok()?;
    if header["alg"] != "ES256" || header["typ"] != "kluis-consent-record+jwt" {
        return None;
    }
    let key = jwks["keys"]
        .as_array()?
        .iter()
        .find(|k| k["kid"] == header["kid"])?;
    let point = [
        &[4u8][..],
        &b64.decode(key["x"].as_str()?).ok()?,
        &b64.decode(key["y"].as_str()?).ok()?,
    ]
    .concat();
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point)
        .verify(input.as_bytes(), &b64.decode(signature).ok()?)
        .ok()?;
    serde_json::from_slice(&b64.decode(payload).ok()?).ok()
}

/// The statuses of a record's events, in order.
fn statuses(record: &Value) -> Vec<String> {
    record["dpv:hasConsentStatus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["@type"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn henks_consent_records_follow_27560_are_signed_and_round_trip() {
    let vault = TestVault::start_in(tempfile::tempdir().unwrap(), kluis::Clock::system()).await;
    let (token, _) = resident_with_bsn(&vault, "henk", BSNS[0]).await;
    let noord = TestDepartment::register(&vault, "schuldhulp-noord").await;
    let zuid = TestDepartment::register(&vault, "schuldhulp-zuid").await;
    // Asked and given, paused, resumed, withdrawn; and a share of his own.
    let asked = debt_grant(&vault, &noord, &token).await;
    let path = |what: &str| format!("/v1/me/grants/{}/{what}", asked.id);
    for (what, body) in [
        ("pause", json!({"reason": "data_incorrect"})),
        ("resume", json!({})),
        ("revoke", json!({})),
    ] {
        let (status, answer) = vault.post(&token, &path(what), &body).await;
        assert_eq!(status, 200, "{what}: {answer}");
    }
    let share = json!({"department": zuid.id, "processing_activity": ACTIVITY,
        "categories": [DEBTS], "duration_days": 30});
    let (status, shared) = vault.post(&token, "/v1/me/grants", &share).await;
    assert_eq!(status, 201, "{shared}");

    let (status, export) = vault.get(&token, "/v1/me/export").await;
    assert_eq!(status, 200);
    let signed = export["consent_records"]
        .as_array()
        .expect("records in the download");
    assert_eq!(signed.len(), 2);
    let validator = schema();
    let keys = jwks(&vault).await;
    for item in signed {
        let record = &item["record"];
        let errors: Vec<String> = validator
            .iter_errors(record)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:#?}\n{record:#}");
        // Signed by the vault: the JWS's payload is the record itself.
        let payload = verified_payload(item["jws"].as_str().unwrap(), &keys).expect("it verifies");
        assert_eq!(&payload, record);
        let text = record.to_string();
        assert!(!text.contains(BSNS[0]) && !text.contains("henk"), "{text}");
    }
    // The schema can say no: a record without a mandatory element fails it.
    let mut incomplete = signed[0]["record"].clone();
    incomplete
        .as_object_mut()
        .unwrap()
        .remove("dpv:hasJurisdiction");
    assert!(!validator.is_valid(&incomplete));
    let mut no_events = signed[0]["record"].clone();
    no_events["dpv:hasConsentStatus"] = json!([]);
    assert!(!validator.is_valid(&no_events));
    // A changed signature does not verify.
    let jws = signed[0]["jws"].as_str().unwrap();
    let (input, _) = jws.rsplit_once('.').unwrap();
    let zeroes = crate::support::department::b64([0u8; 64]);
    assert!(verified_payload(&format!("{input}.{zeroes}"), &keys).is_none());

    // Round trip: parsed back, the same grants as the vault lists ...
    let records: Vec<Value> = signed.iter().map(|s| s["record"].clone()).collect();
    let (_, grants) = vault.get(&token, "/v1/me/grants").await;
    let mut listed: Vec<String> = grants
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap().to_owned())
        .collect();
    let mut recorded: Vec<String> = records
        .iter()
        .map(|r| r["dct:identifier"].as_str().unwrap().to_owned())
        .collect();
    listed.sort();
    recorded.sort();
    assert_eq!(listed, recorded);
    // ... and the same events as the log, in order, at the log's times.
    let of = |id: &str| records.iter().find(|r| r["dct:identifier"] == id).unwrap();
    let first = of(&asked.id.to_string());
    assert_eq!(
        statuses(first),
        [
            "dpv:ConsentRequested",
            "dpv:ConsentGiven",
            "kluis:ConsentSuspended",
            "dpv:RenewedConsentGiven",
            "dpv:ConsentWithdrawn"
        ]
    );
    assert_eq!(
        first["dpv:hasConsentStatus"][2]["dpv:hasJustification"],
        "data_incorrect"
    );
    assert_eq!(
        first["dpv:hasConsentStatus"][1]["dpv:isIndicatedBy"],
        "dpv:DataSubject"
    );
    assert_eq!(
        first["dpv:hasConsentStatus"][0]["dpv:isIndicatedBy"],
        "kluis:department/schuldhulp-noord"
    );
    let audit = vault.app.audit();
    let logged: Vec<String> = audit
        .about_grant(asked.id)
        .await
        .unwrap()
        .iter()
        .filter(|e| {
            use kluis::audit::entry::Action;
            matches!(e.action, Action::Grant | Action::Pause | Action::Revocation)
        })
        .map(|e| {
            serde_json::to_value(e.time)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let recorded_times: Vec<String> = first["dpv:hasConsentStatus"].as_array().unwrap()[1..]
        .iter()
        .map(|e| e["dpv:isIndicatedAtTime"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recorded_times, logged);
    let own = of(shared["id"].as_str().unwrap());
    assert_eq!(statuses(own), ["dpv:ConsentGiven"]);
    assert_eq!(
        own["dpv:hasProcess"][0]["dpv:hasPersonalData"][0]["dct:identifier"],
        DEBTS
    );

    // The officer exports the same record (the question is logged); bad ids are refused.
    let officer = vault.officer().await;
    let (status, exported) = vault
        .get(
            &officer,
            &format!("/v1/officer/consent-records/{}", asked.id),
        )
        .await;
    assert_eq!(status, 200, "{exported}");
    assert_eq!(&exported["record"], first);
    assert_problem(
        &vault
            .get(
                &officer,
                &format!("/v1/officer/consent-records/{}", uuid::Uuid::new_v4()),
            )
            .await,
        404,
        "not_found",
    );
    let (status, _) = vault
        .get(&officer, "/v1/officer/consent-records/henk")
        .await;
    assert_eq!(status, 400);
    let (status, _) = vault
        .get(&token, &format!("/v1/officer/consent-records/{}", asked.id))
        .await;
    assert_eq!(status, 403, "a resident is no officer");
}
