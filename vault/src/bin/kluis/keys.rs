//! Key management: `kluis keys generate-root|rotate`.

use crate::{Failure, fail};
use kluis::crypto::RootKey;
use std::io::Write;
use std::path::Path;

pub fn write_new_secret_file(path: &Path, contents: &[u8]) -> Result<(), Failure> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => fail(
            1,
            format!(
                "{} already exists; refusing to overwrite a key",
                path.display()
            ),
        ),
        _ => fail(1, format!("cannot create {}: {e}", path.display())),
    })?;
    file.write_all(contents)
        .and_then(|_| file.write_all(b"\n"))
        .and_then(|_| file.sync_all())
        .map_err(|e| fail(1, format!("cannot write {}: {e}", path.display())))
}

/// A new root key: in a file, or (`--pkcs11`) inside the token `KLUIS_PKCS11_*` names.
pub fn generate_root(out: Option<&Path>) -> Result<(), Failure> {
    let Some(out) = out else {
        let token = kluis::config::token_settings_from_env(&kluis::config::ProcessEnv)
            .map_err(|e| fail(2, e))?
            .ok_or_else(|| {
                fail(
                    2,
                    "--pkcs11 needs KLUIS_PKCS11_MODULE, KLUIS_PKCS11_TOKEN, KLUIS_PKCS11_KEY and KLUIS_PKCS11_PIN_FILE",
                )
            })?;
        token.generate().map_err(|e| fail(1, e))?;
        println!(
            "created the root key {:?} inside the token {:?}; it cannot be exported, so keep the token (and its backup) safe",
            token.key, token.token
        );
        return Ok(());
    };
    let encoded = RootKey::generate_encoded().map_err(|e| fail(1, e))?;
    write_new_secret_file(out, encoded.as_bytes())?;
    println!(
        "wrote a new root key to {}; keep a copy somewhere safe: without it the vault cannot be opened",
        out.display()
    );
    Ok(())
}

/// `kluis keys rotate`: the running vault rotates its KEK online.
pub async fn rotate(socket: &Path) -> Result<(), Failure> {
    println!(
        "rotating the key-encryption key; every vault's data key is rewrapped while the vault serves"
    );
    let done = crate::admin::keys_rotate(socket).await?;
    println!(
        "rotated: key-encryption key {} is current; {} vaults rewrapped; older keys destroyed",
        done["kek_version"], done["vaults_rewrapped"]
    );
    Ok(())
}

/// `kluis keys rotate --signing`: the running vault stages a new grant-signing key.
pub async fn rotate_signing(socket: &Path, lead_seconds: i64) -> Result<(), Failure> {
    let done = crate::admin::keys_rotate_signing(socket, lead_seconds).await?;
    println!(
        "rotated: signing key {} is published now and signs from {}; the old key stays published until the last grant it signed has ended",
        done["kid"].as_str().unwrap_or_default(),
        done["signs_from"].as_str().unwrap_or_default()
    );
    Ok(())
}

/// Where the new root key of `kluis keys rotate` is.
pub enum NewRoot<'a> {
    /// A key file (`--root-key-file`).
    File(&'a Path),
    /// A key in the token that holds the root key now (`--root-pkcs11-key`).
    InToken(&'a str),
}

/// `kluis keys rotate --root-key-file FILE | --root-pkcs11-key LABEL`: the running vault
/// seals its key directory again under the new root key.
pub async fn rotate_root(socket: &Path, new: NewRoot<'_>) -> Result<(), Failure> {
    let (body, named) = match new {
        NewRoot::File(file) => {
            let file = std::path::absolute(file)
                .map_err(|e| fail(2, format!("{}: {e}", file.display())))?;
            let named = format!("the root key in {}", file.display());
            (serde_json::json!({ "key_file": file }), named)
        }
        NewRoot::InToken(label) => (
            serde_json::json!({ "pkcs11_key": label }),
            format!("the token's key {label:?}"),
        ),
    };
    let done = crate::admin::keys_rotate_root(socket, body).await?;
    println!(
        "rotated: {} key files sealed again under {named}; the old root key opens nothing now: configure the new one before the vault starts again",
        done["files"]
    );
    Ok(())
}
