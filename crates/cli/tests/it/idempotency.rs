//! `Idempotency-Key` on POST (docs/accounts.md, "Idempotency"): a retry is answered the
//! first answer again and changes nothing; the key is bound to its request, its caller, and
//! to 24 hours; a request still running answers 409; a 5xx is not kept.

use crate::support::*;
use partnerhub_domain::Clock;
use partnerhub_store::IdempotencyClaim;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// POST with an `Idempotency-Key`: (status, body, replayed?).
async fn post_key(app: &TestApp, path: &str, token: Option<&str>, key: &str, body: &Value) -> (StatusCode, Value, bool) {
    let mut req = app.client.post(format!("{}{path}", app.url)).header("Idempotency-Key", key).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("request");
    let replayed = res.headers().get("idempotent-replayed").is_some_and(|v| v == "true");
    let s = res.status();
    (s, res.json().await.unwrap_or_default(), replayed)
}

#[tokio::test]
async fn a_retried_invitation_is_answered_again_and_made_once() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let body = json!({"roles": ["helpdesk_admin"]});
    let first = post_key(&app, "/api/v1/invitations", Some(&partner.token), "retry-1", &body).await;
    assert_eq!((first.0, first.2), (StatusCode::CREATED, false), "{}", first.1);
    let again = post_key(&app, "/api/v1/invitations", Some(&partner.token), "retry-1", &body).await;
    assert_eq!((again.0, again.2), (StatusCode::CREATED, true));
    assert_eq!(again.1, first.1, "the same body, the same invitation and URL");
    assert_eq!(app.raw.i64("SELECT count(*) FROM invitations").await, 1, "one invitation, not two");

    // Another body under the key: 422, nothing made.
    let other = post_key(&app, "/api/v1/invitations", Some(&partner.token), "retry-1", &json!({})).await;
    assert_eq!((other.0, code(&other.1)), (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"), "{}", other.1);
    // Another path under the key is another request too.
    let (s, b, _) = post_key(&app, "/api/v1/customers", Some(&partner.token), "retry-1", &body).await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"));
    // Keys are per caller: another session of the same user has its own.
    let token2 = app.sign_in(&partner.email, PASSWORD).await;
    let (s, b, replayed) = post_key(&app, "/api/v1/invitations", Some(&token2), "retry-1", &body).await;
    assert_eq!((s, replayed), (StatusCode::CREATED, false), "{b}");
    assert_ne!(b["id"], first.1["id"]);
    // Without a key, every POST runs.
    assert_eq!(app.post("/api/v1/invitations", Some(&partner.token), body.clone()).await.0, StatusCode::CREATED);
    assert_eq!(app.raw.i64("SELECT count(*) FROM invitations").await, 3);
    app.verify_audit().await;
}

#[tokio::test]
async fn an_anonymous_sign_up_retried_makes_one_organization() {
    let app = TestApp::spawn().await;
    let body = json!({"organization": {"name": "Retry Org", "domain": "retry.example"},
                      "admin": {"email": "ga@retry.example", "display_name": "R", "password": PASSWORD}});
    let first = post_key(&app, "/api/v1/signup", None, "signup-1", &body).await;
    assert_eq!(first.0, StatusCode::CREATED, "{}", first.1);
    let again = post_key(&app, "/api/v1/signup", None, "signup-1", &body).await;
    assert_eq!((again.0, again.2, &again.1), (StatusCode::CREATED, true, &first.1), "not a 409 domain taken");
    assert_eq!(app.raw.i64("SELECT count(*) FROM organizations WHERE domain = 'retry.example'").await, 1);
    // After 24 hours the key is free again, for anything.
    app.clock.advance(time::Duration::hours(24) + time::Duration::seconds(1));
    let body = json!({"organization": {"name": "Later Org", "domain": "later.example"},
                      "admin": {"email": "ga@later.example", "display_name": "L", "password": PASSWORD}});
    let (s, b, replayed) = post_key(&app, "/api/v1/signup", None, "signup-1", &body).await;
    assert_eq!((s, replayed), (StatusCode::CREATED, false), "{b}");
}

#[tokio::test]
async fn a_request_still_running_answers_409_until_its_claim_goes_stale() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let body = json!({});
    // The same request, claimed by a process that has not answered (yet, or ever).
    let hash = partnerhub_web::idempotency::request_hash("POST", "/api/v1/invitations", &serde_json::to_vec(&body).unwrap());
    let caller = partnerhub_web::idempotency::caller_for_bearer(&partner.token);
    assert_eq!(app.store.claim_idempotency_key(&caller, "busy", &hash, app.clock.now()).await.unwrap(), IdempotencyClaim::Claimed);
    let (s, b, _) = post_key(&app, "/api/v1/invitations", Some(&partner.token), "busy", &body).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "conflict"), "{b}");
    assert_eq!(app.raw.i64("SELECT count(*) FROM invitations").await, 0);
    // 60 s later the claim is stale (its process died): the retry runs.
    app.clock.advance(time::Duration::seconds(61));
    let (s, b, replayed) = post_key(&app, "/api/v1/invitations", Some(&partner.token), "busy", &body).await;
    assert_eq!((s, replayed), (StatusCode::CREATED, false), "{b}");
    assert_eq!(app.raw.i64("SELECT count(*) FROM invitations").await, 1);
}

#[tokio::test]
async fn a_server_error_is_not_kept_and_the_retry_runs_again() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let inv = app.invite(&partner, json!({})).await;
    let path = format!("/api/v1/invitations/{}/send", inv["id"].as_str().unwrap());
    let body = json!({"to": "ga@customer.example"});
    // No SMTP relay: 503, which is not kept.
    for _ in 0..2 {
        let (s, b, replayed) = post_key(&app, &path, Some(&partner.token), "send-1", &body).await;
        assert_eq!((s, code(&b), replayed), (StatusCode::SERVICE_UNAVAILABLE, "email_not_configured", false));
    }
    assert_eq!(app.raw.i64("SELECT count(*) FROM idempotency_keys").await, 0);
}

#[tokio::test]
async fn a_key_must_be_visible_ascii_of_at_most_255() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let (s, b, _) = post_key(&app, "/api/v1/invitations", Some(&partner.token), &"k".repeat(256), &json!({})).await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{b}");
    assert_eq!(b["errors"][0]["field"], "Idempotency-Key");
    assert_eq!(app.raw.i64("SELECT count(*) FROM invitations").await, 0);
}
