//! Durability: a server killed with SIGKILL in the middle of a stream of acceptances keeps
//! every acceptance it answered 201, with its grants and audit record, and a whole chain.

use crate::support::{PASSWORD, TestDb, backend};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Server {
    pub child: Child,
    pub url: String,
}

/// Starts the real binary on port 0 and waits for its `listening on` line (no sleeps).
pub fn start(db_url: &str) -> Server {
    // The test client is the proxy: sign-ups, limited per client, name their own addresses.
    start_with(
        db_url,
        &[("PARTNERHUB_SECRET", "crash-test-secret-8Jq2vLx0Pz7Rk4Wm9Ts1Nb6Yc3Hd5Fg"), ("PARTNERHUB_TRUSTED_PROXIES", "127.0.0.1/32")],
    )
}

/// Starts the real binary on port 0 with these environment variables added.
pub fn start_with(db_url: &str, env: &[(&str, &str)]) -> Server {
    start_bin(env!("CARGO_BIN_EXE_partnerhub"), db_url, env)
}

/// Starts the binary at `bin` (a release build for a benchmark) as `start_with` does.
pub fn start_bin(bin: &str, db_url: &str, env: &[(&str, &str)]) -> Server {
    let mut child = Command::new(bin)
        .args(["serve", "--database", db_url, "--listen", "127.0.0.1:0"])
        .env("PARTNERHUB_OPERATOR_TOKEN", "op")
        .env("PARTNERHUB_LOG", "warn")
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("listening on ") {
                tx.send(addr.to_owned()).ok();
            }
        }
    });
    let url = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("the server printed its address");
    Server { child, url }
}

pub async fn post(c: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Result<(StatusCode, Value), reqwest::Error> {
    let mut req = c.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await?;
    let s = res.status();
    Ok((s, res.json().await.unwrap_or(Value::Null)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acceptances_answered_201_survive_sigkill() {
    let db = TestDb::fresh(backend()).await;
    let db_url = db.url.clone();
    let mut server = start(&db_url);
    let c = reqwest::Client::new();
    let (s, partner) = post(&c, format!("{}/api/v1/operator/partners", server.url), Some("op"),
        json!({"name": "Crash Partner", "partner_type": "direct", "partner_id": "777", "domain": "crash.example", "admin": {"email": "ga@crash.example", "display_name": "A", "password": PASSWORD}})).await.unwrap();
    assert_eq!(s, StatusCode::CREATED, "{partner}");
    let (_, t) = post(&c, format!("{}/api/v1/auth/token", server.url), None, json!({"email": "ga@crash.example", "password": PASSWORD}))
        .await
        .unwrap();
    let partner_token = t["access_token"].as_str().unwrap().to_owned();

    const N: usize = 48;
    let mut work = Vec::new();
    for i in 0..N {
        let email = format!("ga@c{i}.example");
        let res = c.post(format!("{}/api/v1/signup", server.url)).header("X-Forwarded-For", format!("198.18.0.{i}"))
            .json(&json!({"organization": {"name": format!("C{i}"), "domain": format!("c{i}.example")}, "admin": {"email": email, "display_name": "G", "password": PASSWORD}})).send().await.unwrap();
        let (s, b): (StatusCode, Value) = (res.status(), res.json().await.unwrap());
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let (_, t) =
            post(&c, format!("{}/api/v1/auth/token", server.url), None, json!({"email": email, "password": PASSWORD})).await.unwrap();
        let (_, inv) = post(&c, format!("{}/api/v1/invitations", server.url), Some(&partner_token), json!({})).await.unwrap();
        let token = inv["url"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
        work.push((t["access_token"].as_str().unwrap().to_owned(), token, b["organization_id"].as_str().unwrap().to_owned()));
    }

    // Four streams of acceptances; the server is killed once a third of them are answered.
    let answered = Arc::new(AtomicUsize::new(0));
    let work = Arc::new(work);
    let mut streams = Vec::new();
    for k in 0..4 {
        let (c, url, work, answered) = (c.clone(), server.url.clone(), work.clone(), answered.clone());
        streams.push(tokio::spawn(async move {
            let mut ok = Vec::new();
            for i in (k..N).step_by(4) {
                let (bearer, token, customer) = &work[i];
                match post(&c, format!("{url}/api/v1/invitations/accept"), Some(bearer), json!({"token": token})).await {
                    Ok((StatusCode::CREATED, _)) => {
                        ok.push(customer.clone());
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok((s, b)) => panic!("acceptance answered {s}: {b}"),
                    Err(_) => break, // the server is gone; this one's outcome is unknown
                }
            }
            ok
        }));
    }
    while answered.load(Ordering::SeqCst) < N / 3 {
        tokio::task::yield_now().await;
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    let mut acknowledged = Vec::new();
    for s in streams {
        acknowledged.extend(s.await.unwrap());
    }
    assert!(acknowledged.len() >= N / 3);

    let server = start(&db_url);
    let (_, t) = post(&c, format!("{}/api/v1/auth/token", server.url), None, json!({"email": "ga@crash.example", "password": PASSWORD}))
        .await
        .unwrap();
    let partner_token = t["access_token"].as_str().unwrap().to_owned();
    let res: Value =
        c.get(format!("{}/api/v1/customers?limit=500", server.url)).bearer_auth(&partner_token).send().await.unwrap().json().await.unwrap();
    let listed: Vec<&str> = res["items"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    for customer in &acknowledged {
        let item = res["items"].as_array().unwrap().iter().find(|c| c["id"] == customer.as_str());
        let item = item.unwrap_or_else(|| panic!("acknowledged acceptance of {customer} lost; listed: {listed:?}"));
        assert_eq!(item["grants"].as_array().map(Vec::len), Some(3));
    }
    let audit: Value = c
        .get(format!("{}/api/v1/audit?action=invitation.accepted&limit=500", server.url))
        .bearer_auth(&partner_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let audited: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|r| r["customer_id"].as_str().unwrap()).collect();
    for customer in &acknowledged {
        assert!(audited.contains(&customer.as_str()), "no audit record for {customer}");
    }
    // Every relationship that exists has its audit record (nothing half-written).
    assert_eq!(listed.len(), audited.len());
    let mut server = server;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_partnerhub")).args(["audit", "verify", "--database", &db_url]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
