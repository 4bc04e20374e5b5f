//! A real HTTP receiver for webhook tests (axum on 127.0.0.1:0) that answers each request by a
//! rule of its index, and keeps every request; and the two signature checks: the Standard
//! Webhooks library from PyPI (`standardwebhooks`, in target/contract-venv) and a Rust one.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
    pub status: u16,
    pub at: Instant,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

type Rule = dyn Fn(usize) -> u16 + Send + Sync;

struct Inner {
    log: Mutex<Vec<Received>>,
    rule: Box<Rule>,
    delay: Duration,
}

pub struct Receiver {
    pub url: String,
    inner: Arc<Inner>,
}

impl Receiver {
    /// A receiver answering request `i` (from 0) with `rule(i)`, after `delay`.
    pub async fn start(rule: impl Fn(usize) -> u16 + Send + Sync + 'static, delay: Duration) -> Self {
        let inner = Arc::new(Inner { log: Mutex::new(Vec::new()), rule: Box::new(rule), delay });
        let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, inner }
    }

    pub fn healthy() -> impl Fn(usize) -> u16 + Send + Sync + 'static {
        |_| 204
    }

    pub fn all(&self) -> Vec<Received> {
        self.inner.log.lock().expect("log").clone()
    }

    pub fn count(&self) -> usize {
        self.inner.log.lock().expect("log").len()
    }

    /// Waits until `done` holds of the requests so far, `secs` at most, calling `tick` between
    /// looks (to move a test clock).
    pub async fn wait(&self, secs: u64, mut tick: impl FnMut(), done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let end = Instant::now() + Duration::from_secs(secs);
        loop {
            let all = self.all();
            if done(&all) {
                return all;
            }
            assert!(Instant::now() < end, "the receiver waited {secs} s; it has {} requests", all.len());
            tick();
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    // Kept on arrival, answered after the delay.
    let status = {
        let mut log = inner.log.lock().expect("log");
        let status = (inner.rule)(log.len());
        log.push(Received {
            id: h("webhook-id"),
            timestamp: h("webhook-timestamp"),
            signature: h("webhook-signature"),
            body: String::from_utf8_lossy(&body).into_owned(),
            status,
            at: Instant::now(),
        });
        status
    };
    if !inner.delay.is_zero() {
        tokio::time::sleep(inner.delay).await;
    }
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Does one of the signatures of `r` verify with `secret` (`whsec_...`)? Each signature must be
/// `v1,` and the base64 of 32 bytes.
pub fn rust_verifies(secret: &str, r: &Received) -> bool {
    let key = STANDARD.decode(secret.strip_prefix("whsec_").expect("whsec_ prefix")).expect("base64 key");
    let ts: i64 = r.timestamp.parse().expect("a Unix timestamp");
    let expected = partnerhub_service::sign(&key, &r.id, ts, &r.body);
    let sigs: Vec<&str> = r.signature.split(' ').collect();
    for s in &sigs {
        let b64 = s.strip_prefix("v1,").unwrap_or_else(|| panic!("not a v1 signature: {s}"));
        assert_eq!(STANDARD.decode(b64).expect("base64 signature").len(), 32, "{s}");
    }
    sigs.contains(&expected.as_str())
}

fn python() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/contract-venv/bin/python")
}

/// Verifies `r` with the Standard Webhooks library from PyPI (`standardwebhooks`); `None`
/// where it is not installed outside CI (said loudly); in CI its absence fails the test.
pub fn library_verifies(secret: &str, r: &Received) -> Option<bool> {
    let py = python();
    let present =
        std::process::Command::new(&py).args(["-c", "import standardwebhooks"]).output().map(|o| o.status.success()).unwrap_or(false);
    if !present {
        if std::env::var("CI").is_ok() {
            panic!("the Standard Webhooks library is missing: {} -m pip install standardwebhooks==1.1.0 (.ci/run does)", py.display());
        }
        eprintln!(
            "\n*** SKIPPED the Standard Webhooks library check: no standardwebhooks in {}; run tests/contract/run.sh once, or .ci/run ***\n",
            py.display()
        );
        return None;
    }
    let script = "import json, sys\nfrom standardwebhooks.webhooks import Webhook\nsecret, hid, ts, sig, body = json.load(sys.stdin)\ntry:\n    Webhook(secret).verify(body, {'webhook-id': hid, 'webhook-timestamp': ts, 'webhook-signature': sig})\n    print('verified')\nexcept Exception as e:\n    print('refused', repr(e))\n";
    let input = serde_json::json!([secret, r.id, r.timestamp, r.signature, r.body]).to_string();
    let mut child = std::process::Command::new(&py)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    use std::io::Write;
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write");
    let out = child.wait_with_output().expect("python ran");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text} {}", String::from_utf8_lossy(&out.stderr));
    Some(text.trim() == "verified")
}
