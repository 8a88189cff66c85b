//! The `kluis` command line: `serve` refuses to start on any configuration problem with
//! one line saying what to fix (issue 2, must-show 6), and starts without a development
//! login when the configuration is right.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

fn kluis() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kluis"));
    // The tests set every variable they need; none leaks in from the caller's shell.
    for var in [
        "KLUIS_ROOT_KEY",
        "KLUIS_ROOT_KEY_FILE",
        "KLUIS_DATA_DIR",
        "KLUIS_KEY_DIR",
        "KLUIS_LISTEN",
        "KLUIS_PUBLIC_URL",
        "KLUIS_CONFIG",
    ] {
        command.env_remove(var);
    }
    command
}

/// Runs `kluis serve --config <file>` and expects a quick failure: returns (code, stderr).
fn serve_fails(config: &Path, env: &[(&str, &str)]) -> (i32, String) {
    let output = kluis()
        .arg("serve")
        .arg("--config")
        .arg(config)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "serve started with a bad configuration"
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    (output.status.code().unwrap(), stderr)
}

fn assert_one_line(stderr: &str, must_contain: &[&str]) {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got:\n{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    for needle in must_contain {
        assert!(
            lines[0].contains(needle),
            "{needle:?} missing from {stderr:?}"
        );
    }
}

fn write_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("kluis.toml");
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\ndata_dir = \"{}\"\n[keys]\nkey_dir = \"{}\"\n{extra}",
        dir.join("data").display(),
        dir.join("keys").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn serve_without_a_root_key_exits_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let (code, stderr) = serve_fails(&config, &[]);
    assert_eq!(code, 2);
    assert_one_line(&stderr, &["root key", "kluis keys generate-root"]);
    assert!(
        !dir.path().join("data").exists(),
        "nothing is created before the config is valid"
    );
}

#[test]
fn serve_with_config_errors_exits_with_one_line_each() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("root.key");
    let generated = kluis()
        .args(["keys", "generate-root", "--out"])
        .arg(&key_file)
        .output()
        .unwrap();
    assert!(generated.status.success());
    let with_key = format!("root_key_file = \"{}\"\n", key_file.display());

    // A missing file.
    let (code, stderr) = serve_fails(&dir.path().join("nope.toml"), &[]);
    assert_eq!(code, 2);
    assert_one_line(
        &stderr,
        &["cannot read config file", "nope.toml", "--config"],
    );

    // A TOML syntax error, an unknown setting, a bad value, a bad key file, a bad key.
    type Case<'a> = (String, Vec<(&'a str, &'a str)>, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (format!("{with_key}this is not toml"), vec![], vec!["line"]),
        (
            format!("{with_key}[sessions]\ndev_login = true\n"),
            vec![],
            vec!["dev_login", "line 9"],
        ),
        (
            with_key.clone(),
            vec![("KLUIS_LISTEN", "not-an-address")],
            vec!["listen"],
        ),
        (
            "root_key_file = \"/nonexistent/root.key\"\n".to_owned(),
            vec![],
            vec!["root_key_file", "no such file"],
        ),
        (
            String::new(),
            vec![("KLUIS_ROOT_KEY", "dG9vIHNob3J0")],
            vec!["KLUIS_ROOT_KEY", "32 bytes"],
        ),
    ];
    for (extra, env, needles) in cases {
        let config = write_config(dir.path(), &extra);
        let (code, stderr) = serve_fails(&config, &env);
        assert_eq!(code, 2, "{stderr}");
        assert_one_line(&stderr, &needles);
    }

    // The wrong root key for an existing keyring: refused, not silently rekeyed.
    let config = write_config(dir.path(), &with_key);
    let mut first = kluis()
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(first.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening on"), "{line}");
    first.kill().unwrap();
    first.wait().unwrap();
    let other_key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let (code, stderr) = serve_fails(
        &write_config(dir.path(), ""),
        &[("KLUIS_ROOT_KEY", other_key)],
    );
    assert_eq!(code, 1);
    assert_one_line(&stderr, &["keyring", "root key"]);
}

#[test]
fn generate_root_never_overwrites_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("root.key");
    assert!(
        kluis()
            .args(["keys", "generate-root", "--out"])
            .arg(&out)
            .status()
            .unwrap()
            .success()
    );
    let first = std::fs::read(&out).unwrap();
    let again = kluis()
        .args(["keys", "generate-root", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert_one_line(
        &String::from_utf8(again.stderr).unwrap(),
        &["already exists"],
    );
    assert_eq!(std::fs::read(&out).unwrap(), first);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

#[test]
fn serve_starts_without_the_development_login() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "");
    let key = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let mut child = kluis()
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .env("KLUIS_ROOT_KEY", key)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .expect("listening line")
        .to_owned();
    let status = |path: &str, method: &str| {
        let out = Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-X",
                method,
                "-H",
                "content-type: application/json",
                "-d",
                "{\"subject\":\"henk\"}",
            ])
            .arg(format!("{url}{path}"))
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(status("/healthz", "GET"), "200");
    assert_eq!(status("/readyz", "GET"), "200");
    assert_eq!(
        status("/dev/login", "POST"),
        "404",
        "the development login must not exist in serve"
    );
    assert_eq!(status("/dev/login", "GET"), "404");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A municipality's own life-event file with one mistake stops `kluis serve` at start with
/// one line naming the file, the event and the mistake (issue 10, must-show 4).
#[test]
fn serve_refuses_a_life_event_file_with_a_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("levensgebeurtenissen.json");
    let question = |id: &str, field: &str, when: &str| {
        format!(
            r#"{{"id": "{id}", "field": "{field}", "ask": {{"nl": "Vraag?", "en": "Question?"}}, "options": ["werkzoekend", "werkend"]{when}}}"#
        )
    };
    let file = |categories: &str, questions: &str, helpers: &str| {
        format!(
            r#"{{"version": 1, "events": [{{"id": "baan-kwijt", "title": {{"nl": "Baan kwijt", "en": "Job lost"}},
            "description": {{"nl": "Uw werk stopt.", "en": "Your work ends."}}, "categories": [{categories}],
            "questions": [{questions}], "helpers": [{helpers}]}}]}}"#
        )
    };
    let situation = question("situatie", "werk.profiel/situatie", "");
    let cases = [
        (
            file(r#""werk.onbekend""#, "", ""),
            "event baan-kwijt: unknown category werk.onbekend",
        ),
        (
            file(
                r#""werk.profiel""#,
                &question("situatie", "werk.profiel/baan", ""),
                "",
            ),
            "event baan-kwijt, question situatie: unknown field werk.profiel/baan",
        ),
        (
            file(
                r#""werk.profiel""#,
                &format!(
                    "{}, {situation}",
                    question(
                        "eerst",
                        "werk.profiel/opleidingsniveau",
                        r#", "when": [{"field": "werk.profiel/situatie", "is": "werkend"}]"#
                    )
                    .replace(r#"["werkzoekend", "werkend"]"#, r#"["geen", "vmbo"]"#)
                ),
                "",
            ),
            "question eerst: a condition on werk.profiel/situatie is asked by this or a later question",
        ),
        (
            file(
                r#""werk.profiel""#,
                &situation,
                r#"{"department": "nergens", "activity": "hulp", "duration_days": 30}"#,
            ),
            "event baan-kwijt: department nergens is not registered",
        ),
    ];
    for (text, needle) in cases {
        std::fs::write(&events, text).unwrap();
        let config = write_config(
            dir.path(),
            &format!("[life_events]\nfile = \"{}\"\n", events.display()),
        );
        let (_, stderr) = serve_fails(
            &config,
            &[(
                "KLUIS_ROOT_KEY",
                "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
            )],
        );
        assert_one_line(&stderr, &[needle, "levensgebeurtenissen.json"]);
    }
}

#[test]
fn a_bad_scheme_file_stops_serve_with_one_line_naming_file_and_scheme() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("regelingen.json");
    let builtin: serde_json::Value =
        serde_json::from_str(include_str!("../src/schemes/schemes.json")).unwrap();
    let changed = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut file = builtin.clone();
        change(&mut file);
        file.to_string()
    };
    let cases: Vec<(String, &str)> = vec![
        (
            "{\"id\": \"x\", \"version\": 1, \"schemes\": [".to_owned(),
            "schemes file",
        ),
        (
            changed(&|f| {
                f["schemes"][3]["rule"] = serde_json::json!({"<=": [{"var": "inkomen"}, 5]})
            }),
            "scheme stadspas: uses unknown field \"inkomen\"",
        ),
        (
            changed(&|f| {
                f["parameters"]["bijstandsnorm"]["values"] =
                    serde_json::json!({"2019": {"alleenstaand": 1.0}})
            }),
            "parameter bijstandsnorm has no value for",
        ),
    ];
    for (text, needle) in cases {
        std::fs::write(&rules, text).unwrap();
        let config = write_config(
            dir.path(),
            &format!("[schemes]\nfile = \"{}\"\n", rules.display()),
        );
        let (_, stderr) = serve_fails(
            &config,
            &[(
                "KLUIS_ROOT_KEY",
                "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
            )],
        );
        assert_one_line(&stderr, &[needle, "regelingen.json"]);
    }
}
