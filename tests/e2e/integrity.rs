//! A sealed record moved anywhere else fails to open (issue 2, must-show 3).
//!
//! The records are real, on disk; the test plays an attacker with write access to the
//! database who copies a ciphertext into another resident's slot, another category and
//! another version. Each copy fails with an integrity error, in the library and over
//! HTTP, and nothing panics.

use crate::support::{TestVault, assert_problem};
use kluis::Error;
use kluis::store::StoredRecord;
use serde_json::json;

#[tokio::test]
async fn moved_records_fail_to_open() {
    let vault = TestVault::start().await;
    let henk_token = vault.login("henk").await;
    let anna_token = vault.login("anna").await;
    let residents = vault.app.residents();
    let store = vault.app.store();
    let henk = residents
        .ensure_resident(kluis::auth::dev_login::DEV_ISSUER, "henk")
        .await
        .unwrap()
        .id;
    let anna = residents
        .ensure_resident(kluis::auth::dev_login::DEV_ISSUER, "anna")
        .await
        .unwrap()
        .id;

    let debts = json!({"schulden": [{"schuldeiser": "Woonkracht", "soort": "huurachterstand", "bedrag": 2628}]});
    residents
        .write(&crate::support::ctx(), henk, "schulden.overzicht", &debts)
        .await
        .unwrap();
    residents
        .write(
            &crate::support::ctx(),
            anna,
            "schulden.overzicht",
            &json!({"schulden": []}),
        )
        .await
        .unwrap();
    let sealed = store
        .record(henk, "schulden.overzicht", Some(1))
        .await
        .unwrap()
        .unwrap();

    // 1. Another resident's key slot (same category and version).
    vault
        .backend
        .plant_record(
            anna,
            "schulden.overzicht",
            &StoredRecord {
                version: 1,
                ..sealed.clone()
            },
        )
        .await
        .unwrap();
    // 2. Another category of the same resident.
    vault
        .backend
        .plant_record(
            henk,
            "inkomen.uitgaven",
            &StoredRecord {
                version: 1,
                ..sealed.clone()
            },
        )
        .await
        .unwrap();
    // 3. Another version of the same category.
    vault
        .backend
        .plant_record(
            henk,
            "schulden.overzicht",
            &StoredRecord {
                version: 2,
                ..sealed.clone()
            },
        )
        .await
        .unwrap();

    for (resident, category, version) in [
        (anna, "schulden.overzicht", 1),
        (henk, "inkomen.uitgaven", 1),
        (henk, "schulden.overzicht", 2),
    ] {
        match residents.read(resident, category, Some(version)).await {
            Err(Error::Integrity(e)) => {
                assert_eq!(e.to_string(), "integrity check failed for record")
            }
            other => panic!("{category} v{version}: expected an integrity error, got {other:?}"),
        }
    }
    // The original still opens.
    assert_eq!(
        residents
            .read(henk, "schulden.overzicht", Some(1))
            .await
            .unwrap()
            .data,
        debts
    );

    // Over HTTP: a clear problem, no data, no detail of the cause.
    for (token, path) in [
        (&anna_token, "/v1/me/records/schulden.overzicht"),
        (&henk_token, "/v1/me/records/inkomen.uitgaven"),
        (&henk_token, "/v1/me/records/schulden.overzicht/versions/2"),
    ] {
        let got = vault.get(token, path).await;
        assert_problem(&got, 500, "integrity_failure");
        assert!(got.1.get("data").is_none());
    }

    // A truncated or bit-flipped ciphertext in place fails the same way.
    let mut flipped = sealed.clone();
    let last = flipped.sealed.len() - 1;
    flipped.sealed[last] ^= 1;
    vault
        .backend
        .plant_record(
            henk,
            "schulden.overzicht",
            &StoredRecord {
                version: 3,
                ..flipped
            },
        )
        .await
        .unwrap();
    let truncated = StoredRecord {
        version: 4,
        sealed: sealed.sealed[..10].to_vec(),
        ..sealed.clone()
    };
    vault
        .backend
        .plant_record(henk, "schulden.overzicht", &truncated)
        .await
        .unwrap();
    for version in [3, 4] {
        assert!(matches!(
            residents
                .read(henk, "schulden.overzicht", Some(version))
                .await,
            Err(Error::Integrity(_))
        ));
    }
}
