//! No plaintext at rest, none in the log (issue 2, must-show 2).
//!
//! A real `kluis` process writes records whose every free-text field holds a unique
//! marker, including versions that are overwritten and a category that is deleted, and a
//! refused write. After a clean stop, every byte of every file under the data directory
//! (database and keyring; with PostgreSQL also the server's cluster and WAL) is scanned,
//! and so is everything the process printed.

use crate::support::{VaultProcess, client, status_and_json};
use serde_json::json;

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Scans every file under `dir`; returns whether `control` (a string that is stored in the
/// clear, as a key) was seen, which proves the scan can see plaintext where there is some.
fn scan_dir(dir: &std::path::Path, needles: &[Vec<u8>], control: &[u8], files: &mut usize) -> bool {
    let mut control_seen = false;
    // A running PostgreSQL server adds and removes files while they are scanned.
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            control_seen |= scan_dir(&path, needles, control, files);
        } else if path.is_file() {
            let Ok(data) = std::fs::read(&path) else {
                continue;
            };
            *files += 1;
            control_seen |= find(&data, control);
            for needle in needles {
                assert!(
                    !find(&data, needle),
                    "plaintext {:?} found in {}",
                    String::from_utf8_lossy(needle),
                    path.display()
                );
            }
        }
    }
    control_seen
}

#[tokio::test]
async fn record_plaintext_is_nowhere_on_disk_or_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let vault = VaultProcess::dev(dir.path());
    let http = client();
    let token = crate::support::dev_login(&http, &vault.url, "marker-test").await;

    let marker = format!("KM-{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
    let put = |category: &'static str, body: serde_json::Value| {
        http.put(format!("{}/v1/me/records/{category}", vault.url))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let writes = [
        (
            "identiteit.basis",
            json!({"voornamen": format!("{marker}-naam"), "achternaam": format!("{marker}-achternaam"), "telefoon": format!("{marker}-tel")}),
        ),
        (
            "schulden.overzicht",
            json!({"schulden": [{"schuldeiser": format!("{marker}-schuldeiser"), "soort": "incassobureau", "bedrag": 1184.5, "toelichting": format!("{marker}-toelichting")}]}),
        ),
        (
            "schulden.overzicht",
            json!({"schulden": [{"schuldeiser": format!("{marker}-v2"), "soort": "anders", "bedrag": 1}]}),
        ),
        (
            "zorg.ondersteuningsbehoefte",
            json!({"behoeften": [{"gebied": "begeleiding", "toelichting": format!("{marker}-zorg")}]}),
        ),
        (
            "kinderen.situatie",
            json!({"kinderen": [{"voornaam": format!("{marker}-kind"), "zorgen": format!("{marker}-zorgen")}]}),
        ),
    ];
    for (category, body) in writes {
        assert_eq!(put(category, body).await.unwrap().status(), 201);
    }
    // A deleted category, and a refused write that carried the marker.
    let delete = http
        .delete(format!("{}/v1/me/records/kinderen.situatie", vault.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 204);
    let refused = put(
        "werk.profiel",
        json!({"situatie": format!("{marker}-ongeldig")}),
    )
    .await
    .unwrap();
    assert_eq!(status_and_json(refused).await.0, 422);
    // Reading back works: the data is there, just not in the clear.
    let read = http
        .get(format!("{}/v1/me/records/identiteit.basis", vault.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(read.text().await.unwrap().contains(&marker));

    let output = vault.stop();
    assert!(output.contains("request"), "the log was captured: {output}");
    let needles: Vec<Vec<u8>> = vec![marker.clone().into_bytes(), b"marker-test".to_vec()];
    for needle in &needles {
        assert!(
            !find(output.as_bytes(), needle),
            "plaintext in the process output:\n{output}"
        );
    }
    // The PostgreSQL driver logs statements with their parameters at debug level; the
    // vault never lets it, whatever KLUIS_LOG says (the tests run it at debug).
    assert!(
        !output.contains("executing statement"),
        "the database driver logged statements:\n{output}"
    );
    let mut files = 0;
    let control = b"zorg.ondersteuningsbehoefte";
    let mut control_seen = scan_dir(dir.path(), &needles, control, &mut files);
    // With PostgreSQL, the database's own files and WAL.
    if let Some(database) = crate::support::store::database_files() {
        control_seen |= scan_dir(&database, &needles, control, &mut files);
    }
    assert!(
        control_seen,
        "the scan never saw the category id stored as a key: it would miss plaintext too"
    );
    assert!(files >= 4, "scanned only {files} files");
}
