//! `partnerhub events`: the outbox and the webhook deliveries of a database, for operators
//! (list recent events, list recent delivery attempts, replay one event to one endpoint).

use crate::DatabaseArg;
use crate::startup::{Existing, open_store};
use partnerhub_domain::SystemClock;
use partnerhub_service::{PasswordHasher, Secret, Service, ServiceConfig};
use partnerhub_store::{DeliveryAttempt, OutboxEvent};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use uuid::Uuid;

#[derive(clap::Subcommand)]
pub enum EventsCommand {
    /// The most recent outbox events, newest first.
    List {
        #[command(flatten)]
        database: DatabaseArg,
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=10_000))]
        limit: i64,
        /// JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The most recent webhook delivery attempts (of one endpoint with --webhook), newest first.
    Deliveries {
        #[command(flatten)]
        database: DatabaseArg,
        #[arg(long)]
        webhook: Option<Uuid>,
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=10_000))]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Send one event to one endpoint now (logged as attempt 0; the endpoint's place in its
    /// queue does not move). Signs with the server secret as `serve` does.
    Replay {
        #[command(flatten)]
        database: DatabaseArg,
        #[arg(long)]
        event: Uuid,
        #[arg(long)]
        webhook: Uuid,
        /// As `serve --webhook-allow-insecure`.
        #[arg(long, env = "PARTNERHUB_WEBHOOK_ALLOW_INSECURE")]
        webhook_allow_insecure: bool,
        /// The server secret `serve` runs with (unset: the one kept in the database).
        #[arg(long, env = "PARTNERHUB_SECRET", hide_env_values = true)]
        secret: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

fn event_json(e: &OutboxEvent) -> serde_json::Value {
    json!({"position": e.position, "id": e.id, "type": e.event_type, "organization_id": e.organization_id.0,
           "created_at": partnerhub_store::codec::rfc3339(e.created_at), "data": e.payload.get("data")})
}

fn attempt_json(a: &DeliveryAttempt) -> serde_json::Value {
    json!({"id": a.id, "webhook_id": a.webhook_id, "event_id": a.event_id, "event": a.event_type, "attempt": a.attempt,
           "at": partnerhub_store::codec::rfc3339(a.at), "status": a.status, "latency_ms": a.latency_ms, "error": a.error})
}

fn attempt_row(a: &DeliveryAttempt) -> String {
    format!(
        "{:<27} {:<36} {:<36} {:<22} {:>3} {:>6} {:>7}ms {}",
        partnerhub_store::codec::rfc3339(a.at),
        a.webhook_id,
        a.event_id,
        a.event_type,
        a.attempt,
        a.status.map_or("-".to_owned(), |s| s.to_string()),
        a.latency_ms,
        a.error.as_deref().unwrap_or("")
    )
}

pub async fn run(command: EventsCommand) -> anyhow::Result<()> {
    match command {
        EventsCommand::List { database, limit, json } => {
            let store = open_store(&database, Existing::Required).await?;
            let events = store.recent_events(limit).await?;
            if json {
                for e in &events {
                    println!("{}", event_json(e));
                }
            } else {
                println!("{:>8} {:<27} {:<36} {:<22} {:<36}", "POSITION", "CREATED", "ID", "TYPE", "RECIPIENT");
                for e in &events {
                    let at = partnerhub_store::codec::rfc3339(e.created_at);
                    println!("{:>8} {:<27} {:<36} {:<22} {:<36}", e.position, at, e.id, e.event_type, e.organization_id.0);
                }
            }
        }
        EventsCommand::Deliveries { database, webhook, limit, json } => {
            let store = open_store(&database, Existing::Required).await?;
            let attempts = store.recent_attempts(webhook, limit).await?;
            if json {
                for a in &attempts {
                    println!("{}", attempt_json(a));
                }
            } else {
                println!(
                    "{:<27} {:<36} {:<36} {:<22} {:>3} {:>6} {:>9} ERROR",
                    "AT", "WEBHOOK", "EVENT", "TYPE", "TRY", "STATUS", "LATENCY"
                );
                for a in &attempts {
                    println!("{}", attempt_row(a));
                }
            }
        }
        EventsCommand::Replay { database, event, webhook, webhook_allow_insecure, secret, json } => {
            let store = open_store(&database, Existing::Required).await?;
            let secret = match secret.filter(|s| !s.is_empty()) {
                Some(s) => Sha256::digest(s.as_bytes()).to_vec(),
                None => {
                    let mut fresh = [0u8; 32];
                    getrandom::fill(&mut fresh).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
                    store.server_secret(&fresh).await?
                }
            };
            let config = ServiceConfig {
                public_url: String::new(),
                secret: Secret::new(secret),
                operator_token_hash: None,
                session_ttl: time::Duration::hours(1),
                smtp: None,
                password_hasher: PasswordHasher::default(),
                temporary_password_ttl: time::Duration::hours(1),
                require_mfa: false,
                operator_name: None,
                webhook_allow_insecure,
            };
            let service = Service::new(store, Arc::new(SystemClock), config)?;
            let a = service.replay_event(webhook, event).await?;
            if json {
                println!("{}", attempt_json(&a));
            } else {
                println!("{}", attempt_row(&a));
            }
            if !a.status.is_some_and(|s| (200..300).contains(&s)) {
                std::process::exit(1);
            }
        }
    }
    Ok(())
}
