//! TOTP multi-factor authentication (issue 7 "MFA", docs/accounts.md): enrolment, the window of
//! one step either side, replays refused, single-use recovery codes, `mfa_required`,
//! `--require-mfa`, and secrets sealed at rest. The server's clock is `app.clock`.

use crate::support::*;
use partnerhub_domain::Clock;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::Duration;
use totp_rs::TOTP;

/// Enrols and confirms TOTP for the signed-in `token`: the authenticator (read from the
/// `otpauth://` URI as an app would) and the recovery codes.
pub(crate) async fn enrol(app: &TestApp, token: &str) -> (TOTP, Vec<String>) {
    let (s, b) = app.post("/api/v1/me/mfa/totp", Some(token), json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let totp = TOTP::from_url(b["otpauth_uri"].as_str().unwrap()).unwrap();
    assert_eq!(totp.get_secret_base32(), b["secret"].as_str().unwrap());
    let (s, b) = app.post("/api/v1/me/mfa/totp/confirm", Some(token), json!({"code": code_at(app, &totp, 0)})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let codes = b["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    (totp, codes)
}

/// The code of the step `steps` away from the server's current one.
pub(crate) fn code_at(app: &TestApp, totp: &TOTP, steps: i64) -> String {
    let t = app.clock.now().unix_timestamp() + steps * 30;
    totp.generate(t as u64)
}

async fn sign_in_with(app: &TestApp, email: &str, totp: Option<&str>) -> (StatusCode, Value) {
    let mut body = json!({"email": email, "password": PASSWORD});
    if let Some(t) = totp {
        body["totp"] = json!(t);
    }
    app.post("/api/v1/auth/token", None, body).await
}

#[tokio::test]
async fn the_enrolment_answers_an_otpauth_uri_and_only_a_confirmed_totp_is_asked_for() {
    let app = TestApp::spawn().await;
    let p = app.partner("direct").await;
    let (s, b) = app.post("/api/v1/me/mfa/totp", Some(&p.token), json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let uri = b["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/partnerhub:ga%40"), "{uri}");
    assert!(uri.contains("issuer=partnerhub") && uri.contains(&format!("secret={}", b["secret"].as_str().unwrap())), "{uri}");
    let totp = TOTP::from_url(uri).unwrap();
    assert_eq!((totp.digits, totp.step, totp.secret.len()), (6, 30, 20), "6 digits, 30 s, 160 bits");
    // Pending: sign-in does not ask for a code yet.
    let (s, b) = sign_in_with(&app, &p.email, None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // A wrong code does not confirm; a second enrolment replaces the pending one, whose codes
    // then no longer confirm.
    let (s, b) = app.post("/api/v1/me/mfa/totp/confirm", Some(&p.token), json!({"code": "000000"})).await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{b}");
    let again = fresh_enrolment(&app, &p.token).await;
    let (s, b) = app.post("/api/v1/me/mfa/totp/confirm", Some(&p.token), json!({"code": code_at(&app, &totp, 0)})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "the replaced secret's code: {b}");
    let totp = TOTP::from_url(again["otpauth_uri"].as_str().unwrap()).unwrap();
    let (s, b) = app.post("/api/v1/me/mfa/totp/confirm", Some(&p.token), json!({"code": code_at(&app, &totp, 0)})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["recovery_codes"].as_array().unwrap().len(), 10);
    // Active now: a second enrolment is refused until it is removed.
    let (s, b) = app.post("/api/v1/me/mfa/totp", Some(&p.token), json!({})).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "conflict"), "{b}");
    // Without a code: mfa_required, but only once the password is right.
    let (s, b) = sign_in_with(&app, &p.email, None).await;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "mfa_required"), "{b}");
    let (s, b) = app.post("/api/v1/auth/token", None, json!({"email": p.email, "password": "wrong password entirely"})).await;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "unauthenticated"), "{b}");
    app.verify_audit().await;
}

/// Starts a fresh enrolment (replacing the pending one) and answers its body.
async fn fresh_enrolment(app: &TestApp, token: &str) -> Value {
    let (s, b) = app.post("/api/v1/me/mfa/totp", Some(token), json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b
}

#[tokio::test]
async fn codes_of_the_steps_either_side_sign_in_two_away_and_replays_do_not() {
    let app = TestApp::spawn().await;
    let p = app.partner("direct").await;
    let (totp, _) = enrol(&app, &p.token).await;

    app.clock.advance(Duration::minutes(5));
    // The step before (a slow phone clock) signs in.
    let (s, b) = sign_in_with(&app, &p.email, Some(&code_at(&app, &totp, -1))).await;
    assert_eq!(s, StatusCode::OK, "previous step: {b}");

    app.clock.advance(Duration::minutes(5));
    // The step after (a fast phone clock) signs in...
    let next = code_at(&app, &totp, 1);
    let (s, b) = sign_in_with(&app, &p.email, Some(&next)).await;
    assert_eq!(s, StatusCode::OK, "next step: {b}");
    // ... once: the same code again is a replay, and so is the current step's, which comes
    // before the step already used.
    let (s, b) = sign_in_with(&app, &p.email, Some(&next)).await;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "unauthenticated"), "replayed code: {b}");
    let (s, b) = sign_in_with(&app, &p.email, Some(&code_at(&app, &totp, 0))).await;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "unauthenticated"), "an earlier step than one used: {b}");

    app.clock.advance(Duration::minutes(5));
    // Two steps away either side: refused.
    for steps in [-2, 2] {
        let (s, b) = sign_in_with(&app, &p.email, Some(&code_at(&app, &totp, steps))).await;
        assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "unauthenticated"), "{steps} steps away: {b}");
    }
    // Each wrong code counted as a failed sign-in: the fifth locks the address out.
    let (s, b) = sign_in_with(&app, &p.email, Some("123456")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    let (s, b) = sign_in_with(&app, &p.email, Some(&code_at(&app, &totp, 0))).await;
    assert_eq!((s, code(&b)), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"), "five wrong codes lock: {b}");
    app.clock.advance(Duration::minutes(16));
    let (s, b) = sign_in_with(&app, &p.email, Some(&code_at(&app, &totp, 0))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    app.verify_audit().await;
}

#[tokio::test]
async fn each_recovery_code_signs_in_once() {
    let app = TestApp::spawn().await;
    let p = app.partner("direct").await;
    let (_, codes) = enrol(&app, &p.token).await;
    assert_eq!(codes.len(), 10);
    assert_eq!(codes.iter().collect::<std::collections::BTreeSet<_>>().len(), 10, "distinct codes");
    let (s, b) = sign_in_with(&app, &p.email, Some(&codes[0])).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = sign_in_with(&app, &p.email, Some(&codes[0])).await;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "unauthenticated"), "a used recovery code: {b}");
    // Typed without dashes and in capitals, another one works.
    let (s, b) = sign_in_with(&app, &p.email, Some(&codes[1].replace('-', "").to_uppercase())).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = app.get("/api/v1/audit?action=user.mfa_recovery_code_used", &p.token).await;
    assert_eq!((s, b["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(2)), "{b}");
    assert_eq!(app.raw.i64("SELECT count(*) FROM totp_recovery_codes").await, 8);
    app.verify_audit().await;
}

#[tokio::test]
async fn removing_totp_takes_a_code_and_then_sign_in_needs_none() {
    let app = TestApp::spawn().await;
    let p = app.partner("direct").await;
    let (s, b) = app.call(Method::DELETE, "/api/v1/me/mfa/totp", Some(&p.token), Some(json!({"code": "123456"}))).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"), "nothing to remove: {b}");
    let (totp, codes) = enrol(&app, &p.token).await;
    let (s, b) = app.call(Method::DELETE, "/api/v1/me/mfa/totp", Some(&p.token), Some(json!({"code": "000000"}))).await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{b}");
    // The confirming code was used: it does not remove.
    let (s, b) = app.call(Method::DELETE, "/api/v1/me/mfa/totp", Some(&p.token), Some(json!({"code": code_at(&app, &totp, 0)}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "a used code: {b}");
    let (s, b) = app.call(Method::DELETE, "/api/v1/me/mfa/totp", Some(&p.token), Some(json!({"code": codes[3]}))).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let (s, b) = sign_in_with(&app, &p.email, None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(app.raw.i64("SELECT count(*) FROM totp_secrets").await + app.raw.i64("SELECT count(*) FROM totp_recovery_codes").await, 0);
    let (s, b) = app.get("/api/v1/audit?action=user.mfa_disabled", &p.token).await;
    assert_eq!((s, b["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(1)), "{b}");
    app.verify_audit().await;
}

#[tokio::test]
async fn totp_secrets_and_recovery_codes_are_not_stored_in_clear() {
    let app = TestApp::spawn().await;
    let p = app.partner("direct").await;
    let (totp, codes) = enrol(&app, &p.token).await;
    let sealed = app.raw.bytes("SELECT sealed_secret FROM totp_secrets").await;
    assert_eq!(sealed.len(), 1);
    let sealed = &sealed[0];
    // nonce (12) || ciphertext (20) || tag (16): AES-256-GCM.
    assert_eq!(sealed.len(), 12 + 20 + 16);
    let b32 = totp.get_secret_base32();
    for needle in [totp.secret.as_slice(), b32.as_bytes(), b32.to_lowercase().as_bytes()] {
        assert!(!sealed.windows(needle.len()).any(|w| w == needle), "the secret is in the row in clear");
    }
    // The database dump holds no secret either way round (not in the audit records either).
    let texts = app.raw.strings("SELECT body FROM audit_records").await.join("\n");
    assert!(!texts.contains(&b32) && !codes.iter().any(|c| texts.contains(c.as_str())), "{texts}");
    // Recovery codes: SHA-256 only.
    let mut hashes = app.raw.bytes("SELECT code_hash FROM totp_recovery_codes").await;
    hashes.sort();
    let mut expected: Vec<Vec<u8>> = codes.iter().map(|c| sha256(&c.replace('-', "")).to_vec()).collect();
    expected.sort();
    assert_eq!(hashes, expected);
}

#[tokio::test]
async fn require_mfa_holds_privileged_partner_users_to_enrolment() {
    let app = TestApp::spawn_with(Options { require_mfa: true, ..Options::default() }).await;
    let p = app.partner("direct").await;
    let c = app.customer().await;

    // Not enrolled: nothing but /me and the enrolment.
    let (s, b) = app.get("/api/v1/customers", &p.token).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "mfa_enrollment_required"), "{b}");
    let (s, b) = app.post("/api/v1/invitations", Some(&p.token), json!({})).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "mfa_enrollment_required"), "{b}");
    let (s, b) = app.get("/api/v1/me", &p.token).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // Customers are not held.
    let (s, b) = app.get("/api/v1/users", &c.token).await;
    assert_eq!(s, StatusCode::OK, "{b}");

    // Once enrolled, the same session may do everything its roles allow.
    enrol(&app, &p.token).await;
    let (s, b) = app.get("/api/v1/customers", &p.token).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = app.post("/api/v1/invitations", Some(&p.token), json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");

    // An admin agent is held too, a sales agent is not.
    let sales = app.user(&p, &["sales_agent"]).await;
    let (s, b) = app.get("/api/v1/customers", &sales).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (agent_email, agent) = app.user_with_email(&p, &["admin_agent"]).await;
    let (s, b) = app.get("/api/v1/customers", &agent).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "mfa_enrollment_required"), "{b}");
    // Enrolled and signed in again with a code, it is not.
    let (totp, _) = enrol(&app, &agent).await;
    app.clock.advance(Duration::seconds(30));
    let (s, b) = sign_in_with(&app, &agent_email, Some(&code_at(&app, &totp, 0))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = app.get("/api/v1/customers", b["access_token"].as_str().unwrap()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // Removing TOTP puts the gate back.
    let (s, b) = app.call(Method::DELETE, "/api/v1/me/mfa/totp", Some(&agent), Some(json!({"code": code_at(&app, &totp, 1)}))).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    let (s, _) = app.get("/api/v1/customers", &agent).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    app.verify_audit().await;
}

#[tokio::test]
async fn without_require_mfa_nobody_is_held_to_enrolment() {
    let app = TestApp::spawn().await;
    let p = app.partner("direct").await;
    let (s, b) = app.get("/api/v1/customers", &p.token).await;
    assert_eq!(s, StatusCode::OK, "{b}");
}
