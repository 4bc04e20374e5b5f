//! Webhooks over HTTP (issue 10), on the backend `PARTNERHUB_TEST_BACKEND` names: the routes
//! and their scoping, the SSRF rules, and deliveries by the worker (on the test's clock) to a
//! real receiver: retries, signatures checked by the Standard Webhooks library, order under a
//! flapping receiver, and the rotated secret signing for 24 hours.

use crate::support::*;
use crate::webhook_receiver::{Received, Receiver, library_verifies, rust_verifies};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

async fn register(app: &TestApp, org: &Org, url: &str, events: &[&str]) -> Value {
    let (s, b) = app.post("/api/v1/webhooks", Some(&org.token), json!({"url": url, "events": events})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b
}

#[tokio::test]
async fn webhooks_are_managed_by_global_admins_of_their_own_organization() {
    let app = TestApp::spawn_with(Options { webhooks: Some(true), ..Default::default() }).await;
    let partner = app.partner("direct").await;
    let other = app.partner("direct").await;
    let customer = app.customer().await;
    let created = register(&app, &partner, "http://127.0.0.1:9/hook", &["invitation.created", "invitation.created"]).await;
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_") && secret.len() > 40, "{secret}");
    assert_eq!(created["events"], json!(["invitation.created"]));
    let id = created["id"].as_str().unwrap();
    // A customer's global admin has webhooks too.
    register(&app, &customer, "http://127.0.0.1:9/c", &["relationship.created"]).await;

    let (s, list) = app.get("/api/v1/webhooks", &partner.token).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["id"], id);
    assert_eq!(list["items"][0]["state"], "active");
    assert!(list["items"][0].get("secret").is_none(), "the secret is shown once: {list}");
    let (s, one) = app.get(&format!("/api/v1/webhooks/{id}"), &partner.token).await;
    assert_eq!((s, one["url"].as_str()), (StatusCode::OK, Some("http://127.0.0.1:9/hook")));

    // Another organization sees nothing of it.
    for path in [format!("/api/v1/webhooks/{id}"), format!("/api/v1/webhooks/{id}/deliveries")] {
        let (s, b) = app.get(&path, &other.token).await;
        assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"), "{path}");
    }
    let (s, b) = app.post(&format!("/api/v1/webhooks/{id}/rotate-secret"), Some(&other.token), json!({})).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));
    let (s, _) = app.delete(&format!("/api/v1/webhooks/{id}"), &other.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, theirs) = app.get("/api/v1/webhooks", &other.token).await;
    assert_eq!(theirs["total"], 0);

    // Only global admins.
    let agent = app.user(&partner, &["admin_agent"]).await;
    let (s, b) = app.get("/api/v1/webhooks", &agent).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "forbidden"));

    // Events are those of API.md.
    for events in [json!([]), json!(["user.created"]), json!("grant.created")] {
        let (s, b) = app.post("/api/v1/webhooks", Some(&partner.token), json!({"url": "http://127.0.0.1:9/", "events": events})).await;
        assert!(s == StatusCode::UNPROCESSABLE_ENTITY || s == StatusCode::BAD_REQUEST, "{events}: {s} {b}");
    }

    let (s, rotated) = app.post(&format!("/api/v1/webhooks/{id}/rotate-secret"), Some(&partner.token), json!({})).await;
    assert_eq!(s, StatusCode::OK);
    assert!(rotated["secret"].as_str().unwrap().starts_with("whsec_") && rotated["secret"] != created["secret"]);
    let (s, _) = app.delete(&format!("/api/v1/webhooks/{id}"), &partner.token).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app.get(&format!("/api/v1/webhooks/{id}"), &partner.token).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Each change is audited, for the organization only.
    let (_, audit) = app.get("/api/v1/audit", &partner.token).await;
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|r| r["action"].as_str().unwrap()).collect();
    for a in ["webhook.created", "webhook.secret_rotated", "webhook.deleted"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    app.verify_audit().await;
}

#[tokio::test]
async fn without_the_insecure_flag_only_https_to_public_addresses_is_taken() {
    let app = TestApp::spawn_with(Options { webhooks: Some(false), ..Default::default() }).await;
    let partner = app.partner("direct").await;
    for url in [
        "http://1.1.1.1/hook",
        "https://127.0.0.1/hook",
        "https://10.0.0.8/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://localhost/hook",
        "https://intranet/hook",
        "ftp://1.1.1.1/hook",
        "not a url",
    ] {
        let (s, b) = app.post("/api/v1/webhooks", Some(&partner.token), json!({"url": url, "events": ["invitation.created"]})).await;
        assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{url}: {b}");
        assert_eq!(b["errors"][0]["field"], "url", "{b}");
    }
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_refused_when_the_worker_connects() {
    let app = TestApp::spawn_with(Options { webhooks: Some(false), ..Default::default() }).await;
    let partner = app.partner("direct").await;
    let receiver = Receiver::start(Receiver::healthy(), Duration::ZERO).await;
    let port = receiver.url.split(':').next_back().unwrap().trim_end_matches("/hook").to_owned();
    // Registered while the name pointed elsewhere; now it names this machine (DNS rebinding),
    // as a row changed under the store says. A literal loopback address likewise.
    let mut ids = Vec::new();
    for url in [format!("http://localhost:{port}/hook"), format!("http://127.0.0.1:{port}/hook")] {
        let w = register(&app, &partner, "https://1.1.1.1/hook", &["invitation.created"]).await;
        let id = w["id"].as_str().unwrap().to_owned();
        app.raw.exec(&format!("UPDATE webhooks SET url = '{url}' WHERE id = {}", app.raw.uuid(&id))).await.unwrap();
        ids.push(id);
    }
    app.invite(&partner, json!({})).await;
    for id in &ids {
        let path = format!("/api/v1/webhooks/{id}/deliveries");
        let mut attempts = Value::Null;
        for _ in 0..400 {
            attempts = app.get(&path, &partner.token).await.1;
            if attempts["total"].as_i64() > Some(0) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let a = &attempts["items"][0];
        assert_eq!(a["status"], Value::Null, "{attempts}");
        assert!(a["error"].as_str().unwrap_or_default().contains("refused"), "{attempts}");
        assert_eq!(a["event"], "invitation.created");
    }
    assert_eq!(receiver.count(), 0, "nothing reached the receiver");
}

#[tokio::test]
async fn a_delivery_failed_three_times_is_retried_and_then_verifies_with_a_standard_webhooks_library() {
    let app = TestApp::spawn_with(Options { webhooks: Some(true), ..Default::default() }).await;
    let partner = app.partner("direct").await;
    let receiver = Receiver::start(|i| if i < 3 { 500 } else { 200 }, Duration::ZERO).await;
    let w = register(&app, &partner, &receiver.url, &["invitation.created"]).await;
    let secret = w["secret"].as_str().unwrap().to_owned();
    let inv = app.invite(&partner, json!({})).await;
    // Each failure is retried once its backoff (seconds, on the test clock) has passed; the
    // clock moves 40 s a failure, under the library's 5-minute window.
    let mut seen = 0;
    let all = receiver
        .wait(
            60,
            || {
                let n = receiver.count();
                if n > seen {
                    seen = n;
                    app.clock.advance(time::Duration::seconds(40));
                }
            },
            |r| r.iter().any(Received::ok),
        )
        .await;
    assert_eq!(all.iter().map(|r| r.status).collect::<Vec<_>>(), vec![500, 500, 500, 200]);
    assert!(all.iter().all(|r| r.id == all[0].id), "the same webhook-id on every retry");
    let last = all.last().unwrap();
    let body = last.json();
    assert_eq!(body["type"], "invitation.created");
    assert_eq!(body["data"]["invitation_id"], inv["id"]);
    assert!(body["timestamp"].is_string());
    assert!(rust_verifies(&secret, last), "{last:?}");
    if let Some(ok) = library_verifies(&secret, last) {
        assert!(ok, "the Standard Webhooks library refused {last:?}");
    }
    // A wrong secret is refused by both.
    let wrong = format!("whsec_{}", "A".repeat(43) + "=");
    assert!(!rust_verifies(&wrong, last));
    if let Some(ok) = library_verifies(&wrong, last) {
        assert!(!ok);
    }

    // The log shows every attempt, newest first. (The receiver saw the last request before the
    // worker had its answer and wrote the attempt down: under load that takes a moment.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let log = loop {
        let (s, log) = app.get(&format!("/api/v1/webhooks/{}/deliveries", w["id"].as_str().unwrap()), &partner.token).await;
        assert_eq!(s, StatusCode::OK);
        if log["total"] == 4 || std::time::Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(log["total"], 4, "{log}");
    let items = log["items"].as_array().unwrap();
    assert_eq!(items.iter().map(|a| a["attempt"].as_i64().unwrap()).collect::<Vec<_>>(), vec![4, 3, 2, 1]);
    assert_eq!(items.iter().map(|a| a["status"].as_i64().unwrap()).collect::<Vec<_>>(), vec![200, 500, 500, 500]);
    assert!(items.iter().all(|a| a["event_id"] == json!(all[0].id) && a["latency_ms"].as_i64() >= Some(0) && a["error"].is_null()));
    let (_, page) = app.get(&format!("/api/v1/webhooks/{}/deliveries?limit=3", w["id"].as_str().unwrap()), &partner.token).await;
    let (_, rest) = app
        .get(
            &format!("/api/v1/webhooks/{}/deliveries?limit=3&cursor={}", w["id"].as_str().unwrap(), page["next_cursor"].as_str().unwrap()),
            &partner.token,
        )
        .await;
    assert_eq!(rest["items"][0]["attempt"], 1);
    let (_, hook) = app.get(&format!("/api/v1/webhooks/{}", w["id"].as_str().unwrap()), &partner.token).await;
    assert_eq!((hook["state"].as_str(), hook["failed_attempts"].as_i64()), (Some("active"), Some(0)));
}

#[tokio::test]
async fn deliveries_keep_their_order_per_endpoint_while_the_receiver_flaps() {
    let app = TestApp::spawn_with(Options { webhooks: Some(true), ..Default::default() }).await;
    let partner = app.partner("direct").await;
    // Every third request fails, and the one after a failure too, now and then.
    let receiver = Receiver::start(|i| if i % 3 == 1 || i % 7 == 2 { 503 } else { 200 }, Duration::ZERO).await;
    let w = register(&app, &partner, &receiver.url, &["invitation.created", "invitation.revoked"]).await;
    let mut expected = Vec::new();
    for i in 0..12 {
        let inv = app.invite(&partner, json!({})).await;
        expected.push((inv["id"].as_str().unwrap().to_owned(), "invitation.created"));
        if i % 4 == 0 {
            let (s, _) =
                app.post(&format!("/api/v1/invitations/{}/revoke", inv["id"].as_str().unwrap()), Some(&partner.token), json!({})).await;
            assert_eq!(s, StatusCode::OK);
            expected.push((inv["id"].as_str().unwrap().to_owned(), "invitation.revoked"));
        }
    }
    let all = receiver
        .wait(120, || app.clock.advance(time::Duration::minutes(10)), |r| r.iter().filter(|x| x.ok()).count() >= expected.len())
        .await;
    let delivered: Vec<(String, String)> = all
        .iter()
        .filter(|r| r.ok())
        .map(|r| {
            let b = r.json();
            (b["data"]["invitation_id"].as_str().unwrap().to_owned(), b["type"].as_str().unwrap().to_owned())
        })
        .collect();
    let expected: Vec<(String, String)> = expected.into_iter().map(|(i, t)| (i, t.to_owned())).collect();
    assert_eq!(delivered, expected, "delivered once each, in the order of the changes");
    // A failed event is retried before any later one is sent: the requests, deduplicated, are in order.
    let mut first_seen: Vec<String> = Vec::new();
    for r in &all {
        if first_seen.last() != Some(&r.id) {
            assert!(!first_seen.contains(&r.id), "{} came back after a later event", r.id);
            first_seen.push(r.id.clone());
        }
    }
    assert!(all.iter().any(|r| !r.ok()), "the receiver flapped");
    let (_, log) = app.get(&format!("/api/v1/webhooks/{}/deliveries?limit=500", w["id"].as_str().unwrap()), &partner.token).await;
    assert_eq!(log["total"].as_u64(), Some(all.len() as u64), "every attempt is logged");
}

#[tokio::test]
async fn after_a_rotation_both_secrets_sign_for_24_hours_then_only_the_new_one() {
    let app = TestApp::spawn_with(Options { webhooks: Some(true), ..Default::default() }).await;
    let partner = app.partner("direct").await;
    let receiver = Receiver::start(Receiver::healthy(), Duration::ZERO).await;
    let w = register(&app, &partner, &receiver.url, &["invitation.created"]).await;
    let old = w["secret"].as_str().unwrap().to_owned();
    let id = w["id"].as_str().unwrap();
    app.invite(&partner, json!({})).await;
    let r = receiver.wait(30, || {}, |r| r.len() == 1).await;
    assert_eq!(r[0].signature.split(' ').count(), 1);
    assert!(rust_verifies(&old, &r[0]));

    let (_, rotated) = app.post(&format!("/api/v1/webhooks/{id}/rotate-secret"), Some(&partner.token), json!({})).await;
    let new = rotated["secret"].as_str().unwrap().to_owned();
    app.clock.advance(time::Duration::hours(23));
    let partner = Org { token: app.sign_in(&partner.email, PASSWORD).await, ..partner };
    app.invite(&partner, json!({})).await;
    let r = receiver.wait(30, || {}, |r| r.len() == 2).await;
    assert_eq!(r[1].signature.split(' ').count(), 2, "{:?}", r[1]);
    assert!(rust_verifies(&old, &r[1]) && rust_verifies(&new, &r[1]));

    app.clock.advance(time::Duration::hours(1) + time::Duration::seconds(1));
    let partner = Org { token: app.sign_in(&partner.email, PASSWORD).await, ..partner };
    app.invite(&partner, json!({})).await;
    let r = receiver.wait(30, || {}, |r| r.len() == 3).await;
    assert_eq!(r[2].signature.split(' ').count(), 1);
    assert!(rust_verifies(&new, &r[2]) && !rust_verifies(&old, &r[2]));
}

#[tokio::test]
async fn an_endpoint_failing_for_three_days_is_marked_failing_and_recovers_on_success() {
    let app = TestApp::spawn_with(Options { webhooks: Some(true), ..Default::default() }).await;
    let partner = app.partner("direct").await;
    let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = up.clone();
    let receiver = Receiver::start(move |_| if flag.load(std::sync::atomic::Ordering::SeqCst) { 200 } else { 500 }, Duration::ZERO).await;
    let w = register(&app, &partner, &receiver.url, &["invitation.created"]).await;
    let path = format!("/api/v1/webhooks/{}", w["id"].as_str().unwrap());
    app.invite(&partner, json!({})).await;
    // Six hours at a time: the backoff tops out at six hours.
    let mut hook = Value::Null;
    for _ in 0..400 {
        app.clock.advance(time::Duration::hours(6));
        tokio::time::sleep(Duration::from_millis(20)).await;
        hook = app.get(&path, &app.sign_in(&partner.email, PASSWORD).await).await.1;
        if hook["state"] == "failing" {
            break;
        }
    }
    assert_eq!(hook["state"], "failing", "{hook}");
    let attempts = receiver.count();
    assert!(attempts >= 10, "retried with backoff for 3 days: {attempts} attempts");
    assert!(hook["next_attempt_at"].is_string() && hook["failed_attempts"].as_i64() >= Some(10), "{hook}");
    up.store(true, std::sync::atomic::Ordering::SeqCst);
    receiver.wait(30, || app.clock.advance(time::Duration::hours(1)), |r| r.iter().any(Received::ok)).await;
    let mut state = Value::Null;
    let token = app.sign_in(&partner.email, PASSWORD).await;
    for _ in 0..200 {
        state = app.get(&path, &token).await.1;
        if state["state"] == "active" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!((state["state"].as_str(), state["failed_attempts"].as_i64()), (Some("active"), Some(0)), "{state}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_times_out_in_10_seconds_and_never_slows_the_api() {
    let app = TestApp::spawn_with(Options { webhooks: Some(true), ..Default::default() }).await;
    let partner = app.partner("direct").await;
    let receiver = Receiver::start(Receiver::healthy(), Duration::from_secs(60)).await;
    let mut hooks = Vec::new();
    for _ in 0..8 {
        hooks.push(register(&app, &partner, &receiver.url, &["invitation.created"]).await["id"].as_str().unwrap().to_owned());
    }
    let started = std::time::Instant::now();
    app.invite(&partner, json!({})).await;
    receiver.wait(30, || {}, |r| r.len() == 8).await;
    // Eight deliveries hang; the API answers as ever.
    for _ in 0..20 {
        let t = std::time::Instant::now();
        let (s, _) = app.get("/api/v1/webhooks", &partner.token).await;
        assert_eq!(s, StatusCode::OK);
        assert!(t.elapsed() < Duration::from_secs(1), "a request took {:?} while deliveries hung", t.elapsed());
    }
    let path = format!("/api/v1/webhooks/{}/deliveries", hooks[0]);
    let mut log = Value::Null;
    for _ in 0..600 {
        log = app.get(&path, &partner.token).await.1;
        if log["total"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let a = &log["items"][0];
    assert_eq!(a["status"], Value::Null, "{log}");
    assert!(a["error"].as_str().unwrap_or_default().contains("timed out"), "{log}");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(10) && waited < Duration::from_secs(25), "{waited:?}");
    assert!(a["latency_ms"].as_i64().unwrap() >= 9_900, "{log}");
}
