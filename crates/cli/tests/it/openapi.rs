//! The served OpenAPI document is generated from the code; a snapshot keeps changes visible.

use crate::support::*;

#[tokio::test]
async fn the_openapi_document_matches_its_snapshot() {
    let app = TestApp::spawn().await;
    let res = app.client.get(format!("{}/api/openapi.json", app.url)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let doc: serde_json::Value = res.json().await.unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for p in ["/api/v1/invitations/accept", "/api/v1/customers/{id}/remove-relationship", "/api/v1/audit", "/api/v1/operator/partners"] {
        assert!(paths.contains_key(p), "{p}");
    }
    // Request bodies refuse unknown fields, and say so; answers do not (a client reading them
    // must take new fields).
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in
        ["CreateCustomerRequest", "NewCustomerAdmin", "CreateOrderRequest", "OrderItemRequest", "CreateInvitationRequest", "TokenRequest"]
    {
        assert_eq!(schemas[name]["additionalProperties"], false, "{name}");
    }
    for name in ["CustomerResponse", "InvitationResponse", "Problem"] {
        assert!(schemas[name].get("additionalProperties").is_none(), "{name}");
    }
    // Every schema that is some operation's request body says so.
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            if let Some(r) = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str() {
                let name = r.trim_start_matches("#/components/schemas/");
                assert_eq!(schemas[name]["additionalProperties"], false, "{method} {path}: {name}");
            }
        }
    }
    insta::assert_json_snapshot!("openapi", doc);
}

/// docs/api-reference.md is the OpenAPI document rendered by `partnerhub openapi --markdown`;
/// it must be regenerated whenever a route or a type changes, so that it cannot drift.
#[test]
fn the_markdown_reference_in_docs_is_the_one_the_code_renders() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_partnerhub")).args(["openapi", "--markdown"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rendered = String::from_utf8(out.stdout).unwrap();
    let path = crate::first_hour::repository().join("docs/api-reference.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == rendered,
        "docs/api-reference.md differs from what the code renders: regenerate it with\n  cargo run -q -p partnerhub -- openapi --markdown > docs/api-reference.md"
    );
    // It is the document the server serves: every path is in it.
    let doc = serde_json::to_value(partnerhub_web::openapi()).unwrap();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            assert!(rendered.contains(&format!("### `{} {path}`", method.to_uppercase())), "{method} {path}");
        }
    }
}
