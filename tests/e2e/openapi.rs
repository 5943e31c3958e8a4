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

/// Every `$ref` in `value`, with the JSON path it is at.
fn refs(value: &serde_json::Value, at: &str, found: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, item) in map {
                if key == "$ref"
                    && let Some(target) = item.as_str()
                {
                    found.push((at.to_owned(), target.to_owned()));
                }
                refs(item, &format!("{at}/{key}"), found);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                refs(item, &format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

/// The document is complete enough to write a client from (issue 15, item 7): every reference
/// resolves, every operation says what it does, every request body has a schema, and every
/// error answer lists the stable codes it may carry.
#[test]
fn the_document_is_whole() {
    let document = pifa::http::openapi();
    let mut found = Vec::new();
    refs(&document, "", &mut found);
    let dangling: Vec<&(String, String)> = found
        .iter()
        .filter(|(_, target)| {
            target
                .strip_prefix('#')
                .is_none_or(|pointer| document.pointer(pointer).is_none())
        })
        .collect();
    assert!(dangling.is_empty(), "references to nothing: {dangling:?}");
    let mut problems = Vec::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            let route = format!("{} {path}", method.to_uppercase());
            if operation["summary"].as_str().is_none_or(str::is_empty) {
                problems.push(format!("{route}: no summary"));
            }
            for (media, entry) in operation["requestBody"]["content"]
                .as_object()
                .into_iter()
                .flatten()
            {
                if entry["schema"].is_null() && !media.starts_with("text/") {
                    problems.push(format!("{route}: the {media} body has no schema"));
                }
            }
            for (status, response) in operation["responses"].as_object().into_iter().flatten() {
                if status.as_str() < "400" {
                    continue;
                }
                let codes = &response["content"]["application/json"]["schema"]["allOf"][1]["properties"]
                    ["error"]["properties"]["code"]["enum"];
                if codes.as_array().is_none_or(Vec::is_empty) {
                    problems.push(format!("{route}: {status} lists no error codes"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
