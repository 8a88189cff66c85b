//! Bad input gets a problem+json 4xx and changes nothing (issue 2, must-show 5).

use crate::support::{TestVault, assert_problem, status_and_json};
use serde_json::{Value, json};

/// Everything a resident can see of their vault, to compare before and after.
async fn snapshot(vault: &TestVault, token: &str) -> Value {
    let (_, overview) = vault.get(token, "/v1/me/records").await;
    let (_, current) = vault.get(token, "/v1/me/records/schulden.overzicht").await;
    let (_, versions) = vault
        .get(token, "/v1/me/records/schulden.overzicht/versions")
        .await;
    json!({"overview": overview, "current": current, "versions": versions})
}

#[tokio::test]
async fn every_bad_input_is_refused_and_changes_nothing() {
    let vault = TestVault::start().await;
    let token = vault.login("henk").await;
    let path = format!("{}/v1/me/records/schulden.overzicht", vault.url);
    let good = json!({"schulden": [{"schuldeiser": "Woonkracht", "soort": "huurachterstand", "bedrag": 2628}]});
    assert_eq!(
        vault
            .put(&token, "/v1/me/records/schulden.overzicht", &good)
            .await
            .0,
        201
    );
    let before = snapshot(&vault, &token).await;

    let send = |body: Vec<u8>, content_type: &'static str, url: String| {
        vault
            .http
            .put(url)
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    // Malformed JSON.
    let got = status_and_json(
        send(
            b"{\"schulden\": [".to_vec(),
            "application/json",
            path.clone(),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_problem(&got, 400, "invalid_json");
    // Not JSON at all, and empty.
    for body in [b"schulden=1".to_vec(), Vec::new()] {
        let got =
            status_and_json(send(body, "application/json", path.clone()).await.unwrap()).await;
        assert_problem(&got, 400, "invalid_json");
    }

    // A body that fails the category's schema: wrong type, missing field, unknown field,
    // out of range. The detail names the place, never the value.
    for body in [
        json!({"schulden": [{"schuldeiser": "X", "soort": "huurachterstand", "bedrag": "VEEL-GELD-GEHEIM"}]}),
        json!({"schulden": [{"soort": "huurachterstand", "bedrag": 1}]}),
        json!({"schulden": [], "GEHEIM-VELD": true}),
        json!({"schulden": [{"schuldeiser": "X", "soort": "huurachterstand", "bedrag": -5}]}),
        json!(["not", "an", "object"]),
    ] {
        let got = vault
            .put(&token, "/v1/me/records/schulden.overzicht", &body)
            .await;
        assert_problem(&got, 422, "schema_violation");
        assert!(
            !got.1["detail"].as_str().unwrap().contains("GEHEIM"),
            "value echoed: {}",
            got.1
        );
    }

    // Unknown category, and something that is not a category id at all.
    for category in [
        "schulden.onbekend",
        "..%2F..%2Fetc",
        "SCHULDEN.OVERZICHT",
        "a.b.c",
    ] {
        let got = vault
            .put(&token, &format!("/v1/me/records/{category}"), &good)
            .await;
        assert_problem(&got, 404, "unknown_category");
        assert_problem(
            &vault
                .get(&token, &format!("/v1/me/records/{category}"))
                .await,
            404,
            "unknown_category",
        );
    }

    // A body over the limit (64 KiB by default), with and without a Content-Length.
    let huge = json!({"schulden": [{"schuldeiser": "x".repeat(70 * 1024), "soort": "anders", "bedrag": 1}]});
    let got = status_and_json(
        send(
            serde_json::to_vec(&huge).unwrap(),
            "application/json",
            path.clone(),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_problem(&got, 413, "payload_too_large");
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..100).map(|_| Ok(vec![b' '; 1024])).collect();
    let streamed = vault
        .http
        .put(path.clone())
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util_stream(chunks)))
        .send()
        .await
        .unwrap();
    assert_problem(&status_and_json(streamed).await, 413, "payload_too_large");

    // A wrong content type, and none.
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
        // JSON by another name, or in another encoding, is not what this API takes.
        "application/merge-patch+json",
        "application/vnd.evil+json",
        "application/json; charset=latin1",
        "application/json; boundary=x",
    ] {
        let got = status_and_json(
            send(
                serde_json::to_vec(&good).unwrap(),
                content_type,
                path.clone(),
            )
            .await
            .unwrap(),
        )
        .await;
        assert_problem(&got, 415, "unsupported_media_type");
    }
    let no_type = vault
        .http
        .put(path.clone())
        .bearer_auth(&token)
        .body(serde_json::to_vec(&good).unwrap())
        .send()
        .await
        .unwrap();
    assert_problem(
        &status_and_json(no_type).await,
        415,
        "unsupported_media_type",
    );

    // A path id that is not an id.
    for version in ["abc", "-1", "1.5", "99999999999", "%00"] {
        let got = vault
            .get(
                &token,
                &format!("/v1/me/records/schulden.overzicht/versions/{version}"),
            )
            .await;
        assert_problem(&got, 400, "invalid_path");
    }
    assert_problem(
        &vault
            .get(&token, "/v1/me/records/schulden.overzicht/versions/0")
            .await,
        404,
        "not_found",
    );

    // A wrong method and an unknown path.
    let patch = vault
        .http
        .patch(path.clone())
        .bearer_auth(&token)
        .json(&good)
        .send()
        .await
        .unwrap();
    assert_problem(&status_and_json(patch).await, 405, "method_not_allowed");
    assert_problem(
        &vault.get(&token, "/v1/nothing-here").await,
        404,
        "not_found",
    );

    assert_eq!(
        snapshot(&vault, &token).await,
        before,
        "a refused request changed the vault"
    );
}

/// A body stream without a Content-Length.
fn futures_util_stream(
    chunks: Vec<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::iter(chunks)
}
