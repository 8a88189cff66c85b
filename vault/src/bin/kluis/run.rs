//! Running a vault: `kluis serve` (production) and `kluis dev` (local development).

use crate::keys::write_new_secret_file;
use crate::{Failure, fail, load_config};
use kluis::crypto::RootKey;
use kluis::{App, Config};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

async fn bind(addr: SocketAddr) -> Result<(tokio::net::TcpListener, String), Failure> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| fail(1, format!("cannot listen on {addr}: {e} (choose another address with --listen or [server] listen)")))?;
    let bound = listener.local_addr().map_err(|e| fail(1, e))?;
    Ok((listener, format!("http://{bound}")))
}

pub async fn serve(config_path: &Path) -> Result<(), Failure> {
    let config = load_config(config_path)?;
    let (listener, bound_url) = bind(config.listen).await?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| bound_url.clone());
    let app = crate::open_app(&config, public_url).await?;
    let admin = bind_admin(&config.admin_socket)?;
    let metrics = bind_metrics(config.metrics_listen).await?;
    let shutdown = shutdown_signal();
    println!("listening on {bound_url}");
    tracing::info!(url = %bound_url, "kluis serving");
    serve_both(listener, (admin, metrics), app, shutdown).await
}

/// The metrics listener, when `[metrics] listen` asks for one; says where it listens.
async fn bind_metrics(
    listen: Option<SocketAddr>,
) -> Result<Option<tokio::net::TcpListener>, Failure> {
    let Some(addr) = listen else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        fail(
            1,
            format!(
                "cannot listen for metrics on {addr}: {e} (choose another [metrics] listen address)"
            ),
        )
    })?;
    let bound = listener.local_addr().map_err(|e| fail(1, e))?;
    println!("metrics on http://{bound}/metrics");
    Ok(Some(listener))
}

/// Serves the public listener, the admin socket and the metrics listener (if any) until
/// Ctrl-C or SIGTERM.
async fn serve_both(
    listener: tokio::net::TcpListener,
    (admin, metrics): (kluis::admin::AdminListener, Option<tokio::net::TcpListener>),
    app: App,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Failure> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stopped| *stopped).await;
    };
    let admin = admin.serve(app.admin_router(), wait(stopped.clone()));
    let metrics = async {
        match metrics {
            Some(listener) => {
                let header_read = app.limits().header_read;
                kluis::http::listener::serve(
                    listener,
                    app.metrics_router(),
                    header_read,
                    wait(stopped.clone()),
                )
                .await
            }
            None => Ok(()),
        }
    };
    let public = kluis::run(listener, app.clone(), wait(stopped.clone()));
    let (admin, metrics, public) = tokio::join!(admin, metrics, public);
    admin.map_err(|e| fail(1, format!("admin socket: {e}")))?;
    metrics.map_err(|e| fail(1, format!("metrics listener: {e}")))?;
    public.map_err(|e| fail(1, e))
}

pub async fn dev(
    data: Option<PathBuf>,
    listen: SocketAddr,
    store_url: Option<String>,
    public_url: Option<String>,
) -> Result<(), Failure> {
    // The temporary directory lives until this function returns, then is removed.
    let temp = match &data {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("kluis-dev-")
                .tempdir()
                .map_err(|e| fail(1, e))?,
        ),
    };
    let dir = data.clone().unwrap_or_else(|| {
        temp.as_ref()
            .map(|t| t.path().to_owned())
            .unwrap_or_default()
    });
    std::fs::create_dir_all(&dir)
        .map_err(|e| fail(1, format!("cannot create {}: {e}", dir.display())))?;
    let root_key = dev_root_key(&dir)?;
    let public_url = public_url
        .map(|u| {
            kluis::config::validate_public_url(&u).map_err(|_| {
                fail(2, format!("--public-url {u:?} is not an http(s) URL such as \"http://kluis.test:8080\""))
            })
        })
        .transpose()?;
    let (listener, bound_url) = bind(listen).await?;
    let url = public_url.unwrap_or_else(|| bound_url.clone());
    let mut config = Config::development(&dir, listen, root_key);
    if let Some(url) = store_url {
        config.store = kluis::config::StoreKind::Postgres(kluis::config::PostgresSettings {
            url,
            pool_size: kluis::config::DEFAULT_POOL_SIZE,
            ca_file: None,
        });
    }
    let database = match &config.store {
        kluis::config::StoreKind::Sled => dir.join("data").display().to_string(),
        kluis::config::StoreKind::Postgres(settings) => {
            kluis::store::postgres::describe(&settings.url)
        }
    };
    config.limits =
        kluis::config::Limits::from_env(&kluis::config::ProcessEnv).map_err(|e| fail(1, e))?;
    config.metrics_listen =
        kluis::config::metrics_listen(&kluis::config::ProcessEnv, None).map_err(|e| fail(2, e))?;
    config.cache_bytes =
        kluis::config::cache_bytes(&kluis::config::ProcessEnv, None).map_err(|e| fail(2, e))?;
    let app = crate::open_app(&config, url.clone()).await?;
    let context = kluis::audit::Context::new(app.clock());
    kluis::dev::seed_henk(&context, app.residents())
        .await
        .map_err(|e| fail(1, format!("seeding Henk's vault: {e}")))?;
    let key_dir = dir.join("departments");
    kluis::dev::seed_departments(&context, app.consent(), &key_dir)
        .await
        .map_err(|e| fail(1, format!("registering the demo departments: {e}")))?;
    kluis::dev::seed_requests(&context, app.residents(), app.consent())
        .await
        .map_err(|e| fail(1, format!("asking Henk for access: {e}")))?;
    kluis::dev::seed_coach(app.coaching().coaches())
        .await
        .map_err(|e| fail(1, format!("adding the demo coach: {e}")))?;
    tracing::warn!("development vault with the development login: NOT FOR PRODUCTION");
    let kept = if data.is_some() {
        "kept after exit"
    } else {
        "deleted at exit; keep it with --data DIR"
    };
    let admin = bind_admin(&config.admin_socket)?;
    let metrics = bind_metrics(config.metrics_listen).await?;
    let shutdown = shutdown_signal();
    println!(
        "Kluis development vault (NOT FOR PRODUCTION: anyone who can reach it can log in as anyone)
listening on {bound_url}
  portal:         {url}/ (press \"Inloggen als testpersoon\" to open Henk's vault)
  coach:          {url}/ (press \"Inloggen als testcoach\"; in another browser, Henk lets her look along)
  data directory: {dir} ({kept})
  database:       {database}
  log in as Henk: curl -s -X POST {url}/dev/login -H 'content-type: application/json' -d '{{\"subject\":\"henk\"}}'
  then:           curl -s {url}/v1/me/records -H 'authorization: Bearer <token>'
  health:         curl {url}/healthz
  API reference:  {url}/openapi.json
  departments:    werk-en-inkomen, schuldhulpverlening, jeugdhulp; their private keys are in {keys}
  Henk's journey: cargo run --example henks_journey -- --vault {url} --keys {keys}
  admin socket:   kluis department list --socket {socket}
Press Ctrl-C to stop.",
        dir = dir.display(),
        keys = key_dir.display(),
        socket = config.admin_socket.display(),
    );
    let _ = std::io::stdout().flush();
    serve_both(listener, (admin, metrics), app, shutdown).await
}

fn bind_admin(path: &Path) -> Result<kluis::admin::AdminListener, Failure> {
    kluis::admin::bind(path).map_err(|e| {
        fail(
            1,
            format!("cannot open the admin socket {}: {e}", path.display()),
        )
    })
}

/// The development root key: in the PKCS#11 token `KLUIS_PKCS11_*` names, or else
/// `DIR/root.key`, generated on first use.
fn dev_root_key(dir: &Path) -> Result<RootKey, Failure> {
    if let Some(token) = kluis::config::token_settings_from_env(&kluis::config::ProcessEnv)
        .map_err(|e| fail(2, e))?
    {
        return RootKey::in_token(&token)
            .map_err(|e| fail(1, format!("the root key's token (KLUIS_PKCS11_*): {e}")));
    }
    let path = dir.join("root.key");
    if path.exists() {
        let encoded = std::fs::read_to_string(&path)
            .map_err(|e| fail(1, format!("{}: {e}", path.display())))?;
        return RootKey::from_encoded(&encoded)
            .map_err(|e| fail(1, format!("{}: {e}", path.display())));
    }
    let encoded = RootKey::generate_encoded().map_err(|e| fail(1, e))?;
    write_new_secret_file(&path, encoded.as_bytes())?;
    RootKey::from_encoded(&encoded).map_err(|e| fail(1, e))
}

/// Ctrl-C or SIGTERM. The handlers are registered when this is called, not when the future
/// is first polled: a vault that has said "listening on" must never die of a signal it
/// was about to handle.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (term, interrupt) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        match (term, interrupt) {
            (Some(mut term), Some(mut interrupt)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = interrupt.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    }
}
