//! The OpenAPI document is generated from the handlers; this snapshot makes every change to
//! the API visible in review (`cargo insta review`, or INSTA_UPDATE=always to accept).

#[test]
fn openapi_document_matches_the_snapshot() {
    let document = serde_json::to_value(pifa::http::openapi()).unwrap_or_default();
    insta::assert_json_snapshot!("openapi", document);
}

#[tokio::test]
async fn the_served_document_is_the_generated_one() -> anyhow::Result<()> {
    let Some(app) = pifa_e2e::TestApp::start(pifa_e2e::Backend::Sqlite).await? else {
        return Ok(());
    };
    let (status, served) = app.get("/api/openapi.json", None).await?;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert_eq!(served, serde_json::to_value(pifa::http::openapi())?);
    assert!(served["components"]["securitySchemes"]["bearer"].is_object());
    app.stop().await
}

#[test]
fn every_operation_has_its_own_id() {
    let document = serde_json::to_value(pifa::http::openapi()).unwrap_or_default();
    let mut ids: Vec<String> = Vec::new();
    for item in document["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
    {
        for operation in item.as_object().into_iter().flat_map(|ops| ops.values()) {
            ids.push(
                operation["operationId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
    }
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert!(ids.len() > 40);
    assert_eq!(unique.len(), ids.len(), "operation ids repeat: {ids:?}");
}
