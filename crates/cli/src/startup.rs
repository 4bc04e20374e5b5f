//! What can go wrong before the server serves, said so that the reader knows what to do: every
//! error leaving `main` is one `error:` line and one `hint:` line on stderr and exit code 1,
//! never a backtrace or a `Debug` dump (`RUST_BACKTRACE` may well be set). Here too: the
//! database URL and `--listen` understood as a person types them, and their failures told apart.

use crate::DatabaseArg;
use anyhow::anyhow;
use partnerhub_store::Store;
use partnerhub_store_postgres::connect::{self, ConnectFailure};
use partnerhub_store_postgres::{PgOptions, PgStore};
use partnerhub_store_sqlite::SqliteStore;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// A failure with its remedy.
#[derive(Debug)]
pub struct Failure {
    pub cause: String,
    pub hint: String,
}

impl Failure {
    /// The failure, as the error `main` reports.
    pub fn error(cause: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(Failure { cause: cause.into(), hint: hint.into() })
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.cause)
    }
}

impl std::error::Error for Failure {}

/// Prints `e` as `error: CAUSE` and `hint: WHAT TO DO`, one line each.
pub fn report(e: &anyhow::Error) {
    let (cause, hint) = match e.downcast_ref::<Failure>() {
        Some(f) => (f.cause.clone(), f.hint.clone()),
        // Every cause in the chain, on one line ("opening x: no such file").
        None => (format!("{e:#}"), "see `partnerhub --help`, and docs/operations.md for running the server".to_owned()),
    };
    let one_line = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    eprintln!("error: {}", one_line(&cause));
    eprintln!("hint: {}", one_line(&hint));
}

/// `--listen`: `IP:PORT`, `[IPv6]:PORT`, `localhost:PORT`, or a bare `PORT` or `:PORT`, which
/// mean 127.0.0.1 (listening on every interface is said explicitly, `0.0.0.0:PORT`).
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    let port = |p: &str| p.parse::<u16>().ok();
    if let Some(p) = port(s).or_else(|| s.strip_prefix(':').and_then(port)) {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p));
    }
    if let Some(p) = s.strip_prefix("localhost:").and_then(port) {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p));
    }
    s.parse::<SocketAddr>().map_err(|_| {
        format!("`{s}` is not an address to listen on: write 127.0.0.1:8080, 0.0.0.0:8080 (every interface), [::1]:8080, or a port alone (8080 means 127.0.0.1:8080)")
    })
}

/// Binds the listener, or says why not and what to do.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    use std::io::ErrorKind as K;
    let other = "choose another with --listen 127.0.0.1:PORT (or PARTNERHUB_LISTEN)";
    tokio::net::TcpListener::bind(addr).await.map_err(|e| match e.kind() {
        K::AddrInUse => Failure::error(
            format!("{addr} is already in use: another program (perhaps another partnerhub) listens there"),
            format!("stop that program, or {other}; `ss -ltnp` shows who holds the port"),
        ),
        K::PermissionDenied => Failure::error(
            format!("not allowed to listen on {addr}: ports below 1024 need privileges"),
            format!("use a port of 1024 or more behind a reverse proxy, or {other}"),
        ),
        K::AddrNotAvailable => Failure::error(
            format!("this machine has no address {}", addr.ip()),
            format!("listen on one of its addresses (127.0.0.1, 0.0.0.0 for all), or {other}"),
        ),
        _ => Failure::error(format!("cannot listen on {addr}: {e}"), other),
    })
}

/// Whether the database must already exist (`audit verify` reads one, it never makes one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    Required,
    CreateIfMissing,
}

const URL_FORMS: &str = "write sqlite://PATH (e.g. sqlite://partnerhub.db, sqlite:///var/lib/partnerhub/partnerhub.db) or postgres://USER:PASSWORD@HOST:PORT/DATABASE in --database (or PARTNERHUB_DATABASE_URL)";

/// Opens and migrates the database the URL names: one store implementation per backend.
pub async fn open_store(db: &DatabaseArg, existing: Existing) -> anyhow::Result<Arc<dyn Store>> {
    let url = db.url.as_str();
    if url.starts_with("sqlite:") {
        return open_sqlite(url, existing).await;
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return open_postgres(db).await;
    }
    // Only the scheme is repeated: the rest may hold a password.
    let scheme = url.split_once("://").map_or(url, |(scheme, _)| scheme);
    let scheme = if scheme.len() > 20 { "?" } else { scheme };
    Err(Failure::error(format!("--database must name SQLite or PostgreSQL; `{scheme}://...` is neither"), URL_FORMS))
}

async fn open_sqlite(url: &str, existing: Existing) -> anyhow::Result<Arc<dyn Store>> {
    let file = SqliteStore::file(url).map_err(|e| Failure::error(format!("--database `{url}` is not a SQLite URL: {e}"), URL_FORMS))?;
    if let Some(file) = &file {
        let shown = file.display();
        if existing == Existing::Required && !file.exists() {
            return Err(Failure::error(
                format!("there is no database at {shown} (--database {url}); nothing was created"),
                "check the path: this command reads an existing database and never creates one",
            ));
        }
        let dir = file.parent().filter(|d| !d.as_os_str().is_empty());
        if let Some(dir) = dir.filter(|d| !d.is_dir()) {
            return Err(Failure::error(
                format!("the directory {} of --database {url} does not exist", dir.display()),
                format!("create it (mkdir -p {}) or give a path in an existing directory", dir.display()),
            ));
        }
    }
    let store = SqliteStore::open(url).await.map_err(|e| {
        Failure::error(
            format!("cannot open the SQLite database {url}: {e}"),
            "check that the file and its directory are readable and writable by this user, and that the file is a partnerhub database",
        )
    })?;
    Ok(Arc::new(store))
}

async fn open_postgres(db: &DatabaseArg) -> anyhow::Result<Arc<dyn Store>> {
    let url = db.url.as_str();
    let timeout = std::time::Duration::from_millis(db.db_acquire_timeout_ms);
    let fix_url = "correct --database (or PARTNERHUB_DATABASE_URL)";
    let t = match connect::target(url) {
        Ok(t) => t,
        Err(ConnectFailure::BadUrl(e)) => return Err(Failure::error(format!("--database is not a PostgreSQL URL: {e}"), URL_FORMS)),
        Err(_) => return Err(Failure::error("--database is not a PostgreSQL URL", URL_FORMS)),
    };
    let at = format!("{}:{}", t.host, t.port);
    if let Err(failure) = connect::try_connect(url, timeout).await {
        return Err(match failure {
            ConnectFailure::BadUrl(e) => Failure::error(format!("--database is not a PostgreSQL URL: {e}"), URL_FORMS),
            ConnectFailure::Refused => Failure::error(
                format!("PostgreSQL at {at} refused the connection: nothing listens there"),
                format!("start PostgreSQL (pg_isready -h {} -p {} tells when it answers), or {fix_url}", t.host, t.port),
            ),
            ConnectFailure::Unreachable(why) => Failure::error(
                format!("cannot reach PostgreSQL at {at}: {why}"),
                format!("check the host name and the network, or {fix_url}"),
            ),
            ConnectFailure::TimedOut => Failure::error(
                format!("PostgreSQL at {at} did not answer within {} ms", db.db_acquire_timeout_ms),
                format!("check that the server is up and that no firewall drops the connection, or {fix_url}"),
            ),
            ConnectFailure::NoDatabase => Failure::error(
                format!("PostgreSQL at {at} has no database \"{}\"", t.database),
                format!(
                    "create it (createdb -h {} -p {} -U {} {}, or CREATE DATABASE \"{}\"), then start again: the tables are created on start; or {fix_url}",
                    t.host, t.port, t.user, t.database, t.database
                ),
            ),
            ConnectFailure::Rejected(why) => Failure::error(
                format!("PostgreSQL at {at} refused user \"{}\": {why}", t.user),
                "check the user and password in --database (or PARTNERHUB_DATABASE_URL), and the server's pg_hba.conf",
            ),
            ConnectFailure::Tls(why) => Failure::error(
                format!("TLS to PostgreSQL at {at} failed: {why}"),
                "check ?sslmode= in --database (disable, prefer, require, verify-full) and the server's certificate",
            ),
            ConnectFailure::Other(why) => Failure::error(format!("cannot connect to PostgreSQL at {at}: {why}"), fix_url),
        });
    }
    let opts = PgOptions {
        max_connections: db.db_pool_size,
        statement_timeout: std::time::Duration::from_millis(db.db_statement_timeout_ms),
        acquire_timeout: timeout,
    };
    let store = PgStore::open(url, opts).await.map_err(|e| anyhow!("opening the PostgreSQL database at {at}: {e}"))?;
    Ok(Arc::new(store))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_takes_a_port_alone_as_loopback() {
        let lo = |p| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), p);
        assert_eq!(parse_listen("8091"), Ok(lo(8091)));
        assert_eq!(parse_listen(":8091"), Ok(lo(8091)));
        assert_eq!(parse_listen("localhost:8091"), Ok(lo(8091)));
        assert_eq!(parse_listen("0.0.0.0:80"), Ok("0.0.0.0:80".parse().unwrap()));
        assert_eq!(parse_listen("[::1]:8080"), Ok("[::1]:8080".parse().unwrap()));
        for bad in ["", "http://127.0.0.1:8080", "70000", "127.0.0.1", "example.com:80"] {
            let e = parse_listen(bad).unwrap_err();
            assert!(e.contains("127.0.0.1:8080"), "{bad}: {e}");
        }
    }
}
