//! The local admin socket: where operators register and disable departments while the
//! vault runs.
//!
//! The vault serves [`crate::http::admin`]'s routes on a Unix socket (by default
//! `data_dir/admin.sock`) inside a directory only the vault's user can enter, so the
//! operating system's permissions decide who is an operator; nothing of it is reachable
//! over the network. `kluis department ...` talks to it with [`call`].

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use std::future::Future;
use std::path::Path;

/// Binds the Unix socket at `path` (owner-only). A stale socket left by a crash is
/// replaced; the caller holds the store's lock, so no other vault uses it. Bound before
/// the vault says it listens, so a client that waits for that finds the socket.
pub fn bind(path: &Path) -> std::io::Result<AdminListener> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            m.file_type().is_socket()
        }
        #[cfg(not(unix))]
        {
            let _ = m;
            false
        }
    }) {
        std::fs::remove_file(path)?;
    }
    // With PostgreSQL nothing else makes the data directory the socket lives in.
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    let listener = tokio::net::UnixListener::bind(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(AdminListener {
        listener,
        path: path.to_owned(),
    })
}

/// A bound admin socket, not yet served.
pub struct AdminListener {
    listener: tokio::net::UnixListener,
    path: std::path::PathBuf,
}

impl AdminListener {
    /// Serves `router` until `shutdown`, then removes the socket file.
    pub async fn serve(
        self,
        router: axum::Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let served = axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await;
        let _ = std::fs::remove_file(&self.path);
        served
    }
}

/// Sends one request to the admin socket; returns the status and the body.
pub async fn call(
    path: &Path,
    method: Method,
    uri: &str,
    body: Option<Vec<u8>>,
) -> Result<(StatusCode, Vec<u8>), String> {
    let stream = tokio::net::UnixStream::connect(path)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => format!(
                "no vault is listening on {}; is it running? (start it with `kluis serve`)",
                path.display()
            ),
            std::io::ErrorKind::PermissionDenied => format!(
                "permission denied on {}: run this as the vault's user",
                path.display()
            ),
            _ => format!("cannot connect to {}: {e}", path.display()),
        })?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("admin socket handshake: {e}"))?;
    tokio::spawn(connection);
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(hyper::header::HOST, "localhost")
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .map_err(|e| format!("admin request: {e}"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("admin request: {e}"))?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("admin response: {e}"))?
        .to_bytes();
    Ok((status, bytes.to_vec()))
}
