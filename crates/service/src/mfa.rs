//! TOTP second factor (RFC 6238, docs/accounts.md "Multi-factor authentication"): enrolment,
//! confirmation with recovery codes, removal, the check at sign-in, and `--require-mfa`.
//!
//! Secrets: 160 random bits, SHA-1, 6 digits, 30 s steps, one step of drift either way (what
//! every authenticator app reads from the `otpauth://` URI). At rest a secret is sealed with
//! AES-256-GCM under a key derived from the server secret (HKDF-SHA256, info
//! `partnerhub totp v1`), the user id as associated data (a sealed secret copied to another
//! user's row does not open). The step of every accepted code is recorded, and a code of that
//! step or an earlier one is refused: a code works once. Time is the service's clock.

use crate::{Caller, Conflict, Service, ServiceError, ServiceResult};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use partnerhub_domain::*;
use partnerhub_store::*;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

const ISSUER: &str = "partnerhub";
const HKDF_INFO: &[u8] = b"partnerhub totp v1";
const SECRET_BYTES: usize = 20;
const DIGITS: usize = 6;
const STEP_SECS: i64 = 30;
/// Steps of clock drift accepted either side of the current one.
const SKEW: i64 = 1;
const NONCE_BYTES: usize = 12;
pub(crate) const RECOVERY_CODES: usize = 10;
/// Wrong codes allowed per user in a window at confirmation and removal (a stolen session
/// must not become a way to guess codes), then 429 until the window ends.
const MFA_FAILURES_PER_USER: i64 = 5;
const MFA_WINDOW_SECS: i64 = 15 * 60;

/// What `POST /api/v1/me/mfa/totp` answers: the secret, for the authenticator app.
#[derive(Debug, Clone)]
pub struct TotpEnrolment {
    /// Base32 (RFC 4648, no padding), for typing in.
    pub secret: String,
    /// `otpauth://totp/partnerhub:EMAIL?secret=...&issuer=partnerhub`, for a QR code.
    pub otpauth_uri: String,
}

/// A second factor as given: a 6-digit code, or else a recovery code.
enum Proof {
    Code(String),
    Recovery(Vec<u8>),
}

fn proof(given: &str) -> Proof {
    let compact: String = given.chars().filter(|c| !c.is_whitespace() && *c != '-').collect::<String>().to_lowercase();
    if compact.len() == DIGITS && compact.bytes().all(|b| b.is_ascii_digit()) {
        Proof::Code(compact)
    } else {
        Proof::Recovery(Sha256::digest(compact.as_bytes()).to_vec())
    }
}

/// A recovery code: 80 random bits, base32, in four groups of four (`abcd-efgh-ijkl-mnop`).
fn recovery_code() -> String {
    let mut bytes = [0u8; 10];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let b32 = base32::encode(base32::Alphabet::Rfc4648 { padding: false }, &bytes).to_lowercase();
    b32.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join("-")
}

fn step_of(now: time::OffsetDateTime) -> i64 {
    now.unix_timestamp().div_euclid(STEP_SECS)
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

impl Service {
    fn totp_cipher(&self) -> ServiceResult<Aes256Gcm> {
        let mut key = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(None, self.config.secret.bytes()).expand(HKDF_INFO, &mut key).map_err(internal)?;
        Aes256Gcm::new_from_slice(&key).map_err(internal)
    }

    /// `nonce || ciphertext || tag` of `secret`, bound to `user`.
    fn seal_totp(&self, user: UserId, secret: &[u8]) -> ServiceResult<Vec<u8>> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .totp_cipher()?
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: secret, aad: user.0.as_bytes() })
            .map_err(|_| internal("sealing a TOTP secret failed"))?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    fn open_totp(&self, user: UserId, sealed: &[u8]) -> ServiceResult<Vec<u8>> {
        if sealed.len() < NONCE_BYTES {
            return Err(internal("a sealed TOTP secret is too short"));
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
        self.totp_cipher()?
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: user.0.as_bytes() })
            .map_err(|_| internal("a TOTP secret does not open with this server secret (was PARTNERHUB_SECRET changed?)"))
    }

    fn totp_generator(secret: Vec<u8>, email: &str) -> ServiceResult<TOTP> {
        TOTP::new(Algorithm::SHA1, DIGITS, SKEW as u8, STEP_SECS as u64, secret, Some(ISSUER.into()), email.into()).map_err(internal)
    }

    /// The step whose code `code` is, among the current one and `SKEW` either side, if later
    /// than `after`. Every candidate is compared, in constant time.
    fn matching_step(&self, totp: &TOTP, code: &str, after: Option<i64>) -> Option<i64> {
        let now = step_of(self.now());
        let mut found = None;
        for step in now - SKEW..=now + SKEW {
            let expected = totp.generate((step.max(0) * STEP_SECS) as u64);
            let same = bool::from(expected.as_bytes().ct_eq(code.as_bytes()));
            if same && after.is_none_or(|last| step > last) && found.is_none() {
                found = Some(step);
            }
        }
        found
    }

    /// An authenticated user, who may be held to enrolling TOTP but not to a password change.
    fn mfa_caller<'c>(&self, caller: &'c Caller) -> ServiceResult<&'c Principal> {
        let p = caller.principal()?;
        if p.user.password_change_required {
            return Err(ServiceError::PasswordChangeRequired);
        }
        Ok(p)
    }

    fn mfa_change(&self, actor: Actor, org: &Organization, user: UserId, action: &'static str) -> Change {
        // API.md names no event for `user.*` actions: the audit record is the whole trace.
        Change::new(AuditEntry {
            at: self.now(),
            actor,
            action,
            target: serde_json::json!({"type": "user", "id": user}),
            customer_id: (org.kind == OrgKind::Customer).then_some(org.id),
            details: serde_json::json!({}),
            visible_to: vec![org.id],
        })
    }

    /// `--require-mfa`: a partner user holding `global_admin` or `admin_agent` without an
    /// active TOTP may do nothing but enrol (see `Caller::require`).
    pub(crate) async fn with_mfa_policy(&self, mut p: Principal) -> ServiceResult<Principal> {
        let privileged = p.user.roles.iter().any(|r| matches!(r, Role::GlobalAdmin | Role::AdminAgent));
        if self.config.require_mfa && p.organization.kind == OrgKind::Partner && privileged {
            let active = self.store.totp(p.user.id).await?.is_some_and(|t| t.active());
            p.user.mfa_enrollment_required = !active;
        }
        Ok(p)
    }

    /// The caller's TOTP: `None` when none, `Some(false)` while an enrolment is pending,
    /// `Some(true)` when active (for the portal's security page).
    pub async fn totp_state(&self, caller: &Caller) -> ServiceResult<Option<bool>> {
        let p = self.mfa_caller(caller)?;
        Ok(self.store.totp(p.user.id).await?.map(|t| t.active()))
    }

    /// Starts a TOTP enrolment (replacing a pending one): answers the secret. Not active until
    /// confirmed; `409` when TOTP is active already.
    pub async fn start_totp(&self, caller: &Caller) -> ServiceResult<TotpEnrolment> {
        let p = self.mfa_caller(caller)?;
        let mut secret = vec![0u8; SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let sealed = self.seal_totp(p.user.id, &secret)?;
        let totp = Self::totp_generator(secret, &p.user.email)?;
        let change = self.mfa_change(caller.actor(), &p.organization, p.user.id, "user.mfa_enrolment_started");
        match self.store.start_totp(p.organization.id, p.user.id, sealed, self.now(), change).await {
            Err(StoreError::Conflict { constraint: constraint::TOTP_ACTIVE }) => {
                return Err(Conflict::TotpActive.into());
            }
            other => other?,
        }
        Ok(TotpEnrolment { secret: totp.get_secret_base32(), otpauth_uri: totp.get_url() })
    }

    /// Activates the pending enrolment with a current code; answers the recovery codes, shown
    /// this once.
    pub async fn confirm_totp(&self, caller: &Caller, code: &str) -> ServiceResult<Vec<String>> {
        let p = self.mfa_caller(caller)?;
        let pending = self.store.totp(p.user.id).await?.filter(|t| !t.active());
        let Some(pending) = pending else {
            return Err(Conflict::NoTotpPending.into());
        };
        let key = format!("mfa:user:{}", p.user.id);
        self.check_rate(&key, MFA_FAILURES_PER_USER).await?;
        let totp = Self::totp_generator(self.open_totp(p.user.id, &pending.sealed_secret)?, &p.user.email)?;
        let step = match proof(code) {
            Proof::Code(c) => self.matching_step(&totp, &c, None),
            Proof::Recovery(_) => None,
        };
        let Some(step) = step else {
            self.store.count_attempt(&key, MFA_WINDOW_SECS, self.now()).await?;
            return Err(ValidationErrors::one("code", "is not the current code of your authenticator app").into());
        };
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
        let hashes = codes.iter().map(|c| Sha256::digest(c.replace('-', "").as_bytes()).to_vec()).collect();
        let confirmation = TotpConfirmation { sealed_secret: pending.sealed_secret, step, recovery_code_hashes: hashes, now: self.now() };
        let mut change = self.mfa_change(caller.actor(), &p.organization, p.user.id, "user.mfa_enabled");
        change.record("recovery_codes", RECOVERY_CODES as i64);
        match self.store.confirm_totp(p.organization.id, p.user.id, confirmation, change).await {
            Err(StoreError::Conflict { constraint: constraint::TOTP_NOT_PENDING }) => {
                return Err(Conflict::EnrolmentChanged.into());
            }
            other => other?,
        }
        self.store.clear_attempts(&key).await?;
        Ok(codes)
    }

    /// Removes the caller's TOTP, proven by a current code or an unused recovery code.
    pub async fn remove_totp(&self, caller: &Caller, code: &str) -> ServiceResult<()> {
        let p = self.mfa_caller(caller)?;
        if !self.store.totp(p.user.id).await?.is_some_and(|t| t.active()) {
            return Err(ServiceError::NotFound);
        }
        let key = format!("mfa:user:{}", p.user.id);
        self.check_rate(&key, MFA_FAILURES_PER_USER).await?;
        if !self.second_factor_holds(p.organization.id, p.user.id, code).await? {
            self.store.count_attempt(&key, MFA_WINDOW_SECS, self.now()).await?;
            return Err(
                ValidationErrors::one("code", "is neither a current code of your authenticator app nor an unused recovery code").into()
            );
        }
        self.store.clear_attempts(&key).await?;
        let change = self.mfa_change(caller.actor(), &p.organization, p.user.id, "user.mfa_disabled");
        Ok(self.store.remove_totp(p.organization.id, p.user.id, change).await?)
    }

    /// The second factor of a sign-in whose password was verified: `Ok(true)` when the user has
    /// no active TOTP or `totp` is a good code (now used up), `Ok(false)` when `totp` is wrong
    /// (a failed sign-in), `MfaRequired` when the user has TOTP and `totp` is missing.
    pub(crate) async fn check_second_factor(&self, org: OrganizationId, user: UserId, totp: Option<&str>) -> ServiceResult<bool> {
        if !self.store.totp(user).await?.is_some_and(|t| t.active()) {
            return Ok(true);
        }
        match totp.map(str::trim).filter(|t| !t.is_empty()) {
            None => Err(ServiceError::MfaRequired),
            Some(code) => self.second_factor_holds(org, user, code).await,
        }
    }

    /// Checks and uses up a code of the user's active TOTP or one of its recovery codes.
    async fn second_factor_holds(&self, org: OrganizationId, user: UserId, given: &str) -> ServiceResult<bool> {
        let Some(totp) = self.store.totp(user).await?.filter(|t| t.active()) else { return Ok(false) };
        match proof(given) {
            Proof::Code(code) => {
                let u = self.store.user(org, user).await?;
                let generator = Self::totp_generator(self.open_totp(user, &totp.sealed_secret)?, &u.email)?;
                match self.matching_step(&generator, &code, totp.last_used_step) {
                    // Of concurrent uses of one code, the store lets one through.
                    Some(step) => Ok(self.store.use_totp_step(user, step).await?),
                    None => Ok(false),
                }
            }
            Proof::Recovery(hash) => {
                let u = self.store.user(org, user).await?;
                let o = self.store.organization(org).await?;
                let actor = Actor { user_id: Some(u.id), email: Some(u.email), roles: u.roles, organization_id: Some(org) };
                let change = self.mfa_change(actor, &o, user, "user.mfa_recovery_code_used");
                Ok(self.store.use_recovery_code(org, user, &hash, change).await?)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recovery_code_reads_back_whatever_its_case_and_dashes() {
        let code = recovery_code();
        assert_eq!(code.len(), 19, "{code}");
        let Proof::Recovery(a) = proof(&code) else { panic!("a recovery code read as a TOTP code") };
        let Proof::Recovery(b) = proof(&code.replace('-', " ").to_uppercase()) else { panic!("read as a TOTP code") };
        assert_eq!(a, b);
        assert_eq!(a, Sha256::digest(code.replace('-', "").as_bytes()).to_vec());
        assert!(matches!(proof(" 123 456 "), Proof::Code(c) if c == "123456"));
    }
}
