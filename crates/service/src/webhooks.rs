//! Webhooks (issue 10, API.md "Audit and webhooks"): a global admin registers, lists, deletes
//! its organization's endpoints, rotates their secrets and reads their delivery log. The
//! delivery itself is in `delivery`; the address rules in `ssrf`; design in docs/events.md.
//!
//! Secrets follow Standard Webhooks: `whsec_` + base64 of 32 random bytes, shown once. At rest
//! the key is sealed with AES-256-GCM under a key derived from the server secret (HKDF-SHA256,
//! info `partnerhub webhook v1`), the endpoint id as associated data, so the server can sign
//! and a copy of the database alone cannot.

use crate::ssrf;
use crate::{Caller, Service, ServiceError, ServiceResult, rfc3339};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use partnerhub_domain::*;
use partnerhub_store::*;
use rand::RngCore;
use serde_json::json;
use sha2::Sha256;
use uuid::Uuid;

/// The events an endpoint may subscribe to (API.md).
pub const EVENT_TYPES: [&str; 16] = [
    "invitation.created",
    "invitation.accepted",
    "invitation.declined",
    "invitation.revoked",
    "invitation.expired",
    "relationship.created",
    "relationship.removed",
    "grant.created",
    "grant.extended",
    "grant.expiring",
    "grant.revoked",
    "grant.expired",
    "order.created",
    "subscription.updated",
    "license.assigned",
    "license.released",
];

/// How long the secret before a rotation keeps signing.
pub const PREVIOUS_SECRET_HOURS: i64 = 24;
/// The longest URL accepted.
pub const MAX_URL_CHARS: usize = 2048;

const HKDF_INFO: &[u8] = b"partnerhub webhook v1";
const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;

#[derive(Debug, Clone)]
pub struct NewWebhookInput {
    pub url: String,
    pub events: Vec<String>,
}

/// A registered endpoint and its secret, shown this once.
#[derive(Debug, Clone)]
pub struct CreatedWebhook {
    pub webhook: Webhook,
    pub secret: String,
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

/// `whsec_` + base64 of `key`.
pub fn secret_text(key: &[u8]) -> String {
    format!("whsec_{}", STANDARD.encode(key))
}

fn events_of(events: Vec<String>) -> Result<Vec<String>, ValidationErrors> {
    if events.is_empty() || events.len() > EVENT_TYPES.len() {
        return Err(ValidationErrors::one("events", format!("must name 1 to {} events", EVENT_TYPES.len())));
    }
    let mut out: Vec<String> = Vec::with_capacity(events.len());
    for e in events {
        if !EVENT_TYPES.contains(&e.as_str()) {
            return Err(ValidationErrors::one(
                "events",
                format!("`{}` is not an event; the events are {}", e.chars().take(64).collect::<String>(), EVENT_TYPES.join(", ")),
            ));
        }
        if !out.contains(&e) {
            out.push(e);
        }
    }
    Ok(out)
}

impl Service {
    fn webhook_cipher(&self) -> ServiceResult<Aes256Gcm> {
        let mut key = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(None, self.config.secret.bytes()).expand(HKDF_INFO, &mut key).map_err(internal)?;
        Aes256Gcm::new_from_slice(&key).map_err(internal)
    }

    /// `nonce || ciphertext || tag` of `key`, bound to the endpoint `id`.
    fn seal_webhook_key(&self, id: Uuid, key: &[u8]) -> ServiceResult<Vec<u8>> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .webhook_cipher()?
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: key, aad: id.as_bytes() })
            .map_err(|_| internal("sealing a webhook secret failed"))?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    pub(crate) fn open_webhook_key(&self, id: Uuid, sealed: &[u8]) -> ServiceResult<Vec<u8>> {
        if sealed.len() < NONCE_BYTES {
            return Err(internal("a sealed webhook secret is too short"));
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
        self.webhook_cipher()?
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: id.as_bytes() })
            .map_err(|_| internal("a webhook secret does not open with this server secret (was PARTNERHUB_SECRET changed?)"))
    }

    fn fresh_key(&self, id: Uuid) -> ServiceResult<(String, Vec<u8>)> {
        let mut key = [0u8; KEY_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Ok((secret_text(&key), self.seal_webhook_key(id, &key)?))
    }

    /// Whether `--webhook-allow-insecure` lets endpoints use http:// and private addresses.
    pub fn webhook_allow_insecure(&self) -> bool {
        self.config.webhook_allow_insecure
    }

    pub async fn create_webhook(&self, caller: &Caller, input: NewWebhookInput) -> ServiceResult<CreatedWebhook> {
        let p = caller.require(Action::WebhooksManage)?;
        let org = p.organization.id;
        let url = ssrf::check_url(&input.url, self.config.webhook_allow_insecure).await.map_err(|why| ValidationErrors::one("url", why))?;
        let events = events_of(input.events)?;
        let id = Uuid::now_v7();
        let (secret, sealed) = self.fresh_key(id)?;
        let change = self.change(
            caller,
            "webhook.created",
            json!({"type": "webhook", "id": id}),
            None,
            json!({"url": url, "events": events}),
            vec![org],
        );
        let webhook = self
            .store
            .create_webhook(NewWebhook { id, organization_id: org, url, events, secret: sealed, created_at: self.now() }, change)
            .await?;
        Ok(CreatedWebhook { webhook, secret })
    }

    pub async fn list_webhooks(&self, caller: &Caller, page: PageQuery) -> ServiceResult<Page<Webhook>> {
        let p = caller.require(Action::WebhooksManage)?;
        Ok(self.store.list_webhooks(p.organization.id, &page).await?)
    }

    pub async fn webhook(&self, caller: &Caller, id: Uuid) -> ServiceResult<Webhook> {
        let p = caller.require(Action::WebhooksManage)?;
        Ok(self.store.webhook(p.organization.id, id).await?)
    }

    pub async fn delete_webhook(&self, caller: &Caller, id: Uuid) -> ServiceResult<()> {
        let p = caller.require(Action::WebhooksManage)?;
        let org = p.organization.id;
        let w = self.store.webhook(org, id).await?;
        let change = self.change(caller, "webhook.deleted", json!({"type": "webhook", "id": id}), None, json!({"url": w.url}), vec![org]);
        Ok(self.store.delete_webhook(org, id, change).await?)
    }

    /// A new secret, shown once; the current one keeps signing too for 24 hours.
    pub async fn rotate_webhook_secret(&self, caller: &Caller, id: Uuid) -> ServiceResult<String> {
        let p = caller.require(Action::WebhooksManage)?;
        let org = p.organization.id;
        let (secret, sealed) = self.fresh_key(id)?;
        let until = self.now() + time::Duration::hours(PREVIOUS_SECRET_HOURS);
        let change = self.change(
            caller,
            "webhook.secret_rotated",
            json!({"type": "webhook", "id": id}),
            None,
            json!({"previous_secret_until": rfc3339(until)}),
            vec![org],
        );
        self.store.rotate_webhook_secret(org, id, sealed, until, change).await?;
        Ok(secret)
    }

    pub async fn webhook_deliveries(&self, caller: &Caller, id: Uuid, page: PageQuery) -> ServiceResult<Page<DeliveryAttempt>> {
        let p = caller.require(Action::WebhooksManage)?;
        Ok(self.store.list_delivery_attempts(p.organization.id, id, &page).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_checked_against_the_list_and_deduplicated() {
        assert_eq!(events_of(vec!["grant.created".into(), "grant.created".into()]).ok(), Some(vec!["grant.created".to_owned()]));
        assert!(events_of(vec![]).is_err());
        assert!(events_of(vec!["user.created".into()]).is_err());
    }

    #[test]
    fn a_secret_is_whsec_and_base64() {
        let s = secret_text(&[1u8; 32]);
        assert!(s.starts_with("whsec_"));
        assert_eq!(STANDARD.decode(&s[6..]).ok(), Some(vec![1u8; 32]));
    }
}
