//! `serve --demo`'s logins. Their passwords are derived from the server secret, so every start
//! of the same server prints the same working ones without keeping them anywhere; a start that
//! finds one no longer working (changed by its user, or the secret changed) sets it again, as
//! an audited change of the operator's.

use crate::{Caller, Service, ServiceError, ServiceResult};
use hmac::{Hmac, Mac};
use partnerhub_domain::{OrgKind, Password};
use serde_json::json;
use sha2::Sha256;

/// What a start found of a demo login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoLogin {
    /// It signs in with its demo password.
    Works,
    /// It did not; its demo password is set again (and its sessions ended).
    Restored,
    /// No such user any more (deleted meanwhile).
    Gone,
}

impl Service {
    /// `demo-` and 24 hex digits of HMAC-SHA256(server secret, "partnerhub demo login v1:" ||
    /// e-mail): the same on every start with the same secret, useless anywhere else.
    pub fn demo_password(&self, email: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(self.config.secret.bytes()).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(b"partnerhub demo login v1:");
        mac.update(email.as_bytes());
        format!("demo-{}", hex::encode(&mac.finalize().into_bytes()[..12]))
    }

    /// Makes the demo login `email` sign in with `demo_password(email)` again. The operator
    /// only (the demo seeds as the operator); a password set again is one change, audited as
    /// `user.password_reset` with `{"email", "by": "serve --demo"}`, that ends the user's sessions.
    pub async fn restore_demo_login(&self, caller: &Caller, email: &str) -> ServiceResult<DemoLogin> {
        if !matches!(caller, Caller::Operator) {
            return Err(ServiceError::Forbidden);
        }
        let Some(creds) = self.store.credentials(email).await? else { return Ok(DemoLogin::Gone) };
        let password = self.demo_password(email);
        if !creds.password_change_required && self.config.password_hasher.verify(creds.password_hash, password.clone()).await? {
            return Ok(DemoLogin::Works);
        }
        let org = self.store.organization(creds.organization_id).await?;
        let hash = self.config.password_hasher.hash(&Password::parse("password", &password)?).await?;
        let change = self.change(
            caller,
            "user.password_reset",
            json!({"type": "user", "id": creds.user_id}),
            (org.kind == OrgKind::Customer).then_some(org.id),
            json!({"email": email, "by": "serve --demo"}),
            vec![org.id],
        );
        self.store.set_password(org.id, creds.user_id, hash, false, None, change).await?;
        Ok(DemoLogin::Restored)
    }
}
