//! The webhook delivery worker, started by every `serve` (see docs/events.md).
//!
//! It polls for endpoints that have events after their position and are due, leases up to as
//! many as it has free slots (bounded concurrency: a slow or dead receiver holds one slot, never
//! a request of the API), and for each sends the events one at a time, in outbox order: a
//! success moves the endpoint's position past the event and renews the lease; a failure logs
//! the attempt, schedules the next one with exponential backoff and jitter, and gives the
//! endpoint back. At least once: the position moves only after a 2xx, so a process killed
//! between claim and send leaves the event to whoever takes the lease once it runs out.
//!
//! Standard Webhooks: `POST` of `{"type", "timestamp", "data"}` with `webhook-id` (the event
//! id), `webhook-timestamp` (Unix seconds of the attempt) and `webhook-signature`
//! (`v1,BASE64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))`, one per live secret).

use crate::{Service, ServiceError, ServiceResult, ssrf};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use partnerhub_store::*;
use rand::Rng;
use serde_json::json;
use sha2::Sha256;
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use uuid::Uuid;

/// No answer within this is a failed attempt.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The first retry waits about this long; each next one twice as long, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: time::Duration = time::Duration::seconds(10);
pub const MAX_BACKOFF: time::Duration = time::Duration::hours(6);
/// An event failing for this long marks its endpoint failing (retries go on, every `MAX_BACKOFF`).
pub const FAILING_AFTER: time::Duration = time::Duration::days(3);

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// How often it looks for work when idle.
    pub poll: Duration,
    /// How long a claim holds an endpoint without news (renewed after each delivery); a killed
    /// worker's endpoints are taken over once it runs out. Longer than [`ATTEMPT_TIMEOUT`].
    pub lease: Duration,
    /// Endpoints served at once by this process.
    pub concurrency: usize,
    /// The wait before the first retry ([`FIRST_BACKOFF`]; tests shorten it).
    pub first_backoff: time::Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self { poll: Duration::from_millis(100), lease: Duration::from_secs(30), concurrency: 32, first_backoff: FIRST_BACKOFF }
    }
}

/// The wait before attempt `failures + 1`, after `failures` failed ones: `first`, doubled at
/// each failure, capped at [`MAX_BACKOFF`], with equal jitter (half fixed, half random) so that
/// endpoints that failed together do not come back together.
pub fn backoff(failures: i64, first: time::Duration) -> time::Duration {
    let exp = failures.saturating_sub(1).clamp(0, 30) as u32;
    let full = first.saturating_mul(2i32.saturating_pow(exp)).min(MAX_BACKOFF);
    let half = full / 2;
    half + half * rand::thread_rng().gen_range(0.0..=1.0)
}

/// `v1,BASE64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    // HMAC takes a key of any length: this never fails.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else { return String::new() };
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The HTTP client deliveries use: 10 s per attempt, no redirects, no proxy, and (unless
/// insecure endpoints are allowed) names resolved to public addresses only.
pub fn client(allow_insecure: bool) -> ServiceResult<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(ATTEMPT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent(concat!("partnerhub-webhooks/", env!("CARGO_PKG_VERSION")));
    if !allow_insecure {
        b = b.dns_resolver(Arc::new(ssrf::PublicResolver));
    }
    b.build().map_err(|e| ServiceError::Internal(format!("webhook client: {e}")))
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct Sent {
    pub status: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

impl Sent {
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// The error and its causes, without the URL (its owner sees it already), shortened.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut out = if e.is_timeout() { "timed out".to_owned() } else { e.to_string() };
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out.chars().take(500).collect()
}

impl Service {
    /// The keys that sign for `target` at `now`: the current one, and the one before a
    /// rotation for 24 hours after it.
    fn signing_keys(&self, target: &WebhookTarget, now: OffsetDateTime) -> ServiceResult<Vec<Vec<u8>>> {
        let id = target.webhook.id;
        let mut keys = vec![self.open_webhook_key(id, &target.secret)?];
        if let Some((sealed, until)) = &target.previous_secret
            && now < *until
        {
            keys.push(self.open_webhook_key(id, sealed)?);
        }
        Ok(keys)
    }

    /// Sends `event` to `target` once, signed with every live key.
    pub async fn send_event(&self, http: &reqwest::Client, target: &WebhookTarget, event: &OutboxEvent) -> ServiceResult<Sent> {
        let now = self.now();
        let url = reqwest::Url::parse(&target.webhook.url).map_err(|e| ServiceError::Internal(format!("a stored webhook URL: {e}")))?;
        if !self.config.webhook_allow_insecure
            && let Some(ip) = ssrf::blocked_literal(&url)
        {
            return Ok(Sent { status: None, latency_ms: 0, error: Some(format!("refused: {ip} is not a public address")) });
        }
        let body = json!({
            "type": event.event_type,
            "timestamp": event.payload.get("occurred_at").cloned().unwrap_or_else(|| json!(crate::rfc3339(event.created_at))),
            "data": event.payload.get("data").cloned().unwrap_or(json!({})),
        })
        .to_string();
        let id = event.id.to_string();
        let ts = now.unix_timestamp();
        let signatures = self.signing_keys(target, now)?.iter().map(|k| sign(k, &id, ts, &body)).collect::<Vec<_>>().join(" ");
        let started = Instant::now();
        let res = http
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signatures)
            .body(body)
            .send()
            .await;
        let latency_ms = started.elapsed().as_millis() as i64;
        Ok(match res {
            Ok(r) => Sent { status: Some(i64::from(r.status().as_u16())), latency_ms, error: None },
            Err(e) => Sent { status: None, latency_ms, error: Some(describe(e)) },
        })
    }

    /// Sends one event to one endpoint now, whatever its place (the `events replay` command),
    /// and logs the attempt (as attempt 0); the endpoint's position does not move.
    pub async fn replay_event(&self, webhook: Uuid, event: Uuid) -> ServiceResult<DeliveryAttempt> {
        let target = self.store.webhook_target(webhook).await?;
        let event = self.store.outbox_event(event).await?;
        let http = client(self.config.webhook_allow_insecure)?;
        let at = self.now();
        let sent = self.send_event(&http, &target, &event).await?;
        let attempt = DeliveryAttempt {
            id: Uuid::now_v7(),
            webhook_id: webhook,
            event_id: event.id,
            event_type: event.event_type.clone(),
            attempt: 0,
            at,
            status: sent.status,
            latency_ms: sent.latency_ms,
            error: sent.error,
        };
        self.store.log_attempt(attempt.clone()).await?;
        Ok(attempt)
    }
}

/// Starts the delivery worker of this process; it runs until the process ends.
pub fn spawn_delivery(service: Service, config: DeliveryConfig) -> ServiceResult<tokio::task::JoinHandle<()>> {
    let http = client(service.config.webhook_allow_insecure)?;
    Ok(tokio::spawn(run(service, config, http)))
}

async fn run(service: Service, config: DeliveryConfig, http: reqwest::Client) {
    let slots = Arc::new(tokio::sync::Semaphore::new(config.concurrency.max(1)));
    let lease = time::Duration::try_from(config.lease).unwrap_or(time::Duration::seconds(30));
    let first_backoff = config.first_backoff;
    loop {
        let free = slots.available_permits();
        let mut claimed = 0;
        if free > 0 {
            let now = service.now();
            match service.store.claim_webhooks(now, now + lease, free as i64).await {
                Ok(targets) => {
                    claimed = targets.len();
                    for target in targets {
                        let Ok(permit) = slots.clone().acquire_owned().await else { return };
                        let (service, http) = (service.clone(), http.clone());
                        tokio::spawn(async move {
                            let id = target.webhook.id;
                            let Some(owner) = target.lease else { return };
                            if let Err(e) = serve_endpoint(&service, &http, owner, lease, first_backoff, target).await {
                                tracing::warn!(webhook = %id, "webhook delivery stopped: {e}");
                                let _ = service.store.release_webhook(id, owner).await;
                            }
                            drop(permit);
                        });
                    }
                }
                Err(e) => tracing::warn!("webhook claim failed: {e}"),
            }
        }
        if claimed == 0 {
            tokio::time::sleep(config.poll).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
}

/// Sends `target`'s events in order while it has some and they succeed.
async fn serve_endpoint(
    service: &Service,
    http: &reqwest::Client,
    owner: Uuid,
    lease: time::Duration,
    first_backoff: time::Duration,
    target: WebhookTarget,
) -> ServiceResult<()> {
    let store = &service.store;
    let (id, org) = (target.webhook.id, target.webhook.organization_id);
    let mut position = target.position;
    let mut failures = target.webhook.attempt;
    let mut first_failure = target.webhook.first_failure_at;
    loop {
        let events = store.events_after(org, position, 100).await?;
        if events.is_empty() {
            store.release_webhook(id, owner).await?;
            return Ok(());
        }
        let mut skipped = None;
        for event in events {
            if !target.webhook.events.contains(&event.event_type) {
                skipped = Some(event.position);
                continue;
            }
            let at = service.now();
            // What stops a send here (a secret that no longer opens, a stored URL that no longer
            // parses) is a failed attempt like any other: logged, and retried with backoff.
            let sent = match service.send_event(http, &target, &event).await {
                Ok(sent) => sent,
                Err(e) => Sent { status: None, latency_ms: 0, error: Some(e.to_string()) },
            };
            let attempt = DeliveryAttempt {
                id: Uuid::now_v7(),
                webhook_id: id,
                event_id: event.id,
                event_type: event.event_type.clone(),
                attempt: failures + 1,
                at,
                status: sent.status,
                latency_ms: sent.latency_ms,
                error: sent.error.clone(),
            };
            if sent.ok() {
                let outcome = AttemptOutcome::Delivered { position: event.position, lease_until: service.now() + lease };
                if !store.record_attempt(owner, attempt, outcome).await? {
                    return Ok(()); // the lease was lost: another worker has the endpoint
                }
                position = event.position;
                skipped = None;
                failures = 0;
                first_failure = None;
            } else {
                let failed = failures + 1;
                let since = first_failure.unwrap_or(at);
                let failing = at - since >= FAILING_AFTER;
                let outcome = AttemptOutcome::Failed { retry_at: at + backoff(failed, first_backoff), failing };
                store.record_attempt(owner, attempt, outcome).await?;
                return Ok(());
            }
        }
        if let Some(p) = skipped {
            if !store.skip_events(id, owner, p, service.now() + lease).await? {
                return Ok(());
            }
            position = p;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        for failures in 1..40 {
            let full = FIRST_BACKOFF.saturating_mul(2i32.saturating_pow((failures - 1).min(30) as u32)).min(MAX_BACKOFF);
            let b = backoff(failures, FIRST_BACKOFF);
            assert!(b >= full / 2 && b <= full, "{failures}: {b}");
        }
        // Retries go on for at least 3 days before the endpoint is called failing.
        let worst: time::Duration = (1..=25).map(|n| FIRST_BACKOFF.saturating_mul(2i32.saturating_pow(n - 1)).min(MAX_BACKOFF)).sum();
        assert!(worst >= FAILING_AFTER);
    }

    #[test]
    fn signature_is_standard_webhooks_v1() {
        // The example of the Standard Webhooks specification's test vectors.
        let key = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_or_default();
        let sig = sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, r#"{"test": 2432232314}"#);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
