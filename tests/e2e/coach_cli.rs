//! `kluis coach add|list|remove` against a running vault's admin socket (issue 13): the
//! operator's list of coaches, each bad input refused with the fix, every change logged.

use crate::support::VaultProcess;
use crate::support::process::kluis_cli;

fn kluis(socket: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let mut all: Vec<&std::ffi::OsStr> = vec!["coach".as_ref()];
    all.extend(args.iter().map(std::ffi::OsStr::new));
    all.extend(["--socket".as_ref(), socket.as_os_str()]);
    kluis_cli(&all)
}

#[tokio::test]
async fn operators_add_list_and_remove_coaches() {
    let dir = tempfile::tempdir().unwrap();
    let _vault = VaultProcess::dev(dir.path());
    let socket = dir.path().join("data/admin.sock");
    let add = |id: &str, department: &str, subject: &str| {
        kluis(
            &socket,
            &[
                "add",
                "--id",
                id,
                "--name",
                "Sanne Bakker",
                "--department",
                department,
                "--subject",
                subject,
            ],
        )
    };

    let (ok, _, refused) = add("sanne", "nergens", "sub-sanne");
    assert!(!ok);
    assert!(
        refused.contains("the department is not registered"),
        "{refused}"
    );
    let (ok, _, refused) = add("Sanne!", "schuldhulpverlening", "sub-sanne");
    assert!(!ok);
    assert!(refused.contains("a coach id is 2 to 64"), "{refused}");

    let (ok, added, err) = add("sanne", "schuldhulpverlening", "sub-sanne");
    assert!(ok, "{err}");
    assert!(added.contains("registered coach sanne"), "{added}");
    let (ok, _, refused) = add("sanne-2", "schuldhulpverlening", "sub-sanne");
    assert!(!ok, "one staff login is one coach");
    assert!(
        refused.contains("another coach already has this staff login"),
        "{refused}"
    );

    let (ok, listed, _) = kluis(&socket, &["list"]);
    assert!(ok);
    assert!(
        listed.contains("sanne\tSanne Bakker\tschuldhulpverlening\tstaff:sub-sanne\tactive"),
        "{listed}"
    );
    let (ok, removed, _) = kluis(&socket, &["remove", "sanne"]);
    assert!(ok && removed.contains("removed coach sanne"), "{removed}");
    let (_, listed, _) = kluis(&socket, &["list"]);
    assert!(listed.contains("REMOVED"), "{listed}");
    let (ok, _, refused) = kluis(&socket, &["remove", "nobody"]);
    assert!(!ok);
    assert!(!refused.is_empty());
}
