//! The portal in a real browser: headless Chromium driven over W3C WebDriver (chromedriver,
//! started here on a free port and killed at the end) against a real server.
//!
//! Without chromedriver these tests fail in CI (`CI` set) and print a loud SKIP elsewhere.
//! `PARTNERHUB_CHROMEDRIVER` and `PARTNERHUB_CHROMIUM` name other binaries than Debian's
//! `/usr/bin/chromedriver` and `/usr/bin/chromium`. `PARTNERHUB_SCREENSHOTS=1` writes the
//! screenshots of docs/screenshots/ (never in CI: the tree stays clean).
//!
//! The helpers (`Browser::start`, `sign_in`, `click_text`, `fill`, `screenshot`) are the ones
//! the story of issue 8's "How it is checked" is meant to be written with.

use crate::support::{PASSWORD, TestApp};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One browser at a time in this test binary: two cores are shared by everything.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub const DESKTOP: (u32, u32) = (1280, 900);
pub const PHONE: (u32, u32) = (390, 844);

/// chromedriver on a free port, killed when dropped with every browser process that used its
/// profile (found by their exact `--user-data-dir` argument), even when a test fails half way.
pub struct Driver {
    child: Child,
    pub url: String,
    /// The browser's profile, removed after the browser is gone.
    pub profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in browser_processes(&format!("--user-data-dir={}", self.profile.path().display())) {
            let _ = Command::new("kill").args(["-s", "KILL", "--", &pid.to_string()]).stderr(Stdio::null()).status();
        }
    }
}

/// The processes (never this one, never pid 1) with exactly this argument.
fn browser_processes(arg: &str) -> Vec<u32> {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid > 1 && pid != me)
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == arg.as_bytes())))
        .collect()
}

fn binary(var: &str, default: &str) -> Option<String> {
    let path = std::env::var(var).ok().filter(|s| !s.is_empty()).unwrap_or_else(|| default.to_owned());
    std::path::Path::new(&path).exists().then_some(path)
}

impl Driver {
    /// Starts chromedriver; `None` (after a loud SKIP) when it is missing outside CI.
    pub async fn start() -> Option<Self> {
        let Some(path) = binary("PARTNERHUB_CHROMEDRIVER", "/usr/bin/chromedriver") else {
            if std::env::var("CI").is_ok() || std::env::var("PARTNERHUB_CHROMEDRIVER").is_ok() {
                panic!("the browser tests need chromedriver (Debian: apt-get install chromium chromium-driver)");
            }
            eprintln!("\n*** SKIPPED: no chromedriver (apt-get install chromium chromium-driver) to run the browser tests ***\n");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
        let child = Command::new(path)
            .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".to_owned()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::Builder::new().prefix("partnerhub-chromium-").tempdir().expect("a profile directory");
        let driver = Driver { child, url: format!("http://127.0.0.1:{port}"), profile };
        // Ready when it answers /status (within 30 s).
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(r) = client.get(format!("{}/status", driver.url)).send().await
                && r.status().is_success()
            {
                return Some(driver);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not answer on port {port}");
    }
}

/// A headless Chromium session over a server at `base`.
pub struct Browser {
    pub client: Client,
    pub base: String,
    // Dropped last: the session is closed first.
    _driver: Driver,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl Browser {
    /// A fresh browser (no cookies) at the desktop size; `None` when the tests are skipped.
    pub async fn start(base: &str) -> Option<Self> {
        let turn = ONE_AT_A_TIME.lock().await;
        let driver = Driver::start().await?;
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--disable-gpu".to_owned(),
            "--lang=en-US".to_owned(),
            format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
        ];
        args.push(format!("--user-data-dir={}", driver.profile.path().display()));
        let mut options = json!({ "args": args, "prefs": { "intl.accept_languages": "en-US,en" } });
        if let Some(chromium) = binary("PARTNERHUB_CHROMIUM", "/usr/bin/chromium") {
            options["binary"] = Value::String(chromium);
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), options);
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .expect("a Chromium session");
        Some(Browser { client, base: base.trim_end_matches('/').to_owned(), _driver: driver, _turn: turn })
    }

    pub async fn goto(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.expect("navigation");
    }

    /// The path (and query) of the current page.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// `<html lang>` of the current page.
    pub async fn lang(&self) -> String {
        let html = self.client.find(Locator::Css("html")).await.expect("html");
        html.attr("lang").await.expect("lang").unwrap_or_default()
    }

    /// The visible text of the page's `<main>`.
    pub async fn main_text(&self) -> String {
        self.client.find(Locator::Css("main")).await.expect("main").text().await.expect("text")
    }

    /// The visible text of the whole page.
    pub async fn text(&self) -> String {
        self.client.find(Locator::Css("body")).await.expect("body").text().await.expect("text")
    }

    /// Clicks the link or button whose visible text is exactly `text` (trimmed), the first one.
    pub async fn click_text(&self, text: &str) {
        let candidates = self.client.find_all(Locator::Css("a, button, input[type=submit]")).await.expect("find");
        for e in candidates {
            let shown = e.text().await.unwrap_or_default();
            let value = e.attr("value").await.ok().flatten().unwrap_or_default();
            if (shown.trim() == text || value.trim() == text) && e.is_displayed().await.unwrap_or(false) {
                self.mark_page().await;
                e.click().await.expect("click");
                self.wait_for_new_page().await;
                return;
            }
        }
        panic!("no link or button {text:?} on {}", self.path().await);
    }

    /// Types `value` into the field whose `name` or label text is `field`.
    pub async fn fill(&self, field: &str, value: &str) {
        let by_name = self.client.find(Locator::Css(&format!("[name=\"{field}\"]"))).await;
        let input = match by_name {
            Ok(e) => e,
            Err(_) => {
                let xpath = format!(
                    "//label[normalize-space(text())=\"{field}\" or starts-with(normalize-space(.), \"{field}\")]//*[self::input or self::select or self::textarea]"
                );
                self.client.find(Locator::XPath(&xpath)).await.unwrap_or_else(|_| panic!("no field {field:?}"))
            }
        };
        input.clear().await.expect("clear");
        input.send_keys(value).await.expect("type");
    }

    /// Sends the form the last `fill` typed into (the button of the form holding `field`).
    pub async fn submit_form_of(&self, field: &str) {
        let form = self.client.form(Locator::XPath(&format!("//form[.//*[@name=\"{field}\"]]"))).await.expect("form");
        self.mark_page().await;
        form.submit().await.expect("submit");
        self.wait_for_new_page().await;
    }

    /// Clicks the element `css` (a link or a submit button) and waits for the page it leads to.
    pub async fn click_css(&self, css: &str) {
        let e = self.client.find(Locator::Css(css)).await.unwrap_or_else(|_| panic!("no {css:?}"));
        self.mark_page().await;
        e.click().await.expect("click");
        self.wait_for_new_page().await;
    }

    /// Types `value` into the field `css` (cleared first).
    pub async fn fill_css(&self, css: &str, value: &str) {
        let input = self.client.find(Locator::Css(css)).await.unwrap_or_else(|_| panic!("no field {css:?}"));
        input.clear().await.expect("clear");
        input.send_keys(value).await.expect("type");
    }

    /// Whether an element matches `css` on the current page.
    pub async fn has(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    /// The visible text of the element `css`.
    pub async fn text_of(&self, css: &str) -> String {
        self.client.find(Locator::Css(css)).await.unwrap_or_else(|_| panic!("no {css:?}")).text().await.expect("text")
    }

    /// Marks the document shown now, so `wait_for_new_page` knows when another replaced it.
    async fn mark_page(&self) {
        self.client.execute("window.__phLeft = true;", Vec::new()).await.expect("mark the page");
    }

    /// Waits (15 s at most) until the marked document is replaced by a new, loaded one: a
    /// click or a submit returns before the browser got there, and reading the page at once
    /// would read the old one (or a half-loaded one). A form answered on the same URL counts.
    async fn wait_for_new_page(&self) {
        for _ in 0..300 {
            let state = self.client.execute("return window.__phLeft !== true && document.readyState === 'complete';", Vec::new()).await;
            if matches!(state, Ok(Value::Bool(true))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the browser did not leave {} within 15 s", self.path().await);
    }

    /// Signs in through the sign-in form, the way a person does.
    pub async fn sign_in(&self, email: &str, password: &str) {
        self.goto("/sign-in").await;
        self.fill("email", email).await;
        self.fill("password", password).await;
        self.submit_form_of("email").await;
    }

    /// The session cookie's value, if any.
    pub async fn session_cookie(&self) -> Option<String> {
        let cookies = self.client.get_all_cookies().await.expect("cookies");
        cookies.iter().find(|c| c.name().ends_with("ph_session")).map(|c| c.value().to_owned())
    }

    pub async fn resize(&self, (width, height): (u32, u32)) {
        self.client.set_window_size(width, height).await.expect("resize");
    }

    /// A PNG of the viewport into docs/screenshots/`name`.png, only with
    /// `PARTNERHUB_SCREENSHOTS=1` (and never in CI); the PNG is returned either way.
    pub async fn screenshot(&self, name: &str) -> Vec<u8> {
        let png = self.client.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        if std::env::var("PARTNERHUB_SCREENSHOTS").as_deref() == Ok("1") && std::env::var("CI").is_err() {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
            std::fs::create_dir_all(&dir).expect("docs/screenshots");
            std::fs::write(dir.join(format!("{name}.png")), &png).expect("write the screenshot");
        }
        png
    }

    pub async fn close(self) {
        let Browser { client, _driver, _turn, .. } = self;
        let _ = client.close().await;
    }
}

#[tokio::test]
async fn the_landing_page_speaks_french_and_english_and_the_choice_persists() {
    let app = TestApp::spawn().await;
    let Some(b) = Browser::start(&app.url).await else { return };
    // The browser asks for English.
    b.goto("/").await;
    assert_eq!(b.lang().await, "en");
    assert!(b.text().await.contains("Sign in"), "{}", b.text().await);
    b.screenshot("landing-en").await;
    // The switch link says "Français" in French and goes back to the same page.
    b.click_text("Français").await;
    assert_eq!((b.path().await.as_str(), b.lang().await.as_str()), ("/", "fr"));
    b.screenshot("landing-fr").await;
    // The choice outlives a new navigation and beats the browser's Accept-Language.
    b.goto("/sign-in").await;
    assert_eq!(b.lang().await, "fr");
    b.screenshot("sign-in-fr").await;
    b.resize(super::browser::PHONE).await;
    b.screenshot("sign-in-fr-phone").await;
    b.resize(DESKTOP).await;
    b.click_text("English").await;
    assert_eq!((b.path().await.as_str(), b.lang().await.as_str()), ("/sign-in", "en"));
    b.screenshot("sign-in-en").await;
    b.goto("/").await;
    assert_eq!(b.lang().await, "en");
    // The direct link works too.
    b.goto("/lang/fr").await;
    assert_eq!(b.lang().await, "fr");
    b.close().await;
}

#[tokio::test]
async fn the_switch_of_a_signed_in_user_follows_them_to_a_new_browser() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let Some(b) = Browser::start(&app.url).await else { return };
    b.goto("/lang/en").await;
    b.sign_in(&partner.email, PASSWORD).await;
    assert_eq!((b.path().await.as_str(), b.lang().await.as_str()), ("/customers", "en"));
    // Signed in, the switch is a button of a form; it comes back to the same page.
    b.click_css("form[action='/lang/fr'] button").await;
    assert_eq!((b.path().await.as_str(), b.lang().await.as_str()), ("/customers", "fr"));
    // A new browser (no cookie at all) that asks for English: French once signed in.
    b.client.delete_all_cookies().await.expect("forget the cookies");
    b.goto("/lang/en").await;
    b.sign_in(&partner.email, PASSWORD).await;
    assert_eq!((b.path().await.as_str(), b.lang().await.as_str()), ("/customers", "fr"));
    b.close().await;
}

#[tokio::test]
async fn signing_in_goes_home_and_signing_out_ends_the_session_on_the_server() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let Some(b) = Browser::start(&app.url).await else { return };
    // A wrong password: the form again, with a message, and no session.
    b.sign_in(&partner.email, "not the password").await;
    assert_eq!(b.path().await, "/sign-in");
    assert!(b.session_cookie().await.is_none());
    assert!(b.client.find(Locator::Css("[role=alert]")).await.is_ok(), "an error message");
    // The right one: /home, which sends a partner to its customers.
    b.sign_in(&partner.email, PASSWORD).await;
    assert_eq!(b.path().await, "/customers");
    let cookie = b.session_cookie().await.expect("a session cookie");
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let home = |c: String| {
        let http = http.clone();
        let url = format!("{}/home", app.url);
        async move { http.get(url).header("Cookie", format!("ph_session={c}")).send().await.expect("GET /home") }
    };
    let before = home(cookie.clone()).await;
    assert_eq!(before.headers().get("location").and_then(|v| v.to_str().ok()), Some("/customers"), "the cookie works");
    // Signing out (from a page every user has): the landing page, and the old cookie no longer
    // opens anything.
    b.goto("/account/password").await;
    b.click_text("Sign out").await;
    assert_eq!(b.path().await, "/");
    assert!(b.session_cookie().await.is_none(), "the cookie is forgotten");
    let after = home(cookie).await;
    let to = after.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(after.status().is_redirection() && to.starts_with("/sign-in"), "{} {to}", after.status());
    // A signed-out browser asking for a page is sent to sign in, and back after.
    b.goto("/home").await;
    assert_eq!(b.path().await, "/sign-in?next=/home");
    b.fill("email", &partner.email).await;
    b.fill("password", PASSWORD).await;
    b.submit_form_of("email").await;
    assert_eq!(b.path().await, "/customers");
    b.close().await;
}

#[tokio::test]
async fn a_temporary_password_leads_to_changing_it_first() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let (_, email, temporary) = app.created_customer(&partner).await;
    let Some(b) = Browser::start(&app.url).await else { return };
    b.sign_in(&email, &temporary).await;
    assert_eq!(b.path().await, "/account/password");
    // Any other page leads back here until the password is changed.
    b.goto("/home").await;
    assert_eq!(b.path().await, "/account/password");
    b.fill("current_password", &temporary).await;
    b.fill("new_password", PASSWORD).await;
    b.submit_form_of("new_password").await;
    assert_ne!(b.path().await, "/account/password", "{}", b.main_text().await);
    b.goto("/home").await;
    assert_eq!(b.path().await, "/partners");
    b.close().await;
}
