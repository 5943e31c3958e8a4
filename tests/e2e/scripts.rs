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
    // A script running away on every cart is refused before it serves: the sample carts
    // every version prices first stop it, naming the limit.
    std::fs::write(&file, "fn adjust(line, member, now) { loop { } }")?;
    let refused = app
        .scripts
        .reload()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(refused.contains("Too many operations"), "{refused}");
    assert!(refused.contains("on a sample cart"), "{refused}");
    // One running away only on the hard hat serves, and is stopped on the first real quote.
    let cases = [
        (
            "fn adjust(line, member, now) { if line.item_no == \"AQM-001\" { loop { } } [] }",
            "Too many operations",
        ),
        (
            "fn adjust(line, member, now) {\n  if line.item_no == \"AQM-001\" { let s = \"批发\"; loop { s += s; } }\n  []\n}",
            "Length of string",
        ),
        (
            "fn deeper(n) { deeper(n + 1) }\nfn adjust(line, member, now) { if line.item_no == \"AQM-001\" { deeper(0) } [] }",
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
    // The editor's check: the same refusal with its line and column as numbers, and a good
    // draft's version; neither writes anything.
    let (status, checked) = app
        .post(
            &format!("{path}/check"),
            Some(&admin),
            &json!({ "source": "fn adjust(line, member, now) {\n  [#{ amount_fen: }]\n}" }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{checked}");
    assert_eq!(checked["problem"]["line"], 2, "{checked}");
    assert!(
        checked["problem"]["column"].as_i64().is_some_and(|c| c > 1),
        "{checked}"
    );
    assert!(checked["version"].is_null(), "{checked}");
    let (_, checked) = app
        .post(
            &format!("{path}/check"),
            Some(&admin),
            &json!({ "source": "fn adjust(line, member, now) { [] }" }),
        )
        .await?;
    assert!(checked["problem"].is_null(), "{checked}");
    assert_eq!(
        checked["version"].as_str().map(str::len),
        Some(12),
        "{checked}"
    );
    assert!(
        !app.scripts_dir().join("pricing.rhai").exists(),
        "a check writes nothing"
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
        .accounts()
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

/// The shipped `pricing.rhai`.
const SHIPPED: &str = include_str!("../../scripts/pricing.rhai");

/// The shipped script with one more rule, as an operator would draft it: members in 三亚 pay
/// 5% more on each line's catalogue total.
fn shipped_with_sanya_surcharge() -> anyhow::Result<String> {
    let end = "    out\n}";
    anyhow::ensure!(
        SHIPPED.matches(end).count() == 1,
        "adjust() no longer ends with `out`"
    );
    Ok(SHIPPED.replacen(
        end,
        "    if member.region == \"三亚\" {\n        out.push(#{ amount_fen: percent_of(line.line_total_fen, 5), label: \"三亚加价5%\" });\n    }\n    out\n}",
        1,
    ))
}

/// 5% of a non-negative amount, rounded half up to the fen (N).
fn five_percent(fen: i64) -> i64 {
    (fen * 5 + 50) / 100
}

/// A stored order line's total before the script: list price × quantity plus the catalogue's
/// own adjustments (level price, quantity break).
fn catalogue_total(line: &Value) -> i64 {
    let list = line["list_price_fen"].as_i64().unwrap_or_default()
        * line["qty"].as_i64().unwrap_or_default();
    let catalogue: i64 = line["adjustments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["source"] == "catalog")
        .map(|a| a["amount_fen"].as_i64().unwrap_or_default())
        .sum();
    list + catalogue
}

/// Every order, as the admin lists them.
async fn all_orders(app: &TestApp, admin: &str) -> anyhow::Result<Vec<Value>> {
    let mut orders = Vec::new();
    loop {
        let (status, page) = app
            .get(
                &format!("/api/v1/orders?limit=200&offset={}", orders.len()),
                Some(admin),
            )
            .await?;
        anyhow::ensure!(status == StatusCode::OK, "{status} {page}");
        let page = page.as_array().cloned().unwrap_or_default();
        if page.is_empty() {
            return Ok(orders);
        }
        orders.extend(page);
    }
}

fn id_of(value: &Value, field: &str) -> i64 {
    value[field].as_i64().unwrap_or_default()
}

/// Replay (M4) on the full demo's order history, with the shipped script serving: a draft that
/// adds 5% for 三亚 changes exactly the 三亚 orders, each order and line by the fen computed here
/// from the stored order lines; an order placed through checkout replays to the goods total it
/// was charged; a draft failing on some orders is reported on those orders only; `last` picks
/// the newest orders.
#[tokio::test]
async fn a_draft_replayed_on_past_orders_changes_exactly_the_sanya_orders() -> anyhow::Result<()> {
    let Some(app) = TestApp::start(Backend::Sqlite).await? else {
        return Ok(());
    };
    pifa::demo::load(
        &app.store,
        &pifa::accounts::passwords::Hasher::cheap()?,
        app.clock.now_ms(),
        pifa::demo::DemoSize::Full,
    )
    .await?;
    let admin = app.login(ADMIN, PASSWORD).await?;
    let path = "/api/v1/admin/scripts/pricing";
    let replay = |source: &str, last: i64| {
        let body = json!({ "source": source, "last": last });
        let (app, admin) = (&app, admin.clone());
        async move {
            app.post(&format!("{path}/replay"), Some(&admin), &body)
                .await
        }
    };
    // The demo's history was priced with no script; the shipped one serves from now on.
    let (status, saved) = app
        .call(
            reqwest::Method::PUT,
            path,
            Some(&admin),
            Some(&json!({ "source": SHIPPED, "note": "shipped default" })),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let serving = saved["serving_version"].clone();
    let member = app.login(MEMBER, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    let (status, placed, _) = app
        .place_order(
            &member,
            "replay-1",
            &json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery",
                     "lines": [{ "sku_id": red, "qty": 10 }] }),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{placed}");

    // The expected differences, from the orders as stored: 5% of each 三亚 line's catalogue
    // total, nothing for anyone else.
    let orders = all_orders(&app, &admin).await?;
    let sanya = app
        .store
        .regions()
        .list_regions()
        .await?
        .into_iter()
        .find(|r| r.name == "三亚")
        .map(|r| r.id);
    let mut expected_lines = std::collections::BTreeMap::new();
    for order in orders.iter().filter(|o| o["region_id"].as_i64() == sanya) {
        for line in order["lines"].as_array().into_iter().flatten() {
            let difference = five_percent(catalogue_total(line));
            if difference != 0 {
                expected_lines.insert((id_of(order, "id"), id_of(line, "line_no")), difference);
            }
        }
    }
    let mut expected_orders = std::collections::BTreeMap::<i64, i64>::new();
    for ((order_id, _), difference) in &expected_lines {
        *expected_orders.entry(*order_id).or_default() += difference;
    }
    assert!(
        expected_orders.len() >= 10 && expected_orders.len() < orders.len() / 2,
        "the demo has 三亚 orders among others: {} of {}",
        expected_orders.len(),
        orders.len()
    );

    let draft = shipped_with_sanya_surcharge()?;
    let (status, replayed) = replay(&draft, 1000).await?;
    assert_eq!(status, StatusCode::OK, "{replayed}");
    let summary = &replayed["summary"];
    assert_eq!(
        summary["orders_checked"],
        orders.len(),
        "every order has its inputs"
    );
    assert_eq!(summary["orders_failed"], 0, "{replayed}");
    assert_eq!(summary["orders_changed"], expected_orders.len());
    assert_eq!(
        summary["total_difference_fen"],
        expected_orders.values().sum::<i64>()
    );
    assert_eq!(summary["current_version"], serving);
    let changed = replayed["orders"].as_array().cloned().unwrap_or_default();
    let got_orders: std::collections::BTreeMap<i64, i64> = changed
        .iter()
        .map(|o| (id_of(o, "order_id"), id_of(o, "difference_fen")))
        .collect();
    assert_eq!(got_orders, expected_orders);
    let got_lines: std::collections::BTreeMap<(i64, i64), i64> = changed
        .iter()
        .flat_map(|o| {
            o["lines"].as_array().into_iter().flatten().map(|l| {
                (
                    (id_of(o, "order_id"), id_of(l, "line_no")),
                    id_of(l, "difference_fen"),
                )
            })
        })
        .collect();
    assert_eq!(got_lines, expected_lines);
    for order in &changed {
        assert_eq!(order["region"], "三亚");
        assert_eq!(
            id_of(order, "draft_total_fen") - id_of(order, "current_total_fen"),
            id_of(order, "difference_fen")
        );
        assert!(
            order["priced_with"].is_null(),
            "the demo's history had no script"
        );
    }
    let ids: Vec<i64> = changed.iter().map(|o| id_of(o, "order_id")).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first");

    // The serving script as its own draft changes nothing.
    let (status, same) = replay(SHIPPED, 1000).await?;
    assert_eq!(status, StatusCode::OK, "{same}");
    assert_eq!(same["summary"]["orders_checked"], orders.len());
    assert_eq!(same["summary"]["orders_changed"], 0, "{same}");
    assert_eq!(same["summary"]["total_difference_fen"], 0);
    assert_eq!(same["orders"], json!([]));

    // A cent more on every line: every order differs, and the order placed through checkout
    // with the script serving replays to exactly the goods total it was charged.
    let (status, cent) = replay(
        "fn adjust(line, member, now) { [#{ amount_fen: 1, label: \"一分\" }] }",
        1,
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{cent}");
    assert_eq!(
        cent["summary"]["orders_checked"], 1,
        "last: 1 is the newest order"
    );
    let newest = &cent["orders"][0];
    assert_eq!(newest["order_id"], placed["id"]);
    assert_eq!(newest["priced_with"], serving);
    assert_eq!(newest["region"], "海口");
    assert_eq!(newest["current_total_fen"], placed["goods_fen"]);
    assert_eq!(
        id_of(newest, "draft_total_fen"),
        id_of(&placed, "goods_fen") + 1
    );

    // A draft that fails at run time on 三亚 members fails those orders, and only those.
    let (status, failing) = replay(
        "fn adjust(line, member, now) {\n    if member.region == \"三亚\" { throw \"三亚未定价\"; }\n    []\n}",
        1000,
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{failing}");
    let failed: std::collections::BTreeSet<i64> = failing["orders"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| {
            o["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("draft: pricing.rhai:2:"))
        })
        .map(|o| id_of(o, "order_id"))
        .collect();
    let sanya_orders: std::collections::BTreeSet<i64> = orders
        .iter()
        .filter(|o| o["region_id"].as_i64() == sanya)
        .map(|o| id_of(o, "id"))
        .collect();
    assert_eq!(failed, sanya_orders);
    assert_eq!(failing["summary"]["orders_failed"], sanya_orders.len());
    app.stop().await
}

/// A draft that does not compile, or fails its own examples, is refused before any order is
/// read, naming `pricing.rhai:LINE:COLUMN`; `last` stays within 1 to 1,000.
#[tokio::test]
async fn a_refused_draft_replays_nothing() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let path = "/api/v1/admin/scripts/pricing/replay";
    let (status, refused) = app
        .post(
            path,
            Some(&admin),
            &json!({ "source": "fn adjust(line, member, now) {\n  [#{ amount_fen: }]\n}" }),
        )
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(error_code(&refused), "script_invalid");
    assert_eq!(refused["error"]["field"], "source");
    let message = refused["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("pricing.rhai:2:"), "{refused}");

    let failing_example = script("海口加价", 100).replacen("amount_fen: 100", "amount_fen: 101", 1);
    let (status, refused) = app
        .post(path, Some(&admin), &json!({ "source": failing_example }))
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("example 1"),
        "{refused}"
    );

    for last in [0, 1001] {
        let (status, refused) = app
            .post(
                path,
                Some(&admin),
                &json!({ "source": script("海口加价", 100), "last": last }),
            )
            .await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(refused["error"]["field"], "last");
    }
    // Nothing to replay yet (the fixture has no orders): an empty report, not an error.
    let (status, empty) = app
        .post(
            path,
            Some(&admin),
            &json!({ "source": script("海口加价", 100) }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{empty}");
    assert_eq!(empty["summary"]["orders_checked"], 0);
    app.stop().await
}
