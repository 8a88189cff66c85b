// Long: the whole command line (every subcommand and its flags) is one clap enum, dispatched next to it.
//! The `kluis` command: parse the command line, load the configuration, run.
//!
//! - `kluis serve --config FILE`: the production server. Refuses to start without a root
//!   key or with any configuration error, printing one line that says what to fix.
//! - `kluis dev`: a complete local vault for trying Kluis out: temporary data (or
//!   `--data DIR`), generated keys, Henk's demo vault and the development login.
//! - `kluis keys generate-root|rotate`: key management for operators.
//! - `kluis migrate --from-sled DIR --to URL`: a sled vault into PostgreSQL, checked.
//! - `kluis backup --to DIR` (admin socket), `kluis restore --from DIR --data DIR`.
//! - `kluis department add|list|disable|enable`, `kluis officer add|list|revoke`,
//!   `kluis coach add|list|remove`,
//!   `kluis audit export|checkpoint`: through the running vault's local admin socket.
//! - `kluis audit verify`: checks an audit export offline.
//!
//! One file per group of commands: [`run`], [`keys`], [`migrate`], [`backup`], [`admin`],
//! [`audit`].

mod admin;
mod audit;
mod backup;
mod keys;
mod migrate;
mod run;

/// mimalloc instead of the system allocator: the database allocates and frees many small
/// buffers per request from many threads, and mimalloc does that with less CPU per read
/// than glibc's allocator (see docs/performance.md, which also says what it costs in memory).
/// Built without transparent huge pages (`no_thp`): with them, every 2 MiB region it
/// touched stayed resident whole, 40–60 MiB of a loaded vault's memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use kluis::Config;
use kluis::config::Env as _;
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
        /// Keep the vault's database in PostgreSQL at this URL instead of sled in DIR
        /// (keys stay in DIR).
        #[arg(long, env = "KLUIS_STORE_URL", hide_env_values = true)]
        store_url: Option<String>,
        /// The URL browsers and departments use, when it is not the listening address: a
        /// proxy in front, or several nodes on one database behind one name.
        #[arg(long)]
        public_url: Option<String>,
    },
    /// Manage keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Register and manage departments (through the running vault's admin socket).
    Department {
        #[command(flatten)]
        vault: VaultSocket,
        #[command(subcommand)]
        command: DepartmentCommand,
    },
    /// Issue and withdraw privacy officers' credentials (through the admin socket).
    Officer {
        #[command(flatten)]
        vault: VaultSocket,
        #[command(subcommand)]
        command: OfficerCommand,
    },
    /// Register and remove coaches who may look along with residents (admin socket).
    Coach {
        #[command(flatten)]
        vault: VaultSocket,
        #[command(subcommand)]
        command: CoachCommand,
    },
    /// Copy a stopped sled vault into an empty PostgreSQL database, then check the copy.
    Migrate {
        /// The sled vault: a `kluis dev --data` directory, or a data directory with --config.
        #[arg(long = "from-sled", value_name = "DIR")]
        from_sled: PathBuf,
        /// The PostgreSQL database (empty) to copy it into; better in KLUIS_STORE_URL, where
        /// other users of the machine cannot see its password.
        #[arg(
            long,
            value_name = "URL",
            env = "KLUIS_STORE_URL",
            hide_env_values = true
        )]
        to: String,
        /// The vault's configuration file (for its keys), unless DIR is a `kluis dev` one.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Write a consistent backup of the running vault into a new directory (admin socket).
    Backup {
        #[command(flatten)]
        vault: VaultSocket,
        /// The new directory (absent or empty) to write the backup into.
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
    },
    /// Check a backup against its manifest, restore it into new directories, and verify
    /// the restored vault.
    Restore {
        /// The backup (the directory `kluis backup --to` wrote).
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
        /// Where the vault goes: a `kluis dev --data` directory holding the vault's
        /// root.key, or with --config the new data directory.
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The configuration file naming the vault's (empty) key_dir and its root key.
        #[arg(long)]
        config: Option<PathBuf>,
        /// For a `kluis dev` directory whose vault keeps its data in PostgreSQL: the (empty)
        /// database to restore into (with --config, the configuration says where).
        #[arg(long, env = "KLUIS_STORE_URL", hide_env_values = true)]
        store_url: Option<String>,
    },
    /// Export, checkpoint and verify the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

/// How to reach a running vault's admin socket.
#[derive(clap::Args)]
struct VaultSocket {
    /// The vault's admin socket (default: data_dir/admin.sock of --config).
    #[arg(long, env = "KLUIS_ADMIN_SOCKET", global = true)]
    socket: Option<PathBuf>,
    /// The vault's configuration file, to find its admin socket.
    #[arg(long, env = "KLUIS_CONFIG", global = true)]
    config: Option<PathBuf>,
}

impl VaultSocket {
    fn path(self) -> Result<PathBuf, Failure> {
        admin::socket_path(self.socket, self.config)
    }
}

#[derive(Subcommand)]
enum OfficerCommand {
    /// Issue a credential to a privacy officer (replacing any earlier one); printed once.
    Add {
        /// The officer's id: lowercase letters, digits and dashes.
        #[arg(long)]
        id: String,
        /// The officer's name.
        #[arg(long)]
        name: String,
        /// Days the credential is valid (1 to 366).
        #[arg(long, default_value_t = 90)]
        days: u32,
    },
    /// List officers and whether their credentials are valid.
    List,
    /// Withdraw an officer's credential at once.
    Revoke {
        /// The officer's id.
        id: String,
    },
}

#[derive(Subcommand)]
enum CoachCommand {
    /// Register a coach (or change one): who they are and which staff login is theirs.
    Add {
        /// The coach's id: lowercase letters, digits and dashes.
        #[arg(long)]
        id: String,
        /// Their name, as residents see it.
        #[arg(long)]
        name: String,
        /// The department under whose responsibility they look along (registered).
        #[arg(long)]
        department: String,
        /// The staff OpenID Provider they log in with (its `name` in kluis.toml).
        #[arg(long, default_value = "staff")]
        provider: String,
        /// Their subject (`sub`) at that provider.
        #[arg(long)]
        subject: String,
    },
    /// List coaches, removed ones too.
    List,
    /// Remove a coach at once: they can no longer log in or look along.
    Remove {
        /// The coach's id.
        id: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Export entries with a signed checkpoint (through the admin socket).
    Export {
        #[command(flatten)]
        vault: VaultSocket,
        /// First entry (default 0).
        #[arg(long)]
        from: Option<u64>,
        /// One past the last entry (default: the whole log).
        #[arg(long)]
        to: Option<u64>,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Sign and print a checkpoint of the whole log (keep it to check later exports).
    Checkpoint {
        #[command(flatten)]
        vault: VaultSocket,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Verify an export offline: every hash, the checkpoint's signature, and consistency
    /// with an older checkpoint. Names the first entry that is wrong.
    Verify {
        /// The export file.
        export: PathBuf,
        /// The vault's published JWKS (/.well-known/jwks.json) to check signatures with.
        #[arg(long)]
        jwks: Option<PathBuf>,
        /// A checkpoint kept from before: the export must not rewrite the history it covers.
        #[arg(long)]
        since: Option<PathBuf>,
        /// The export's checkpoint as a C2SP signed note (GET /v1/officer/checkpoint-note
        /// ?size=N): its size and root must be the export's.
        #[arg(long, requires = "note_key")]
        note: Option<PathBuf>,
        /// The vault's note key (`note_key` of GET /v1/officer/checkpoint).
        #[arg(long)]
        note_key: Option<String>,
        /// A witness's cosignature/v1 key: the note must carry its valid cosignature.
        /// Repeat for several witnesses.
        #[arg(long = "witness-key", requires = "note")]
        witness_keys: Vec<String>,
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
        #[arg(long, required_unless_present = "pkcs11", conflicts_with = "pkcs11")]
        out: Option<PathBuf>,
        /// Create the key inside the PKCS#11 token named by KLUIS_PKCS11_MODULE,
        /// KLUIS_PKCS11_TOKEN, KLUIS_PKCS11_KEY and KLUIS_PKCS11_PIN_FILE instead: it never
        /// leaves the token.
        #[arg(long)]
        pkcs11: bool,
    },
    /// Rotate the key-encryption key now, while the vault serves (through its admin
    /// socket): rewrap every vault's data key and destroy the old KEK. With --signing,
    /// rotate the grant-signing key instead.
    Rotate {
        #[command(flatten)]
        vault: VaultSocket,
        /// Rotate the grant-signing key: a new key is published in the JWKS now and signs
        /// after --lead-seconds; the old one stays published until its grants have ended.
        #[arg(long)]
        signing: bool,
        /// Seconds the new signing key is published before it signs: at least the JWKS
        /// cache time (300) plus a minute for other nodes.
        #[arg(long, default_value_t = 600, requires = "signing")]
        lead_seconds: i64,
        /// Change the root key to the one in FILE (made by `kluis keys generate-root`):
        /// every file of key_dir is sealed again under it; configure it before the next
        /// start.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["signing", "root_pkcs11_key"])]
        root_key_file: Option<PathBuf>,
        /// Change the root key to the key LABEL in the PKCS#11 token that holds it now
        /// (made by `kluis keys generate-root --pkcs11` with KLUIS_PKCS11_KEY=LABEL).
        #[arg(long, value_name = "LABEL", conflicts_with = "signing")]
        root_pkcs11_key: Option<String>,
    },
}

/// An error for the user: one line, and the exit code to leave with.
pub struct Failure {
    message: String,
    code: u8,
}

pub fn fail(code: u8, message: impl std::fmt::Display) -> Failure {
    Failure {
        message: message.to_string(),
        code,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let env = kluis::config::ProcessEnv;
    init_logging(match &cli.command {
        Command::Serve { config } => kluis::config::log_json_in(config, &env),
        _ => kluis::config::log_json(env.var("KLUIS_LOG_FORMAT")).unwrap_or(false),
    });
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
            Command::Serve { config } => run::serve(&config).await,
            Command::Dev {
                data,
                listen,
                store_url,
                public_url,
            } => run::dev(data, listen, store_url, public_url).await,
            Command::Keys {
                command: KeysCommand::GenerateRoot { out, .. },
            } => keys::generate_root(out.as_deref()),
            Command::Keys {
                command:
                    KeysCommand::Rotate {
                        vault,
                        root_key_file: Some(file),
                        ..
                    },
            } => keys::rotate_root(&vault.path()?, keys::NewRoot::File(&file)).await,
            Command::Keys {
                command:
                    KeysCommand::Rotate {
                        vault,
                        root_pkcs11_key: Some(label),
                        ..
                    },
            } => keys::rotate_root(&vault.path()?, keys::NewRoot::InToken(&label)).await,
            Command::Keys {
                command:
                    KeysCommand::Rotate {
                        vault,
                        signing: false,
                        ..
                    },
            } => keys::rotate(&vault.path()?).await,
            Command::Keys {
                command:
                    KeysCommand::Rotate {
                        vault,
                        signing: true,
                        lead_seconds,
                        ..
                    },
            } => keys::rotate_signing(&vault.path()?, lead_seconds).await,
            Command::Department { vault, command } => {
                let socket = vault.path()?;
                match command {
                    DepartmentCommand::Add { file } => admin::department_add(&socket, &file).await,
                    DepartmentCommand::List => admin::department_list(&socket).await,
                    DepartmentCommand::Disable { id } => {
                        admin::department_set(&socket, &id, false).await
                    }
                    DepartmentCommand::Enable { id } => {
                        admin::department_set(&socket, &id, true).await
                    }
                }
            }
            Command::Officer { vault, command } => {
                let socket = vault.path()?;
                match command {
                    OfficerCommand::Add { id, name, days } => {
                        admin::officer_add(&socket, &id, &name, days).await
                    }
                    OfficerCommand::List => admin::officer_list(&socket).await,
                    OfficerCommand::Revoke { id } => admin::officer_revoke(&socket, &id).await,
                }
            }
            Command::Coach { vault, command } => {
                let socket = vault.path()?;
                match command {
                    CoachCommand::Add {
                        id,
                        name,
                        department,
                        provider,
                        subject,
                    } => {
                        let body = serde_json::json!({"id": id, "name": name, "department": department, "provider": provider, "subject": subject});
                        admin::coach_add(&socket, &id, body).await
                    }
                    CoachCommand::List => admin::coach_list(&socket).await,
                    CoachCommand::Remove { id } => admin::coach_remove(&socket, &id).await,
                }
            }
            Command::Backup { vault, to } => backup::backup(&vault.path()?, &to).await,
            Command::Restore {
                from,
                data,
                config,
                store_url,
            } => backup::restore(&from, &data, config.as_deref(), store_url.as_deref()).await,
            Command::Migrate {
                from_sled,
                to,
                config,
            } => migrate::migrate(&from_sled, &to, config.as_deref()).await,
            Command::Audit {
                command:
                    AuditCommand::Export {
                        vault,
                        from,
                        to,
                        out,
                    },
            } => admin::audit_export(&vault.path()?, from, to, out.as_deref()).await,
            Command::Audit {
                command: AuditCommand::Checkpoint { vault, out },
            } => admin::audit_checkpoint(&vault.path()?, out.as_deref()).await,
            Command::Audit {
                command:
                    AuditCommand::Verify {
                        export,
                        jwks,
                        since,
                        note,
                        note_key,
                        witness_keys,
                    },
            } => audit::verify(
                &export,
                jwks.as_deref(),
                since.as_deref(),
                note.as_deref().zip(note_key.as_deref()),
                &witness_keys,
            ),
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

/// Sets up the log on stderr: text, or JSON lines with `json` (each line carries the
/// request's span: route, request id and trace id).
fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KLUIS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sled=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // The PostgreSQL driver logs every statement with its parameters (rows, keyed hashes,
    // audit entries): never shown, whatever KLUIS_LOG asks for.
    let not_the_driver =
        tracing_subscriber::filter::filter_fn(|meta| !meta.target().starts_with("tokio_postgres"));
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    if json {
        builder.json().finish().with(not_the_driver).init();
    } else {
        builder.finish().with(not_the_driver).init();
    }
}

pub fn load_config(path: &Path) -> Result<Config, Failure> {
    Config::load(path, &kluis::config::ProcessEnv).map_err(|e| fail(2, e))
}

/// Opens the store `config` names and builds the vault on it.
pub async fn open_app(config: &Config, public_url: String) -> Result<kluis::App, Failure> {
    let store = kluis::store::open(config)
        .await
        .map_err(|e| fail(1, format!("cannot open the database: {e}")))?;
    kluis::App::open(config, store, kluis::Clock::system(), public_url)
        .await
        .map_err(|e| fail(1, e))
}
