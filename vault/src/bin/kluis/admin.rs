//! Commands that talk to a running vault over its local admin socket:
//! `kluis department ...`, `kluis officer ...`, `kluis coach ...`,
//! `kluis audit export|checkpoint`.

use crate::{Failure, fail};
use hyper::Method;
use kluis::Config;
use kluis_proto::consent::{DepartmentInfo, DepartmentSpec};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Where the vault's admin socket is: `--socket`, or the one `--config` names.
pub fn socket_path(socket: Option<PathBuf>, config: Option<PathBuf>) -> Result<PathBuf, Failure> {
    match (socket, config) {
        (Some(socket), _) => Ok(socket),
        (None, Some(config)) => {
            Config::admin_socket_of(&config, &kluis::config::ProcessEnv).map_err(|e| fail(2, e))
        }
        (None, None) => Err(fail(
            2,
            "name the vault with --config FILE or --socket PATH (or KLUIS_CONFIG)",
        )),
    }
}

/// One call; the body on success, the vault's own explanation as the failure otherwise.
async fn call(
    socket: &Path,
    method: Method,
    uri: &str,
    body: Option<Vec<u8>>,
) -> Result<Vec<u8>, Failure> {
    let (status, body) = kluis::admin::call(socket, method, uri, body)
        .await
        .map_err(|e| fail(1, e))?;
    if status.is_success() {
        return Ok(body);
    }
    let problem: Option<kluis_proto::Problem> = serde_json::from_slice(&body).ok();
    Err(fail(
        1,
        problem
            .map(|p| p.detail.unwrap_or(p.title))
            .unwrap_or_else(|| format!("the vault answered {status}")),
    ))
}

/// `kluis keys rotate`: the vault's answer (`kek_version`, `vaults_rewrapped`).
pub async fn keys_rotate(socket: &Path) -> Result<Value, Failure> {
    parse(&call(socket, Method::POST, "/admin/keys/rotate", None).await?)
}

/// `kluis backup`: the vault's answer (`files`, `bytes`, `audit_entries`, `rows`).
pub async fn backup(socket: &Path, to: &Path) -> Result<Value, Failure> {
    let body = serde_json::to_vec(&serde_json::json!({ "to": to }))
        .map_err(|e| fail(1, format!("encoding the request: {e}")))?;
    parse(&call(socket, Method::POST, "/admin/backup", Some(body)).await?)
}

/// `kluis keys rotate --signing`: the vault's answer (`kid`, `signs_from`).
pub async fn keys_rotate_signing(socket: &Path, lead_seconds: i64) -> Result<Value, Failure> {
    let body = serde_json::to_vec(&serde_json::json!({ "lead_seconds": lead_seconds }))
        .map_err(|e| fail(1, format!("encoding the request: {e}")))?;
    parse(
        &call(
            socket,
            Method::POST,
            "/admin/keys/rotate-signing",
            Some(body),
        )
        .await?,
    )
}

/// `kluis keys rotate --root-key-file`: the vault's answer (`files`).
pub async fn keys_rotate_root(socket: &Path, new_root: Value) -> Result<Value, Failure> {
    let body =
        serde_json::to_vec(&new_root).map_err(|e| fail(1, format!("encoding the request: {e}")))?;
    parse(&call(socket, Method::POST, "/admin/keys/rotate-root", Some(body)).await?)
}

/// An id as it may go into a path: lowercase letters, digits and dashes.
fn path_id(id: &str, what: &str) -> Result<(), Failure> {
    if kluis::ids::is_id(id) {
        Ok(())
    } else {
        Err(fail(
            2,
            format!("a {what} id is 2 to 64 lowercase letters, digits and dashes"),
        ))
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(body)
        .map_err(|e| fail(1, format!("unexpected answer from the vault: {e}")))
}

fn print_department(d: &DepartmentInfo) {
    let activities: Vec<String> = d
        .processing_activities
        .iter()
        .map(|a| format!("{} v{}", a.id, a.version))
        .collect();
    let state = if d.disabled { "DISABLED" } else { "enabled" };
    println!("{}\t{}\t{state}\t{}", d.id, d.name, activities.join(", "));
}

/// `kluis department add --file F`.
pub async fn department_add(socket: &Path, file: &Path) -> Result<(), Failure> {
    let text =
        std::fs::read(file).map_err(|e| fail(2, format!("cannot read {}: {e}", file.display())))?;
    let spec: DepartmentSpec = serde_json::from_slice(&text).map_err(|e| {
        fail(
            2,
            format!("{} is not a department registration: {e}", file.display()),
        )
    })?;
    path_id(&spec.id, "department")?;
    let body = call(
        socket,
        Method::PUT,
        &format!("/admin/departments/{}", spec.id),
        Some(text),
    )
    .await?;
    print_department(&parse(&body)?);
    Ok(())
}

/// `kluis department list`.
pub async fn department_list(socket: &Path) -> Result<(), Failure> {
    let all: Vec<DepartmentInfo> =
        parse(&call(socket, Method::GET, "/admin/departments", None).await?)?;
    all.iter().for_each(print_department);
    Ok(())
}

/// `kluis department disable|enable ID`.
pub async fn department_set(socket: &Path, id: &str, enable: bool) -> Result<(), Failure> {
    path_id(id, "department")?;
    let verb = if enable { "enable" } else { "disable" };
    print_department(&parse(
        &call(
            socket,
            Method::POST,
            &format!("/admin/departments/{id}/{verb}"),
            None,
        )
        .await?,
    )?);
    Ok(())
}

fn print_officer(o: &Value) {
    let state = if o["revoked"] == true {
        "WITHDRAWN"
    } else {
        "valid"
    };
    println!(
        "{}\t{}\t{state} until {}",
        o["id"].as_str().unwrap_or(""),
        o["name"].as_str().unwrap_or(""),
        o["expires_at"].as_str().unwrap_or("")
    );
}

/// `kluis officer add --id ID --name NAME [--days N]`: prints the credential once.
pub async fn officer_add(socket: &Path, id: &str, name: &str, days: u32) -> Result<(), Failure> {
    path_id(id, "officer")?;
    let body = serde_json::json!({"id": id, "name": name, "days": days})
        .to_string()
        .into_bytes();
    let officer: Value = parse(&call(socket, Method::POST, "/admin/officers", Some(body)).await?)?;
    print_officer(&officer);
    println!("credential (shown once; give it to the officer over a safe channel):");
    println!("{}", officer["token"].as_str().unwrap_or(""));
    Ok(())
}

/// `kluis officer list`.
pub async fn officer_list(socket: &Path) -> Result<(), Failure> {
    let all: Vec<Value> = parse(&call(socket, Method::GET, "/admin/officers", None).await?)?;
    all.iter().for_each(print_officer);
    Ok(())
}

/// `kluis officer revoke ID`.
pub async fn officer_revoke(socket: &Path, id: &str) -> Result<(), Failure> {
    path_id(id, "officer")?;
    print_officer(&parse(
        &call(
            socket,
            Method::POST,
            &format!("/admin/officers/{id}/revoke"),
            None,
        )
        .await?,
    )?);
    Ok(())
}

fn print_coach(c: &Value) {
    let state = match c["removed_at"].as_str() {
        Some(at) => format!("REMOVED {at}"),
        None => "active".into(),
    };
    println!(
        "{}\t{}\t{}\t{}:{}\t{state}",
        c["id"].as_str().unwrap_or(""),
        c["name"].as_str().unwrap_or(""),
        c["department"].as_str().unwrap_or(""),
        c["provider"].as_str().unwrap_or(""),
        c["subject"].as_str().unwrap_or("")
    );
}

/// `kluis coach add --id ID --name NAME --department D [--provider P] --subject S`.
pub async fn coach_add(socket: &Path, id: &str, body: Value) -> Result<(), Failure> {
    path_id(id, "coach")?;
    let coach: Value = parse(
        &call(
            socket,
            Method::POST,
            "/admin/coaches",
            Some(body.to_string().into_bytes()),
        )
        .await?,
    )?;
    print_coach(&coach);
    println!("registered coach {id}: they log in through the staff provider");
    Ok(())
}

/// `kluis coach list`.
pub async fn coach_list(socket: &Path) -> Result<(), Failure> {
    let all: Vec<Value> = parse(&call(socket, Method::GET, "/admin/coaches", None).await?)?;
    all.iter().for_each(print_coach);
    println!("{} coach(es)", all.len());
    Ok(())
}

/// `kluis coach remove ID`.
pub async fn coach_remove(socket: &Path, id: &str) -> Result<(), Failure> {
    path_id(id, "coach")?;
    print_coach(&parse(
        &call(
            socket,
            Method::POST,
            &format!("/admin/coaches/{id}/remove"),
            None,
        )
        .await?,
    )?);
    println!("removed coach {id}: their next page is refused");
    Ok(())
}

fn write_out(out: Option<&Path>, body: &[u8]) -> Result<(), Failure> {
    match out {
        Some(path) => std::fs::write(path, body)
            .map_err(|e| fail(1, format!("cannot write {}: {e}", path.display()))),
        None => {
            use std::io::Write;
            std::io::stdout().write_all(body).map_err(|e| fail(1, e))
        }
    }
}

/// `kluis audit export [--from N] [--to M] [--out FILE]`.
pub async fn audit_export(
    socket: &Path,
    from: Option<u64>,
    to: Option<u64>,
    out: Option<&Path>,
) -> Result<(), Failure> {
    let mut uri = "/admin/audit/export?".to_owned();
    if let Some(from) = from {
        uri.push_str(&format!("from_seq={from}&"));
    }
    if let Some(to) = to {
        uri.push_str(&format!("to_seq={to}&"));
    }
    write_out(
        out,
        &call(socket, Method::GET, uri.trim_end_matches(['?', '&']), None).await?,
    )
}

/// `kluis audit checkpoint [--out FILE]`: a fresh signed checkpoint to keep.
pub async fn audit_checkpoint(socket: &Path, out: Option<&Path>) -> Result<(), Failure> {
    let mut token = call(socket, Method::GET, "/admin/audit/checkpoint", None).await?;
    token.push(b'\n');
    write_out(out, &token)
}
