//! The `kluis` command: parse the command line, load the configuration, run.
//!
//! - `kluis serve --config FILE`: the production server. Refuses to start without a root
//!   key or with any configuration error, printing one line that says what to fix.
//! - `kluis dev`: a complete local vault for trying Kluis out: temporary data (or
//!   `--data DIR`), generated keys, Henk's demo vault and the development login.
//! - `kluis keys generate-root|rotate`: key management for operators.
//! - `kluis department add|list|disable|enable`: department registration, through the
//!   running vault's local admin socket.

use clap::{Parser, Subcommand};
use kluis::crypto::RootKey;
use kluis::{App, Clock, Config};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "kluis",
    version,
    about = "Kluis: a personal data vault for the Dutch social domain"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the vault with a configuration file (production).
    Serve {
        /// The configuration file (TOML); see docs/operations.md.
        #[arg(long, env = "KLUIS_CONFIG")]
        config: PathBuf,
    },
    /// Run a complete local development vault with Henk's demo data. NOT FOR PRODUCTION.
    Dev {
        /// Keep the vault in DIR (created if needed) instead of a temporary directory.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// Manage keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Register and manage departments (through the running vault's admin socket).
    Department {
        /// The vault's admin socket (default: data_dir/admin.sock of --config).
        #[arg(long, env = "KLUIS_ADMIN_SOCKET", global = true)]
        socket: Option<PathBuf>,
        /// The vault's configuration file, to find its admin socket.
        #[arg(long, env = "KLUIS_CONFIG", global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: DepartmentCommand,
    },
}

#[derive(Subcommand)]
enum DepartmentCommand {
    /// Register a department, or update it, from a JSON file (see docs/departments.md).
    Add {
        /// The department's registration: id, name, JWKS, processing activities.
        #[arg(long)]
        file: PathBuf,
    },
    /// List the registered departments.
    List,
    /// Disable a department: every call it makes is refused at once, reads included.
    Disable {
        /// The department id.
        id: String,
    },
    /// Enable a disabled department again.
    Enable {
        /// The department id.
        id: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Write a new random root key to FILE (readable by its owner only).
    GenerateRoot {
        /// Where to write the key; an existing file is never overwritten.
        #[arg(long)]
        out: PathBuf,
    },
    /// Rotate the key-encryption key now: rewrap every vault's data key and destroy the
    /// old KEK. Run with the vault stopped.
    Rotate {
        /// The configuration file of the vault.
        #[arg(long, env = "KLUIS_CONFIG")]
        config: PathBuf,
    },
}

/// An error for the user: one line, and the exit code to leave with.
struct Failure {
    message: String,
    code: u8,
}

fn fail(code: u8, message: impl std::fmt::Display) -> Failure {
    Failure {
        message: message.to_string(),
        code,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve { config } => serve(&config).await,
            Command::Dev { data, listen } => dev(data, listen).await,
            Command::Keys {
                command: KeysCommand::GenerateRoot { out },
            } => generate_root(&out),
            Command::Keys {
                command: KeysCommand::Rotate { config },
            } => rotate(&config).await,
            Command::Department {
                socket,
                config,
                command,
            } => department(socket, config, command).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KLUIS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sled=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if std::env::var("KLUIS_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn load_config(path: &Path) -> Result<Config, Failure> {
    Config::load(path, &kluis::config::ProcessEnv).map_err(|e| fail(2, e))
}

async fn bind(addr: SocketAddr) -> Result<(tokio::net::TcpListener, String), Failure> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| fail(1, format!("cannot listen on {addr}: {e} (choose another address with --listen or [server] listen)")))?;
    let bound = listener.local_addr().map_err(|e| fail(1, e))?;
    Ok((listener, format!("http://{bound}")))
}

async fn serve(config_path: &Path) -> Result<(), Failure> {
    let config = load_config(config_path)?;
    let (listener, bound_url) = bind(config.listen).await?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| bound_url.clone());
    let app = App::open(&config, Clock::system(), public_url)
        .await
        .map_err(|e| fail(1, e))?;
    println!("listening on {bound_url}");
    tracing::info!(url = %bound_url, "kluis serving");
    serve_both(listener, &config.admin_socket, app).await
}

/// Serves the public listener and the admin socket until Ctrl-C or SIGTERM.
async fn serve_both(
    listener: tokio::net::TcpListener,
    admin_socket: &Path,
    app: App,
) -> Result<(), Failure> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stopped| *stopped).await;
    };
    let admin = kluis::admin::serve(admin_socket, app.admin_router(), wait(stopped.clone()));
    let public = kluis::run(listener, app, wait(stopped));
    let (admin, public) = tokio::join!(admin, public);
    admin.map_err(|e| fail(1, format!("admin socket {}: {e}", admin_socket.display())))?;
    public.map_err(|e| fail(1, e))
}

async fn dev(data: Option<PathBuf>, listen: SocketAddr) -> Result<(), Failure> {
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
    let (listener, url) = bind(listen).await?;
    let config = Config::development(&dir, listen, root_key);
    let app = App::open(&config, Clock::system(), url.clone())
        .await
        .map_err(|e| fail(1, e))?;
    let context = kluis::audit::Context::new(app.clock());
    kluis::dev::seed_henk(&context, app.residents())
        .await
        .map_err(|e| fail(1, format!("seeding Henk's vault: {e}")))?;
    let key_dir = dir.join("departments");
    kluis::dev::seed_departments(&context, app.consent(), &key_dir)
        .await
        .map_err(|e| fail(1, format!("registering the demo departments: {e}")))?;
    tracing::warn!("development vault with the development login: NOT FOR PRODUCTION");
    let kept = if data.is_some() {
        "kept after exit"
    } else {
        "deleted at exit; keep it with --data DIR"
    };
    println!(
        "Kluis development vault (NOT FOR PRODUCTION: anyone who can reach it can log in as anyone)
listening on {url}
  data directory: {dir} ({kept})
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
    serve_both(listener, &config.admin_socket, app).await
}

/// The development root key: `DIR/root.key`, generated on first use.
fn dev_root_key(dir: &Path) -> Result<RootKey, Failure> {
    let path = dir.join("root.key");
    if path.exists() {
        let encoded = std::fs::read_to_string(&path)
            .map_err(|e| fail(1, format!("{}: {e}", path.display())))?;
        return RootKey::from_encoded(&encoded)
            .map_err(|e| fail(1, format!("{}: {e}", path.display())));
    }
    let key = RootKey::generate().map_err(|e| fail(1, e))?;
    write_new_secret_file(&path, key.encode().as_bytes())?;
    Ok(key)
}

fn write_new_secret_file(path: &Path, contents: &[u8]) -> Result<(), Failure> {
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

fn generate_root(out: &Path) -> Result<(), Failure> {
    let key = RootKey::generate().map_err(|e| fail(1, e))?;
    write_new_secret_file(out, key.encode().as_bytes())?;
    println!(
        "wrote a new root key to {}; keep a copy somewhere safe: without it the vault cannot be opened",
        out.display()
    );
    Ok(())
}

async fn rotate(config_path: &Path) -> Result<(), Failure> {
    let config = load_config(config_path)?;
    let app = App::open(&config, Clock::system(), String::new())
        .await
        .map_err(|e| fail(1, e))?;
    let (version, rewrapped) = app
        .residents()
        .rotate_keys(&kluis::audit::Context::new(app.clock()))
        .await
        .map_err(|e| fail(1, e))?;
    println!(
        "rotated: key-encryption key {version} is current; {rewrapped} vaults rewrapped; older keys destroyed"
    );
    Ok(())
}

async fn department(
    socket: Option<PathBuf>,
    config: Option<PathBuf>,
    command: DepartmentCommand,
) -> Result<(), Failure> {
    use hyper::Method;
    let socket = match (socket, config) {
        (Some(socket), _) => socket,
        (None, Some(config)) => {
            Config::admin_socket_of(&config, &kluis::config::ProcessEnv).map_err(|e| fail(2, e))?
        }
        (None, None) => {
            return Err(fail(
                2,
                "name the vault with --config FILE or --socket PATH (or KLUIS_CONFIG)",
            ));
        }
    };
    let (method, uri, body) = match &command {
        DepartmentCommand::Add { file } => {
            let text = std::fs::read(file)
                .map_err(|e| fail(2, format!("cannot read {}: {e}", file.display())))?;
            let spec: kluis_proto::consent::DepartmentSpec = serde_json::from_slice(&text)
                .map_err(|e| {
                    fail(
                        2,
                        format!("{} is not a department registration: {e}", file.display()),
                    )
                })?;
            (
                Method::PUT,
                format!("/admin/departments/{}", spec.id),
                Some(text),
            )
        }
        DepartmentCommand::List => (Method::GET, "/admin/departments".to_owned(), None),
        DepartmentCommand::Disable { id } => (
            Method::POST,
            format!("/admin/departments/{id}/disable"),
            None,
        ),
        DepartmentCommand::Enable { id } => (
            Method::POST,
            format!("/admin/departments/{id}/enable"),
            None,
        ),
    };
    if !uri.is_ascii() || uri.contains(['?', '#', ' ']) {
        return Err(fail(
            2,
            "a department id is lowercase letters, digits and dashes",
        ));
    }
    let (status, body) = kluis::admin::call(&socket, method, &uri, body)
        .await
        .map_err(|e| fail(1, e))?;
    if !status.is_success() {
        let problem: Option<kluis_proto::Problem> = serde_json::from_slice(&body).ok();
        let message = problem
            .map(|p| p.detail.unwrap_or(p.title))
            .unwrap_or_else(|| format!("the vault answered {status}"));
        return Err(fail(1, message));
    }
    let print = |d: &kluis_proto::consent::DepartmentInfo| {
        let activities: Vec<String> = d
            .processing_activities
            .iter()
            .map(|a| format!("{} v{}", a.id, a.version))
            .collect();
        let state = if d.disabled { "DISABLED" } else { "enabled" };
        println!("{}\t{}\t{state}\t{}", d.id, d.name, activities.join(", "));
    };
    match command {
        DepartmentCommand::List => {
            let all: Vec<kluis_proto::consent::DepartmentInfo> = serde_json::from_slice(&body)
                .map_err(|e| fail(1, format!("unexpected answer: {e}")))?;
            all.iter().for_each(print);
        }
        _ => {
            let one: kluis_proto::consent::DepartmentInfo = serde_json::from_slice(&body)
                .map_err(|e| fail(1, format!("unexpected answer: {e}")))?;
            print(&one);
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}
