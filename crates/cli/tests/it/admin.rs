//! `partnerhub admin` as an operator runs it: the real binary, as a process, against a real
//! server on a fresh database; tables, `--json`, and the failures an operator meets.

use crate::crash::{Server, start_with};
use crate::support::{TestDb, backend};
use serde_json::{Value, json};
use std::process::Output;

/// The server, killed when the test ends however it ends.
struct Running(Server);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.child.kill();
        let _ = self.0.child.wait();
    }
}

async fn server() -> (TestDb, Running) {
    let db = TestDb::fresh(backend()).await;
    let server = start_with(&db.url, &[("PARTNERHUB_SECRET", "admin-test-secret-Vb3Nq8Lz1Xc6Rt0Yp4Ks7Hd2Fm9Jw5")]);
    (db, Running(server))
}

/// Runs `partnerhub admin --url URL ARGS` with only the environment given here.
async fn admin(url: &str, env: &[(&str, &str)], args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_partnerhub"))
        .arg("admin")
        .args(["--url", url])
        .args(args)
        .env_remove("PARTNERHUB_OPERATOR_TOKEN")
        .env_remove("PARTNERHUB_URL")
        .env_remove("PARTNERHUB_ADMIN_PASSWORD")
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap()
}

const OP: &[(&str, &str)] = &[("PARTNERHUB_OPERATOR_TOKEN", "op")];

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Succeeds, or fails the test showing what the command printed.
fn ok(o: Output) -> Output {
    assert!(o.status.success(), "admin failed ({:?}):\n{}{}", o.status.code(), stdout(&o), stderr(&o));
    o
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

/// Every row of a table starts each column where the header's column starts.
fn assert_aligned(table: &str, header: &[&str]) {
    let mut lines = table.lines();
    let head = lines.next().unwrap();
    let starts: Vec<usize> = header.iter().map(|h| head.find(h).unwrap_or_else(|| panic!("no {h} in {head}"))).collect();
    for line in lines {
        for &s in &starts[1..] {
            let (before, at) = line.split_at(line.char_indices().nth(s).map_or(line.len(), |(i, _)| i));
            assert!(before.ends_with("  ") && !at.starts_with(' '), "column at {s} misaligned in {table}");
        }
    }
}

async fn sign_in(url: &str, email: &str, password: &str) -> String {
    let res = reqwest::Client::new()
        .post(format!("{url}/api/v1/auth/token"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "sign-in of {email}");
    res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn partners_are_created_listed_and_linked_by_partner_id() {
    let (_db, s) = server().await;
    let url = s.0.url.clone();
    let create = |name: &'static str, ty: &'static str, pid: &'static str, domain: &'static str| {
        let email = format!("ga@{domain}");
        let url = url.clone();
        async move {
            let args = ["partners", "create", "--name", name, "--type", ty, "--partner-id", pid, "--domain", domain];
            let args: Vec<&str> = args.into_iter().chain(["--admin-email", &email, "--admin-name", "Ada"]).collect();
            admin(&url, OP, &args).await
        }
    };

    // Without PARTNERHUB_ADMIN_PASSWORD, a strong password is generated and printed once.
    let provider = ok(create("Fabrikam Distribution", "indirect_provider", "4100001", "fabrikam.example").await);
    assert!(stdout(&provider).starts_with("ID "), "{}", stdout(&provider));
    assert!(stdout(&provider).contains("Fabrikam Distribution") && stdout(&provider).contains("indirect_provider"));
    let generated = stderr(&provider);
    let password = generated.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(generated.contains("ga@fabrikam.example") && password.len() >= 32, "{generated}");
    sign_in(&url, "ga@fabrikam.example", &password).await;

    // With it, that password, and nothing printed about it.
    let reseller = ok(admin(
        &url,
        &[OP[0], ("PARTNERHUB_ADMIN_PASSWORD", "a long passphrase 2")],
        &["partners", "create", "--name", "Contoso Conseil", "--type", "indirect_reseller", "--partner-id", "5100002"]
            .into_iter()
            .chain(["--domain", "contoso.example", "--admin-email", "ga@contoso.example", "--admin-name", "Claire", "--json"])
            .collect::<Vec<_>>(),
    )
    .await);
    assert_eq!(stderr(&reseller), "");
    let reseller_id = json_of(&reseller)["id"].as_str().unwrap().to_owned();
    let reseller_token = sign_in(&url, "ga@contoso.example", "a long passphrase 2").await;

    let table = stdout(&ok(admin(&url, OP, &["partners", "list"]).await));
    assert_eq!(table.lines().count(), 3, "{table}");
    assert_aligned(&table, &["ID", "NAME", "TYPE", "PARTNER ID", "DOMAIN", "CREATED"]);
    let list = json_of(&ok(admin(&url, OP, &["partners", "list", "--json"]).await));
    assert_eq!(list["total"], 2);
    let names: Vec<&str> = list["items"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Contoso Conseil", "Fabrikam Distribution"]);
    let provider_id = list["items"][1]["id"].as_str().unwrap().to_owned();

    // Linked by partner ids, resolved through the list; the reseller sees its provider.
    let link = stdout(&ok(admin(&url, OP, &["link", "--provider", "4100001", "--reseller", "5100002"]).await));
    assert!(link.contains(&provider_id) && link.contains(&reseller_id) && link.contains("active"), "{link}");
    let providers: Value = reqwest::Client::new()
        .get(format!("{url}/api/v1/providers"))
        .bearer_auth(&reseller_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(providers.to_string().matches("\"active\"").count(), 1, "{providers}");
    assert!(providers.to_string().contains(&provider_id), "{providers}");

    // A partner id nobody has, and a link the server refuses (a provider as the reseller).
    let unknown = admin(&url, OP, &["link", "--provider", "4100001", "--reseller", "9999"]).await;
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("no partner has the partner id '9999'"), "{}", stderr(&unknown));
    let refused = admin(&url, OP, &["link", "--provider", &provider_id, "--reseller", &provider_id]).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).starts_with("error: ") && stderr(&refused).lines().count() <= 2, "{}", stderr(&refused));
}

#[tokio::test]
async fn offers_are_created_listed_and_disabled() {
    let (_db, s) = server().await;
    let url = s.0.url.as_str();
    let created =
        stdout(&ok(admin(url, OP, &["offers", "create", "--name", "Mail Basic", "--price-cents", "600", "--currency", "EUR"]).await));
    assert!(created.contains("Mail Basic") && created.contains("6.00 EUR") && created.contains("yes"), "{created}");
    let office = json_of(&ok(admin(
        url,
        OP,
        &["offers", "create", "--name", "Office Standard", "--price-cents", "1250", "--currency", "EUR", "--json"],
    )
    .await));
    assert_eq!(office["unit_price_cents"], 1250);
    assert_eq!(office["active"], true);
    let office_id = office["id"].as_str().unwrap();

    let disabled = stdout(&ok(admin(url, OP, &["offers", "disable", office_id]).await));
    assert!(disabled.contains(office_id) && disabled.contains("12.50 EUR"), "{disabled}");
    let active = disabled.lines().next().unwrap().find("ACTIVE").unwrap();
    assert!(disabled.lines().nth(1).unwrap()[active..].starts_with("no "), "{disabled}");

    let table = stdout(&ok(admin(url, OP, &["offers", "list"]).await));
    assert_eq!(table.lines().count(), 3, "{table}");
    assert_aligned(&table, &["ID", "NAME", "PRICE", "ACTIVE", "CREATED"]);
    let list = json_of(&ok(admin(url, OP, &["offers", "list", "--json"]).await));
    assert_eq!(list["total"], 2);
    assert_eq!(list["next_cursor"], Value::Null);
    let office = list["items"].as_array().unwrap().iter().find(|o| o["id"] == office_id).unwrap();
    assert_eq!(office["active"], false);

    // A validation error names the field, on its own second line.
    let invalid = admin(url, OP, &["offers", "create", "--name", "Cheap", "--price-cents", "100", "--currency", "eur"]).await;
    assert_eq!(invalid.status.code(), Some(1));
    let lines: Vec<String> = stderr(&invalid).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].contains("Validation failed") && lines[0].contains("422"), "{lines:?}");
    assert!(lines[1].trim_start().starts_with("currency: "), "{lines:?}");
    assert_eq!(stdout(&invalid), "");

    // A wrong token is refused, and said so.
    let wrong = admin(url, &[("PARTNERHUB_OPERATOR_TOKEN", "not-the-token")], &["offers", "list"]).await;
    assert_eq!(wrong.status.code(), Some(1));
    assert!(stderr(&wrong).contains("401") && stderr(&wrong).contains("PARTNERHUB_OPERATOR_TOKEN"), "{}", stderr(&wrong));
}

#[tokio::test]
async fn a_missing_token_an_unreachable_server_and_a_bad_flag_say_so() {
    let missing = admin("http://127.0.0.1:9", &[], &["partners", "list"]).await;
    assert_eq!(missing.status.code(), Some(1));
    let msg = stderr(&missing);
    assert!(msg.contains("PARTNERHUB_OPERATOR_TOKEN is not set") && msg.contains("export"), "{msg}");

    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let unreachable = admin(&url, OP, &["offers", "list"]).await;
    assert_eq!(unreachable.status.code(), Some(1));
    assert!(stderr(&unreachable).contains(&format!("not reachable at {url}")), "{}", stderr(&unreachable));

    let usage = admin(&url, OP, &["partners", "create", "--name", "X", "--type", "wholesale"]).await;
    assert_eq!(usage.status.code(), Some(2), "{}", stderr(&usage));
}

/// The demo prints every login it creates, and what it prints is enough to try an order, a
/// customer user and a license at once.
#[tokio::test]
async fn the_demo_logins_reach_orders_customer_users_and_licenses() {
    let db = TestDb::fresh(backend()).await;
    let dir = tempfile::tempdir().unwrap();
    let s = crate::first_hour::start_demo(&db.url, dir.path(), "demo-test-secret-Tq5Wz0Mb8Xr3Lc6Nv1Pk9Gh4Jd7Sy2");
    let (url, printed) = (s.url.as_str(), &s.printed);
    let login = |email: &str| crate::first_hour::printed_password(printed, email);
    let id_after = |word: &str| {
        let text = printed.join(" ");
        let at = text.find(word).unwrap_or_else(|| panic!("{word} in {text}")) + word.len();
        text[at..].trim_start().split(|c: char| !(c.is_ascii_hexdigit() || c == '-')).next().unwrap().to_owned()
    };
    for email in ["ga@fabrikam.example", "ga@contoso.example", "ga@northwind.example", "ga@adventure-works.example", "ga@tailspin.example"]
    {
        sign_in(url, email, &login(email)).await;
    }

    let offers = json_of(&ok(admin(url, OP, &["offers", "list", "--json"]).await));
    let names: Vec<&str> = offers["items"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Cloud Storage 1 TB", "Mail Basic", "Office Standard"]);

    let (customer, subscription) = (id_after("customer id"), id_after("subscription"));
    let agent = sign_in(url, "agent@contoso.example", &login("agent@contoso.example")).await;
    let c = reqwest::Client::new();
    let user: Value = c
        .post(format!("{url}/api/v1/customers/{customer}/users"))
        .bearer_auth(&agent)
        .json(&json!({"email": "kim@adventure-works.example", "display_name": "Kim"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user_id = user["id"].as_str().unwrap_or_else(|| panic!("{user}"));
    let seat = c
        .post(format!("{url}/api/v1/customers/{customer}/users/{user_id}/licenses"))
        .bearer_auth(&agent)
        .json(&json!({"subscription_id": subscription}))
        .send()
        .await
        .unwrap();
    assert_eq!(seat.status(), 201, "{}", seat.text().await.unwrap());

    // The provider orders more for the same customer, naming its reseller.
    let provider = sign_in(url, "ga@fabrikam.example", &login("ga@fabrikam.example")).await;
    let order = c
        .post(format!("{url}/api/v1/customers/{customer}/orders"))
        .bearer_auth(&provider)
        .json(&json!({"items": [{"offer_id": offers["items"][0]["id"], "quantity": 2}], "reseller_id": id_after("Contoso (id")}))
        .send()
        .await
        .unwrap();
    assert_eq!(order.status(), 201, "{}", order.text().await.unwrap());

    // The customer side: the pending invitation's link opens in French, and Tailspin accepts it.
    let link = printed.iter().map(|l| l.trim()).find(|l| l.contains("/invite/")).unwrap_or_else(|| panic!("an invitation in {printed:?}"));
    let page = c.get(link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("<html lang=\"fr\"") && html.contains("Northwind Cloud") && html.contains("Accepter"), "{html}");
    let tailspin = sign_in(url, "ga@tailspin.example", &login("ga@tailspin.example")).await;
    let token = link.rsplit('/').next().unwrap();
    let accepted =
        c.post(format!("{url}/api/v1/invitations/accept")).bearer_auth(&tailspin).json(&json!({"token": token})).send().await.unwrap();
    assert_eq!(accepted.status(), 201, "{}", accepted.text().await.unwrap());
}
