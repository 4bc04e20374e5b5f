//! The portal crawled over plain HTTP (no browser): signed in as a partner admin and as a
//! customer admin over seeded data, every same-site link from /home is followed breadth
//! first, in French and in English, and every page must:
//! - answer no 5xx, also with hostile query strings appended;
//! - say its language in `<html lang>`;
//! - hold no untranslated words: a text shown identically in the French and the English
//!   rendering of the same page, that is not data (names, e-mails, numbers, ids), fails;
//! - show a name holding `<script>` escaped.
//!
//! And every `<form method=post>` sent without its form token, or with a wrong one, answers 403
//! and changes nothing (the audit count and the session stay).
//!
//! The crawler knows no page by name: it checks whatever pages exist.

use crate::portal_html::*;
use crate::support::{PASSWORD, TestApp, unique};
use reqwest::StatusCode;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

const PAGE_LIMIT: usize = 200;

/// Hostile query strings appended to every page.
const HOSTILE: &[&str] = &[
    "q=%00&limit=-1&cursor=%ZZ&sort=<script>&x[]=1",
    "limit=99999999999999999999&offset=-5&page=abc&cursor=&status=%E2%80%AE&lang=xx",
    "next=//evil.example&q=%27%22%3E%3Cscript%3Ealert(1)%3C/script%3E&q=2",
];

/// Words that are the same in French and English on purpose (cognates, the product's
/// name). A text identical in both renderings made only of these is no missing translation.
const SAME_IN_BOTH: &[&str] = &[
    "partnerhub",
    "API",
    "Audit",
    "TOTP",
    "Date",
    "Code",
    "Type",
    "Total",
    "Action",
    "Actions",
    "Message",
    "Description",
    "Options",
    "Option",
    "Version",
    "Invitation",
    "Invitations",
    "Client",
    "Administration",
    "Permissions",
    "Organisation",
    "Source",
    "Note",
    "Notes",
    "Domaine",
    "Licence",
    "Contact",
    "Service",
    "Services",
    "Support",
    "Format",
    "Application",
    "Sessions",
    "Session",
    "Important",
    "Instructions",
    "Destination",
    "Confirmation",
    "Identification",
    "Information",
    "ID",
    "EUR",
    "USD",
    "CSV",
    "JSON",
    "URL",
    "SKU",
    "MFA",
    "OK",
    "·",
    "—",
    "–",
    "/",
    ":",
    "×",
    "…",
];

/// A cookie-keeping client that follows redirects itself (so it sees every `Set-Cookie`).
pub struct Agent {
    http: reqwest::Client,
    pub base: String,
    pub cookies: BTreeMap<String, String>,
}

pub struct Page {
    pub status: StatusCode,
    /// The path the last redirect led to.
    pub path: String,
    pub content_type: String,
    pub body: String,
}

impl Agent {
    pub fn new(base: &str) -> Self {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Agent { http, base: base.to_owned(), cookies: BTreeMap::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep_cookies(&mut self, res: &reqwest::Response) {
        for v in res.headers().get_all(reqwest::header::SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            let first = v.split(';').next().unwrap_or_default();
            let Some((name, value)) = first.split_once('=') else { continue };
            let expired = v.to_ascii_lowercase().contains("max-age=0");
            if expired || value.is_empty() {
                self.cookies.remove(name.trim());
            } else {
                self.cookies.insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
    }

    async fn send(&mut self, method: reqwest::Method, path: &str, form: Option<&[(String, String)]>) -> Page {
        let mut method = method;
        let mut path = path.to_owned();
        let mut form = form.map(<[_]>::to_vec);
        for _ in 0..10 {
            let mut req = self.http.request(method.clone(), format!("{}{path}", self.base)).header("Cookie", self.cookie_header());
            if let Some(f) = &form {
                req = req.form(f);
            }
            let res = req.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
            self.keep_cookies(&res);
            let status = res.status();
            if status.is_redirection()
                && let Some(to) = res.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok())
            {
                assert!(to.starts_with('/') && !to.starts_with("//"), "{path} redirects off site to {to}");
                path = to.to_owned();
                method = reqwest::Method::GET;
                form = None;
                continue;
            }
            let content_type =
                res.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            let body = res.text().await.unwrap_or_default();
            return Page { status, path, content_type, body };
        }
        panic!("too many redirects from {path}");
    }

    pub async fn get(&mut self, path: &str) -> Page {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&mut self, path: &str, form: &[(String, String)]) -> Page {
        self.send(reqwest::Method::POST, path, Some(form)).await
    }

    /// Signs in through the sign-in form; panics unless a session cookie came back.
    pub async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let form = [("email", email), ("password", password), ("next", "/home")].map(|(k, v)| (k.to_owned(), v.to_owned()));
        let page = self.post("/sign-in", &form).await;
        assert!(self.cookies.keys().any(|k| k.ends_with("ph_session")), "signed in as {email}: {} {}", page.status, page.path);
        page
    }

    pub fn set_lang(&mut self, lang: &str) {
        self.cookies.insert("ph_lang".to_owned(), lang.to_owned());
    }
}

// ---------- the checks ----------

/// Is this text data (names, e-mails, numbers, ids) or a word the same in both languages?
fn is_data_or_shared(text: &str, data: &[String]) -> bool {
    // A JSON document (an audit record's details) is data.
    if (text.starts_with('{') || text.starts_with('[')) && serde_json::from_str::<serde_json::Value>(text).is_ok() {
        return true;
    }
    let mut t = text.to_owned();
    // Longest first, so a name is removed before a part of it.
    let mut data: Vec<&String> = data.iter().collect();
    data.sort_by_key(|d| std::cmp::Reverse(d.len()));
    for d in data {
        t = t.replace(d.as_str(), " ");
    }
    t.split(|c: char| c.is_whitespace() || matches!(c, ',' | '(' | ')' | '[' | ']' | '·' | '|' | '"' | '«' | '»'))
        .filter(|w| !w.is_empty())
        .all(|w| {
            let bare = w.trim_matches(|c: char| c.is_ascii_punctuation());
            !bare.chars().any(char::is_alphabetic)
                || bare.contains('@')
                || uuid::Uuid::parse_str(bare).is_ok()
                || bare.chars().filter(char::is_ascii_digit).count() * 2 >= bare.chars().count()
                || SAME_IN_BOTH.iter().any(|s| s.eq_ignore_ascii_case(bare) || s.eq_ignore_ascii_case(w))
        })
}

struct Crawl {
    /// path → status and body, per language.
    pages: BTreeMap<String, HashMap<&'static str, Page>>,
}

/// Breadth first from /home (and the account pages, reachable from every page's frame once
/// the pages exist), each page fetched in French and in English.
async fn crawl(agent: &mut Agent) -> Crawl {
    let start = ["/home", "/account/password"].map(str::to_owned);
    let mut seen: BTreeSet<String> = start.iter().cloned().collect();
    let mut queue = VecDeque::from(start);
    let mut pages: BTreeMap<String, HashMap<&'static str, Page>> = BTreeMap::new();
    while let Some(path) = queue.pop_front() {
        if pages.len() >= PAGE_LIMIT {
            break;
        }
        let mut both = HashMap::new();
        for lang in ["fr", "en"] {
            agent.set_lang(lang);
            let page = agent.get(&path).await;
            assert!(page.status.as_u16() < 500, "{lang} {path} → {} {}: {}", page.path, page.status, page.body);
            both.insert(lang, page);
        }
        let fr = &both["fr"];
        let key = fr.path.clone();
        for link in links(&fr.body) {
            let skip = link.starts_with("/lang/") || link.starts_with("/assets/") || link == "/sign-out" || link.starts_with("/api");
            if !skip && seen.insert(link.clone()) {
                queue.push_back(link);
            }
        }
        pages.entry(key).or_insert(both);
    }
    assert!(!pages.is_empty(), "nothing crawled");
    Crawl { pages }
}

fn check_languages(crawl: &Crawl, data: &[String]) {
    let mut suspicious = Vec::new();
    for (path, both) in &crawl.pages {
        let (fr, en) = (&both["fr"], &both["en"]);
        if !fr.content_type.starts_with("text/html") {
            continue;
        }
        assert_eq!(html_lang(&fr.body).as_deref(), Some("fr"), "{path}: <html lang> in French");
        assert_eq!(html_lang(&en.body).as_deref(), Some("en"), "{path}: <html lang> in English");
        if fr.path != en.path || fr.status != en.status {
            // Not the same page in both languages (a redirect that depends on time): no comparison.
            continue;
        }
        let en_texts: BTreeSet<String> = visible_texts(&en.body).into_iter().collect();
        for t in visible_texts(&fr.body) {
            if en_texts.contains(&t) && !is_data_or_shared(&t, data) {
                suspicious.push(format!("{path}: {t:?}"));
            }
        }
    }
    suspicious.sort();
    suspicious.dedup();
    assert!(
        suspicious.is_empty(),
        "texts shown the same in French and English (untranslated? add real cognates to SAME_IN_BOTH):\n{}",
        suspicious.join("\n")
    );
}

fn check_escaped(crawl: &Crawl) {
    for (path, both) in &crawl.pages {
        // Only HTML is rendered as markup (a CSV export holds names as they are).
        for page in both.values().filter(|p| p.content_type.starts_with("text/html")) {
            let lower = page.body.to_ascii_lowercase();
            assert!(!lower.contains("<script>alert"), "{path}: a raw <script> from data");
            assert!(!page.body.contains('\u{202E}'), "{path}: a raw U+202E");
        }
    }
}

async fn check_hostile_queries(agent: &mut Agent, crawl: &Crawl) {
    for path in crawl.pages.keys() {
        for q in HOSTILE {
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = format!("{path}{sep}{q}");
            let page = agent.get(&url).await;
            assert!(page.status.as_u16() < 500, "{url} → {}: {}", page.status, page.body);
            if !page.content_type.starts_with("text/html") {
                continue;
            }
            assert!(!page.body.to_ascii_lowercase().contains("<script>alert"), "{url} echoes a raw <script>");
            assert!(!page.body.contains('\u{202E}'), "{url} echoes a raw U+202E");
        }
    }
}

/// Every POST form, sent without its token and with a wrong one: 403, and nothing changes.
async fn check_forms_need_the_token(app: &TestApp, agent: &mut Agent, crawl: &Crawl) -> usize {
    let mut forms = BTreeMap::new();
    for (path, both) in &crawl.pages {
        for f in post_forms(&both["fr"].body, path) {
            // Every POST form of a signed-in page carries the token (sign-in has no session yet).
            assert!(
                f.action.starts_with("/sign-in") || f.fields.iter().any(|(k, _)| k == "csrf"),
                "{path}: a form to {} without a form token",
                f.action
            );
            if f.fields.iter().any(|(k, _)| k == "csrf") {
                forms.entry((f.action.clone(), f.fields.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>())).or_insert(f);
            }
        }
    }
    let session = agent.cookies.clone();
    for f in forms.values() {
        let without: Vec<_> = f.fields.iter().filter(|(k, _)| k != "csrf").cloned().collect();
        let mut wrong = without.clone();
        wrong.push(("csrf".to_owned(), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned()));
        for fields in [without, wrong] {
            let before = app.raw.i64("SELECT count(*) FROM audit_records").await;
            let page = agent.post(&f.action, &fields).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "POST {} {fields:?} without a good form token", f.action);
            let after = app.raw.i64("SELECT count(*) FROM audit_records").await;
            assert_eq!(before, after, "POST {} changed something", f.action);
            assert_eq!(agent.cookies, session, "POST {} touched the session cookie", f.action);
        }
    }
    // Still signed in.
    let home = agent.get("/home").await;
    assert!(!home.path.starts_with("/sign-in"), "the session survived the refused forms");
    forms.len()
}

const HOSTILE_NAME: &str = "Evil <script>alert(1)</script> & Co";

struct Seeded {
    partner_email: String,
    customer_email: String,
    data: Vec<String>,
}

/// A direct partner with a connected customer, an order, a customer user, and names that try
/// to be markup.
async fn seed(app: &TestApp) -> Seeded {
    let partner = app.partner("direct").await;
    let customer = app.connected_customer(&partner).await;
    let offer_name = unique("Office Suite ");
    let offer = app.offer(&offer_name).await;
    app.order(&partner.token, &customer.id, &offer, 3, None).await;
    let (user_email, _) = app.user_with_email(&customer, &["billing_admin"]).await;
    // A user and a customer whose names are markup.
    let hostile_user = format!("{}@{}", unique("h"), customer.email.split('@').nth(1).expect("domain"));
    let (s, b) = app
        .post(
            "/api/v1/users",
            Some(&customer.token),
            json!({"email": hostile_user, "display_name": HOSTILE_NAME, "password": PASSWORD, "roles": ["billing_admin"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let name = unique("hostile");
    let (s, b) = app
        .post(
            "/api/v1/customers",
            Some(&partner.token),
            json!({"name": format!("{HOSTILE_NAME} {name}"), "domain": format!("{name}.example"), "admin": {"email": format!("ga@{name}.example"), "display_name": HOSTILE_NAME}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // A name with a bidi override is refused at the door, so no page can show one.
    let bidi = unique("bidi");
    let (s, b) = app
        .post(
            "/api/v1/customers",
            Some(&partner.token),
            json!({"name": "Fabrikam\u{202E}moc.evil", "domain": format!("{bidi}.example"), "admin": {"email": format!("ga@{bidi}.example"), "display_name": "Bidi\u{202E}"}}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    // What the pages may show as is in both languages: every name and e-mail of the seed.
    let mut data = vec![offer_name, HOSTILE_NAME.to_owned(), "Ada".to_owned(), "Grace".to_owned(), "Someone".to_owned()];
    for token in [&partner.token, &customer.token] {
        let (_, me) = app.get("/api/v1/me", token).await;
        for k in ["name", "domain"] {
            data.extend(me["organization"][k].as_str().map(str::to_owned));
        }
        data.extend(me["organization"]["partner_id"].as_str().map(str::to_owned));
    }
    let emails = [partner.email.clone(), customer.email.clone(), user_email, hostile_user, format!("ga@{name}.example")];
    // The domains, as the pages show them beside names.
    data.extend(emails.iter().filter_map(|e| e.split_once('@').map(|(_, d)| d.to_owned())));
    data.extend(emails);
    data.push(partner.partner_id.clone());
    data.push(name);
    Seeded { partner_email: partner.email, customer_email: customer.email, data }
}

async fn crawl_as(app: &TestApp, email: &str, data: &[String]) {
    let mut agent = Agent::new(&app.url);
    agent.sign_in(email, PASSWORD).await;
    let crawl = crawl(&mut agent).await;
    eprintln!("crawled as {email}: {:?}", crawl.pages.keys().collect::<Vec<_>>());
    check_escaped(&crawl);
    check_hostile_queries(&mut agent, &crawl).await;
    let forms = check_forms_need_the_token(app, &mut agent, &crawl).await;
    // At least sign-out is a form on every signed-in page.
    assert!(forms >= 1, "no POST form found");
    // Last: its report lists every untranslated text at once.
    check_languages(&crawl, data);
}

#[tokio::test]
async fn every_page_a_partner_admin_reaches_is_translated_safe_and_guarded() {
    let app = TestApp::spawn().await;
    let seeded = seed(&app).await;
    crawl_as(&app, &seeded.partner_email, &seeded.data).await;
    app.verify_audit().await;
}

#[tokio::test]
async fn every_page_a_customer_admin_reaches_is_translated_safe_and_guarded() {
    let app = TestApp::spawn().await;
    let seeded = seed(&app).await;
    crawl_as(&app, &seeded.customer_email, &seeded.data).await;
    app.verify_audit().await;
}

#[tokio::test]
async fn the_public_pages_are_translated_and_take_hostile_queries() {
    let app = TestApp::spawn().await;
    let mut agent = Agent::new(&app.url);
    let mut crawl = Crawl { pages: BTreeMap::new() };
    for path in ["/", "/sign-in", "/sign-in?next=%2Fcustomers"] {
        let mut both = HashMap::new();
        for lang in ["fr", "en"] {
            agent.set_lang(lang);
            both.insert(lang, agent.get(path).await);
        }
        crawl.pages.insert(path.to_owned(), both);
    }
    check_languages(&crawl, &[]);
    check_escaped(&crawl);
    check_hostile_queries(&mut agent, &crawl).await;
}

#[test]
fn the_checker_finds_an_untranslated_text_and_lets_data_through() {
    let data = vec!["Contoso Ltd".to_owned(), "ga@contoso.example".to_owned()];
    assert!(!is_data_or_shared("Save changes", &data), "English left in French is caught");
    assert!(!is_data_or_shared("Customers of Contoso Ltd", &data));
    assert!(is_data_or_shared("Contoso Ltd", &data));
    assert!(is_data_or_shared("ga@contoso.example · 12", &data));
    assert!(is_data_or_shared("3f2504e0-4f89-11d3-9a0c-0305e82c3301", &data));
    assert!(is_data_or_shared("Audit", &data));
    assert!(is_data_or_shared("{\"email\":\"a@b.example\",\"roles\":[\"billing_admin\"]}", &data));
    assert!(!is_data_or_shared("organization 3f2504e0-4f89-11d3-9a0c-0305e82c3301", &data), "an English word beside an id");
    let html = "<html lang=\"fr\"><title>Clients · partnerhub</title><a href=\"/lang/en\">English</a>\
                <p title=\"Aide\">Bonjour &amp; <b>Contoso&#39;s</b></p><script>var x = '<p>no</p>';</script>\
                <form method=\"post\" action=\"/x\"><input type=\"hidden\" name=\"csrf\" value=\"t\"><input name=\"q\"></form>";
    assert_eq!(html_lang(html).as_deref(), Some("fr"));
    assert_eq!(visible_texts(html), ["Clients · partnerhub", "Aide", "Bonjour &", "Contoso's"]);
    assert_eq!(links(html), ["/lang/en"]);
    let forms = post_forms(html, "/");
    assert_eq!(forms.len(), 1);
    assert_eq!(forms[0].action, "/x");
    assert_eq!(forms[0].fields, [("csrf".to_owned(), "t".to_owned()), ("q".to_owned(), "x".to_owned())]);
}
