//! `/api`: the API reference, rendered here from the binary's own OpenAPI document (the one
//! `/api/openapi.json` serves): every path and method with its summary, parameters, request
//! and response schemas and statuses, one anchor per operation. No script, no CDN: it works
//! offline. The document's own texts are English and marked `lang="en"`.

use super::i18n::negotiate;
use super::layout::{html_response, page};
use super::session::{self, Portal};
use crate::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use maud::{Markup, html};
use partnerhub_domain::Locale;
use partnerhub_service::Caller;
use serde_json::Value;
use std::sync::LazyLock;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/api", get(show))
}

struct Words {
    title: &'static str,
    lead: &'static str,
    json: &'static str,
    contents: &'static str,
    parameters: &'static str,
    name: &'static str,
    location: &'static str,
    required: &'static str,
    schema: &'static str,
    yes: &'static str,
    no: &'static str,
    request_body: &'static str,
    responses: &'static str,
    status: &'static str,
    description: &'static str,
    auth_bearer: &'static str,
    auth_none: &'static str,
    schemas: &'static str,
    fields: &'static str,
    no_body: &'static str,
}

fn words(l: Locale) -> &'static Words {
    match l {
        Locale::En => &Words {
            title: "API reference",
            lead: "Every operation of the JSON API, from the OpenAPI document this server serves. Errors are application/problem+json with a stable code.",
            json: "The OpenAPI document (JSON)",
            contents: "Operations",
            parameters: "Parameters",
            name: "Name",
            location: "In",
            required: "Required",
            schema: "Schema",
            yes: "yes",
            no: "no",
            request_body: "Request body",
            responses: "Responses",
            status: "Status",
            description: "Description",
            auth_bearer: "Needs a bearer token (Authorization: Bearer …).",
            auth_none: "No token needed.",
            schemas: "Schemas",
            fields: "Fields",
            no_body: "no body",
        },
        Locale::Fr => &Words {
            title: "Référence de l'API",
            lead: "Chaque opération de l'API JSON, d'après le document OpenAPI servi par ce serveur. Les erreurs sont en application/problem+json avec un code stable.",
            json: "Le document OpenAPI (JSON)",
            contents: "Opérations",
            parameters: "Paramètres",
            name: "Nom",
            location: "Dans",
            required: "Obligatoire",
            schema: "Schéma",
            yes: "oui",
            no: "non",
            request_body: "Corps de la requête",
            responses: "Réponses",
            status: "Statut",
            description: "Description",
            auth_bearer: "Demande un jeton porteur (Authorization: Bearer …).",
            auth_none: "Aucun jeton nécessaire.",
            schemas: "Schémas",
            fields: "Champs",
            no_body: "sans corps",
        },
    }
}

static DOC: LazyLock<Value> = LazyLock::new(|| serde_json::to_value(crate::openapi()).unwrap_or(Value::Null));

const METHODS: [&str; 8] = ["get", "post", "put", "patch", "delete", "head", "options", "trace"];

/// `#/components/schemas/X` → `X`; an array of one → `[X]`; an inline schema → its type.
fn schema_name(s: &Value) -> String {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        return r.rsplit('/').next().unwrap_or(r).to_owned();
    }
    if let Some(items) = s.get("items") {
        return format!("[{}]", schema_name(items));
    }
    for k in ["allOf", "oneOf", "anyOf"] {
        if let Some(v) = s.get(k).and_then(Value::as_array) {
            return v.iter().map(schema_name).filter(|n| n != "null").collect::<Vec<_>>().join(" | ");
        }
    }
    match s.get("type") {
        Some(Value::String(t)) => match s.get("format").and_then(Value::as_str) {
            Some(f) => format!("{t} ({f})"),
            None => t.clone(),
        },
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" | "),
        _ => "object".into(),
    }
}

fn anchor(method: &str, path: &str) -> String {
    let mut a = format!("op-{method}-");
    for c in path.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            a.push(c);
        } else if !a.ends_with('-') {
            a.push('-');
        }
    }
    a.trim_end_matches('-').to_owned()
}

fn content_schemas(v: &Value) -> Vec<(String, String)> {
    v.get("content")
        .and_then(Value::as_object)
        .map(|c| c.iter().map(|(mime, m)| (mime.clone(), m.get("schema").map(schema_name).unwrap_or_default())).collect())
        .unwrap_or_default()
}

fn operation(w: &Words, method: &str, path: &str, op: &Value, global_security: bool) -> Markup {
    let text = |k: &str| op.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    let summary = text("summary");
    let description = text("description");
    let secured = op.get("security").and_then(Value::as_array).map(|a| !a.is_empty()).unwrap_or(global_security);
    let params: Vec<&Value> = op.get("parameters").and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default();
    html! {
        section.card id=(anchor(method, path)) {
            h3 { code { (method.to_uppercase()) " " (path) } " " a href=(format!("#{}", anchor(method, path))) aria-hidden="true" { "#" } }
            @if !summary.is_empty() { p lang="en" { (summary) } }
            @if !description.is_empty() && description != summary { p lang="en" { (description) } }
            p.muted { @if secured { (w.auth_bearer) } @else { (w.auth_none) } }
            @if !params.is_empty() {
                h4 { (w.parameters) }
                table {
                    thead { tr { th { (w.name) } th { (w.location) } th { (w.required) } th { (w.schema) } } }
                    tbody {
                        @for p in &params {
                            tr {
                                td data-label=(w.name) { code { (p.get("name").and_then(Value::as_str).unwrap_or_default()) } }
                                td data-label=(w.location) { (p.get("in").and_then(Value::as_str).unwrap_or_default()) }
                                td data-label=(w.required) { @if p.get("required").and_then(Value::as_bool).unwrap_or(false) { (w.yes) } @else { (w.no) } }
                                td data-label=(w.schema) { code { (p.get("schema").map(schema_name).unwrap_or_default()) } }
                            }
                        }
                    }
                }
            }
            @if let Some(body) = op.get("requestBody") {
                h4 { (w.request_body) }
                ul { @for (mime, name) in content_schemas(body) { li { code { (mime) } " : " a href=(format!("#schema-{name}")) { code { (name) } } } } }
            }
            @if let Some(responses) = op.get("responses").and_then(Value::as_object) {
                h4 { (w.responses) }
                table {
                    thead { tr { th { (w.status) } th { (w.schema) } th { (w.description) } } }
                    tbody {
                        @for (status, r) in responses {
                            tr {
                                td data-label=(w.status) { code { (status) } }
                                td data-label=(w.schema) {
                                    @let schemas = content_schemas(r);
                                    @if schemas.is_empty() { span.muted { (w.no_body) } }
                                    @for (_, name) in schemas { code { (name) } " " }
                                }
                                td data-label=(w.description) lang="en" { (r.get("description").and_then(Value::as_str).unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn body(w: &Words) -> Markup {
    let doc = &*DOC;
    let global_security = doc.get("security").and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    let mut ops: Vec<(String, &str, &str, &Value)> = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            for m in METHODS {
                if let Some(op) = item.get(m) {
                    let tag = op.get("tags").and_then(|t| t.get(0)).and_then(Value::as_str).unwrap_or_default().to_owned();
                    ops.push((tag, m, path.as_str(), op));
                }
            }
        }
    }
    // Grouped by tag in the document's order of tags.
    let tag_order: Vec<String> = doc
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|t| t.get("name").and_then(Value::as_str).map(str::to_owned)).collect())
        .unwrap_or_default();
    let rank = |t: &str| tag_order.iter().position(|x| x == t).unwrap_or(usize::MAX);
    ops.sort_by(|a, b| rank(&a.0).cmp(&rank(&b.0)).then(a.2.cmp(b.2)));
    let mut tags: Vec<&str> = Vec::new();
    for (t, ..) in &ops {
        if tags.last() != Some(&t.as_str()) {
            tags.push(t);
        }
    }
    let schemas = doc.pointer("/components/schemas").and_then(Value::as_object);
    html! {
        p { (w.lead) }
        p { a href="/api/openapi.json" id="openapi-json" { (w.json) } }
        nav aria-label=(w.contents) {
            h2 { (w.contents) }
            @for t in &tags {
                h3 { code { (t) } }
                ul {
                    @for (_, m, p, _) in ops.iter().filter(|o| o.0 == *t) {
                        li { a href=(format!("#{}", anchor(m, p))) { code { (m.to_uppercase()) " " (p) } } }
                    }
                }
            }
        }
        @for t in &tags {
            section id=(format!("tag-{t}")) {
                h2 { code { (t) } }
                @for (_, m, p, op) in ops.iter().filter(|o| o.0 == *t) {
                    (operation(w, m, p, op, global_security))
                }
            }
        }
        @if let Some(schemas) = schemas {
            section id="schemas" {
                h2 { (w.schemas) }
                @for (name, s) in schemas {
                    section.card id=(format!("schema-{name}")) {
                        h3 { code { (name) } }
                        @if let Some(d) = s.get("description").and_then(Value::as_str) { p lang="en" { (d) } }
                        @if let Some(props) = s.get("properties").and_then(Value::as_object) {
                            @let required: Vec<&str> = s.get("required").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
                            table {
                                thead { tr { th { (w.fields) } th { (w.schema) } th { (w.required) } } }
                                tbody {
                                    @for (field, fs) in props {
                                        tr {
                                            td data-label=(w.fields) { code { (field) } }
                                            td data-label=(w.schema) { code { (schema_name(fs)) } }
                                            td data-label=(w.required) { @if required.contains(&field.as_str()) { (w.yes) } @else { (w.no) } }
                                        }
                                    }
                                }
                            }
                        } @else {
                            p { code { (schema_name(s)) } }
                        }
                    }
                }
            }
        }
    }
}

/// Public, like the document it renders: a reader needs no account to read the contract. A
/// signed-in reader keeps the menu of their side.
async fn show(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let lang = negotiate(&headers);
    let w = words(lang);
    let mut portal = None;
    if let Some(token) = session::cookie(&headers, session::session_cookie_name(&s.service)).filter(|t| !t.is_empty() && t.len() <= 128)
        && let Ok(caller @ Caller::User(_)) = s.service.authenticate(&token).await
    {
        let form_token = s.service.form_token(&token);
        portal = Some(Portal { caller, token, form_token, lang });
    }
    html_response(StatusCode::OK, page(lang, portal.as_ref(), w.title, body(w)))
}
