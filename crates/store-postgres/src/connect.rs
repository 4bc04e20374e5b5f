//! The first connection, alone, before the pool: a pool that cannot connect only says that it
//! timed out, where one connection says why (nothing listens, no such database, the password),
//! and each reason has its own remedy (the CLI words them).

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use std::str::FromStr;
use std::time::Duration;

/// Where a `postgres://` URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgTarget {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
}

/// Why the first connection failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectFailure {
    /// The URL does not parse.
    BadUrl(String),
    /// Nothing accepts connections at the host and port.
    Refused,
    /// The host could not be reached or named (DNS, routing, another I/O error).
    Unreachable(String),
    /// No answer in time.
    TimedOut,
    /// The server answers, and has no database of that name (SQLSTATE 3D000).
    NoDatabase,
    /// The server refused the user: password, `pg_hba.conf`, role (SQLSTATE class 28).
    Rejected(String),
    /// TLS could not be set up.
    Tls(String),
    /// Anything else, as the driver says it.
    Other(String),
}

/// Where `url` points, or why it does not parse.
pub fn target(url: &str) -> Result<PgTarget, ConnectFailure> {
    let o = PgConnectOptions::from_str(url).map_err(|e| ConnectFailure::BadUrl(e.to_string()))?;
    Ok(PgTarget {
        host: o.get_host().to_owned(),
        port: o.get_port(),
        database: o.get_database().unwrap_or(o.get_username()).to_owned(),
        user: o.get_username().to_owned(),
    })
}

/// Opens one connection to `url` and closes it again, within `timeout`.
pub async fn try_connect(url: &str, timeout: Duration) -> Result<(), ConnectFailure> {
    let options = PgConnectOptions::from_str(url).map_err(|e| ConnectFailure::BadUrl(e.to_string()))?;
    let conn = match tokio::time::timeout(timeout, PgConnection::connect_with(&options)).await {
        Err(_) => return Err(ConnectFailure::TimedOut),
        Ok(Err(e)) => return Err(classify(e)),
        Ok(Ok(conn)) => conn,
    };
    let _ = conn.close().await;
    Ok(())
}

fn classify(e: sqlx::Error) -> ConnectFailure {
    match e {
        sqlx::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => ConnectFailure::Refused,
            std::io::ErrorKind::TimedOut => ConnectFailure::TimedOut,
            _ => ConnectFailure::Unreachable(io.to_string()),
        },
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("3D000") => ConnectFailure::NoDatabase,
            Some(c) if c.starts_with("28") => ConnectFailure::Rejected(db.message().to_owned()),
            _ => ConnectFailure::Other(db.to_string()),
        },
        sqlx::Error::Tls(t) => ConnectFailure::Tls(t.to_string()),
        sqlx::Error::Configuration(c) => ConnectFailure::BadUrl(c.to_string()),
        other => ConnectFailure::Other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_names_its_host_port_database_and_user() {
        let t = target("postgres://ph@db.internal:6543/partners").unwrap();
        assert_eq!(t, PgTarget { host: "db.internal".into(), port: 6543, database: "partners".into(), user: "ph".into() });
        assert!(matches!(target("postgres://ph@db.internal:notaport/x"), Err(ConnectFailure::BadUrl(_))));
    }

    #[tokio::test]
    async fn a_port_where_nothing_listens_is_refused_at_once() {
        // Bound and dropped: nothing listens there any more.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let started = std::time::Instant::now();
        let r = try_connect(&format!("postgres://postgres@127.0.0.1:{port}/x"), Duration::from_secs(10)).await;
        assert_eq!(r, Err(ConnectFailure::Refused));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
