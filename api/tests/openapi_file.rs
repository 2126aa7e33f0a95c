//! `ui/openapi.json`, from which the dashboard's API types are generated, must be the document
//! the API serves; the failure message says how to regenerate it.

use crate::util::*;
use axum::http::StatusCode;
use serde_json::Value;
use std::path::Path;

/// Run from the repository root.
const REGENERATE: &str = "cargo run -q -p gateway-api --bin api -- --openapi > ui/openapi.json && npm --prefix ui run gen:api";

#[test]
fn committed_ui_openapi_json_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; create it with `{REGENERATE}`",
            path.display()
        )
    });
    let committed: Value = serde_json::from_str(&committed).unwrap_or_else(|e| {
        panic!(
            "{} is not JSON ({e}); regenerate it with `{REGENERATE}`",
            path.display()
        )
    });
    let live: Value =
        serde_json::from_str(&gateway_api::openapi::document()).expect("the document is JSON");
    assert!(
        committed == live,
        "{} is not the OpenAPI document the API serves; regenerate it (from the repository root) with `{REGENERATE}`",
        path.display()
    );
}

#[tokio::test]
async fn printed_document_is_the_served_one() {
    let db = TestDb::new();
    let (s, served) = get(&db.app(), "/api/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    let printed: Value =
        serde_json::from_str(&gateway_api::openapi::document()).expect("the document is JSON");
    assert_eq!(printed, served);
    // The live feed's statistics are described for the dashboard, though no path returns them.
    assert!(
        printed["components"]["schemas"]["LiveStats"]["properties"]["cost_today_usd"].is_object()
    );
}

#[test]
fn operation_ids_are_unique() {
    // OpenAPI requires it, and the dashboard's type generator keys operations by it.
    let doc: Value = serde_json::from_str(&gateway_api::openapi::document()).expect("JSON");
    let mut seen = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if let Some(id) = op["operationId"].as_str() {
                assert!(
                    seen.insert(id.to_owned()),
                    "operationId {id} repeated ({method} {path})"
                );
            }
        }
    }
}
