//! What the edge does with what comes from outside (issue 15): every refusal, the framework's
//! own included, in the one error shape with a stable code; text with control characters
//! refused before it reaches the database, alike on both backends; references checked and
//! named; the headers every answer carries.

use pifa_e2e::pifa_demo::{ADMIN, MEMBER};
use pifa_e2e::{Backend, TestApp, error_code, on_both_backends};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;

/// Asserts `response` is an error in the one shape with `code`; returns the body.
async fn one_shape(response: reqwest::Response, what: &str) -> anyhow::Result<Value> {
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await?;
    assert!(
        content_type.starts_with("application/json"),
        "{what}: {status} answered {content_type:?}: {text:?}"
    );
    let body: Value = serde_json::from_str(&text)?;
    let code = body["error"]["code"].as_str().unwrap_or_default();
    assert!(
        !code.is_empty()
            && code.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            && body["error"]["message"].is_string(),
        "{what}: {status} {body}"
    );
    if let Some(field) = body["error"]["field"].as_str() {
        assert!(
            !field.is_empty() && !field.contains('?'),
            "{what}: a field the client can find: {body}"
        );
    }
    Ok(body)
}

/// The operations of the served document: (method, path template, operation).
fn operations(document: &Value) -> Vec<(Method, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            if let Ok(method) = Method::from_bytes(method.to_uppercase().as_bytes()) {
                found.push((method, path.clone(), operation.clone()));
            }
        }
    }
    found
}

/// Every route, asked the wrong way, answers in the one shape: a method it does not serve
/// (405, with `Allow`), a path id that is not a number (400 naming the parameter), a query
/// value of the wrong type (400 naming it), a body that is not JSON (400 `malformed_json`,
/// naming no field). The routes come from the served document, so a new route is covered the
/// day it is added.
#[tokio::test]
async fn every_route_refuses_in_the_one_shape() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let (_, document) = app.get("/api/openapi.json", None).await?;
    let operations = operations(&document);
    assert!(operations.len() > 100, "{}", operations.len());
    let mut checked = 0;
    for (method, template, operation) in &operations {
        let served: Vec<&str> = document["paths"][template]
            .as_object()
            .map(|item| item.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let concrete = template
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "1"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");

        // A method the path does not serve.
        if let Some(wrong) = ["get", "post", "put", "patch", "delete"]
            .into_iter()
            .find(|m| !served.contains(m))
        {
            let response = app
                .client
                .request(
                    Method::from_bytes(wrong.to_uppercase().as_bytes())?,
                    app.url(&concrete),
                )
                .bearer_auth(&admin)
                .send()
                .await?;
            assert_eq!(
                response.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{wrong} {template}"
            );
            assert!(
                response.headers().contains_key("allow"),
                "{wrong} {template}"
            );
            assert_eq!(
                response
                    .headers()
                    .get("x-content-type-options")
                    .map(|v| v.as_bytes()),
                Some(&b"nosniff"[..]),
                "a rewritten refusal keeps the safety headers: {wrong} {template}"
            );
            let body = one_shape(response, &format!("{wrong} {template}")).await?;
            assert_eq!(error_code(&body), "method_not_allowed");
            checked += 1;
        }

        // Path parameters that are not numbers, where numbers are expected.
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            let name = parameter["name"].as_str().unwrap_or_default();
            let integer = parameter["schema"]["type"] == "integer";
            let enumerated =
                parameter["schema"]["$ref"].is_string() || parameter["schema"]["enum"].is_array();
            if !(integer || enumerated) {
                continue;
            }
            let url = match parameter["in"].as_str() {
                Some("path") => template
                    .split('/')
                    .map(|segment| {
                        if segment == format!("{{{name}}}") {
                            "abc".to_owned()
                        } else if segment.starts_with('{') {
                            "1".to_owned()
                        } else {
                            segment.to_owned()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("/"),
                Some("query") => format!("{concrete}?{name}=nonsense"),
                _ => continue,
            };
            let response = app
                .client
                .request(method.clone(), app.url(&url))
                .bearer_auth(&admin)
                .header("idempotency-key", "edge-test")
                .json(&json!({}))
                .send()
                .await?;
            let status = response.status();
            let body = one_shape(response, &format!("{method} {url}")).await?;
            assert_eq!(
                (status, error_code(&body), body["error"]["field"].as_str()),
                (StatusCode::BAD_REQUEST, "invalid_parameter", Some(name)),
                "{method} {url}: {body}"
            );
            checked += 1;
        }

        // A form route sent no form.
        let takes_form = operation["requestBody"]["content"]["multipart/form-data"].is_object()
            && !operation["requestBody"]["content"]["application/json"].is_object();
        if takes_form {
            let response = app
                .client
                .request(method.clone(), app.url(&concrete))
                .bearer_auth(&admin)
                .send()
                .await?;
            let status = response.status();
            let body = one_shape(response, &format!("{method} {template} without a form")).await?;
            assert_eq!(
                (status, error_code(&body)),
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
                "{method} {template}: {body}"
            );
            checked += 1;
        }

        // A JSON body that is not JSON.
        let takes_json = operation["requestBody"]["content"]["application/json"].is_object();
        if takes_json {
            let response = app
                .client
                .request(method.clone(), app.url(&concrete))
                .bearer_auth(&admin)
                .header("idempotency-key", "edge-test")
                .header("content-type", "application/json")
                .body("{,")
                .send()
                .await?;
            let status = response.status();
            let body = one_shape(response, &format!("{method} {template} malformed")).await?;
            assert_eq!(
                (status, error_code(&body), body["error"]["field"].as_str()),
                (StatusCode::BAD_REQUEST, "malformed_json", None),
                "{method} {template}: {body}"
            );
            checked += 1;
        }
    }
    assert!(checked > 150, "{checked} refusals checked");

    // A field of the wrong type is named, and a path the API does not have is JSON too.
    let member = app.login(MEMBER, PASSWORD).await?;
    let (status, body) = app
        .post(
            "/api/v1/cart/items",
            Some(&member),
            &json!({ "items": [{ "sku_id": "one", "qty": 1 }] }),
        )
        .await?;
    assert_eq!(
        (status, error_code(&body), body["error"]["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            Some("items[0].sku_id")
        ),
        "{body}"
    );
    let response = app.client.get(app.url("/api/v1/nowhere")).send().await?;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body = one_shape(response, "GET /api/v1/nowhere").await?;
    assert_eq!(error_code(&body), "route_not_found");
    app.stop().await
}

/// A NUL byte or an escape character in any text is refused at the edge, naming the field,
/// with nothing written, on both backends alike (PostgreSQL cannot store a NUL; SQLite would
/// have stored it): JSON bodies, query strings, multipart fields and pasted lists.
async fn control_characters_are_refused_alike(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let rows_before = app.row_counts().await?;
    let address = json!({ "province": "海南省", "city": "海口市", "district": "龙华区",
        "detail": "金盘路\u{0}18号", "contact_name": "赵老板", "phone": MEMBER });
    let (status, body) = app
        .post("/api/v1/me/addresses", Some(&member), &address)
        .await?;
    assert_eq!(
        (status, error_code(&body), body["error"]["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_text",
            Some("detail")
        ),
        "{body}"
    );
    for (path, field) in [
        ("/api/v1/search?q=%00", "q"),
        ("/api/v1/search?q=%E5%AE%89%1B", "q"),
        ("/api/v1/orders?q=%00", "q"),
    ] {
        let (status, body) = app.get(path, Some(&member)).await?;
        assert_eq!(
            (status, error_code(&body), body["error"]["field"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_text",
                Some(field)
            ),
            "{path}: {body}"
        );
    }
    let response = app
        .client
        .post(app.url("/api/v1/cart/quick-order"))
        .bearer_auth(&member)
        .header("content-type", "text/plain")
        .body("6901234500011\u{0} 100")
        .send()
        .await?;
    let status = response.status();
    let body = one_shape(response, "quick order").await?;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_text")
    );
    let form = pifa_e2e::profile_form(1, &[]).text("wechat_id", "zhao\u{0}");
    let (status, body) = app.put_profile(&member, form).await?;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_text"),
        "{body}"
    );
    assert_eq!(app.row_counts().await?, rows_before, "nothing was written");
    app.stop().await
}
on_both_backends!(
    control_characters_refused_sqlite,
    control_characters_refused_postgres,
    control_characters_are_refused_alike
);

/// A reference to a record that does not exist is a 422 naming the field, not a database
/// error (a pickup point in region 9999 was a 500).
async fn unknown_references_are_named(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let rows_before = app.row_counts().await?;
    let (status, body) = app
        .post(
            "/api/v1/admin/pickup-points",
            Some(&admin),
            &json!({ "name": "新自提点", "address": "海口市秀英区", "region_id": 9999 }),
        )
        .await?;
    assert_eq!(
        (status, error_code(&body), body["error"]["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_region",
            Some("region_id")
        ),
        "{body}"
    );
    assert_eq!(app.row_counts().await?, rows_before);
    app.stop().await
}
on_both_backends!(
    unknown_references_sqlite,
    unknown_references_postgres,
    unknown_references_are_named
);

/// Answers for one caller are never kept by a shared cache; HTML pages carry a
/// Content-Security-Policy that allows nothing from elsewhere; no answer leaks our URLs as a
/// referrer.
#[tokio::test]
async fn answers_carry_their_safety_headers() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let header = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    for path in ["/api/v1/me", "/api/v1/orders", "/api/v1/nowhere"] {
        let response = app
            .client
            .get(app.url(path))
            .bearer_auth(&member)
            .send()
            .await?;
        assert_eq!(
            header(&response, "cache-control").as_deref(),
            Some("no-store"),
            "{path}"
        );
        assert_eq!(
            header(&response, "referrer-policy").as_deref(),
            Some("same-origin")
        );
        assert_eq!(
            header(&response, "x-content-type-options").as_deref(),
            Some("nosniff")
        );
    }
    // A delivery note is a page: its policy lets in nothing from elsewhere.
    let (status, order, _) = app
        .place_order(
            &member,
            "headers-note",
            &json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery",
                "lines": [{ "sku_id": app.sku_id("6901234500011").await?, "qty": 10 }] }),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let id = order["id"].as_i64().unwrap_or_default();
    let response = app
        .client
        .get(app.url(&format!("/api/v1/orders/{id}/delivery-note")))
        .bearer_auth(&member)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, "content-type").is_some_and(|ct| ct.starts_with("text/html")));
    let policy = header(&response, "content-security-policy").unwrap_or_default();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{policy}");
    }
    app.stop().await
}
