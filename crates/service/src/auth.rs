//! Passwords (argon2id), opaque bearer tokens (256 random bits, stored as SHA-256), sign-in
//! with rate limits kept in the database, and resolving a bearer token to a caller.

use crate::{Caller, Service, ServiceError, ServiceResult};
use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use partnerhub_domain::*;
use partnerhub_store::*;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use subtle::ConstantTimeEq;

/// Sign-ins of one account from one client: 5 per 15 minutes, then locked for the rest of the
/// window; each further lockout of the same pair lasts twice as long, up to a day. Per pair,
/// so an attacker locks out only itself, never the owner signing in from elsewhere.
pub(crate) const SIGN_IN_PER_PAIR: Limit = Limit { limit: 5, window_secs: 15 * 60, max_lock_secs: 24 * 3600 };
/// Failed sign-ins of one client, whatever the account (one client trying many accounts).
pub(crate) const SIGN_IN_PER_CLIENT: Limit = Limit { limit: 50, window_secs: 15 * 60, max_lock_secs: 0 };
/// Password changes of one user proving a wrong current password (a stolen token must not
/// become a way to guess the password).
const PASSWORD_CHANGE_PER_USER: Limit = Limit { limit: 5, window_secs: 15 * 60, max_lock_secs: 0 };
/// Unknown invitation tokens allowed per client address in a window (guessing links).
pub(crate) const INVITE_FAILURES_PER_IP: i64 = 30;
pub(crate) const INVITE_WINDOW_SECS: i64 = 10 * 60;

/// argon2id with a memory cost in KiB, an iteration count and parallelism, run under a
/// [`HashGate`]: as many hashes at once as the machine has cores, a bounded queue behind
/// them, and `Overloaded` past it, so memory stays flat however many sign-ins arrive.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    pub m_kib: u32,
    pub t: u32,
    pub p: u32,
    pub gate: HashGate,
}

impl Default for PasswordHasher {
    /// OWASP's password storage cheat sheet: m=19456 KiB, t=2, p=1 at the least.
    fn default() -> Self {
        Self { m_kib: 19_456, t: 2, p: 1, gate: HashGate::default() }
    }
}

/// Bounds password hashing: `workers` threads of its own hash (each holding `m_kib` of
/// memory while it works), at most `queue` more hashes wait for one, and any further one is
/// refused at once. Dedicated threads rather than the blocking pool: a pool of hundreds of
/// threads would each keep an allocator arena of argon2's size. Clones share the workers;
/// the threads end when the last clone goes.
#[derive(Clone)]
pub struct HashGate {
    jobs: std::sync::mpsc::SyncSender<Job>,
    workers: usize,
}

type Job = Box<dyn FnOnce() + Send>;

impl std::fmt::Debug for HashGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashGate").field("workers", &self.workers).finish_non_exhaustive()
    }
}

impl HashGate {
    /// Hashes queued per core past the ones running.
    pub const QUEUE_PER_WORKER: usize = 8;

    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        let (jobs, rx) = std::sync::mpsc::sync_channel::<Job>(queue);
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..workers {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new().name(format!("password-hash-{i}")).spawn(move || {
                loop {
                    // The lock is held only to take a job, never while one runs.
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return, // every sender is gone
                    }
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password hashing thread");
            }
        }
        Self { jobs, workers }
    }

    /// Runs `work` on a hashing thread; `Overloaded` (retry in 1 s) at once when every
    /// thread is busy and the queue is full.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> ServiceResult<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(work());
        });
        self.jobs.try_send(job).map_err(|e| match e {
            std::sync::mpsc::TrySendError::Full(_) => ServiceError::Overloaded { retry_after_secs: 1 },
            std::sync::mpsc::TrySendError::Disconnected(_) => ServiceError::Internal("no password hashing thread".into()),
        })?;
        rx.await.map_err(|_| ServiceError::Internal("a password hashing thread failed".into()))
    }
}

impl Default for HashGate {
    /// One worker per core, 8 queued per core.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Self::new(cores, cores * Self::QUEUE_PER_WORKER)
    }
}

impl PasswordHasher {
    fn argon(&self) -> ServiceResult<Argon2<'static>> {
        let params = Params::new(self.m_kib, self.t, self.p, None).map_err(|e| ServiceError::Internal(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// Hashes off the async runtime, under the gate: argon2 takes tens of milliseconds and
    /// `m_kib` of memory by design.
    pub async fn hash(&self, password: &Password) -> ServiceResult<String> {
        let argon = self.argon()?;
        let pw = password.expose().to_owned();
        let params = argon.params().clone();
        self.gate
            .run(move || {
                let salt = SaltString::generate(&mut rand::rngs::OsRng);
                argon2_phc(Algorithm::Argon2id, Version::V0x13, params, pw.as_bytes(), salt.as_salt()).map(|h| h.to_string())
            })
            .await?
            .map_err(|e| ServiceError::Internal(e.to_string()))
    }

    /// Does `password` match `hash`? `Err` only when the work could not run (overloaded).
    pub async fn verify(&self, hash: String, password: String) -> ServiceResult<bool> {
        self.gate.run(move || verify_phc(&hash, password.as_bytes())).await
    }
}

thread_local! {
    /// argon2's memory, kept by each hashing thread from one hash to the next: a fresh
    /// `m_kib` per hash makes the allocator's arenas grow and stay grown.
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// argon2 of `password` as a PHC string, computed in this thread's kept memory (what
/// `argon2::PasswordHasher::hash_password` does, with the memory given).
fn argon2_phc<'a>(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &[u8],
    salt: argon2::password_hash::Salt<'a>,
) -> argon2::password_hash::Result<PasswordHash<'a>> {
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf)?;
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let blocks = params.block_count();
    let argon = Argon2::new(algorithm, version, params.clone());
    let output = BLOCKS.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            memory.resize(blocks, argon2::Block::default());
        }
        argon2::password_hash::Output::init_with(output_len, |out| {
            Ok(argon.hash_password_into_with_memory(password, salt_bytes, out, &mut memory[..blocks])?)
        })
    })?;
    Ok(PasswordHash {
        algorithm: algorithm.ident(),
        version: Some(version.into()),
        params: argon2::password_hash::ParamsString::try_from(&params)?,
        salt: Some(salt),
        hash: Some(output),
    })
}

/// Does `password` match the PHC string `hash`? (`PasswordVerifier`, in kept memory; the
/// outputs are compared in constant time.)
fn verify_phc(hash: &str, password: &[u8]) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return false };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else { return false };
    let Ok(version) = parsed.version.map(Version::try_from).transpose() else { return false };
    let Ok(params) = Params::try_from(&parsed) else { return false };
    argon2_phc(algorithm, version.unwrap_or_default(), params, password, salt).ok().and_then(|h| h.hash).is_some_and(|out| out == expected)
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

/// The weakest guessability zxcvbn may score a new password (0 to 4): 3 is "safely
/// unguessable: moderate protection from offline slow-hash scenarios".
const MIN_PASSWORD_SCORE: u8 = 3;

/// Refuses (on `field`) a password zxcvbn finds easy to guess: common and breached passwords,
/// dictionary words, keyboard patterns, dates, and the user's own e-mail, name and
/// organization (`inputs`), with zxcvbn's advice.
pub(crate) fn check_strength(v: &mut Validator, field: &str, password: &str, inputs: &[&str]) {
    let mut words: Vec<&str> = inputs.to_vec();
    // The e-mail's local part and domain labels on their own, as a guesser would try them.
    for input in inputs {
        words.extend(input.split(['@', '.', ' ', '-', '_']).filter(|w| w.len() >= 3));
    }
    let estimate = zxcvbn::zxcvbn(password, &words);
    if u8::from(estimate.score()) >= MIN_PASSWORD_SCORE {
        return;
    }
    let mut advice = String::from("is too easy to guess");
    if let Some(f) = estimate.feedback() {
        if let Some(w) = f.warning() {
            advice.push_str(&format!(": {w}"));
        }
        for s in f.suggestions() {
            advice.push_str(&format!(" {s}"));
        }
    }
    v.push(field, advice);
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

    /// [`authenticate`](Self::authenticate), and in the same statement the versions of the
    /// caller's organization and of `watch` (see `Versions`): what a cached answer is checked
    /// against, read on every request, so a change through any server process is seen.
    pub async fn authenticate_versions(&self, bearer: &str, watch: Option<OrganizationId>) -> ServiceResult<(Caller, Versions)> {
        let (principal, versions) =
            self.store.principal_versions(&hash_token(bearer), self.now(), watch).await?.ok_or(ServiceError::Unauthenticated)?;
        Ok((Caller::User(self.with_mfa_policy(principal).await?), versions))
    }

    /// Is this bearer the operator token? Compared in constant time. Without a token
    /// configured, the operator's routes are disabled whatever the request carries.
    pub fn authenticate_operator(&self, bearer: Option<&str>) -> ServiceResult<Caller> {
        let Some(expected) = &self.config.operator_token_hash else { return Err(ServiceError::OperatorApiDisabled) };
        let Some(bearer) = bearer else { return Err(ServiceError::Unauthenticated) };
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

    /// Counts an attempt against `key` before the work it guards (count first, then verify):
    /// 429 once the count is past the limit, so N concurrent attempts do at most the limit's work.
    pub(crate) async fn count_first(&self, key: &str, limit: &Limit) -> ServiceResult<()> {
        let now = self.now();
        let (n, end) = self.store.hit(key, limit, now).await?;
        if n > limit.limit {
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
        let creds = self.verified_credentials(email, password, totp, client).await?;
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

    /// The caller behind an e-mail and password (and TOTP code when the account has one),
    /// for ONE call and without a session: the invitation page answers with the customer
    /// admin's credentials and must leave no session behind. Same count-first limits, same
    /// bounded hashing and same failures as sign-in (it is a sign-in that opens nothing).
    /// The principal's session id names no session: nothing it is given to reads it.
    pub(crate) async fn caller_from_credentials(
        &self,
        email: &str,
        password: &str,
        totp: Option<&str>,
        client: &str,
    ) -> ServiceResult<Caller> {
        let creds = self.verified_credentials(email, password, totp, client).await?;
        let user = self.store.user(creds.organization_id, creds.user_id).await?;
        let organization = self.store.organization(creds.organization_id).await?;
        let principal = self.with_mfa_policy(Principal { session_id: SessionId::new(), user, organization }).await?;
        Ok(Caller::User(principal))
    }

    /// Counts the attempt, then checks the password (and second factor): the credentials.
    async fn verified_credentials(&self, email: &str, password: &str, totp: Option<&str>, client: &str) -> ServiceResult<Credentials> {
        // Keyed by a hash: any text a client sends is a safe key. Counted before the password
        // is verified, in one atomic statement each: concurrent attempts cannot all pass a
        // check made before any of them counted.
        let account = email.trim().to_lowercase();
        let pair_key = format!("sign-in:pair:{}", hex::encode(Sha256::digest(format!("{account}\n{client}").as_bytes())));
        let ip_key = format!("sign-in:ip:{client}");
        self.count_first(&pair_key, &SIGN_IN_PER_PAIR).await?;
        self.count_first(&ip_key, &SIGN_IN_PER_CLIENT).await?;
        let creds = match Email::parse("email", email) {
            Ok(e) => self.store.credentials(e.as_str()).await?,
            Err(_) => None,
        };
        let hasher = &self.config.password_hasher;
        let ok = match &creds {
            Some(c) => {
                if !hasher.verify(c.password_hash.clone(), password.to_owned()).await? {
                    false
                } else {
                    match self.check_second_factor(c.organization_id, c.user_id, totp).await {
                        // The right password without its code is no failure: the client asks
                        // again with the code, which is counted then.
                        Err(ServiceError::MfaRequired) => {
                            self.store.uncount(&pair_key, self.now()).await?;
                            self.store.uncount(&ip_key, self.now()).await?;
                            return Err(ServiceError::MfaRequired);
                        }
                        other => other?,
                    }
                }
            }
            None => {
                hasher.verify(dummy_hash().to_owned(), password.to_owned()).await?;
                false
            }
        };
        // A temporary password nobody changed in time is dead: its holder asks for a new one.
        let expired = |c: &Credentials| c.password_change_required && c.password_set_at + self.config.temporary_password_ttl <= self.now();
        let Some(creds) = creds.filter(|c| ok && !expired(c)) else {
            // Counted already.
            return Err(ServiceError::Unauthenticated);
        };
        // A success clears its pair, and was no failure of its client.
        self.store.clear_attempts(&pair_key).await?;
        self.store.uncount(&ip_key, self.now()).await?;
        Ok(creds)
    }

    /// The signed-in user sets a new password, proving the current one; every other session
    /// of theirs ends. The one way out of a temporary password, so it does not `require`.
    pub async fn change_password(&self, caller: &Caller, current: &str, new: &str) -> ServiceResult<()> {
        let p = caller.principal()?;
        // A stolen token must not become a way to guess the password: failures count as
        // sign-in failures do.
        let key = format!("password-change:user:{}", p.user.id);
        self.count_first(&key, &PASSWORD_CHANGE_PER_USER).await?;
        let creds = self.store.credentials(&p.user.email).await?.filter(|c| c.user_id == p.user.id).ok_or(ServiceError::Unauthenticated)?;
        let mut v = Validator::default();
        let new_password = v.check(Password::parse("new_password", new));
        if new_password.is_some() {
            check_strength(&mut v, "new_password", new, &[&p.user.email, &p.user.display_name, &p.organization.name]);
        }
        if !self.config.password_hasher.verify(creds.password_hash, current.to_owned()).await? {
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

/// The signed-in user acting on their own sessions: not with a temporary password, whose
/// session may only change it (and read `/me`, and sign out).
fn own(caller: &Caller) -> ServiceResult<&Principal> {
    let p = caller.principal()?;
    if p.user.password_change_required {
        Err(ServiceError::PasswordChangeRequired)
    } else if p.user.mfa_enrollment_required {
        Err(ServiceError::MfaEnrollmentRequired)
    } else {
        Ok(p)
    }
}

impl Service {
    /// Signs out: this bearer token is dead on every node. Allowed with a temporary password.
    pub async fn sign_out(&self, caller: &Caller) -> ServiceResult<()> {
        let p = caller.principal()?;
        self.end(caller, p, p.session_id).await
    }

    /// A page of the caller's live sessions, newest first, and which one is this request's.
    pub async fn list_sessions(&self, caller: &Caller, page: PageQuery) -> ServiceResult<(Page<SessionInfo>, SessionId)> {
        let p = own(caller)?;
        Ok((self.store.list_sessions(p.user.id, self.now(), &page).await?, p.session_id))
    }

    /// Ends one of the caller's own sessions (another's is `NotFound`).
    pub async fn end_session(&self, caller: &Caller, id: SessionId) -> ServiceResult<()> {
        let p = own(caller)?;
        self.end(caller, p, id).await
    }

    async fn end(&self, caller: &Caller, p: &Principal, id: SessionId) -> ServiceResult<()> {
        let change = self.change(
            caller,
            "session.ended",
            serde_json::json!({"type": "session", "id": id}),
            None,
            serde_json::json!({"user_id": p.user.id, "current": id == p.session_id}),
            vec![p.organization.id],
        );
        Ok(self.store.end_session(p.user.id, id, change).await?)
    }

    /// Deletes expired sessions and finished rate-limit windows (see [`spawn_purge`]).
    pub async fn purge_expired(&self) -> ServiceResult<u64> {
        let now = self.now();
        Ok(self.store.purge_expired(now).await? + self.store.purge_idempotency_keys(now).await?)
    }
}

/// How often every `serve` process purges (a purge is idempotent; several nodes may run it).
pub const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// Runs [`Service::purge_expired`] now and then every [`PURGE_EVERY`], for as long as the
/// process lives; a failed purge is logged and tried again next time.
pub fn spawn_purge(service: Service) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(PURGE_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            match service.purge_expired().await {
                Ok(n) => tracing::debug!(rows = n, "purged expired sessions, rate-limit windows and idempotency keys"),
                Err(e) => tracing::warn!(error = %e, "purging expired sessions failed"),
            }
        }
    })
}

/// A new sign-in session.
pub struct SignedIn {
    pub token: String,
    pub expires_in: i64,
    /// The password is a temporary one: this session may only change it (and read `/me`).
    pub password_change_required: bool,
}

#[cfg(test)]
mod hasher_tests {
    use super::*;

    fn fast() -> PasswordHasher {
        PasswordHasher { m_kib: 64, t: 1, p: 1, gate: HashGate::new(2, 4) }
    }

    #[tokio::test]
    async fn hashes_verify_and_agree_with_argon2s_own() {
        let h = fast();
        let pw = Password::parse("password", "correct horse battery staple").unwrap();
        let phc = h.hash(&pw).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        assert!(h.verify(phc.clone(), "correct horse battery staple".into()).await.unwrap());
        assert!(!h.verify(phc.clone(), "correct horse battery stapler".into()).await.unwrap());
        assert!(!h.verify("not a hash".into(), "x".into()).await.unwrap());
        // Hashes made by argon2's own hasher (every stored one) still verify, and ours verify there.
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let theirs = argon2::PasswordHasher::hash_password(&Argon2::default(), b"pw", &salt).unwrap().to_string();
        assert!(h.verify(theirs, "pw".into()).await.unwrap());
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(argon2::PasswordVerifier::verify_password(&Argon2::default(), b"correct horse battery staple", &parsed).is_ok());
    }

    #[tokio::test]
    async fn a_full_queue_answers_overloaded_at_once() {
        let gate = HashGate::new(1, 1);
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let g = gate.clone();
        // One job holds the worker, one waits in the queue: the third is refused.
        let running = tokio::spawn(async move { g.run(move || release_rx.recv().ok()).await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let g = gate.clone();
        let queued = tokio::spawn(async move { g.run(|| 2).await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(matches!(gate.run(|| 3).await, Err(ServiceError::Overloaded { retry_after_secs: 1 })));
        release_tx.send(()).unwrap();
        assert!(running.await.unwrap().is_ok());
        assert_eq!(queued.await.unwrap().unwrap(), 2);
        assert_eq!(gate.run(|| 4).await.unwrap(), 4, "room again once the work is done");
    }
}
