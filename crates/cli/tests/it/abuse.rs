//! Anonymous clients cannot exhaust the server (docs/accounts.md, "Bounded work" and "Rate
//! limits"): password hashing is bounded, and the limits of sign-up, customer creation and
//! invitation sending hold.

use crate::crash::start_with;
use crate::support::{TestDb, backend};
use reqwest::StatusCode;
use serde_json::json;
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
    let mut server = start_with(&db.url, &[("PARTNERHUB_SECRET", "abuse-test-secret")]);
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
                .header("X-Forwarded-For", format!("198.51.100.{}", i % 250))
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
