//! A new user's first hour, with the real binary: the demo's logins on every start, the walk
//! script against the demo, and start-up and command-line failures that say what to do (one
//! `error:` line, one `hint:` line, exit 1, never a backtrace).

use crate::support::{TestDb, backend, postgres_server};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "first-hour-secret-Rt4Yp8Wq1Zx6Mn3Bv7Lk0Hj5Gf2Dc9";

/// A server started from the binary, killed when the test ends however it ends.
pub(crate) struct Started {
    child: Child,
    pub url: String,
    /// What it printed on stderr before `listening on`.
    pub printed: Vec<String>,
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `partnerhub ARGS` with `env` (and no operator token unless `env` gives one), until it prints
/// `listening on`.
pub(crate) fn start(args: &[&str], env: &[(&str, &str)]) -> Started {
    let child = Command::new(env!("CARGO_BIN_EXE_partnerhub"))
        .args(args)
        .env_remove("PARTNERHUB_OPERATOR_TOKEN")
        .env("PARTNERHUB_LOG", "warn")
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut started = Started { child, url: String::new(), printed: Vec::new() };
    let stderr = started.child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            tx.send(line).ok();
        }
    });
    loop {
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("no `listening on` in {:?}", started.printed));
        if let Some(url) = line.strip_prefix("listening on ") {
            started.url = url.to_owned();
            return started;
        }
        started.printed.push(line);
    }
}

/// `serve --demo` on a fresh port, its logins file in `dir`.
pub(crate) fn start_demo(db_url: &str, dir: &Path, secret: &str) -> Started {
    let file = dir.join("demo.json");
    let args = ["serve", "--demo", "--database", db_url, "--listen", "127.0.0.1:0", "--demo-file", file.to_str().unwrap()];
    start(&args, &[("PARTNERHUB_SECRET", secret), ("PARTNERHUB_OPERATOR_TOKEN", "op")])
}

/// The password printed on the line that names `email`.
pub(crate) fn printed_password(printed: &[String], email: &str) -> String {
    let line = printed.iter().find(|l| l.split_whitespace().any(|w| w == email)).unwrap_or_else(|| panic!("{email} in {printed:?}"));
    line.split_whitespace().last().unwrap().to_owned()
}

async fn sign_in(url: &str, email: &str, password: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{url}/api/v1/auth/token"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
}

const DEMO_LOGINS: [&str; 6] = [
    "ga@fabrikam.example",
    "ga@contoso.example",
    "agent@contoso.example",
    "ga@northwind.example",
    "ga@adventure-works.example",
    "ga@tailspin.example",
];

#[tokio::test]
async fn a_restarted_demo_prints_logins_that_work_and_writes_them_for_scripts() {
    let db = TestDb::fresh(backend()).await;
    let dir = tempfile::tempdir().unwrap();
    let first = start_demo(&db.url, dir.path(), SECRET);
    let passwords: Vec<String> = DEMO_LOGINS.iter().map(|e| printed_password(&first.printed, e)).collect();
    let file: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("demo.json")).unwrap()).unwrap();
    assert_eq!(file["url"], first.url.as_str());
    for (email, password) in DEMO_LOGINS.iter().zip(&passwords) {
        let written = file["logins"].as_array().unwrap().iter().find(|l| l["email"] == *email).unwrap();
        assert_eq!(written["password"], password.as_str());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("demo.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the logins file is readable by others: {mode:o}");
    }
    // The reseller changes its password meanwhile.
    let res = sign_in(&first.url, "ga@contoso.example", &passwords[1]).await;
    let token = res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let changed = reqwest::Client::new()
        .post(format!("{}/api/v1/me/password", first.url))
        .bearer_auth(&token)
        .json(&json!({"current_password": passwords[1], "new_password": "a new passphrase of the reseller 7"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 204);
    drop(first);

    // A restart prints every login again, and each one signs in, the changed one included.
    let second = start_demo(&db.url, dir.path(), SECRET);
    let text = second.printed.join("\n");
    assert!(text.contains("demo data already present"), "{text}");
    for (email, password) in DEMO_LOGINS.iter().zip(&passwords) {
        assert_eq!(&printed_password(&second.printed, email), password, "{text}");
        assert_eq!(sign_in(&second.url, email, password).await.status(), 200, "{email} after a restart");
    }
    // The ids and the pending invitation are printed again too.
    assert!(text.contains("customer id") && text.contains("subscription") && text.contains("/invite/"), "{text}");
    // Setting the changed password again was one audited change, named as the demo's, that
    // the reseller's own log shows.
    let res = sign_in(&second.url, "ga@contoso.example", &passwords[1]).await;
    let token = res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let audit: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/audit?action=user.password_reset", second.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let resets = audit["items"].as_array().unwrap();
    assert_eq!(resets.len(), 1, "{audit}");
    assert_eq!(resets[0]["details"], json!({"email": "ga@contoso.example", "by": "serve --demo"}));
    assert_eq!(resets[0]["actor"]["email"], "operator");
    drop(second);

    // With another secret, every demo password is another one, set again, and works.
    let other = start_demo(&db.url, dir.path(), "first-hour-other-secret-Pq2Wn7Xc4Vb9Lm1Kj6Hg3Fd8S");
    for (email, old) in DEMO_LOGINS.iter().zip(&passwords) {
        let new = printed_password(&other.printed, email);
        assert_ne!(&new, old);
        assert_eq!(sign_in(&other.url, email, &new).await.status(), 200, "{email} with another secret");
    }
}

#[tokio::test]
async fn the_walk_script_runs_against_the_demo_as_it_is_and_again() {
    let db = TestDb::fresh(backend()).await;
    let dir = tempfile::tempdir().unwrap();
    let demo = start_demo(&db.url, dir.path(), SECRET);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/walk.py");
    for run in 1..=2 {
        let out = Command::new("python3").arg(&script).arg(dir.path().join("demo.json")).output().expect("python3 runs the walk");
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "walk {run} failed:\n{stdout}\n{stderr}");
        assert!(stdout.contains("The walk is complete") && stdout.contains(&demo.url), "{stdout}");
        assert!(stdout.lines().count() > 50, "{stdout}");
    }
    // A server that answers otherwise than the walk expects fails it: here, no server at all.
    let out =
        Command::new("python3").arg(&script).arg(dir.path().join("demo.json")).args(["--url", "http://127.0.0.1:1"]).output().unwrap();
    assert!(!out.status.success());
    drop(demo);
    let (store, _) = crate::support::open_store(&db, None).await;
    assert!(matches!(store.verify_audit_chain().await.unwrap(), partnerhub_store::AuditVerification::Whole { .. }));
}

/// `partnerhub ARGS` to its end, with RUST_BACKTRACE=1 as some environments set it.
fn run(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_partnerhub"))
        .args(args)
        .current_dir(cwd)
        .env("RUST_BACKTRACE", "1")
        .env("PARTNERHUB_LOG", "error")
        .env("PARTNERHUB_SECRET", SECRET)
        .env_remove("PARTNERHUB_DATABASE_URL")
        .env_remove("PARTNERHUB_LISTEN")
        .output()
        .unwrap()
}

/// Exit 1, and stderr is exactly an `error:` line and a `hint:` line; answers them.
fn refused(out: &Output) -> (String, String) {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "two lines, no backtrace or dump:\n{stderr}");
    assert!(lines[0].starts_with("error: ") && lines[1].starts_with("hint: "), "{stderr}");
    assert!(!stderr.contains("backtrace") && !stderr.contains("Caused by") && !stderr.contains("{ "), "{stderr}");
    (lines[0].to_owned(), lines[1].to_owned())
}

#[tokio::test]
async fn audit_verify_refuses_a_sqlite_file_that_does_not_exist_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["audit", "verify", "--database", "sqlite://mistyped.db"], dir.path());
    let (error, hint) = refused(&out);
    assert!(error.contains("mistyped.db") && error.contains("no database"), "{error}");
    assert!(hint.contains("check the path"), "{hint}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "a file was created");
    // An existing database still verifies.
    let db = TestDb::fresh(crate::support::Backend::Sqlite).await;
    let migrated = run(&["migrate", "--database", &db.url], dir.path());
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));
    let out = run(&["audit", "verify", "--database", &db.url], dir.path());
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("audit chain whole"), "{out:?}");
}

#[tokio::test]
async fn postgres_refused_or_missing_says_what_to_do_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1: refused at once, not a pool time-out five seconds later.
    for command in [&["serve"][..], &["audit", "verify"], &["migrate"]] {
        let started = Instant::now();
        let args: Vec<&str> = command.iter().copied().chain(["--database", "postgres://postgres@127.0.0.1:1/x"]).collect();
        let (error, hint) = refused(&run(&args, dir.path()));
        assert!(error.contains("127.0.0.1:1") && error.contains("refused"), "{error}");
        assert!(hint.contains("start PostgreSQL"), "{hint}");
        assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    }
    let Some(server) = postgres_server().await else { return };
    let (base, _) = server.rsplit_once('/').unwrap();
    let missing = format!("{base}/does_not_exist_xyz");
    for command in [&["serve"][..], &["audit", "verify"]] {
        let args: Vec<&str> = command.iter().copied().chain(["--database", &missing]).collect();
        let (error, hint) = refused(&run(&args, dir.path()));
        assert!(error.contains("no database \"does_not_exist_xyz\""), "{error}");
        assert!(hint.contains("createdb") && hint.contains("does_not_exist_xyz"), "{hint}");
    }
}

#[tokio::test]
async fn a_sqlite_path_in_a_missing_directory_or_an_unknown_scheme_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/no/such/dir/partnerhub.db", dir.path().display());
    let (error, hint) = refused(&run(&["serve", "--database", &url], dir.path()));
    assert!(error.contains("no/such/dir") && error.contains("does not exist"), "{error}");
    assert!(hint.contains("mkdir -p"), "{hint}");
    // A password in an unknown URL is not repeated.
    let (error, hint) = refused(&run(&["serve", "--database", "mysql://root:hunter2@db/x"], dir.path()));
    assert!(error.contains("mysql://") && !error.contains("hunter2"), "{error}");
    assert!(hint.contains("sqlite://PATH") && hint.contains("postgres://"), "{hint}");
}

#[tokio::test]
async fn a_port_in_use_is_one_line_and_a_hint_never_a_backtrace() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/p.db", dir.path().display());
    let (error, hint) = refused(&run(&["serve", "--database", &db, "--listen", &port], dir.path()));
    assert!(error.contains(&format!("127.0.0.1:{port}")) && error.contains("already in use"), "{error}");
    assert!(hint.contains("--listen"), "{hint}");
}

/// A port nothing listens on now (bound, then let go).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn listen_takes_a_port_alone_as_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/l.db", dir.path().display());
    for form in ["{}", ":{}"] {
        let port = free_port();
        let listen = form.replace("{}", &port.to_string());
        let server = start(&["serve", "--database", &db, "--listen", &listen], &[("PARTNERHUB_SECRET", SECRET)]);
        assert_eq!(server.url, format!("http://127.0.0.1:{port}"));
        assert_eq!(reqwest::get(format!("{}/healthz", server.url)).await.unwrap().status(), 200);
    }
    // Not an address: clap's usage error (exit 2) names the forms that are.
    let out = run(&["serve", "--database", &db, "--listen", "http://127.0.0.1:8080"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("127.0.0.1:8080") && stderr.contains("a port alone"), "{stderr}");
}

#[tokio::test]
async fn without_an_operator_token_the_operator_api_is_disabled_and_says_so() {
    let db = TestDb::fresh(backend()).await;
    let args = ["serve", "--database", db.url.as_str(), "--listen", "127.0.0.1:0"];
    let server = start(&args, &[("PARTNERHUB_SECRET", SECRET)]);
    let said = server.printed.iter().find(|l| l.contains("operator API disabled")).unwrap_or_else(|| panic!("{:?}", server.printed));
    assert!(said.contains("PARTNERHUB_OPERATOR_TOKEN"), "{said}");
    let c = reqwest::Client::new();
    let offer = uuid::Uuid::now_v7();
    let routes = [
        (reqwest::Method::GET, "/api/v1/operator/partners".to_owned()),
        (reqwest::Method::POST, "/api/v1/operator/partners".to_owned()),
        (reqwest::Method::POST, "/api/v1/operator/provider-links".to_owned()),
        (reqwest::Method::GET, "/api/v1/operator/offers".to_owned()),
        (reqwest::Method::POST, "/api/v1/operator/offers".to_owned()),
        (reqwest::Method::POST, format!("/api/v1/operator/offers/{offer}/disable")),
    ];
    for (method, path) in &routes {
        for bearer in [None, Some("anything")] {
            let mut req = c.request(method.clone(), format!("{}{path}", server.url)).json(&json!({}));
            if let Some(b) = bearer {
                req = req.bearer_auth(b);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 403, "{method} {path}");
            assert_eq!(res.headers()["content-type"], "application/problem+json");
            let body: Value = res.json().await.unwrap();
            assert_eq!(body["code"], "operator_api_disabled", "{method} {path}: {body}");
            assert!(body["detail"].as_str().unwrap().contains("PARTNERHUB_OPERATOR_TOKEN"), "{body}");
        }
    }
    drop(server);

    // With a token, a missing or wrong bearer stays 401, and nothing is said at start.
    let server = start(&args, &[("PARTNERHUB_SECRET", SECRET), ("PARTNERHUB_OPERATOR_TOKEN", "op")]);
    assert!(!server.printed.iter().any(|l| l.contains("operator API disabled")), "{:?}", server.printed);
    for bearer in [None, Some("wrong")] {
        let mut req = c.get(format!("{}/api/v1/operator/partners", server.url));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(res.json::<Value>().await.unwrap()["code"], "unauthenticated");
    }
    let ok = c.get(format!("{}/api/v1/operator/partners", server.url)).bearer_auth("op").send().await.unwrap();
    assert_eq!(ok.status(), 200);
}

/// The directory of the repository (for docs and examples).
pub(crate) fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
