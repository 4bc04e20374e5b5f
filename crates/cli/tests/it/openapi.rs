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
    insta::assert_json_snapshot!("openapi", doc);
}
