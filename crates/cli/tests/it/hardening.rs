//! Issue 7 hardening: what an anonymous client sends must not grow the server's memory or
//! hold its connections (metrics labels, transport timeouts, the connection cap), and what
//! users type must not turn into an attack on others (CSV cells, drafts, names, e-mails).

use crate::support::*;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;

/// The number of series `/metrics` exposes (every line that is not a comment).
async fn series(app: &TestApp) -> usize {
    let text = app.client.get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap();
    text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).count()
}

#[tokio::test]
async fn invented_methods_and_paths_do_not_grow_the_metrics() {
    let app = TestApp::spawn().await;
    let send = |i: usize| {
        let (c, url) = (app.client.clone(), app.url.clone());
        async move {
            let method = Method::from_bytes(format!("X{i}").as_bytes()).unwrap();
            // An invented method on an invented path, on a real route, and a known method on an invented path.
            for (m, path) in [(method.clone(), format!("/x/{i}/y")), (method, "/healthz".to_owned()), (Method::GET, format!("/z{i}"))] {
                let res = c.request(m, format!("{url}{path}")).send().await.unwrap();
                assert!(res.status().is_client_error(), "{}", res.status());
            }
        }
    };
    // One of each kind first, and one scrape, so that the closed set's series exist.
    send(0).await;
    let _ = series(&app).await;
    let before = series(&app).await;
    for i in 1..=167 {
        send(i).await; // 3 requests each: 501 in all
    }
    let after = series(&app).await;
    let text = app.client.get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap();
    assert_eq!(before, after, "500 invented requests added series: {text}");
    let text = app.client.get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("method=\"other\",route=\"unmatched\""), "{text}");
    assert!(!text.contains("X17") && !text.contains("/z17"), "{text}");
}

#[tokio::test]
async fn the_csv_export_neutralizes_cells_a_spreadsheet_would_run() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let domain = partner.email.split('@').nth(1).unwrap().to_owned();
    // E-mail local parts may start with `=`, `+` or `-`: each one signs in, and its e-mail is
    // the actor of a `session.created` record.
    for local in ["=1+2", "+cmd", "-2+3", "@sum"] {
        let email = format!("{local}@{domain}");
        let (s, b) = app
            .post(
                "/api/v1/users",
                Some(&partner.token),
                json!({"email": email, "display_name": "Formula", "password": PASSWORD, "roles": ["admin_agent"]}),
            )
            .await;
        if local.starts_with('@') {
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
            continue;
        }
        assert_eq!(s, StatusCode::CREATED, "{b}");
        app.sign_in(&email, PASSWORD).await;
    }
    let res =
        app.client.get(format!("{}/api/v1/audit", app.url)).bearer_auth(&partner.token).header("accept", "text/csv").send().await.unwrap();
    let csv = res.text().await.unwrap();
    let mut reader = csv::ReaderBuilder::new().from_reader(csv.as_bytes());
    let mut seen = 0;
    for row in reader.records() {
        let row = row.unwrap();
        for cell in row.iter() {
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "a formula cell: {cell:?} in {csv}");
        }
        if row.get(6) == Some("session.created") && row.get(4).is_some_and(|e| e.starts_with('\'')) {
            seen += 1;
        }
    }
    assert_eq!(seen, 3, "{csv}");
    assert!(csv.contains(&format!("'=1+2@{domain}")), "{csv}");
}

#[tokio::test]
async fn drafts_never_hold_a_token_and_show_it_back() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let inv = app.invite(&partner, json!({})).await;
    let (id, url) = (inv["id"].as_str().unwrap(), inv["url"].as_str().unwrap());
    let token = token_of(&inv);
    // The URL in the body, the bare token in the subject and again in the body.
    let subject = format!("Your code: {token}");
    let body = format!("Open {url}\nor paste this code on the page: {token}\n");
    let (s, b) = app
        .call(
            Method::PUT,
            &format!("/api/v1/invitations/{id}/email"),
            Some(&partner.token),
            Some(json!({"subject": subject, "body": body})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!((b["email"]["subject"].as_str(), b["email"]["body"].as_str()), (Some(subject.as_str()), Some(body.as_str())));
    let (_, shown) = app.get(&format!("/api/v1/invitations/{id}"), &partner.token).await;
    assert_eq!((shown["email"]["subject"].as_str(), shown["email"]["body"].as_str()), (Some(subject.as_str()), Some(body.as_str())));
    assert!(shown["mailto"].as_str().unwrap().contains(&token));
    let stored = app.raw.strings("SELECT email_subject || ' | ' || email_body FROM invitations").await;
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].contains(&token), "a token is stored: {}", stored[0]);
    assert!(stored[0].contains("{invitation_url}") && stored[0].contains("{invitation_token}"), "{}", stored[0]);
}

/// Runs the real binary with these arguments and environment; answers (success, stdout, stderr).
fn run(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_partnerhub")).args(args).envs(env.iter().copied()).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test]
async fn serve_refuses_a_weak_secret_and_names_the_command_that_makes_one() {
    let db = TestDb::fresh(backend()).await;
    let listen = ["serve", "--database", &db.url, "--listen", "127.0.0.1:0"];
    let repeated = "abcdefgh".repeat(8);
    for weak in ["bench", "crash-test-secret", "test secret, 32 bytes or more, fine", repeated.as_str(), &"A".repeat(43)] {
        let (ok, _, err) = run(&listen, &[("PARTNERHUB_SECRET", weak)]);
        assert!(!ok, "{weak:?} was accepted");
        assert!(err.contains("partnerhub secret generate"), "{weak:?}: {err}");
    }
    let (ok, one, _) = run(&["secret", "generate"], &[]);
    let (_, two, _) = run(&["secret", "generate"], &[]);
    assert!(ok);
    let one = one.trim();
    assert_ne!(one, two.trim());
    assert_eq!(one.len(), 43, "{one}");
    assert!(one.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{one}");
    // A generated secret is good: the server starts with it.
    let server = Running(crate::crash::start_with(&db.url, &[("PARTNERHUB_SECRET", one)]));
    let res = reqwest::get(format!("{}/healthz", server.0.url)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

/// One name of each class a name must refuse.
const BAD_NAMES: [&str; 9] = [
    "Tab\there",                // control
    "Fabrikam\u{202E}moc.live", // bidi override
    "Iso\u{2066}late",          // bidi isolate
    "Mark\u{200F}ed",           // right-to-left mark
    "Arabic\u{061C}mark",       // Arabic letter mark
    "Con\u{200B}toso",          // zero-width space
    "Word\u{2060}joiner",       // word joiner
    "Bom\u{FEFF}",              // zero-width no-break space
    "Line\u{2028}break",        // line separator
];

const BAD_EMAILS: [&str; 5] = ["ada", "ada@localhost", "a b@x.example", "ada@x.example\u{202E}", "\"a\"@x.example"];

fn field_of(b: &serde_json::Value) -> Vec<String> {
    b["errors"].as_array().map(|e| e.iter().map(|f| f["field"].as_str().unwrap_or_default().to_owned()).collect()).unwrap_or_default()
}

#[tokio::test]
async fn names_and_emails_that_would_mislead_are_refused_everywhere() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let signup = |name: &str, email: &str| {
        let d = unique("n");
        json!({"organization": {"name": name, "domain": format!("{d}.example")},
               "admin": {"email": email, "display_name": name, "password": PASSWORD}})
    };
    let user = |name: &str, email: &str| json!({"email": email, "display_name": name, "password": PASSWORD, "roles": ["admin_agent"]});
    let customer = |name: &str, email: &str| {
        let d = unique("c");
        json!({"name": name, "domain": format!("{d}.example"), "admin": {"email": email, "display_name": name}})
    };
    for bad in BAD_NAMES {
        let ok_email = format!("{}@fine.example", unique("e"));
        let (s, b) = app.post_from_fresh_client("/api/v1/signup", signup(bad, &ok_email)).await;
        assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "signup {bad:?}: {b}");
        assert!(field_of(&b).contains(&"organization.name".to_owned()), "{b}");
        let (s, b) = app.post("/api/v1/users", Some(&partner.token), user(bad, &ok_email)).await;
        assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "user {bad:?}: {b}");
        assert_eq!(field_of(&b), ["display_name"], "{b}");
        let (s, b) = app.post("/api/v1/customers", Some(&partner.token), customer(bad, &ok_email)).await;
        assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "customer {bad:?}: {b}");
        assert!(field_of(&b).contains(&"name".to_owned()), "{b}");
    }
    for bad in BAD_EMAILS {
        let (s, b) = app.post_from_fresh_client("/api/v1/signup", signup("Fine", bad)).await;
        assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "signup {bad:?}: {b}");
        let (s, b) = app.post("/api/v1/users", Some(&partner.token), user("Fine", bad)).await;
        assert_eq!((s, field_of(&b)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["email".to_owned()]), "user {bad:?}: {b}");
        let (s, b) = app.post("/api/v1/customers", Some(&partner.token), customer("Fine", bad)).await;
        assert_eq!((s, field_of(&b)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["admin.email".to_owned()]), "customer {bad:?}: {b}");
    }
    // E-mails are trimmed and lower-cased: the same address in another case is the same user.
    let email = format!("{}@Fine.Example", unique("Mixed"));
    let (s, b) = app.post("/api/v1/users", Some(&partner.token), user("Fine", &format!("  {email} "))).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["email"], email.to_lowercase());
    app.sign_in(&email.to_uppercase(), PASSWORD).await;
    app.verify_audit().await;
}

#[tokio::test]
async fn every_answer_carries_hsts_behind_an_https_public_url_and_none_behind_http() {
    let db = TestDb::fresh(backend()).await;
    let secret = ("PARTNERHUB_SECRET", "hsts-test-secret-Qw7Er4Ty1Ui8Op5As2Df9Gh6Jk3Lz0");
    let server = Running(crate::crash::start_with(&db.url, &[secret, ("PARTNERHUB_PUBLIC_URL", "https://partners.example")]));
    let c = reqwest::Client::new();
    for (method, path) in [(Method::GET, "/healthz"), (Method::GET, "/api/v1/me"), (Method::GET, "/nowhere"), (Method::DELETE, "/healthz")]
    {
        let res = c.request(method, format!("{}{path}", server.0.url)).send().await.unwrap();
        let hsts = res.headers().get("strict-transport-security").map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(hsts.as_deref(), Some("max-age=31536000; includeSubDomains"), "{path} answered {}", res.status());
    }
    drop(server);
    let app = TestApp::spawn().await; // http://127.0.0.1:PORT
    let res = app.client.get(format!("{}/healthz", app.url)).send().await.unwrap();
    assert!(res.headers().get("strict-transport-security").is_none());
}

const TRANSPORT_SECRET: (&str, &str) = ("PARTNERHUB_SECRET", "transport-test-secret-Zx4Cv7Bn0Mq3Wr6Ty9Ui2Op5As8");

/// Reads what the server sends until it has a whole response head, closes, or `wait` passes;
/// answers the text, and whether the connection was closed.
async fn read_some(s: &mut tokio::net::TcpStream, wait: Duration) -> (String, bool) {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let mut buf = [0u8; 4096];
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(Ok(n)) => {
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).into_owned();
                if text.contains("\r\n\r\n") {
                    return (text, false);
                }
            }
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
        }
    }
}

/// The real binary, killed when the test ends, even by a failed assertion (its stdout is
/// the test harness's: a server left running would keep `cargo test | ...` waiting).
struct Running(crate::crash::Server);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.child.kill();
        let _ = self.0.child.wait();
    }
}

async fn connect(server: &crate::crash::Server) -> tokio::net::TcpStream {
    tokio::net::TcpStream::connect(server.url.trim_start_matches("http://")).await.unwrap()
}

async fn send(s: &mut tokio::net::TcpStream, bytes: &str) {
    use tokio::io::AsyncWriteExt;
    s.write_all(bytes.as_bytes()).await.unwrap();
}

const GET: &str = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

#[tokio::test]
async fn slow_headers_and_slow_bodies_are_cut_and_idle_connections_close() {
    let db = TestDb::fresh(backend()).await;
    let env = [
        TRANSPORT_SECRET,
        ("PARTNERHUB_HEADER_READ_TIMEOUT_MS", "1000"),
        ("PARTNERHUB_BODY_READ_TIMEOUT_MS", "1000"),
        ("PARTNERHUB_IDLE_TIMEOUT_MS", "2500"),
    ];
    let server = Running(crate::crash::start_with(&db.url, &env));
    let server = &server.0;

    // Half the headers, then nothing: the connection is closed once the header time is up.
    let mut half = connect(server).await;
    send(&mut half, "GET /healthz HTTP/1.1\r\nHost: x\r\n").await;
    let started = std::time::Instant::now();
    let (text, closed) = read_some(&mut half, Duration::from_secs(6)).await;
    assert!(closed && !text.contains("200 OK"), "half headers: {text:?}, closed: {closed}");
    assert!(started.elapsed() >= Duration::from_millis(800), "closed too early: {:?}", started.elapsed());

    // Nothing at all after connecting: closed too.
    let mut silent = connect(server).await;
    let (_, closed) = read_some(&mut silent, Duration::from_secs(6)).await;
    assert!(closed, "a silent connection stayed open");

    // A body that does not arrive whole in time: 408.
    let mut slow = connect(server).await;
    send(
        &mut slow,
        "POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n{\"email\"",
    )
    .await;
    let (text, _) = read_some(&mut slow, Duration::from_secs(6)).await;
    assert!(text.starts_with("HTTP/1.1 408"), "slow body: {text:?}");
    assert!(text.contains("request_timeout") || text.contains("application/problem+json"), "{text}");

    // A kept-alive connection may wait longer than the header time between requests, and is
    // closed once idle for the idle time.
    let mut kept = connect(server).await;
    send(&mut kept, GET).await;
    let (text, _) = read_some(&mut kept, Duration::from_secs(3)).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await; // past the header time, within the idle time
    send(&mut kept, GET).await;
    let (text, _) = read_some(&mut kept, Duration::from_secs(3)).await;
    assert!(text.starts_with("HTTP/1.1 200"), "a kept-alive connection was cut before its idle time: {text:?}");
    let started = std::time::Instant::now();
    let (_, closed) = read_some(&mut kept, Duration::from_secs(8)).await;
    assert!(closed, "an idle connection stayed open");
    assert!(started.elapsed() >= Duration::from_millis(2000), "idle connection closed after {:?}", started.elapsed());
}

#[tokio::test]
async fn no_more_connections_are_served_than_the_cap() {
    let db = TestDb::fresh(backend()).await;
    let env = [TRANSPORT_SECRET, ("PARTNERHUB_MAX_CONNECTIONS", "2")];
    let server = Running(crate::crash::start_with(&db.url, &env));
    let server = &server.0;
    let mut first = connect(server).await;
    send(&mut first, GET).await;
    assert!(read_some(&mut first, Duration::from_secs(3)).await.0.starts_with("HTTP/1.1 200"));
    let mut second = connect(server).await;
    send(&mut second, GET).await;
    assert!(read_some(&mut second, Duration::from_secs(3)).await.0.starts_with("HTTP/1.1 200"));
    // Two kept-alive connections are open: a third one waits in the listen queue.
    let mut third = connect(server).await;
    send(&mut third, GET).await;
    let (text, closed) = read_some(&mut third, Duration::from_millis(1500)).await;
    assert!(text.is_empty() && !closed, "a third connection was served while two were open: {text:?}");
    // One closes: the third is served.
    drop(first);
    let (text, _) = read_some(&mut third, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text:?}");
    drop(second);
}

#[tokio::test]
async fn sigterm_answers_the_request_in_flight_then_exits() {
    let db = TestDb::fresh(backend()).await;
    let mut server = Running(crate::crash::start_with(&db.url, &[TRANSPORT_SECRET]));
    let mut idle = connect(&server.0).await;
    send(&mut idle, GET).await;
    assert!(read_some(&mut idle, Duration::from_secs(3)).await.0.starts_with("HTTP/1.1 200"));
    let body = r#"{"email": "nobody@x.example", "password": "not the password"}"#;
    let mut busy = connect(&server.0).await;
    send(&mut busy, &format!("POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{}", body.len(), &body[..10])).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = server.0.child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    send(&mut busy, &body[10..]).await;
    let (text, _) = read_some(&mut busy, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 401"), "the request in flight was not answered: {text:?}");
    let (_, closed) = read_some(&mut idle, Duration::from_secs(5)).await;
    assert!(closed, "an idle connection kept the server from stopping");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = server.0.child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the server did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
}

/// A request target past `MAX_URI_LEN` is `414 uri_too_long` in problem+json, from the real
/// transport; past hyper's own limit (64 KiB), hyper answers 414 itself before any route, with
/// no body, and closes the connection (docs/contract.md).
#[tokio::test]
async fn a_long_request_target_is_414_problem_json_and_past_hypers_limit_a_bare_414() {
    let db = TestDb::fresh(backend()).await;
    let server = Running(crate::crash::start_with(&db.url, &[TRANSPORT_SECRET]));
    let server = &server.0;
    let request = |len: usize| format!("GET /api/v1/customers?q={} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(len));

    let mut ours = connect(server).await;
    send(&mut ours, &request(partnerhub_web::MAX_URI_LEN)).await;
    let (text, _) = read_some(&mut ours, Duration::from_secs(5)).await;
    let head = text.to_ascii_lowercase();
    assert!(text.starts_with("HTTP/1.1 414"), "{text}");
    assert!(head.contains("content-type: application/problem+json"), "{text}");

    let mut hypers = connect(server).await;
    send(&mut hypers, &request(70_000)).await;
    let (text, _) = read_some(&mut hypers, Duration::from_secs(5)).await;
    let head = text.to_ascii_lowercase();
    assert!(text.starts_with("HTTP/1.1 414"), "{text}");
    assert!(head.contains("content-length: 0") && !head.contains("content-type"), "{text}");
    let (rest, closed) = read_some(&mut hypers, Duration::from_secs(5)).await;
    assert!(closed && rest.is_empty(), "{rest:?}");
}
