//! The database going away mid-service (issue 15, must-show 7): with PostgreSQL, every
//! request while it is gone fails with a clear 503 problem, nothing is half-written, and
//! the vault recovers by itself when the database returns. (Always on PostgreSQL; sled's
//! faults are tested through the fault-injecting store.)

use crate::support::{TestVault, assert_problem, store};
use kluis::store::postgres::server;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_fail_with_503_while_the_database_is_gone_and_work_again_after() {
    let vault = TestVault::start_nodes(1, kluis::Clock::system())
        .await
        .pop()
        .expect("a node");
    let token = vault.login("henk").await;
    let (status, body) = vault
        .put(
            &token,
            "/v1/me/records/werk.profiel",
            &json!({"situatie": "werkzoekend"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    // The database refuses new connections and drops the vault's.
    let name = store::database_name_of(&vault);
    let server = server::shared();
    server
        .execute(&format!(
            "ALTER DATABASE {name} ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .await;
    let write = vault
        .put(
            &token,
            "/v1/me/records/werk.profiel",
            &json!({"situatie": "werkzoekend"}),
        )
        .await;
    assert_problem(&write, 503, "unavailable");
    assert!(
        !write.1.to_string().contains("postgresql://"),
        "no database address in the answer: {}",
        write.1
    );
    assert_problem(
        &vault.get(&token, "/v1/me/records/werk.profiel").await,
        503,
        "unavailable",
    );
    let ready = vault
        .http
        .get(format!("{}/readyz", vault.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);

    // Back: the vault serves again without a restart, and the refused write left nothing.
    server
        .execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .await;
    let mut recovered = false;
    for _ in 0..100 {
        let ready = vault
            .http
            .get(format!("{}/readyz", vault.url))
            .send()
            .await
            .unwrap();
        if ready.status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(recovered, "/readyz turned 200 again by itself");
    let (status, versions) = vault
        .get(&token, "/v1/me/records/werk.profiel/versions")
        .await;
    assert_eq!(status, 200, "{versions}");
    assert_eq!(versions.as_array().map(Vec::len), Some(1), "{versions}");
    let (status, record) = vault.get(&token, "/v1/me/records/werk.profiel").await;
    assert_eq!(status, 200);
    assert_eq!(record["data"]["situatie"], "werkzoekend");
    let (status, _) = vault
        .put(
            &token,
            "/v1/me/records/werk.profiel",
            &json!({"situatie": "werkzoekend"}),
        )
        .await;
    assert_eq!(status, 201);
}
