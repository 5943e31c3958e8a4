//! Pricing rules as scripts (REQUIREMENTS M4, G4): `pricing.rhai` edited on a running server.

use pifa_e2e::pifa_demo::*;
use pifa_e2e::{Backend, TestApp, error_code, eventually};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;
const HARD_HAT_RED: &str = "6901234500011";

fn script(label: &str, fen: i64) -> String {
    format!(
        r#"fn adjust(line, member, now) {{
    if member.region == "海口" {{ return [#{{ amount_fen: {fen}, label: "{label}" }}]; }}
    []
}}
fn examples() {{
    [#{{ line: #{{ line_total_fen: 100 }}, member: #{{ region: "海口" }}, now: #{{}},
        expect: [#{{ amount_fen: {fen}, label: "{label}" }}] }}]
}}
"#
    )
}

async fn script_labels(
    app: &TestApp,
    member: &str,
    sku: i64,
) -> anyhow::Result<(StatusCode, Value)> {
    app.post(
        "/api/v1/orders/quote",
        Some(member),
        &json!({ "delivery_method": "pickup", "lines": [{ "sku_id": sku, "qty": 10 }] }),
    )
    .await
}

fn script_adjustment(quote: &Value) -> Option<(String, i64)> {
    quote["lines"][0]["adjustments"]
        .as_array()?
        .iter()
        .find(|a| a["source"] == "script")
        .map(|a| {
            (
                a["label"].as_str().unwrap_or("").to_owned(),
                a["amount_fen"].as_i64().unwrap_or(0),
            )
        })
}

/// Waits (at most 5 s) for the watcher to serve what `check` expects.
async fn eventually_quote(
    app: &TestApp,
    member: &str,
    sku: i64,
    check: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    eventually("the script change reaching the quote", || async {
        let (_, quote) = script_labels(app, member, sku).await?;
        Ok(check(&quote).then_some(quote))
    })
    .await
}

async fn wait_for_error(app: &TestApp, contains: &str) -> anyhow::Result<String> {
    eventually(
        &format!("a reload error containing {contains:?}"),
        || async {
            let error = app
                .scripts
                .last_error
                .lock()
                .map(|e| e.clone().unwrap_or_default())
                .unwrap_or_default();
            Ok(error.contains(contains).then_some(error))
        },
    )
    .await
}

/// Editing `pricing.rhai` changes the next quote, saved in place and saved by rename; a syntax
/// error and a version failing its own examples each leave the old version serving and report
/// `pricing.rhai:LINE:COLUMN`.
#[tokio::test]
async fn editing_the_pricing_script_changes_the_next_quote() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    let dir = app.scripts_dir();
    let file = dir.join("pricing.rhai");
    let (_, before) = script_labels(&app, &member, red).await?;
    assert_eq!(script_adjustment(&before), None);
    let plain_total = before["total_fen"].as_i64().unwrap_or_default();

    // Saved in place.
    std::fs::write(&file, script("海口加价", 100))?;
    let quote = eventually_quote(&app, &member, red, |q| script_adjustment(q).is_some()).await?;
    assert_eq!(
        script_adjustment(&quote),
        Some(("海口加价".to_owned(), 100))
    );
    assert_eq!(quote["total_fen"], plain_total + 100);
    std::fs::write(&file, script("海口加价二", 200))?;
    eventually_quote(&app, &member, red, |q| {
        script_adjustment(q) == Some(("海口加价二".to_owned(), 200))
    })
    .await?;

    // Saved by rename.
    let staged = dir.join(".pricing.rhai.tmp");
    std::fs::write(&staged, script("海口优惠", -300))?;
    std::fs::rename(&staged, &file)?;
    eventually_quote(&app, &member, red, |q| {
        script_adjustment(q) == Some(("海口优惠".to_owned(), -300))
    })
    .await?;

    // A syntax error on line 2: refused with its place; the last good version serves.
    std::fs::write(&file, "fn adjust(line, member, now) {\n    let x = ;\n}\n")?;
    let error = wait_for_error(&app, "pricing.rhai:2:").await?;
    assert!(error.starts_with("pricing.rhai:2:"), "{error}");
    let (_, quote) = script_labels(&app, &member, red).await?;
    assert_eq!(
        script_adjustment(&quote),
        Some(("海口优惠".to_owned(), -300))
    );

    // Failing its own example: refused, naming the example.
    std::fs::write(
        &file,
        script("海口加价", 100).replacen("amount_fen: 100", "amount_fen: 101", 1),
    )?;
    let error = wait_for_error(&app, "example 1").await?;
    assert!(error.contains("pricing.rhai"), "{error}");
    let (_, quote) = script_labels(&app, &member, red).await?;
    assert_eq!(
        script_adjustment(&quote),
        Some(("海口优惠".to_owned(), -300))
    );
    app.stop().await
}

/// A script that loops forever, builds a huge string or recurses without end is stopped by
/// the limits with a clear error (`pricing_unavailable`, staff told); the server keeps serving.
#[tokio::test]
async fn runaway_scripts_are_stopped_by_the_limits() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let admin = app.login(ADMIN, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    let dir = app.scripts_dir();
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("pricing.rhai");
    let cases = [
        (
            "fn adjust(line, member, now) { loop { } }",
            "Too many operations",
        ),
        (
            "fn adjust(line, member, now) { let s = \"批发\"; loop { s += s; } }",
            "Length of string",
        ),
        (
            "fn deeper(n) { deeper(n + 1) }\nfn adjust(line, member, now) { deeper(0) }",
            "Stack overflow",
        ),
    ];
    for (source, stopped_by) in cases {
        std::fs::write(&file, source)?;
        app.scripts.reload().map_err(anyhow::Error::msg)?;
        let (status, refused) = script_labels(&app, &member, red).await?;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{refused}");
        assert_eq!(error_code(&refused), "pricing_unavailable");
        let message = refused["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(stopped_by), "{message}");
        assert!(message.contains("pricing.rhai:"), "{message}");
        let (status, _) = app.get("/healthz", None).await?;
        assert_eq!(status, StatusCode::OK);
    }
    let (_, inbox) = app.get("/api/v1/me/inbox", Some(&admin)).await?;
    assert!(
        inbox.to_string().contains("定价脚本出错"),
        "staff are told: {inbox}"
    );
    std::fs::remove_file(&file)?;
    app.scripts.reload().map_err(anyhow::Error::msg)?;
    let (status, _) = script_labels(&app, &member, red).await?;
    assert_eq!(status, StatusCode::OK);
    app.stop().await
}

/// The admin API: a refused script names its place and writes nothing; a saved one serves,
/// with who, when and the diff in the history; a rollback puts an earlier version back; a
/// preview prices a cart with a draft beside the serving script, by the fen the test computes.
#[tokio::test]
async fn scripts_through_the_admin_api() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let member = app.login(MEMBER, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    let path = "/api/v1/admin/scripts/pricing";
    let put = |source: String| {
        let (app, admin) = (&app, admin.clone());
        async move {
            let body = json!({ "source": source, "note": "测试" });
            app.call(reqwest::Method::PUT, path, Some(&admin), Some(&body))
                .await
        }
    };

    let (status, refused) =
        put("fn adjust(line, member, now) {\n  [#{ amount_fen: }]\n}".to_owned()).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(error_code(&refused), "script_invalid");
    assert_eq!(refused["error"]["field"], "source");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("pricing.rhai:2:"),
        "{refused}"
    );
    assert!(
        !app.scripts_dir().join("pricing.rhai").exists(),
        "nothing written"
    );

    let (status, saved) = put(script("海口加价", 100)).await?;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert!(saved["serving_version"].is_string());
    let (_, quote) = script_labels(&app, &member, red).await?;
    assert_eq!(
        script_adjustment(&quote),
        Some(("海口加价".to_owned(), 100))
    );
    let (status, _) = put(script("海口加价二", 200)).await?;
    assert_eq!(status, StatusCode::OK);

    let (_, history) = app.get(&format!("{path}/history"), Some(&admin)).await?;
    assert_eq!(history.as_array().map(Vec::len), Some(2));
    assert!(
        history[0]["diff"]
            .as_str()
            .unwrap_or("")
            .contains("+    if member.region"),
        "{history}"
    );
    assert!(
        history[0]["diff"]
            .as_str()
            .unwrap_or("")
            .contains("-    if member.region"),
        "{history}"
    );
    assert!(history[0]["author_id"].is_i64());
    let first = history[1]["id"].as_i64().unwrap_or_default();
    let (status, _) = app
        .post(
            &format!("{path}/history/{first}/rollback"),
            Some(&admin),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    let (_, quote) = script_labels(&app, &member, red).await?;
    assert_eq!(
        script_adjustment(&quote),
        Some(("海口加价".to_owned(), 100))
    );

    // Preview: 5% on 海口 lines, computed here from the serving quote's line totals.
    let member_id = app
        .store
        .user_id_by_phone(MEMBER)
        .await?
        .unwrap_or_default();
    let draft = r#"fn adjust(line, member, now) {
    if member.region == "海口" { return [#{ amount_fen: percent_of(line.line_total_fen, 5), label: "海口加价5%" }]; }
    []
}"#;
    let (status, preview) = app
        .post(
            &format!("{path}/preview"),
            Some(&admin),
            &json!({ "source": draft, "member_id": member_id, "lines": [{ "sku_id": red, "qty": 10 }] }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let current = preview["current"]["lines"][0]["line_total_fen"]
        .as_i64()
        .unwrap_or_default();
    let before_script = current - 100;
    let expected = before_script + (before_script * 5 + 50) / 100;
    assert_eq!(
        preview["draft"]["lines"][0]["line_total_fen"], expected,
        "{preview}"
    );
    assert_eq!(preview["differences"][0]["draft_fen"], expected);
    let (_, still) = script_labels(&app, &member, red).await?;
    assert_eq!(
        script_adjustment(&still),
        Some(("海口加价".to_owned(), 100)),
        "a preview changes nothing"
    );
    app.stop().await
}
