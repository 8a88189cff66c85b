//! `kluis department add|list|disable|enable` against a running vault's admin socket.

use crate::support::VaultProcess;
use crate::support::process::kluis_cli;
use serde_json::json;

fn kluis(socket: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let mut all: Vec<&std::ffi::OsStr> = vec!["department".as_ref()];
    all.extend(args.iter().map(std::ffi::OsStr::new));
    all.extend(["--socket".as_ref(), socket.as_os_str()]);
    kluis_cli(&all)
}

#[tokio::test]
async fn operators_register_list_disable_and_enable_departments() {
    let dir = tempfile::tempdir().unwrap();
    let vault = VaultProcess::dev(dir.path());
    let socket = dir.path().join("data/admin.sock");

    let (ok, listed, _) = kluis(&socket, &["list"]);
    assert!(ok);
    assert!(
        listed.contains("werk-en-inkomen") && listed.contains("jeugdhulp"),
        "{listed}"
    );

    let (_, public) = kluis::jose::keys::generate_department_jwk("wmo-1").unwrap();
    let mut spec = json!({
        "id": "wmo", "name": "Wmo-loket", "jwks": {"keys": [public]},
        "processing_activities": [{
            "id": "maatwerk", "name": "Maatwerkvoorziening", "purpose": "We kijken welke hulp u thuis nodig heeft.",
            "legal_basis": {"law": "Wet maatschappelijke ondersteuning 2015", "article": "artikel 2.3.2", "necessary": true},
            "contact": "Bel 14 078 en vraag naar het Wmo-loket.",
            "next_step": "Een consulent belt u binnen een week.",
            "categories": ["zorg.ondersteuningsbehoefte", "wonen.situatie"], "retention_days": 2555
        }]
    });
    let file = dir.path().join("wmo.json");
    std::fs::write(&file, spec.to_string()).unwrap();
    let (ok, _, refused) = kluis(&socket, &["add", "--file", file.to_str().unwrap()]);
    assert!(!ok, "a necessary activity without 'if_no' is refused");
    assert!(
        refused.contains("activity maatwerk: if_no is required"),
        "{refused}"
    );
    spec["processing_activities"][0]["if_no"] =
        json!("Dan kan de consulent uw aanvraag niet afmaken.");
    // What GDPR art. 13 says the resident must be told: without it, no registration.
    std::fs::write(&file, spec.to_string()).unwrap();
    let (ok, _, refused) = kluis(&socket, &["add", "--file", file.to_str().unwrap()]);
    assert!(
        !ok,
        "an activity that does not say to whom it passes data on is refused"
    );
    assert!(
        refused.contains("activity maatwerk: recipients"),
        "{refused}"
    );
    spec["processing_activities"][0]["recipients"] = json!("Een zorgaanbieder, als u hulp krijgt.");
    std::fs::write(&file, spec.to_string()).unwrap();
    let (ok, _, refused) = kluis(&socket, &["add", "--file", file.to_str().unwrap()]);
    assert!(
        !ok,
        "a registration without the data protection officer is refused"
    );
    assert!(
        refused.contains("privacy_officer (how residents reach your data protection officer"),
        "{refused}"
    );
    let (_, listed, _) = kluis(&socket, &["list"]);
    assert!(!listed.contains("wmo"), "nothing was registered: {listed}");
    spec["privacy_officer"] = json!("fg@gemeente-voorbeeld.nl");
    std::fs::write(&file, spec.to_string()).unwrap();
    let (ok, added, err) = kluis(&socket, &["add", "--file", file.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(
        added.contains("wmo") && added.contains("maatwerk v1"),
        "{added}"
    );

    let (ok, disabled, _) = kluis(&socket, &["disable", "wmo"]);
    assert!(ok && disabled.contains("DISABLED"), "{disabled}");
    let (ok, enabled, _) = kluis(&socket, &["enable", "wmo"]);
    assert!(ok && enabled.contains("enabled"), "{enabled}");

    // Bad input: a clear line, exit non-zero, nothing changed.
    let (ok, _, err) = kluis(&socket, &["disable", "bestaat-niet"]);
    assert!(!ok && err.trim() == "error: no such department", "{err}");
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        json!({"id": "x", "name": "", "jwks": {"keys": []}, "processing_activities": []})
            .to_string(),
    )
    .unwrap();
    let (ok, _, err) = kluis(&socket, &["add", "--file", bad.to_str().unwrap()]);
    assert!(
        !ok && err.starts_with("error: ") && err.lines().count() == 1,
        "{err}"
    );
    std::fs::write(&bad, "not json").unwrap();
    let (ok, _, err) = kluis(&socket, &["add", "--file", bad.to_str().unwrap()]);
    assert!(
        !ok && err.contains("is not a department registration"),
        "{err}"
    );
    let (_, listed, _) = kluis(&socket, &["list"]);
    assert_eq!(listed.lines().count(), 4, "{listed}");

    drop(vault);
    let (ok, _, err) = kluis(&socket, &["list"]);
    assert!(!ok && err.contains("no vault is listening"), "{err}");
}
