//! Issue 17, must-show 1, against a real vault process (`kluis dev`) and the SDK: Henk
//! corrects "Mijn schulden" after two departments read it and exactly those two hear of it;
//! he withdraws one grant and that department hears it before its next read fails; he
//! erases his vault and every department with a grant is asked to delete its copy; one
//! confirms through the SDK, and the officer sees who did and who did not yet.

use crate::signals::{drain, kinds};
use crate::support::process::{VaultProcess, kluis_cli};
use crate::support::{client, dev_login, status_and_json};
use kluis_sdk::proto::consent::{NewAccessRequest, ResidentIdentifier};
use kluis_sdk::proto::events::EventKind;
use kluis_sdk::{Client, DepartmentKey};
use serde_json::{Value, json};

const DEBTS: &str = "schulden.overzicht";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn henks_correction_revoke_and_erasure_reach_a_running_vaults_departments() {
    let dir = tempfile::tempdir().unwrap();
    let vault = VaultProcess::dev(dir.path());
    let url = vault.url.clone();
    let http = client();
    let henk = dev_login(&http, &url, "henk").await;
    let sdk = |id: &str| {
        let key = DepartmentKey::from_file(dir.path().join(format!("departments/{id}.jwk")));
        Client::new(&url, id, key.unwrap()).unwrap()
    };
    let (debts, work, youth) = (
        sdk("schuldhulpverlening"),
        sdk("werk-en-inkomen"),
        sdk("jeugdhulp"),
    );
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = http
            .request(method, format!("{url}{path}"))
            .bearer_auth(&henk);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move { status_and_json(request.send().await.unwrap()).await }
    };

    // Werk en Inkomen asks too (the other two asked when the vault started); Henk says yes
    // to every request.
    work.request_access(&NewAccessRequest {
        resident: ResidentIdentifier::NationalId {
            scheme: "bsn".into(),
            value: kluis::dev::HENK_BSN.into(),
        },
        processing_activity: "bijstand-aanvraag".into(),
        categories: vec![DEBTS.into()],
        duration_days: 90,
    })
    .await
    .unwrap();
    let (_, requests) = call(reqwest::Method::GET, "/v1/me/requests", None).await;
    for request in requests.as_array().unwrap() {
        let id = request["id"].as_str().unwrap();
        let (status, body) = call(
            reqwest::Method::POST,
            &format!("/v1/me/requests/{id}/approve"),
            Some(json!({})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let only_grant = |client: &Client| {
        let client = client.clone();
        async move { client.grants().await.unwrap().remove(0) }
    };
    let (debts_grant, work_grant) = (only_grant(&debts).await, only_grant(&work).await);
    debts.read(&debts_grant, &[DEBTS]).await.unwrap();
    work.read(&work_grant, &[DEBTS]).await.unwrap();
    for department in [&debts, &work, &youth] {
        assert!(drain(department).await.is_empty(), "nothing changed yet");
    }

    // He corrects his debts: the two that read them hear of it, Jeugdhulp does not.
    let corrected = json!({"schulden": [{"schuldeiser": "Woonkracht", "soort": "huurachterstand", "bedrag": 1314}]});
    let (status, body) = call(
        reqwest::Method::PUT,
        &format!("/v1/me/records/{DEBTS}"),
        Some(corrected),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(kinds(&drain(&debts).await), ["record-rectified"]);
    assert_eq!(kinds(&drain(&work).await), ["record-rectified"]);
    assert!(drain(&youth).await.is_empty());

    // He withdraws Werk en Inkomen's grant: it hears so before its next read fails.
    let (status, _) = call(
        reqwest::Method::POST,
        &format!("/v1/me/grants/{}/revoke", work_grant.id),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 200);
    let told = drain(&work).await;
    assert_eq!(
        told[0].kind,
        EventKind::GrantRevoked {
            grant: work_grant.id
        }
    );
    assert!(matches!(
        work.read(&work_grant, &[DEBTS]).await,
        Err(kluis_sdk::Error::Revoked)
    ));

    // He erases his vault: all three are asked to delete what they hold.
    let (status, _) = call(reqwest::Method::DELETE, "/v1/me", None).await;
    assert_eq!(status, 204);
    let mut requests = Vec::new();
    for (department, expected) in [
        (&debts, &["grant-revoked", "erasure-requested"][..]),
        (&work, &["erasure-requested"][..]),
        (&youth, &["grant-revoked", "erasure-requested"][..]),
    ] {
        let events = drain(department).await;
        assert_eq!(kinds(&events), expected, "{}", department.department());
        requests.push(events.last().unwrap().clone());
    }
    debts.confirm_erasure(&requests[0]).await.unwrap();

    // The officer sees from the log who confirmed and who did not yet.
    let socket = dir.path().join("data/admin.sock");
    let args: Vec<&std::ffi::OsStr> = vec![
        "officer".as_ref(),
        "add".as_ref(),
        "--id".as_ref(),
        "fg".as_ref(),
        "--name".as_ref(),
        "FG Voorbeeld".as_ref(),
        "--socket".as_ref(),
        socket.as_os_str(),
    ];
    let (ok, printed, refused) = kluis_cli(&args);
    assert!(ok, "{refused}");
    let officer = printed
        .lines()
        .skip_while(|l| !l.starts_with("credential"))
        .nth(1)
        .unwrap()
        .trim()
        .to_owned();
    let response = http
        .get(format!("{url}/v1/officer/erasure-requests"))
        .bearer_auth(&officer)
        .send()
        .await
        .unwrap();
    let (status, statuses) = status_and_json(response).await;
    assert_eq!(status, 200, "{statuses}");
    for (request, department) in
        requests
            .iter()
            .zip(["schuldhulpverlening", "werk-en-inkomen", "jeugdhulp"])
    {
        let listed = statuses
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["event"] == request.id.to_string())
            .expect("every request is listed");
        assert_eq!(listed["department"], department);
        assert_eq!(
            listed["confirmed_at"].is_null(),
            department != "schuldhulpverlening",
            "{listed}"
        );
    }
    drop(vault);
}
