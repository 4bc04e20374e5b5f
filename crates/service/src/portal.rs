//! What the portal needs of the service beyond the API's use cases: a form token bound to a
//! session, so a page's forms cannot be posted from another site (CSRF), signed with the
//! server secret rather than repeated in a cookie.

use crate::Service;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

impl Service {
    /// HMAC-SHA256(server secret, "partnerhub form v1:" || SHA-256(session token)), hex. The
    /// same for every form of one session; useless with any other session or secret.
    pub fn form_token(&self, session_token: &str) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(self.config.secret.bytes()).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(b"partnerhub form v1:");
        mac.update(&crate::hash_token(session_token));
        hex::encode(mac.finalize().into_bytes())
    }

    /// Does `given` carry this session's form token? Compared in constant time.
    pub fn form_token_matches(&self, session_token: &str, given: &str) -> bool {
        bool::from(self.form_token(session_token).as_bytes().ct_eq(given.as_bytes()))
    }
}
