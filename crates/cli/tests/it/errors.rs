//! Bad input gets a clear problem+json error and changes nothing; never a 5xx, never a panic.

use crate::support::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The field the first error of a 422 names.
fn field(b: &Value) -> &str {
    b["errors"][0]["field"].as_str().unwrap_or("<no field>")
}

/// The status, `Content-Type` and body of a request.
async fn raw(req: reqwest::RequestBuilder) -> (StatusCode, String, reqwest::header::HeaderMap, String) {
    let res = req.send().await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    let ct = headers.get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, ct, headers, res.text().await.unwrap())
}

#[tokio::test]
async fn bodies_over_one_mebibyte_are_refused_with_413() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let big = json!({"subject": "s", "body": "x".repeat(1024 * 1024 + 1)});
    let (s, b) = app.call(Method::POST, "/api/v1/invitations", Some(&partner.token), Some(big)).await;
    assert_eq!((s, code(&b)), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
}

#[tokio::test]
async fn malformed_and_mistyped_bodies_are_400_and_422() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let res =
        app.client.post(format!("{}/api/v1/invitations", app.url)).bearer_auth(&partner.token).body("{not json").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let b: serde_json::Value = res.json().await.unwrap();
    assert_eq!(code(&b), "malformed_request");
    let (s, b) = app.post("/api/v1/invitations", Some(&partner.token), json!({"duration_days": "a year"})).await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"));
    assert_eq!(field(&b), "duration_days", "{b}");
    let (s, b) = app.post("/api/v1/operator/partners", Some(OPERATOR), json!({"name": "x"})).await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"));
    assert_eq!(b["errors"][0]["field"], "partner_type");
    let (s, b) = app.get("/api/v1/customers/not-a-uuid", &partner.token).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));
    let (s, b) = app.get("/api/v1/nothing-here", &partner.token).await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));
    for q in ["limit=0", "limit=501", "limit=ten", "cursor=zz", "cursor=00"] {
        let (s, b) = app.get(&format!("/api/v1/customers?{q}"), &partner.token).await;
        assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{q}");
    }
    let (s, _) = app.get("/api/v1/audit?since=yesterday", &partner.token).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = app.get("/api/v1/invitations?state=lost", &partner.token).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.get("/api/v1/invitations", &partner.token).await.1["total"], 0, "nothing was written");
}

#[tokio::test]
async fn no_garbage_body_makes_any_route_answer_5xx() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let id = uuid::Uuid::now_v7();
    let routes = [
        "/api/v1/operator/partners",
        "/api/v1/operator/provider-links",
        "/api/v1/auth/token",
        "/api/v1/signup",
        "/api/v1/users",
        "/api/v1/providers",
        "/api/v1/customers",
        "/api/v1/invitations",
        "/api/v1/invitations/preview",
        "/api/v1/invitations/accept",
        "/api/v1/invitations/decline",
    ];
    let bodies = [
        "",
        "null",
        "[]",
        "0",
        "\"s\"",
        "{}",
        "{\"a\":",
        "{\"email\": []}",
        "{\"token\": 5}",
        "{\"token\": \"\u{0}\"}",
        "{\"name\": \"\u{202e}\", \"domain\": \"a..b\", \"partner_type\": \"x\", \"partner_id\": \"\", \"admin\": {}}",
        "{\"organization\": {\"name\": \"x\", \"domain\": \"y.example\"}, \"admin\": {\"email\": \"a@y.example\", \"display_name\": \"\", \"password\": \"\"}}",
        "{\"customer_id\": \"00000000-0000-0000-0000-000000000000\", \"roles\": [1]}",
        "{\"duration_days\": 1e308}",
        "{\"duration_days\": -9223372036854775808}",
    ];
    for route in routes {
        for body in bodies {
            for token in [None, Some(partner.token.as_str()), Some(OPERATOR)] {
                let mut req = app.client.post(format!("{}{route}", app.url)).body(body.to_owned());
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                let res = req.send().await.unwrap();
                assert!(res.status().as_u16() < 500, "{route} {body:?} -> {}", res.status());
            }
        }
    }
    for path in [format!("/api/v1/invitations/{id}/email"), format!("/api/v1/users/{id}")] {
        let (s, _) = app.call(Method::PUT, &path, Some(&partner.token), Some(json!({"subject": 1}))).await;
        assert!(s.as_u16() < 500);
    }
}

#[tokio::test]
async fn failed_sign_ins_are_rate_limited_with_retry_after() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    for _ in 0..5 {
        let (s, b) = app.post("/api/v1/auth/token", None, json!({"email": partner.email, "password": "wrong password!"})).await;
        assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    }
    let res = app
        .client
        .post(format!("{}/api/v1/auth/token", app.url))
        .json(&json!({"email": partner.email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "even the right password waits");
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry));
    app.clock.advance(time::Duration::minutes(15));
    app.sign_in(&partner.email, PASSWORD).await;
    // An unknown e-mail gets the same answer as a wrong password.
    let (s, b) = app.post("/api/v1/auth/token", None, json!({"email": "nobody@nowhere.example", "password": "whatever it is"})).await;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "unauthenticated"));
}

#[tokio::test]
async fn guessing_invitation_tokens_is_rate_limited() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let inv = app.invite(&partner, json!({})).await;
    for i in 0..30 {
        let (s, _) = app.post("/api/v1/invitations/preview", None, json!({"token": format!("guess-{i}")})).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    let (s, b) = app.post("/api/v1/invitations/preview", None, json!({"token": token_of(&inv)})).await;
    assert_eq!((s, code(&b)), (StatusCode::TOO_MANY_REQUESTS, "rate_limited"));
    app.clock.advance(time::Duration::minutes(10));
    assert_eq!(app.post("/api/v1/invitations/preview", None, json!({"token": token_of(&inv)})).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_operator_routes_need_the_operator_token() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let body = json!({"name": "X", "partner_type": "direct", "partner_id": "9", "domain": "x9.example", "admin": {"email": "a@x9.example", "display_name": "A", "password": PASSWORD}});
    for token in [None, Some(partner.token.as_str()), Some("operator-token-for-test")] {
        let (s, b) = app.post("/api/v1/operator/partners", token, body.clone()).await;
        assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    }
    let (s, _) = app.post("/api/v1/operator/partners", Some(OPERATOR), body.clone()).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, b) = app.post("/api/v1/operator/partners", Some(OPERATOR), body).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, "conflict"));
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = TestApp::spawn().await;
    for (path, want) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let res = app.client.get(format!("{}{path}", app.url)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.text().await.unwrap(), want);
    }
    let text = app.client.get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("partnerhub_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"), "{text}");
    assert!(text.contains("partnerhub_http_request_duration_seconds_bucket{route=\"/readyz\",le=\"+Inf\"} 1"));
}

#[tokio::test]
async fn nul_characters_are_a_client_mistake_on_every_backend() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let inv = app.invite(&partner, json!({})).await;
    let url = inv["url"].as_str().unwrap();
    let path = format!("/api/v1/invitations/{}/email", inv["id"].as_str().unwrap());
    let (s, b) = app.call(Method::PUT, &path, Some(&partner.token), Some(json!({"subject": "s", "body": format!("{url} \u{0}")}))).await;
    assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"));
    let nul_cursor = hex_of(&format!("\0\u{1f}{}", uuid::Uuid::now_v7()));
    for q in ["q=%00", "q=a%00b", &format!("cursor={nul_cursor}")] {
        let (s, b) = app.get(&format!("/api/v1/customers?{q}"), &partner.token).await;
        assert_eq!((s, code(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{q}");
    }
    let (s, _) = app.get("/api/v1/audit?action=a%00", &partner.token).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let reseller = app.partner("indirect_reseller").await;
    let (s, _) = app.post("/api/v1/providers", Some(&reseller.token), json!({"provider_partner_id": "41\u{0}"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    for body in [json!({"email": "a\u{0}@x.example", "password": "p"}), json!({"token": "\u{0}"})] {
        for route in ["/api/v1/auth/token", "/api/v1/invitations/preview"] {
            let (s, _) = app.post(route, None, body.clone()).await;
            assert!(s.is_client_error(), "{route} {body} -> {s}");
        }
    }
}

fn hex_of(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// RFC 6750: every 401 says how to authenticate, whether the token is missing, unknown or
/// the credentials wrong; other refusals do not.
#[tokio::test]
async fn every_401_carries_www_authenticate_bearer() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let client = reqwest::Client::new();
    let cases = [
        client.get(format!("{}/api/v1/me", app.url)),
        client.get(format!("{}/api/v1/customers", app.url)).bearer_auth("not-a-token"),
        client.post(format!("{}/api/v1/auth/token", app.url)).json(&json!({"email": partner.email, "password": "wrong wrong wrong"})),
    ];
    for req in cases {
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let h = res.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(h.as_deref(), Some("Bearer realm=\"partnerhub\""));
    }
    let unknown = format!("{}/api/v1/customers/00000000-0000-4000-8000-000000000000", app.url);
    let res = client.get(unknown).bearer_auth(&partner.token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(res.headers().get("www-authenticate").is_none());
}

#[tokio::test]
async fn unknown_fields_are_refused_by_their_path_and_nothing_is_created() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let before = app.customer_ids(&partner).await;
    // `POST /customers` takes no password: the server makes a temporary one.
    let with_password = json!({"name": "Contoso", "domain": "contoso-unknown.example",
        "admin": {"email": "ga@contoso-unknown.example", "display_name": "Ada", "password": "chosen by the client"}});
    let (s, b) = app.post("/api/v1/customers", Some(&partner.token), with_password).await;
    assert_eq!((s, code(&b), field(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "admin.password"), "{b}");
    let top = json!({"name": "Contoso", "domain": "contoso-unknown.example", "notes": "vip",
        "admin": {"email": "ga@contoso-unknown.example", "display_name": "Ada"}});
    let (s, b) = app.post("/api/v1/customers", Some(&partner.token), top).await;
    assert_eq!((s, field(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "notes"), "{b}");
    assert_eq!(app.customer_ids(&partner).await, before, "no customer was created");
    // A misspelt field is not the default silently: `duration_day` is no `duration_days`.
    let (s, b) = app.post("/api/v1/invitations", Some(&partner.token), json!({"duration_day": 10})).await;
    assert_eq!((s, field(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "duration_day"), "{b}");
    assert!(b["errors"][0]["message"].as_str().unwrap().contains("unknown field"), "{b}");
    assert_eq!(app.get("/api/v1/invitations", &partner.token).await.1["total"], 0, "no invitation was created");
    // Sign-in: an unknown field is refused before any password is checked.
    let (s, b) = app.post("/api/v1/auth/token", None, json!({"email": partner.email, "password": PASSWORD, "remember": true})).await;
    assert_eq!((s, field(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "remember"), "{b}");
}

#[tokio::test]
async fn wrong_types_are_named_by_their_path_and_nothing_is_ordered() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let customer = app.connected_customer(&partner).await;
    let offer = app.offer("Mail Basic").await;
    let path = format!("/api/v1/customers/{}/orders", customer.id);
    let cases = [
        (json!({"items": [{"offer_id": offer, "quantity": "ten"}]}), "items[0].quantity"),
        (json!({"items": [{"offer_id": offer, "quantity": 1}, {"offer_id": offer, "quantity": 1.5}]}), "items[1].quantity"),
        (json!({"items": [{"offer_id": offer, "quantity": 1, "price_cents": 1}]}), "items[0].price_cents"),
        (json!({"items": [{"offer_id": offer}]}), "items[0].quantity"),
        (json!({"items": [[offer, 1]]}), "items[0]"),
        (json!({"items": {"offer_id": offer, "quantity": 1}}), "items"),
        (json!({"items": [{"offer_id": offer, "quantity": 1}], "reseller_id": 7}), "reseller_id"),
    ];
    for (body, want) in cases {
        let (s, b) = app.post(&path, Some(&partner.token), body.clone()).await;
        assert_eq!((s, code(&b), field(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", want), "{body} -> {b}");
    }
    let (s, b) = app.get(&format!("/api/v1/customers/{}/subscriptions", customer.id), &partner.token).await;
    assert_eq!((s, &b["total"]), (StatusCode::OK, &json!(0)), "nothing was ordered: {b}");
    let (s, b) = app.post("/api/v1/invitations", Some(&partner.token), json!({"duration_days": "ten"})).await;
    assert_eq!((s, field(&b)), (StatusCode::UNPROCESSABLE_ENTITY, "duration_days"), "{b}");
    // The same fields, of the right types, are taken.
    app.order(&partner.token, &customer.id, &offer, 2, None).await;
}

#[tokio::test]
async fn a_body_that_is_json_but_not_an_object_is_refused_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    for body in ["[]", "[{}]", "3", "\"x\"", "null", "true"] {
        let req = app.client.post(format!("{}/api/v1/invitations", app.url)).bearer_auth(&partner.token).body(body);
        let (s, ct, _, text) = raw(req.header("content-type", "application/json")).await;
        assert_eq!((s, ct.as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "application/problem+json"), "{body}: {text}");
        let b: Value = serde_json::from_str(&text).unwrap();
        assert_eq!((code(&b), field(&b)), ("validation_failed", "body"), "{body}: {b}");
    }
    for body in ["", "[", "{\"roles\": [", "{} {}", "nul"] {
        let req = app.client.post(format!("{}/api/v1/invitations", app.url)).bearer_auth(&partner.token).body(body);
        let (s, ct, _, text) = raw(req).await;
        assert_eq!((s, ct.as_str()), (StatusCode::BAD_REQUEST, "application/problem+json"), "{body:?}: {text}");
        assert!(text.contains("malformed_request"), "{text}");
    }
    assert_eq!(app.get("/api/v1/invitations", &partner.token).await.1["total"], 0, "no invitation was created");
}

#[tokio::test]
async fn unknown_api_paths_wrong_methods_and_long_uris_are_problem_json() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let url = |p: &str| format!("{}{p}", app.url);
    let problem = |ct: &str, text: &str| {
        assert_eq!(ct, "application/problem+json", "{text}");
        serde_json::from_str::<Value>(text).unwrap()
    };
    let (s, ct, _, text) = raw(app.client.get(url("/api/v1/nothing-here")).bearer_auth(&partner.token)).await;
    assert_eq!((s, code(&problem(&ct, &text))), (StatusCode::NOT_FOUND, "not_found"));
    // Without a token too: an unknown path is not a question of who asks.
    let (s, ct, _, text) = raw(app.client.post(url("/api/v2/customers"))).await;
    assert_eq!((s, code(&problem(&ct, &text))), (StatusCode::NOT_FOUND, "not_found"));

    for (method, path, allow) in [
        (reqwest::Method::DELETE, "/api/v1/invitations", "GET,HEAD,POST"),
        (reqwest::Method::PUT, "/api/v1/customers/00000000-0000-4000-8000-000000000000", "GET,HEAD"),
        (reqwest::Method::GET, "/api/v1/auth/token", "POST,DELETE"),
        (reqwest::Method::PATCH, "/api/openapi.json", "GET,HEAD"),
    ] {
        let (s, ct, headers, text) = raw(app.client.request(method.clone(), url(path)).bearer_auth(&partner.token)).await;
        let b = problem(&ct, &text);
        assert_eq!((s, code(&b)), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"), "{method} {path}");
        let mut got: Vec<_> = headers["allow"].to_str().unwrap().split(',').map(|m| m.trim().to_owned()).collect();
        let mut want: Vec<_> = allow.split(',').map(str::to_owned).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{method} {path}");
    }

    let long = format!("/api/v1/customers?q={}", "a".repeat(partnerhub_web::MAX_URI_LEN));
    let (s, ct, _, text) = raw(app.client.get(url(&long)).bearer_auth(&partner.token)).await;
    assert_eq!((s, code(&problem(&ct, &text))), (StatusCode::URI_TOO_LONG, "uri_too_long"));
    // Just within the limit is answered as usual.
    let within = format!("/api/v1/me?pad={}", "a".repeat(partnerhub_web::MAX_URI_LEN - "/api/v1/me?pad=".len()));
    assert_eq!(app.get(&within, &partner.token).await.0, StatusCode::OK);

    // The portal's paths answer the portal's pages, in the reader's language.
    for (method, path, status) in [
        (reqwest::Method::GET, "/nothing-here".to_owned(), StatusCode::NOT_FOUND),
        (reqwest::Method::DELETE, "/sign-in".to_owned(), StatusCode::METHOD_NOT_ALLOWED),
        (reqwest::Method::GET, format!("/customers?q={}", "a".repeat(partnerhub_web::MAX_URI_LEN)), StatusCode::URI_TOO_LONG),
    ] {
        let (s, ct, headers, text) = raw(app.client.request(method, url(&path)).header("accept-language", "fr")).await;
        assert_eq!(s, status, "{text}");
        assert!(ct.starts_with("text/html"), "{ct}");
        assert!(text.contains("<html lang=\"fr\""), "{text}");
        if s == StatusCode::METHOD_NOT_ALLOWED {
            assert!(headers["allow"].to_str().unwrap().contains("POST"));
        }
    }
}

#[tokio::test]
async fn a_portal_form_or_query_that_does_not_decode_gets_the_portal_page_in_the_readers_language() {
    let app = TestApp::spawn().await;
    let partner = app.partner("direct").await;
    let html_in = |ct: &str, text: &str, lang: &str, words: &str| {
        assert!(ct.starts_with("text/html"), "{ct}: {text}");
        assert!(text.contains(&format!("<html lang=\"{lang}\"")), "{text}");
        assert!(text.contains(words), "{text}");
    };
    // Signed out: the sign-in form without its fields, in the browser's language.
    let req = app.client.post(format!("{}/sign-in", app.url)).header("accept-language", "fr").form(&[("next", "/home")]);
    let (s, ct, _, text) = raw(req).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{text}");
    html_in(&ct, &text, "fr", "Certaines valeurs ne sont pas valides");

    // Signed in, the user's own language wins over the browser's: they chose French.
    let cookie = format!("ph_session={}", partner.token);
    let page = app.client.get(format!("{}/invitations", app.url)).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).and_then(|r| r.split('"').next()).unwrap().to_owned();
    let no_redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = no_redirect.post(format!("{}/lang/fr", app.url)).header("cookie", &cookie).form(&[("csrf", &csrf)]).send().await.unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    // A form posted as JSON: not a form (415).
    let req = app
        .client
        .post(format!("{}/invitations", app.url))
        .header("cookie", &cookie)
        .header("accept-language", "en")
        .json(&json!({"csrf": csrf}));
    let (s, ct, _, text) = raw(req).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{text}");
    html_in(&ct, &text, "fr", "Certaines valeurs ne sont pas valides");
    // A query string that does not decode (a field twice), a path that is not UTF-8.
    for path in ["/customers?q=a&q=b", "/customers/%FF%FE"] {
        let req = app.client.get(format!("{}{path}", app.url)).header("cookie", &cookie).header("accept-language", "en");
        let (s, ct, _, text) = raw(req).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {text}");
        html_in(&ct, &text, "fr", "Certaines valeurs ne sont pas valides");
    }
    assert_eq!(app.get("/api/v1/invitations", &partner.token).await.1["total"], 0, "nothing was created");
}
