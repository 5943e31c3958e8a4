//! Money stays within bounds whatever a plugin, a script or staff do to it (REQUIREMENTS N,
//! issue 16 item 6): a step may not take a line below zero or above the shop's
//! `max_price_percent` of its catalogue price, no order comes to more than one order may, sums
//! are checked (a member's credit, a confirmation's new quantities), and a failure is a clear
//! refusal, never a 500.

use pifa_e2e::pifa_demo::*;
use pifa_e2e::{Backend, TestApp, error_code, on_both_backends, plugin_component};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;
const HARD_HAT_RED: &str = "6901234500011";

fn hostile_output(mode: &str, policy: &str) -> String {
    format!(
        "[[plugin]]\nname = \"hostile-output\"\ncomponent = {:?}\non_error = {policy:?}\nsettings = {{ mode = {mode:?} }}\n",
        plugin_component("hostile-output").display().to_string()
    )
}

fn quote_body(sku: i64, qty: i64) -> Value {
    json!({ "delivery_method": "pickup", "lines": [{ "sku_id": sku, "qty": qty }] })
}

fn last_error(app: &TestApp) -> String {
    app.plugins
        .current()
        .named("hostile-output")
        .map(|p| p.stats.last_error())
        .unwrap_or_default()
}

async fn set_max_price_percent(app: &TestApp, admin: &str, percent: i64) -> anyhow::Result<Value> {
    let (_, mut settings) = app.get("/api/v1/admin/settings", Some(admin)).await?;
    settings["max_price_percent"] = json!(percent);
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/admin/settings",
            Some(admin),
            Some(&settings),
        )
        .await?;
    Ok(json!({ "status": status.as_u16(), "body": body }))
}

/// +4×10¹⁸ fen on a line is the plugin's failure (the quote goes on without it, or is refused
/// with `plugin_failed` under `reject`), as is anything above the shop's percent of the
/// catalogue price; within it, the plugin's price stands. The percent is the shop's setting.
#[tokio::test]
async fn a_plugin_cannot_price_a_line_out_of_bounds() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let member = app.login(MEMBER, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    let (status, plain) = app
        .post("/api/v1/orders/quote", Some(&member), &quote_body(red, 10))
        .await?;
    assert_eq!(status, StatusCode::OK, "{plain}");
    let plain_total = plain["total_fen"].as_i64().unwrap_or_default();
    let catalogue = plain["lines"][0]["list_price_fen"]
        .as_i64()
        .unwrap_or_default()
        * 10;

    app.install_plugins(&hostile_output("huge", "skip")).await?;
    let (status, quote) = app
        .post("/api/v1/orders/quote", Some(&member), &quote_body(red, 10))
        .await?;
    assert_eq!(status, StatusCode::OK, "{quote}");
    assert_eq!(quote["total_fen"].as_i64(), Some(plain_total), "{quote}");
    let error = last_error(&app);
    assert!(error.contains("more than"), "{error}");
    let (status, order, _) = app
        .place_order(
            &member,
            "huge-1",
            &json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery", "lines": [{ "sku_id": red, "qty": 10 }] }),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["total_fen"].as_i64(), Some(plain_total), "{order}");

    app.install_plugins(&hostile_output("huge", "reject"))
        .await?;
    let (status, refused) = app
        .post("/api/v1/orders/quote", Some(&member), &quote_body(red, 10))
        .await?;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{refused}");
    assert_eq!(error_code(&refused), "plugin_failed");

    // Twice the catalogue price on top: within 300%, it stands.
    app.install_plugins(&hostile_output("double", "skip"))
        .await?;
    let (_, doubled) = app
        .post("/api/v1/orders/quote", Some(&member), &quote_body(red, 10))
        .await?;
    assert_eq!(
        doubled["total_fen"].as_i64(),
        Some(plain_total + 2 * catalogue),
        "{doubled}"
    );
    // Three times on top, and a fen: beyond 300%, refused, naming the percent.
    app.install_plugins(&hostile_output("triple", "skip"))
        .await?;
    let (_, tripled) = app
        .post("/api/v1/orders/quote", Some(&member), &quote_body(red, 10))
        .await?;
    assert_eq!(
        tripled["total_fen"].as_i64(),
        Some(plain_total),
        "{tripled}"
    );
    let error = last_error(&app);
    assert!(error.contains("more than 300%"), "{error}");

    // The shop may allow more (up to 1000%), never less than the catalogue price itself.
    let changed = set_max_price_percent(&app, &admin, 500).await?;
    assert_eq!(changed["status"], 200, "{changed}");
    let (_, allowed) = app
        .post("/api/v1/orders/quote", Some(&member), &quote_body(red, 10))
        .await?;
    assert_eq!(
        allowed["total_fen"].as_i64(),
        Some(plain_total + 3 * catalogue + 1),
        "{allowed}"
    );
    let refused = set_max_price_percent(&app, &admin, 50).await?;
    assert_eq!(refused["status"], 422, "{refused}");
    assert_eq!(error_code(&refused["body"]), "invalid_setting");
    assert_eq!(refused["body"]["error"]["field"], "max_price_percent");
    app.stop().await
}

/// Orders written before totals were bounded (three of 4×10¹⁸ fen on monthly settlement) once
/// overflowed the sum of what the member owes: every later checkout of his failed with a 500,
/// even after the plugin was gone. The sum counts each order at most what one order may come
/// to: the next order is held for staff (over the limit), not failed.
async fn credit_sums_cannot_overflow(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let member = app.login(MEMBER, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    let member_id = app
        .store
        .accounts()
        .user_id_by_phone(MEMBER)
        .await?
        .unwrap_or_default();
    let (_, mut settings) = app.get("/api/v1/admin/settings", Some(&admin)).await?;
    settings["payment_methods"]["monthly_settlement"] = json!(true);
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/admin/settings",
            Some(&admin),
            Some(&settings),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/v1/admin/members/{member_id}/credit"),
            Some(&admin),
            Some(&json!({ "terms": "monthly", "limit_fen": 100_000_000 })),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    let order = |key: &str| {
        let body = json!({ "delivery_method": "pickup", "payment_method": "monthly_settlement", "lines": [{ "sku_id": red, "qty": 10 }] });
        let key = key.to_owned();
        let app = &app;
        let member = member.clone();
        async move { app.place_order(&member, &key, &body).await }
    };
    let mut ids = Vec::new();
    for n in 0..3 {
        let (status, placed, _) = order(&format!("credit-{n}")).await?;
        assert_eq!(status, StatusCode::CREATED, "{placed}");
        assert_eq!(placed["credit_hold"], false, "{placed}");
        ids.push(placed["id"].as_i64().unwrap_or_default());
    }
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    let changed = app
        .execute_sql(&format!(
            "UPDATE orders SET total_fen = 4000000000000000000, goods_fen = 4000000000000000000 WHERE id IN ({})",
            ids.join(", ")
        ))
        .await?;
    assert_eq!(changed, 3);

    let (status, next, _) = order("credit-next").await?;
    assert_eq!(status, StatusCode::CREATED, "{next}");
    assert_eq!(next["credit_hold"], true, "over the limit: held, {next}");
    app.stop().await
}
on_both_backends!(
    credit_sums_cannot_overflow_sqlite,
    credit_sums_cannot_overflow_postgres,
    credit_sums_cannot_overflow
);

/// A manager's changes at confirmation are exact and bounded: doubling a line's quantity
/// doubles its total (its member price scales with it), and a quantity and price that come to
/// more than one order may are refused naming the field, before anything is stored.
#[tokio::test]
async fn confirmation_changes_are_exact_and_bounded() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let manager = app.login(MANAGER_HAIKOU, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    let (status, order, _) = app
        .place_order(
            &member,
            "confirm-bounds",
            &json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery", "lines": [{ "sku_id": red, "qty": 10 }] }),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let id = order["id"].as_i64().unwrap_or_default();
    let line_total = order["lines"][0]["line_total_fen"]
        .as_i64()
        .unwrap_or_default();
    assert!(
        !order["lines"][0]["adjustments"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "the member's level price is an adjustment that must scale: {order}"
    );

    let (status, refused) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/confirm"),
            Some(&manager),
            &json!({ "changes": [{ "line_no": 1, "qty": 1_000_000, "unit_price_fen": pifa::money::MAX_FEN, "reason": "客户要求" }] }),
        )
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(error_code(&refused), "amount_out_of_range");
    assert_eq!(refused["error"]["field"], "changes[0].unit_price_fen");
    let (_, unchanged) = app
        .get(&format!("/api/v1/orders/{id}"), Some(&member))
        .await?;
    assert_eq!(unchanged["status"], "pending_confirmation", "{unchanged}");
    assert_eq!(unchanged["total_fen"], order["total_fen"]);

    let (status, confirmed) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/confirm"),
            Some(&manager),
            &json!({ "changes": [{ "line_no": 1, "qty": 20, "reason": "客户加量" }] }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    assert_eq!(
        confirmed["lines"][0]["line_total_fen"].as_i64(),
        Some(line_total * 2),
        "{confirmed}"
    );
    app.stop().await
}
