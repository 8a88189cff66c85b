//! The `schemes` section: evaluating every scheme for one resident (decrypt the records a
//! rule reads, evaluate, write the receipt durably), in the domain and over HTTP; and the
//! uptake report over 1,000 residents who each opened their suggestions.

use super::support::drive;
use super::{context_now, start};
use kluis::auth::dev_login::DEV_ISSUER;
use serde_json::{Value, json};
use std::sync::Arc;

/// A resident on a low income for years, with a child and debts.
fn situation(income: f64) -> Vec<(&'static str, Value)> {
    vec![
        (
            "identiteit.basis",
            json!({"voornamen": "A", "achternaam": "B", "geboortedatum": "1985-03-14"}),
        ),
        (
            "huishouden.samenstelling",
            json!({"leefsituatie": "alleenstaande_ouder", "leden": [{"rol": "kind", "geboortejaar": 2017}]}),
        ),
        (
            "inkomen.bronnen",
            json!({"bronnen": [{"soort": "uitkering_bijstand", "bedrag_per_maand": income, "sinds": "2020-01"}]}),
        ),
        (
            "schulden.overzicht",
            json!({"schulden": [{"schuldeiser": "X", "soort": "energie", "bedrag": 420.0}]}),
        ),
        (
            "wonen.situatie",
            json!({"woonvorm": "huurwoning_corporatie"}),
        ),
    ]
}

pub async fn schemes() {
    let bench = start().await;
    let (id, version, _) = bench.app.schemes().rules().identity();
    println!(
        "schemes (rule set {id} v{version}, {} schemes):",
        bench.app.schemes().rules().schemes().count()
    );
    let residents = bench.app.residents().clone();
    let one = residents
        .ensure_resident(DEV_ISSUER, "bench-schemes")
        .await
        .expect("resident")
        .id;
    let records = situation(1350.0);
    let pairs: Vec<(&str, &Value)> = records.iter().map(|(c, d)| (*c, d)).collect();
    residents
        .write_all(&context_now(), one, &pairs)
        .await
        .expect("records");
    for concurrency in [1, 16] {
        let schemes = bench.app.schemes().clone();
        drive(
            &format!("evaluate all (decrypt, rules, receipt), {concurrency} concurrent"),
            super::scaled(2000),
            concurrency,
            move |_| {
                let schemes = schemes.clone();
                async move {
                    schemes
                        .evaluate(&context_now(), one)
                        .await
                        .expect("evaluate");
                }
            },
        )
        .await;
    }

    // Over HTTP: the resident's GET /v1/me/schemes.
    let http = reqwest::Client::new();
    let token = super::support::dev_token(&http, &bench.url, "bench-schemes").await;
    let target = Arc::new((http, token, format!("{}/v1/me/schemes", bench.url)));
    drive(
        "HTTP GET /v1/me/schemes, 1 concurrent",
        super::scaled(1000),
        1,
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

    // The uptake report over 1,000 residents who each opened their suggestions.
    let population = super::scaled(1000);
    let app = bench.app.clone();
    drive(
        &format!("{population} residents: records and one evaluation each"),
        population,
        16,
        move |i| {
            let app = app.clone();
            async move {
                let resident = app
                    .residents()
                    .ensure_resident(DEV_ISSUER, &format!("bevolking-{i}"))
                    .await
                    .expect("resident")
                    .id;
                let records = situation(900.0 + (i % 20) as f64 * 60.0);
                let pairs: Vec<(&str, &Value)> = records.iter().map(|(c, d)| (*c, d)).collect();
                app.residents()
                    .write_all(&context_now(), resident, &pairs)
                    .await
                    .expect("records");
                app.schemes()
                    .evaluate(&context_now(), resident)
                    .await
                    .expect("evaluate");
            }
        },
    )
    .await;
    let (_, officer) = bench
        .app
        .officers()
        .issue("bench-fg", "FG", 1)
        .await
        .expect("officer");
    let started = std::time::Instant::now();
    let report: Value = reqwest::Client::new()
        .get(format!("{}/v1/officer/reports/scheme-uptake", bench.url))
        .bearer_auth(&officer)
        .send()
        .await
        .expect("report")
        .json()
        .await
        .expect("report body");
    let log = bench.app.audit().size().await;
    println!(
        "  {:<52} {:>10.3} s over {log} log entries ({} schemes counted)",
        format!("uptake report, {population} residents"),
        started.elapsed().as_secs_f64(),
        report["result"]["schemes"].as_array().map_or(0, Vec::len)
    );
}
