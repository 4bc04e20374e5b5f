//! The operator's HTTP client: the bearer from the environment, JSON in and out, every page of
//! a list, and failures turned into one or two lines a person can act on.

use partnerhub_api_types::Problem;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::fmt;
use std::time::Duration;

/// The environment variable the operator token is read from; never a flag, since flags show
/// in `ps` and in shell history.
pub const TOKEN_ENV: &str = "PARTNERHUB_OPERATOR_TOKEN";

/// A failed command: the message is printed as it is, and the process exits 1.
#[derive(Debug)]
pub struct Failure(pub String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub fn fail<T>(message: impl Into<String>) -> Result<T, Failure> {
    Err(Failure(message.into()))
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

/// The operator token from the environment, or what to do about its absence.
pub fn operator_token() -> Result<String, Failure> {
    match std::env::var(TOKEN_ENV) {
        Ok(t) if !t.trim().is_empty() => Ok(t),
        _ => fail(format!(
            "error: {TOKEN_ENV} is not set: the admin commands authenticate with the server's operator token\n  \
             set it in the environment first, e.g. `read -rs {TOKEN_ENV} && export {TOKEN_ENV}` (never as a flag)"
        )),
    }
}

impl Client {
    /// A client of the server at `url`, authenticating with `token`.
    pub fn new(url: &str, token: String) -> Result<Self, Failure> {
        let base = url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return fail(format!("error: --url must start with http:// or https:// (got '{url}')"));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("partnerhub-admin/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Failure(format!("error: cannot set up the HTTP client: {e}")))?;
        Ok(Self { http, base, token })
    }

    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, Failure> {
        self.send(self.http.request(Method::GET, self.url(path)).query(query)).await
    }

    pub async fn post(&self, path: &str, body: &impl serde::Serialize) -> Result<Value, Failure> {
        self.send(self.http.request(Method::POST, self.url(path)).json(body)).await
    }

    /// Every item of a list, following `next_cursor` to the end, as one list answer.
    pub async fn list_all(&self, path: &str) -> Result<Value, Failure> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("limit", "500")];
            if let Some(c) = cursor.as_deref() {
                query.push(("cursor", c));
            }
            let page = self.get(path, &query).await?;
            let (Some(Value::Array(got)), Some(next)) = (page.get("items"), page.get("next_cursor")) else {
                return fail(format!("error: the server's answer to GET {path} is not a list"));
            };
            items.extend(got.iter().cloned());
            match next.as_str() {
                Some(n) if got.is_empty() || cursor.as_deref() == Some(n) => {
                    return fail(format!("error: the server's paging of GET {path} does not advance"));
                }
                Some(n) => cursor = Some(n.to_owned()),
                None => {
                    let total = items.len();
                    return Ok(json!({"items": items, "next_cursor": null, "total": total}));
                }
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value, Failure> {
        let res = req.bearer_auth(&self.token).send().await.map_err(|e| self.unreachable(&e))?;
        let status = res.status();
        let body = res.bytes().await.map_err(|e| self.unreachable(&e))?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|_| Failure(format!("error: the server at {} answered {status} with a body that is not JSON", self.base)));
        }
        Err(problem(status, &body))
    }

    fn unreachable(&self, e: &reqwest::Error) -> Failure {
        // reqwest's own message names the URL only; the cause at the end of the chain says why.
        let mut cause: &dyn std::error::Error = e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        let base = &self.base;
        if e.is_connect() {
            Failure(format!("error: the server is not reachable at {base}: {cause}\n  start it, or point --url (or PARTNERHUB_URL) at it"))
        } else if e.is_timeout() {
            Failure(format!("error: the server at {base} did not answer in time"))
        } else {
            Failure(format!("error: the request to {base} failed: {cause}"))
        }
    }
}

/// An error answer on one line, or two when the server names fields: `title: detail`, the
/// status and the stable code; then each field with its message.
fn problem(status: StatusCode, body: &[u8]) -> Failure {
    let Ok(p) = serde_json::from_slice::<Problem>(body) else {
        let text = String::from_utf8_lossy(body);
        let text: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
        return Failure(format!("error: the server answered {status}: {}", if text.is_empty() { "(no body)" } else { &text }));
    };
    let head = format!("({} {})", p.status, p.code);
    match p.errors.filter(|e| !e.is_empty()) {
        Some(errors) => {
            let fields: Vec<String> = errors.iter().map(|f| format!("{}: {}", f.field, f.message)).collect();
            Failure(format!("error: {} {head}\n  {}", p.title, fields.join("; ")))
        }
        None if p.code == "unauthenticated" => {
            Failure(format!("error: {}: {} {head}\n  the server refused the operator token: check {TOKEN_ENV}", p.title, p.detail))
        }
        None => Failure(format!("error: {}: {} {head}", p.title, p.detail)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::Query;
    use std::collections::HashMap;

    /// Three pages of one item each, chained by cursors, as the server pages a list.
    #[tokio::test]
    async fn a_list_follows_next_cursor_to_the_last_page() {
        let app = axum::Router::new().route(
            "/items",
            axum::routing::get(|Query(q): Query<HashMap<String, String>>| async move {
                let (item, next) = match q.get("cursor").map(String::as_str) {
                    None => (1, Some("b")),
                    Some("b") => (2, Some("c")),
                    _ => (3, None),
                };
                axum::Json(json!({"items": [{"n": item}], "next_cursor": next, "total": 3}))
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let client = Client::new(&format!("http://{addr}/"), "t".into()).unwrap();
        let all = client.list_all("/items").await.unwrap();
        assert_eq!(all, json!({"items": [{"n": 1}, {"n": 2}, {"n": 3}], "next_cursor": null, "total": 3}));
    }

    #[test]
    fn a_validation_problem_names_its_fields_on_a_second_line() {
        let body = br#"{"type":"t","title":"Validation failed","status":422,"detail":"currency: three letters","code":"validation_failed",
            "errors":[{"field":"currency","message":"three upper-case letters"}]}"#;
        assert_eq!(
            problem(StatusCode::UNPROCESSABLE_ENTITY, body).0,
            "error: Validation failed (422 validation_failed)\n  currency: three upper-case letters"
        );
    }

    #[test]
    fn other_problems_are_one_line_and_other_bodies_are_shown_briefly() {
        let body = br#"{"type":"t","title":"Conflict","status":409,"detail":"that domain is taken","code":"conflict"}"#;
        assert_eq!(problem(StatusCode::CONFLICT, body).0, "error: Conflict: that domain is taken (409 conflict)");
        assert_eq!(problem(StatusCode::BAD_GATEWAY, b"").0, "error: the server answered 502 Bad Gateway: (no body)");
    }
}
