//! The `partnerhub` binary: `serve`, `migrate`, `audit verify`, `openapi`, `bench seed`, and
//! `admin` (the operator's commands against a running server).

mod admin;
mod bench_seed;
mod demo;
mod events;
mod openapi_markdown;
mod startup;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::{Parser, Subcommand};
use partnerhub_domain::SystemClock;
use partnerhub_service::{PasswordHasher, Secret, Service, ServiceConfig, SmtpConfig};
use partnerhub_store::AuditVerification;
use sha2::{Digest, Sha256};
use startup::{Existing, Failure, open_store};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "partnerhub", version, about = "An open, self-hostable partner center for cloud resellers")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct DatabaseArg {
    /// `sqlite://PATH` (the default; `serve` and `migrate` create a missing file) or
    /// `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (the database must exist).
    #[arg(long = "database", env = "PARTNERHUB_DATABASE_URL", default_value = "sqlite://partnerhub.db")]
    url: String,
    /// PostgreSQL: connections per server process.
    #[arg(long, env = "PARTNERHUB_DB_POOL_SIZE", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
    db_pool_size: u32,
    /// PostgreSQL: `statement_timeout` of every connection, in milliseconds.
    #[arg(long, env = "PARTNERHUB_DB_STATEMENT_TIMEOUT_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    db_statement_timeout_ms: u64,
    /// How long a request waits for a free database connection, in milliseconds.
    #[arg(long, env = "PARTNERHUB_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    db_acquire_timeout_ms: u64,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database and serve the API and the portal.
    Serve(ServeArgs),
    /// Migrate the database and exit.
    Migrate {
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print the OpenAPI document (JSON), or the API reference rendered from it as Markdown
    /// (docs/api-reference.md is this output).
    Openapi {
        #[arg(long)]
        markdown: bool,
    },
    /// The operator's commands against a running server (partners, provider links, offers).
    Admin(admin::AdminArgs),
    /// Benchmark helpers.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// The outbox and the webhook deliveries: list events, list attempts, replay one event.
    Events {
        #[command(subcommand)]
        command: events::EventsCommand,
    },
    /// The server secret.
    Secret {
        #[command(subcommand)]
        command: SecretCommand,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Load the benchmark dataset (issue 9) in bulk into an empty database: partners, customers
    /// with relationships and grants, users signing in with --password, an audit chain.
    Seed(bench_seed::SeedArgs),
}

#[derive(Subcommand)]
enum SecretCommand {
    /// Print a fresh secret for `PARTNERHUB_SECRET`: 32 random bytes, base64url.
    Generate,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain of an existing database; exit 1 naming the first bad record.
    Verify {
        #[command(flatten)]
        database: DatabaseArg,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    database: DatabaseArg,
    /// IP:PORT to listen on; a port alone (`8080` or `:8080`) means 127.0.0.1:PORT, every
    /// interface is `0.0.0.0:PORT`.
    #[arg(long, env = "PARTNERHUB_LISTEN", default_value = "127.0.0.1:8080", value_parser = startup::parse_listen)]
    listen: SocketAddr,
    /// The base of every URL handed out (invitation links). Defaults to http:// and the address
    /// bound (localhost for an unspecified one).
    #[arg(long, env = "PARTNERHUB_PUBLIC_URL")]
    public_url: Option<String>,
    /// Seed demo organizations (on the first start) and print their sign-in e-mails and
    /// passwords on every start; they are also written to --demo-file.
    #[arg(long)]
    demo: bool,
    /// With --demo: the JSON file the demo's URL and logins are written to (for examples/walk.py).
    #[arg(long, env = "PARTNERHUB_DEMO_FILE", default_value = "partnerhub-demo.json")]
    demo_file: std::path::PathBuf,
    /// The bearer token that may call /api/v1/operator/*.
    #[arg(long, env = "PARTNERHUB_OPERATOR_TOKEN", hide_env_values = true)]
    operator_token: Option<String>,
    /// The signing secret: 32 random bytes or more (`partnerhub secret generate`); when unset,
    /// one is generated once and kept in the database.
    #[arg(long, env = "PARTNERHUB_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// SMTP relay for sending invitations: smtp://host:port or smtps://user:pass@host:port.
    #[arg(long, env = "PARTNERHUB_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
    /// Sender address of invitation e-mails.
    #[arg(long, env = "PARTNERHUB_SMTP_FROM", default_value = "partnerhub@localhost")]
    smtp_from: String,
    /// Connections served at once; further ones wait in the listen queue.
    #[arg(long, env = "PARTNERHUB_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections: u32,
    /// Request headers must arrive within this many milliseconds (tests shorten it).
    #[arg(long, hide = true, env = "PARTNERHUB_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    header_read_timeout_ms: u64,
    /// A request body must arrive within this many milliseconds (tests shorten it).
    #[arg(long, hide = true, env = "PARTNERHUB_BODY_READ_TIMEOUT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    body_read_timeout_ms: u64,
    /// An idle kept-alive connection closes after this many milliseconds (tests shorten it).
    #[arg(long, hide = true, env = "PARTNERHUB_IDLE_TIMEOUT_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout_ms: u64,
    /// Lifetime of a sign-in token, in hours.
    #[arg(long, env = "PARTNERHUB_SESSION_TTL_HOURS", default_value_t = 12, value_parser = clap::value_parser!(u16).range(1..=720))]
    session_ttl_hours: u16,
    /// How long a temporary password (customer creation, user creation, reset) can sign in.
    #[arg(long, env = "PARTNERHUB_TEMPORARY_PASSWORD_TTL_HOURS", default_value_t = 72, value_parser = clap::value_parser!(u16).range(1..=720))]
    temporary_password_ttl_hours: u16,
    /// Partner users holding global_admin or admin_agent must enrol TOTP before anything else.
    #[arg(long, env = "PARTNERHUB_REQUIRE_MFA")]
    require_mfa: bool,
    /// The operator's name, as the removal attestation names it (default: "the operator of this service").
    #[arg(long, env = "PARTNERHUB_OPERATOR_NAME")]
    operator_name: Option<String>,
    /// Proxies whose X-Forwarded-For names the client: CIDRs or addresses, comma-separated
    /// (e.g. 10.0.0.0/8,127.0.0.1/32). Unset, X-Forwarded-For is ignored.
    #[arg(long, env = "PARTNERHUB_TRUSTED_PROXIES", value_delimiter = ',', value_parser = partnerhub_web::client::parse_net)]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// Webhooks may use http:// and loopback or private addresses (tests, private networks);
    /// otherwise only https:// to public addresses, checked again at every connection.
    #[arg(long, env = "PARTNERHUB_WEBHOOK_ALLOW_INSECURE")]
    webhook_allow_insecure: bool,
    /// How long a webhook worker's claim on an endpoint lasts without news, in seconds: a
    /// killed process's endpoints are taken over after it (tests shorten it).
    #[arg(long, hide = true, env = "PARTNERHUB_WEBHOOK_LEASE_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    webhook_lease_secs: u64,
    /// The wait before a failed webhook delivery's first retry, in milliseconds (tests shorten it).
    #[arg(long, hide = true, env = "PARTNERHUB_WEBHOOK_FIRST_BACKOFF_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    webhook_first_backoff_ms: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("PARTNERHUB_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    // Returning an error from `main` would print its `Debug`, with a backtrace under
    // RUST_BACKTRACE: a person reads one line of cause and one of remedy instead.
    match run(Cli::parse().command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            startup::report(&e);
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve(args).await,
        Command::Migrate { database } => {
            open_store(&database, Existing::CreateIfMissing).await?;
            eprintln!("migrated");
            Ok(())
        }
        Command::Audit { command: AuditCommand::Verify { database } } => {
            let store = open_store(&database, Existing::Required).await?;
            match store.verify_audit_chain().await? {
                AuditVerification::Whole { records } => {
                    println!("audit chain whole: {records} records");
                    Ok(())
                }
                AuditVerification::Broken { seq, reason } => {
                    eprintln!("audit chain broken at seq {seq}: {reason}");
                    std::process::exit(1);
                }
            }
        }
        Command::Openapi { markdown } => {
            let doc = serde_json::to_value(partnerhub_web::openapi())?;
            match markdown {
                true => print!("{}", openapi_markdown::render(&doc)),
                false => println!("{}", serde_json::to_string_pretty(&doc)?),
            }
            Ok(())
        }
        Command::Bench { command: BenchCommand::Seed(args) } => bench_seed::run(args).await,
        Command::Events { command } => events::run(command).await,
        Command::Secret { command: SecretCommand::Generate } => {
            let mut fresh = [0u8; 32];
            getrandom::fill(&mut fresh).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            println!("{}", URL_SAFE_NO_PAD.encode(fresh));
            Ok(())
        }
        Command::Admin(args) => {
            if let Err(failure) = admin::run(args).await {
                eprintln!("{failure}");
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // A weak secret is refused before anything else happens (hole 8).
    if let Some(s) = args.secret.as_deref().filter(|s| !s.is_empty()) {
        partnerhub_service::check_secret(s).map_err(|why| {
            Failure::error(why, "export PARTNERHUB_SECRET=$(partnerhub secret generate), keep it with your other secrets")
        })?;
    }
    let store = open_store(&args.database, Existing::CreateIfMissing).await?;
    let secret = match args.secret.filter(|s| !s.is_empty()) {
        Some(s) => Sha256::digest(s.as_bytes()).to_vec(),
        None => {
            let mut fresh = [0u8; 32];
            getrandom::fill(&mut fresh).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            tracing::warn!(
                "PARTNERHUB_SECRET is unset: using the secret kept in the database; set it so that a copy of the database alone cannot derive invitation links"
            );
            store.server_secret(&fresh).await?
        }
    };
    // Bound first: the default public URL (in every invitation link) names the port really
    // bound, `--listen 127.0.0.1:0` included, and the demo's logins are printed once it is.
    let listener = startup::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    let public_url = args.public_url.unwrap_or_else(|| match addr.ip().is_unspecified() {
        true => format!("http://localhost:{}", addr.port()),
        false => format!("http://{addr}"),
    });
    let operator_token = args.operator_token.filter(|t| !t.is_empty());
    let config = ServiceConfig {
        public_url: public_url.trim_end_matches('/').to_owned(),
        secret: Secret::new(secret),
        operator_token_hash: operator_token.as_ref().map(|t| Sha256::digest(t.as_bytes()).into()),
        session_ttl: time::Duration::hours(i64::from(args.session_ttl_hours)),
        smtp: args.smtp_url.map(|url| SmtpConfig { url, from: args.smtp_from }),
        password_hasher: PasswordHasher::default(),
        temporary_password_ttl: time::Duration::hours(i64::from(args.temporary_password_ttl_hours)),
        require_mfa: args.require_mfa,
        operator_name: args.operator_name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()),
        webhook_allow_insecure: args.webhook_allow_insecure,
    };
    // Only the SMTP settings can be refused here.
    let service = Service::new(store, Arc::new(SystemClock), config).map_err(|e| {
        Failure::error(
            format!("--smtp-url or --smtp-from is not usable: {e}"),
            "--smtp-url is smtp://HOST:PORT, smtp://HOST:PORT?tls=required or smtps://USER:PASSWORD@HOST:PORT; --smtp-from an e-mail address",
        )
    })?;
    partnerhub_service::spawn_purge(service.clone());
    // Every process runs both: the scheduler acts only while it holds the database's lease, and
    // the e-mail worker's claims keep two processes from sending one e-mail.
    partnerhub_service::spawn_scheduler(service.clone());
    partnerhub_service::spawn_mail_worker(service.clone());
    // Webhook deliveries from the outbox, off the request path (docs/events.md).
    let delivery = partnerhub_service::DeliveryConfig {
        lease: std::time::Duration::from_secs(args.webhook_lease_secs),
        first_backoff: time::Duration::milliseconds(args.webhook_first_backoff_ms as i64),
        ..partnerhub_service::DeliveryConfig::default()
    };
    partnerhub_service::spawn_delivery(service.clone(), delivery)?;
    if args.demo {
        demo::run(&service, &args.demo_file).await?;
    }
    let web = partnerhub_web::WebConfig { trusted_proxies: partnerhub_web::TrustedProxies::new(args.trusted_proxies) };
    let app = partnerhub_web::router_with(service, web);
    if operator_token.is_none() {
        eprintln!(
            "operator API disabled: /api/v1/operator/* answers 403 operator_api_disabled; set PARTNERHUB_OPERATOR_TOKEN (or --operator-token) to enable it"
        );
    }
    eprintln!("listening on http://{addr}");
    let transport = partnerhub_web::Transport {
        header_read_timeout: std::time::Duration::from_millis(args.header_read_timeout_ms),
        body_read_timeout: std::time::Duration::from_millis(args.body_read_timeout_ms),
        idle_timeout: std::time::Duration::from_millis(args.idle_timeout_ms),
        max_connections: args.max_connections as usize,
    };
    partnerhub_web::serve(listener, app, transport, shutdown()).await?;
    Ok(())
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
