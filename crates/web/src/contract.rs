//! The OpenAPI document made exact (issue 11). Each operation's annotation declares what its handler
//! answers; what every route answers the same way is added here, from the layers that answer
//! it, so that no annotation can forget it:
//! - the bearer check: `401` (with `WWW-Authenticate`) and, for a held session (temporary
//!   password, TOTP enrolment required), `403`;
//! - a JSON body: `400` not JSON, `413` over 1 MiB, `422` not of its schema;
//! - a path id that is not one: `404`; a query that does not parse: `422`;
//! - the `Idempotency-Key` layer on every POST: the header, `409` while the first request
//!   runs, `422` for a key used with another body.
//!
//! Every error is `application/problem+json` with the `Problem` schema, each status says
//! which codes it carries, and the fields a response always holds are `required` (a field is
//! left out of an answer only where its type says `skip_serializing_if`, listed in
//! [`SOMETIMES_ABSENT`]).

use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// Response fields that an answer may leave out (`skip_serializing_if` in `api-types`).
const SOMETIMES_ABSENT: &[(&str, &str)] =
    &[("Problem", "errors"), ("Problem", "blockers"), ("OrganizationResponse", "partner_type"), ("OrganizationResponse", "partner_id")];

/// Operations a held session (temporary password, TOTP enrolment required) may still call.
const ALLOWED_WHILE_HELD: &[(&str, &str)] = &[("get", "/api/v1/me"), ("post", "/api/v1/me/password"), ("delete", "/api/v1/auth/token")];

const PROBLEM_JSON: &str = "application/problem+json";

/// What each error status means, by its codes (API.md's table).
fn error_description(status: &str) -> &'static str {
    match status {
        "400" => "`malformed_request`: the body is not JSON.",
        "401" => "`unauthenticated`: no, bad or expired credentials (with `WWW-Authenticate: Bearer`); `mfa_required` on sign-in.",
        "403" => {
            "`forbidden`, `password_change_required`, `mfa_enrollment_required`, `wrong_customer`, `no_reseller_relationship` or `operator_api_disabled`."
        }
        "404" => "`not_found`: nothing of that id is visible to the caller.",
        "405" => "`method_not_allowed`.",
        "409" => {
            "`conflict` (a rule of the current state, or an `Idempotency-Key` whose first request still runs), `relationship_exists`, `invitation_not_pending` or `removal_blocked`."
        }
        "410" => "`invitation_expired`.",
        "413" => "`payload_too_large`: the body is over 1 MiB.",
        "414" => "`uri_too_long`.",
        "422" => {
            "`validation_failed` (each field at fault in `errors`), `url_missing_from_email`, `attestation_required` or `idempotency_key_reused`."
        }
        "429" => "`rate_limited`, with `Retry-After`.",
        "503" => "`overloaded` (with `Retry-After`) or `email_not_configured`.",
        _ => "A problem.",
    }
}

/// Completes `doc` (see the module's documentation).
pub(crate) fn complete(doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let Ok(mut v) = serde_json::to_value(&doc) else { return doc };
    complete_value(&mut v);
    // A document utoipa wrote reads back; the test below holds it.
    serde_json::from_value(v).unwrap_or(doc)
}

fn complete_value(doc: &mut Value) {
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            for (method, op) in item.iter_mut() {
                if let Some(op) = op.as_object_mut() {
                    complete_operation(method, path, op);
                }
            }
        }
    }
    let responded = response_schemas(doc);
    if let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
        for (name, schema) in schemas.iter_mut() {
            if responded.contains(name) {
                require_present_fields(name, schema);
            }
        }
    }
}

fn complete_operation(method: &str, path: &str, op: &mut Map<String, Value>) {
    let bearer = op.get("security").and_then(Value::as_array).is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
    let params: Vec<(String, String)> = op
        .get("parameters")
        .and_then(Value::as_array)
        .map(|ps| ps.iter().filter_map(|p| Some((p.get("in")?.as_str()?.to_owned(), p.get("name")?.as_str()?.to_owned()))).collect())
        .unwrap_or_default();
    let mut add = Vec::new();
    if bearer {
        add.push("401");
        if !ALLOWED_WHILE_HELD.contains(&(method, path)) {
            add.push("403");
        }
    }
    if op.contains_key("requestBody") {
        add.extend(["400", "413", "422"]);
    }
    if params.iter().any(|(at, _)| at == "path") {
        add.push("404");
    }
    if params.iter().any(|(at, _)| at == "query") {
        add.push("422");
    }
    if method == "post" {
        add.extend(["409", "422"]);
        let header = json!({
            "name": "Idempotency-Key",
            "in": "header",
            "required": false,
            "description": "Within 24 hours, the same key from the same caller with the same body answers the first answer again, with `Idempotent-Replayed: true`; with another body, `422 idempotency_key_reused`.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}
        });
        let list = op.entry("parameters").or_insert_with(|| json!([]));
        if let Some(list) = list.as_array_mut()
            && !list.iter().any(|p| p.get("name").and_then(Value::as_str) == Some("Idempotency-Key"))
        {
            list.push(header);
        }
    }
    let responses = op.entry("responses").or_insert_with(|| json!({}));
    let Some(responses) = responses.as_object_mut() else { return };
    for status in add {
        responses.entry(status).or_insert_with(|| json!({}));
    }
    for (status, res) in responses.iter_mut() {
        let Some(res) = res.as_object_mut() else { continue };
        let error = status.starts_with('4') || status.starts_with('5');
        if error {
            res.insert("description".into(), json!(error_description(status)));
            res.insert("content".into(), json!({PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}));
            let retry = status == "429" || status == "503";
            if status == "401" || retry {
                let (name, what) = if retry {
                    ("Retry-After", "Seconds to wait before trying again.")
                } else {
                    ("WWW-Authenticate", "`Bearer`, with the error when a token was given.")
                };
                res.insert("headers".into(), json!({name: {"description": what, "schema": {"type": "string"}}}));
            }
        } else if res.get("description").and_then(Value::as_str).is_none_or(str::is_empty) {
            res.insert("description".into(), json!(success_description(status)));
        }
    }
}

fn success_description(status: &str) -> &'static str {
    match status {
        "200" => "OK.",
        "201" => "Created.",
        "202" => "Accepted: the work is under way.",
        "204" => "Done; no body.",
        _ => "Success.",
    }
}

/// The component schemas an answer can hold: those named by a response, and what they name.
fn response_schemas(doc: &Value) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = Vec::new();
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for item in paths.values().filter_map(Value::as_object) {
            for op in item.values() {
                if let Some(r) = op.get("responses") {
                    refs(r, &mut todo);
                }
            }
        }
    }
    while let Some(name) = todo.pop() {
        if seen.insert(name.clone())
            && let Some(schema) = doc.pointer(&format!("/components/schemas/{name}"))
        {
            refs(schema, &mut todo);
        }
    }
    seen
}

fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(name) = m.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/components/schemas/")) {
                out.push(name.to_owned());
            }
            m.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

/// Marks every property of an answer's object schema `required` but the sometimes absent.
fn require_present_fields(name: &str, schema: &mut Value) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else { return };
    let required: Vec<Value> =
        props.keys().filter(|p| !SOMETIMES_ABSENT.contains(&(name, p.as_str()))).map(|p| Value::String(p.clone())).collect();
    if let Some(o) = schema.as_object_mut() {
        o.insert("required".into(), Value::Array(required));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_completed_document_reads_back_whole() {
        let doc = crate::openapi();
        let v = serde_json::to_value(&doc).unwrap_or_default();
        let mut again = v.clone();
        complete_value(&mut again);
        assert_eq!(v, again, "completing twice changes nothing: crate::openapi() is complete");
        assert!(v.pointer("/paths/~1api~1v1~1customers/get/responses/401/content/application~1problem+json").is_some(), "{v}");
    }

    #[test]
    fn the_enums_of_the_document_are_the_domains_own_lists() {
        use partnerhub_domain::{DelegatedRole, InvitationState, PartnerType, Role, SubscriptionStatus};
        let v = serde_json::to_value(crate::openapi()).unwrap_or_default();
        let listed = |name: &str| -> Vec<String> {
            let values = v.pointer(&format!("/components/schemas/{name}/enum")).and_then(Value::as_array).cloned().unwrap_or_default();
            let mut names: Vec<String> = values.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect();
            names.sort();
            names
        };
        let sorted = |mut names: Vec<&str>| {
            names.sort_unstable();
            names.into_iter().map(str::to_owned).collect::<Vec<_>>()
        };
        assert_eq!(listed("RoleName"), sorted(Role::ALL.iter().map(|r| r.as_str()).collect()));
        assert_eq!(listed("DelegatedRoleName"), sorted(DelegatedRole::ALL.iter().map(|r| r.as_str()).collect()));
        assert_eq!(listed("SubscriptionStatusName"), sorted(SubscriptionStatus::ALL.iter().map(|r| r.as_str()).collect()));
        let states = ["pending", "accepted", "declined", "revoked", "expired"];
        assert!(states.iter().all(|st| InvitationState::parse(st).is_some()));
        assert_eq!(listed("InvitationStateName"), sorted(states.to_vec()));
        let types = ["direct", "indirect_provider", "indirect_reseller"];
        assert!(types.iter().all(|t| PartnerType::parse(t).is_some()));
        assert_eq!(listed("PartnerTypeName"), sorted(types.to_vec()));
        // And the fields say so: a generated client knows every value.
        assert_eq!(
            v.pointer("/components/schemas/InvitationResponse/properties/state/$ref"),
            Some(&json!("#/components/schemas/InvitationStateName"))
        );
    }

    #[test]
    fn every_error_is_problem_json_and_every_bearer_operation_answers_401() {
        let v = serde_json::to_value(crate::openapi()).unwrap_or_default();
        let paths = v["paths"].as_object().cloned().unwrap_or_default();
        assert!(!paths.is_empty());
        let mut ids = BTreeSet::new();
        for (path, item) in &paths {
            for (method, op) in item.as_object().cloned().unwrap_or_default() {
                let id = op["operationId"].as_str().unwrap_or_default().to_owned();
                assert!(ids.insert(id.clone()), "operationId {id} is used twice");
                let responses = op["responses"].as_object().cloned().unwrap_or_default();
                if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                    assert!(responses.contains_key("401"), "{method} {path} lacks 401");
                }
                for (status, res) in responses {
                    if status.starts_with('4') || status.starts_with('5') {
                        let content = res["content"].as_object().cloned().unwrap_or_default();
                        assert_eq!(content.keys().collect::<Vec<_>>(), [PROBLEM_JSON], "{method} {path} {status}");
                    }
                }
            }
        }
    }
}
