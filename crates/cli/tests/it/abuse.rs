//! Anonymous clients cannot exhaust the server (docs/accounts.md, "Bounded work" and "Rate
//! limits"): password hashing is bounded, and the limits of sign-up, customer creation and
//! invitation sending hold.

use crate::crash::start_with;
use crate::support::{Options, PASSWORD, TestApp, TestDb, backend, code, unique};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The resident memory of a process, in KiB, from `/proc/PID/status`.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()).unwrap_or(0)
}

/// Hole 2: 300 concurrent sign-ins with unknown e-mails (each must cost a hash, so that an
/// unknown address answers as slowly as a wrong password) used to start 300 argon2 hashes of
/// 19 MiB each at once. Now the real binary hashes on as many threads as it has cores with a
/// bounded queue, answers the rest `503 overloaded` with `Retry-After: 1`, and its memory
/// stays flat.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_hundred_concurrent_sign_ins_keep_memory_flat_and_overflow_answers_503() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let db = TestDb::fresh(backend()).await;
    // Each sign-in from its own client address (through a trusted proxy), so that no
    // per-client sign-in limit answers before the hashing does.
    let mut server = start_with(
        &db.url,
        &[("PARTNERHUB_SECRET", "abuse-test-secret-3Vn8Qw1Zr5Tx7Lp2Km9Hb4Jd6Fs0Gc"), ("PARTNERHUB_TRUSTED_PROXIES", "127.0.0.1/32")],
    );
    let pid = server.child.id();
    let baseline = rss_kib(pid);
    let peak = Arc::new(AtomicU64::new(baseline));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                peak.fetch_max(rss_kib(pid), Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        })
    };
    let client = reqwest::Client::new();
    let calls = (0..300).map(|i| {
        let (client, url) = (client.clone(), server.url.clone());
        tokio::spawn(async move {
            let res = client
                .post(format!("{url}/api/v1/auth/token"))
                .header("X-Forwarded-For", format!("198.51.{}.{}", i / 250, i % 250))
                .json(&json!({"email": format!("nobody{i}@unknown.example"), "password": "not the password at all"}))
                .send()
                .await
                .unwrap();
            let retry_after = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned);
            let status = res.status();
            let body: serde_json::Value = res.json().await.unwrap_or_default();
            (status, retry_after, body["code"].as_str().unwrap_or_default().to_owned())
        })
    });
    let mut answers = Vec::new();
    for c in futures::future::join_all(calls).await {
        answers.push(c.unwrap());
    }
    done.store(true, Ordering::SeqCst);
    sampler.join().unwrap();
    let after = rss_kib(pid);
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    let peak = peak.load(Ordering::SeqCst);
    eprintln!("RSS: baseline {baseline} KiB, peak {peak} KiB, after {after} KiB");
    let overloaded: Vec<_> = answers.iter().filter(|(s, _, _)| *s == StatusCode::SERVICE_UNAVAILABLE).collect();
    assert!(!overloaded.is_empty(), "some sign-ins must be refused while the queue is full");
    assert!(overloaded.iter().all(|(_, r, c)| r.as_deref() == Some("1") && c == "overloaded"), "{overloaded:?}");
    // The rest were hashed and refused like any wrong password (or limited, never a 5xx else).
    assert!(
        answers.iter().all(|(s, _, _)| matches!(s.as_u16(), 401 | 429 | 503)),
        "{:?}",
        answers.iter().map(|(s, _, c)| (s.as_u16(), c.as_str())).collect::<Vec<_>>()
    );
    assert!(answers.iter().any(|(s, _, _)| *s == StatusCode::UNAUTHORIZED), "some sign-ins are hashed and answered");
    // Unbounded, this reached 1.8 GiB on 2 cores (a hash of 19 MiB per request, all at once);
    // bounded, the hashes running at once (one per core, 19 MiB each, measured ~70 MiB in all
    // on 2 cores) stay well under 64 MiB plus twice that per core.
    let cores = std::thread::available_parallelism().map(|n| n.get() as u64).unwrap_or(2);
    let bound_kib: u64 = (64 + cores * 2 * 19) * 1024;
    assert!(peak < bound_kib, "peak RSS {peak} KiB exceeds {bound_kib} KiB");
    assert!(after < bound_kib, "RSS after the burst {after} KiB exceeds {bound_kib} KiB");
}

/// Unknown invitation tokens previewed from one client address until its limit (30 per 10
/// minutes) answers 429.
async fn exhaust_preview_limit(app: &TestApp, xff: &str) {
    for i in 0..30 {
        let (s, b) = preview_from(app, &format!("unknown-{i}"), xff).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "attempt {i}: {b}");
    }
    let (s, b) = preview_from(app, "unknown-30", xff).await;
    assert_eq!((s, code(&b)), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"), "{b}");
}

async fn preview_from(app: &TestApp, token: &str, xff: &str) -> (StatusCode, serde_json::Value) {
    let res = app
        .client
        .post(format!("{}/api/v1/invitations/preview", app.url))
        .header("X-Forwarded-For", xff)
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    let s = res.status();
    (s, res.json().await.unwrap_or_default())
}

/// Behind a trusted proxy, each client has its own limits: the client is the right-most
/// `X-Forwarded-For` address that is not a trusted proxy, so a client limited at
/// 203.0.113.7 cannot escape by putting another address first, and 203.0.113.8 is not
/// limited by it.
#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_is_limited_alone() {
    let app = TestApp::spawn_with(Options { trusted_proxies: Some("127.0.0.1/32"), ..Options::default() }).await;
    exhaust_preview_limit(&app, "203.0.113.7").await;
    let (s, b) = preview_from(&app, "unknown-forged", "198.51.100.1, 203.0.113.7").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "a forged left-most address changes nothing: {b}");
    let (s, b) = preview_from(&app, "unknown-other", "203.0.113.8").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "another client behind the proxy is not limited: {b}");
}

/// Without `--trusted-proxies`, `X-Forwarded-For` is ignored: a client cannot pick a fresh
/// address per request to escape its limit.
#[tokio::test]
async fn without_trusted_proxies_forwarded_for_is_ignored() {
    let app = TestApp::spawn_with(Options { trusted_proxies: Some(""), ..Options::default() }).await;
    exhaust_preview_limit(&app, "203.0.113.7").await;
    let (s, b) = preview_from(&app, "unknown-other", "203.0.113.8").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{b}");
}

/// A POST from client address `xff` (the test client is a trusted proxy by default):
/// (status, body, Retry-After).
async fn post_from(app: &TestApp, path: &str, token: Option<&str>, xff: &str, body: Value) -> (StatusCode, Value, Option<u64>) {
    let mut req = app.client.post(format!("{}{path}", app.url)).header("X-Forwarded-For", xff).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let retry_after = res.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok());
    let s = res.status();
    (s, res.json().await.unwrap_or_default(), retry_after)
}

fn assert_limited((s, b, retry_after): &(StatusCode, Value, Option<u64>)) {
    assert_eq!((*s, code(b)), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"), "{b}");
    assert!(retry_after.is_some_and(|r| (1..=3600).contains(&r)), "Retry-After {retry_after:?}");
}

fn signup_body() -> Value {
    let name = unique("signup");
    json!({"organization": {"name": format!("Org {name}"), "domain": format!("{name}.example")},
           "admin": {"email": format!("ga@{name}.example"), "display_name": "G", "password": PASSWORD}})
}

fn customer_body() -> Value {
    let name = unique("made");
    json!({"name": format!("Customer {name}"), "domain": format!("{name}.example"),
           "admin": {"email": format!("ga@{name}.example"), "display_name": "G"}})
}

/// Hole 5: one client signs up at most 10 organizations an hour; other clients are not
/// held back, and the next hour the client may sign up again.
#[tokio::test]
async fn sign_up_is_limited_to_ten_an_hour_per_client() {
    let app = TestApp::spawn().await;
    for i in 0..10 {
        let (s, b, _) = post_from(&app, "/api/v1/signup", None, "203.0.113.20", signup_body()).await;
        assert_eq!(s, StatusCode::CREATED, "sign-up {i}: {b}");
    }
    let before = app.raw.i64("SELECT count(*) FROM organizations").await;
    assert_limited(&post_from(&app, "/api/v1/signup", None, "203.0.113.20", signup_body()).await);
    assert_eq!(app.raw.i64("SELECT count(*) FROM organizations").await, before, "a refused sign-up creates nothing");
    let (s, b, _) = post_from(&app, "/api/v1/signup", None, "203.0.113.21", signup_body()).await;
    assert_eq!(s, StatusCode::CREATED, "another client: {b}");
    app.clock.advance(time::Duration::hours(1));
    let (s, b, _) = post_from(&app, "/api/v1/signup", None, "203.0.113.20", signup_body()).await;
    assert_eq!(s, StatusCode::CREATED, "the window ended: {b}");
}

/// Hole 5: a partner creates at most 30 customers an hour from one client, and at most 200
/// an hour in all.
#[tokio::test]
async fn customer_creation_is_limited_per_client_and_per_organization() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let create = |xff: &'static str| post_from(&app, "/api/v1/customers", Some(&partner.token), xff, customer_body());
    for i in 0..30 {
        let (s, b, _) = create("203.0.113.30").await;
        assert_eq!(s, StatusCode::CREATED, "customer {i}: {b}");
    }
    assert_limited(&create("203.0.113.30").await);
    assert_eq!(create("203.0.113.31").await.0, StatusCode::CREATED, "another client of the partner");
    // The organization's hour holds 32 attempts now; as if 168 more came from elsewhere:
    app.raw.exec("UPDATE rate_limits SET attempts = 199 WHERE key LIKE 'customers:org:%'").await.unwrap();
    assert_eq!(create("203.0.113.32").await.0, StatusCode::CREATED, "the 200th of the hour");
    assert_limited(&create("203.0.113.33").await);
    let other = app.partner("direct").await;
    let (s, b, _) = post_from(&app, "/api/v1/customers", Some(&other.token), "203.0.113.34", customer_body()).await;
    assert_eq!(s, StatusCode::CREATED, "another partner is not held back: {b}");
    app.clock.advance(time::Duration::hours(1));
    assert_eq!(create("203.0.113.30").await.0, StatusCode::CREATED, "the window ended");
}

/// Hole 5: an invitation is sent at most 60 times an hour from one client, and a partner
/// sends at most 500 an hour in all (counted first: a sending that then fails counts too).
#[tokio::test]
async fn invitation_sending_is_limited_per_client_and_per_organization() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let inv = app.invite(&partner, json!({})).await;
    let path = format!("/api/v1/invitations/{}/send", inv["id"].as_str().unwrap());
    let send = |xff: &'static str| post_from(&app, &path, Some(&partner.token), xff, json!({"to": "ga@customer.example"}));
    for i in 0..60 {
        let (s, b, _) = send("203.0.113.40").await;
        // No SMTP relay in this test: 503, after the attempt was counted.
        assert_eq!((s, code(&b)), (StatusCode::SERVICE_UNAVAILABLE, "email_not_configured"), "sending {i}");
    }
    assert_limited(&send("203.0.113.40").await);
    assert_eq!(send("203.0.113.41").await.0, StatusCode::SERVICE_UNAVAILABLE, "another client of the partner");
    app.raw.exec("UPDATE rate_limits SET attempts = 500 WHERE key LIKE 'invitation-send:org:%'").await.unwrap();
    assert_limited(&send("203.0.113.42").await);
    app.clock.advance(time::Duration::hours(1));
    assert_eq!(send("203.0.113.40").await.0, StatusCode::SERVICE_UNAVAILABLE, "the window ended");
}
