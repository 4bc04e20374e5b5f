//! Passwords (argon2id), opaque bearer tokens (256 random bits, stored as SHA-256), sign-in
//! with rate limits kept in the database, and resolving a bearer token to a caller.

use crate::{Caller, Service, ServiceError, ServiceResult};
use argon2::password_hash::{PasswordHash, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use partnerhub_domain::*;
use partnerhub_store::*;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use subtle::ConstantTimeEq;

/// Failed sign-ins allowed per e-mail address in a window, then 429 until it ends.
const SIGN_IN_FAILURES_PER_EMAIL: i64 = 5;
/// Failed sign-ins allowed per client address in a window (many accounts, one attacker).
const SIGN_IN_FAILURES_PER_IP: i64 = 50;
const SIGN_IN_WINDOW_SECS: i64 = 15 * 60;
/// Unknown invitation tokens allowed per client address in a window (guessing links).
pub(crate) const INVITE_FAILURES_PER_IP: i64 = 30;
pub(crate) const INVITE_WINDOW_SECS: i64 = 10 * 60;

/// argon2id with a memory cost in KiB, an iteration count and parallelism.
#[derive(Debug, Clone, Copy)]
pub struct PasswordHasher {
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
}

impl Default for PasswordHasher {
    /// OWASP's password storage cheat sheet: m=19456 KiB, t=2, p=1 at the least.
    fn default() -> Self {
        Self { m_kib: 19_456, t: 2, p: 1 }
    }
}

impl PasswordHasher {
    fn argon(&self) -> ServiceResult<Argon2<'static>> {
        let params = Params::new(self.m_kib, self.t, self.p, None).map_err(|e| ServiceError::Internal(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// Hashes off the async runtime: argon2 takes tens of milliseconds by design.
    pub async fn hash(&self, password: &Password) -> ServiceResult<String> {
        let argon = self.argon()?;
        let pw = password.expose().to_owned();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            argon2::PasswordHasher::hash_password(&argon, pw.as_bytes(), &salt).map(|h| h.to_string())
        })
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))?
        .map_err(|e| ServiceError::Internal(e.to_string()))
    }

    /// Does `password` match `hash`? `Err` only when the work could not run (overloaded).
    pub async fn verify(&self, hash: String, password: String) -> ServiceResult<bool> {
        Ok(tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
        .unwrap_or(false))
    }
}

/// SHA-256 of a token: what the database keeps instead of the token.
pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// 256 bits from the operating system's generator, URL-safe.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A random password shown once (customer admins created by a partner).
pub(crate) fn temporary_password() -> String {
    let mut bytes = [0u8; 18];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A hash to verify against when the e-mail is unknown, so that sign-in takes as long for
/// an unknown user as for a wrong password (no user enumeration by timing).
fn dummy_hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let argon = PasswordHasher::default().argon().ok();
        argon
            .and_then(|a| argon2::PasswordHasher::hash_password(&a, b"not a password", &salt).ok().map(|h| h.to_string()))
            .unwrap_or_default()
    })
}

impl Service {
    /// The caller behind a bearer token, read from the database on every request, so a
    /// deleted user or an expired session stops working at once.
    pub async fn authenticate(&self, bearer: &str) -> ServiceResult<Caller> {
        let principal = self.store.principal(&hash_token(bearer), self.now()).await?.ok_or(ServiceError::Unauthenticated)?;
        Ok(Caller::User(self.with_mfa_policy(principal).await?))
    }

    /// Is this bearer the operator token? Compared in constant time.
    pub fn authenticate_operator(&self, bearer: &str) -> ServiceResult<Caller> {
        let Some(expected) = &self.config.operator_token_hash else { return Err(ServiceError::Unauthenticated) };
        let given = Sha256::digest(bearer.as_bytes());
        if bool::from(given.as_slice().ct_eq(expected)) { Ok(Caller::Operator) } else { Err(ServiceError::Unauthenticated) }
    }

    /// Refuses with 429 while `key` has `limit` or more attempts in its window.
    pub(crate) async fn check_rate(&self, key: &str, limit: i64) -> ServiceResult<()> {
        let now = self.now();
        let (n, end) = self.store.attempts(key, now).await?;
        if n >= limit {
            return Err(ServiceError::RateLimited { retry_after_secs: (end - now).whole_seconds().max(1) as u64 });
        }
        Ok(())
    }

    /// Signs in with e-mail and password; answers a new bearer token and its lifetime.
    pub async fn sign_in(&self, email: &str, password: &str, client: &str) -> ServiceResult<(String, i64)> {
        let s = self.open_session(email, password, None, client).await?;
        Ok((s.token, s.expires_in))
    }

    /// Signs in, and says whether the password is a temporary one that must be changed
    /// before the session may do anything else.
    pub async fn open_session(&self, email: &str, password: &str, totp: Option<&str>, client: &str) -> ServiceResult<SignedIn> {
        // Keyed by a hash: any text a client sends is a safe key, and no address is kept here.
        let email_key = format!("sign-in:email:{}", hex::encode(Sha256::digest(email.trim().to_lowercase().as_bytes())));
        let ip_key = format!("sign-in:ip:{client}");
        self.check_rate(&email_key, SIGN_IN_FAILURES_PER_EMAIL).await?;
        self.check_rate(&ip_key, SIGN_IN_FAILURES_PER_IP).await?;
        let creds = match Email::parse("email", email) {
            Ok(e) => self.store.credentials(e.as_str()).await?,
            Err(_) => None,
        };
        let hasher = self.config.password_hasher;
        let ok = match &creds {
            Some(c) => {
                hasher.verify(c.password_hash.clone(), password.to_owned()).await?
                    && self.check_second_factor(c.organization_id, c.user_id, totp).await?
            }
            None => {
                hasher.verify(dummy_hash().to_owned(), password.to_owned()).await?;
                false
            }
        };
        let Some(creds) = creds.filter(|_| ok) else {
            let now = self.now();
            self.store.count_attempt(&email_key, SIGN_IN_WINDOW_SECS, now).await?;
            self.store.count_attempt(&ip_key, SIGN_IN_WINDOW_SECS, now).await?;
            return Err(ServiceError::Unauthenticated);
        };
        self.store.clear_attempts(&email_key).await?;
        let user = self.store.user(creds.organization_id, creds.user_id).await?;
        let org = self.store.organization(creds.organization_id).await?;
        let token = random_token();
        let now = self.now();
        let ttl = self.config.session_ttl;
        let session = NewSession {
            id: SessionId::new(),
            token_hash: hash_token(&token),
            user_id: user.id,
            organization_id: org.id,
            created_at: now,
            expires_at: now + ttl,
        };
        let password_change_required = user.password_change_required;
        let caller = Caller::User(Principal { session_id: session.id, user, organization: org });
        let change = self.change(
            &caller,
            "session.created",
            serde_json::json!({"type": "session", "id": session.id}),
            None,
            serde_json::json!({"expires_at": crate::rfc3339(session.expires_at)}),
            vec![caller.org_id()],
        );
        self.store.create_session(session, change).await?;
        Ok(SignedIn { token, expires_in: ttl.whole_seconds(), password_change_required })
    }

    /// The signed-in user sets a new password, proving the current one; every other session
    /// of theirs ends. The one way out of a temporary password, so it does not `require`.
    pub async fn change_password(&self, caller: &Caller, current: &str, new: &str) -> ServiceResult<()> {
        let p = caller.principal()?;
        // A stolen token must not become a way to guess the password: failures count as
        // sign-in failures do.
        let key = format!("password-change:user:{}", p.user.id);
        self.check_rate(&key, SIGN_IN_FAILURES_PER_EMAIL).await?;
        let creds = self.store.credentials(&p.user.email).await?.filter(|c| c.user_id == p.user.id).ok_or(ServiceError::Unauthenticated)?;
        let mut v = Validator::default();
        let new_password = v.check(Password::parse("new_password", new));
        if !self.config.password_hasher.verify(creds.password_hash, current.to_owned()).await? {
            self.store.count_attempt(&key, SIGN_IN_WINDOW_SECS, self.now()).await?;
            v.push("current_password", "is not your current password");
        } else if new == current {
            v.push("new_password", "must differ from the current password");
        }
        v.finish()?;
        let Some(new_password) = new_password else {
            return Err(ServiceError::Internal("validator passed with missing fields".into()));
        };
        self.store.clear_attempts(&key).await?;
        let hash = self.config.password_hasher.hash(&new_password).await?;
        let org = p.organization.id;
        let change = self.change(
            caller,
            "user.password_changed",
            serde_json::json!({"type": "user", "id": p.user.id}),
            (p.organization.kind == OrgKind::Customer).then_some(org),
            serde_json::json!({"was_temporary": p.user.password_change_required}),
            vec![org],
        );
        Ok(self.store.set_password(org, p.user.id, hash, false, Some(p.session_id), change).await?)
    }
}

/// A new sign-in session.
pub struct SignedIn {
    pub token: String,
    pub expires_in: i64,
    /// The password is a temporary one: this session may only change it (and read `/me`).
    pub password_change_required: bool,
}
