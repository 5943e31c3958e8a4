//! The plugin platform (REQUIREMENTS M2, M3, M7, G1): real components built from `plugins/`,
//! installed through `plugins.toml` alone, over HTTP.

use std::sync::Arc;

use pifa::native::NativeCode;
use pifa_e2e::pifa_demo::*;
use pifa_e2e::{Backend, TestApp, error_code, eventually, on_both_backends, plugin_component};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;
const HARD_HAT_RED: &str = "6901234500011";
const GLOVES: &str = "6901234500042";
/// Sold by the bucket (pack of 1), so a member can take 1 or 2.
const COATING: &str = "6901234500066";
const SALES: &str = "/api/v1/plugins/flash-sale/sales";

/// The flash sale installed with the shipped defaults but a generous deadline: these tests are
/// about what the plugin counts, and on a loaded machine 200 concurrent checkouts can make a
/// storage read outlast the default 250 ms, when the quote goes on without the sale (by
/// design) and the rush then sells the coating out at the list price.
pub(crate) fn flash_sale_toml() -> String {
    format!(
        "[[plugin]]\nname = \"flash-sale\"\ncomponent = {:?}\norder = 10\ncapabilities = [\"kv\"]\non_error = {{ checkout = \"reject\" }}\nevents = [\"order.closed\"]\nroute_roles = [\"public\", \"admin\", \"customer_service\"]\nsettings = {{ label = \"限时抢购价\" }}\n\n[limits]\ndeadline_ms = 30000\nmember_deadline_ms = 30000\nhost_call_ms = 30000\n",
        plugin_component("flash-sale").display().to_string()
    )
}

/// A sale on `sku` at `price_fen`, running for the next hour.
async fn create_sale(
    app: &TestApp,
    staff: &str,
    sku: i64,
    price_fen: i64,
    total: i64,
    per_member: i64,
) -> anyhow::Result<i64> {
    let now = app.clock.now_ms();
    let (status, sale) = app
        .post(
            SALES,
            Some(staff),
            &json!({ "name": "安全帽秒杀", "starts_at_ms": now - 1000, "ends_at_ms": now + 3_600_000,
                "total_limit": total, "per_member_limit": per_member, "items": [{ "sku_id": sku, "price_fen": price_fen }] }),
        )
        .await?;
    anyhow::ensure!(status == StatusCode::CREATED, "{status} {sale}");
    sale["id"]
        .as_i64()
        .ok_or_else(|| anyhow::anyhow!("no id in {sale}"))
}

/// A counter of a plugin's namespace, as stored.
async fn counter(app: &TestApp, plugin: &str, key: &str) -> anyhow::Result<i64> {
    Ok(app
        .store
        .plugins()
        .plugin_kv_get(plugin, key)
        .await?
        .map_or(0, |(_, n)| n))
}

fn quote_body(sku: i64, qty: i64) -> Value {
    json!({ "delivery_method": "pickup", "lines": [{ "sku_id": sku, "qty": qty }] })
}

/// How many calls `plugin` has answered since it loaded (the back office's count).
async fn plugin_calls(app: &TestApp, admin: &str, plugin: &str) -> anyhow::Result<i64> {
    let shown = app.plugin_status(admin, plugin).await?;
    shown["calls"]
        .as_i64()
        .ok_or_else(|| anyhow::anyhow!("{plugin} shows no calls: {shown}"))
}

fn order_body(sku: i64, qty: i64) -> Value {
    json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery", "lines": [{ "sku_id": sku, "qty": qty }] })
}

fn labels(quote: &Value) -> Vec<String> {
    quote["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|l| l["adjustments"].as_array().cloned().unwrap_or_default())
        .chain(quote["adjustments"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["label"].as_str().map(str::to_owned))
        .collect()
}

/// The storefront's countdowns are a shared route: the kernel keeps its answer a couple of
/// seconds per price visibility, so a crowd behind one address (a market's Wi-Fi) is served
/// past the per-client route quota without calling the plugin; a sale staff create shows at
/// once (a stored value clears the kept answers); what was sold shows within the seconds.
#[tokio::test]
async fn the_storefront_is_shared_by_everyone_who_sees_it_alike() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let service = app.login(SERVICE, PASSWORD).await?;
    let member = app.login(MEMBER, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    let gloves = app.sku_id(GLOVES).await?;
    app.install_plugins(&flash_sale_toml().replacen(
        "settings = ",
        "quota = { route_requests_per_minute = 3 }\nsettings = ",
        1,
    ))
    .await?;
    const STOREFRONT: &str = "/api/v1/plugins/flash-sale/storefront";
    let sale = create_sale(&app, &service, red, 1500, 100, 20).await?;
    for n in 1..=10 {
        let (status, shown) = app.get(STOREFRONT, None).await?;
        assert_eq!(status, StatusCode::OK, "visitor request {n}: {shown}");
        assert_eq!(shown["sales"][0]["id"], sale);
        assert!(
            shown["sales"][0]["items"][0]["price_fen"].is_null(),
            "{shown}"
        );
    }
    let (_, seen) = app.get(STOREFRONT, Some(&member)).await?;
    assert_eq!(
        seen["sales"][0]["items"][0]["price_fen"], 1500,
        "kept apart from the visitors' answer: {seen}"
    );

    create_sale(&app, &service, gloves, 900, 50, 5).await?;
    let (_, seen) = app.get(STOREFRONT, Some(&member)).await?;
    assert_eq!(
        seen["sales"].as_array().map(Vec::len),
        Some(2),
        "a new sale shows at once: {seen}"
    );

    let (status, order, _) = app
        .place_order(&member, "shared-1", &order_body(red, 10))
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    app.clock.advance_ms(2_001);
    let (_, seen) = app.get(STOREFRONT, Some(&member)).await?;
    assert_eq!(
        seen["sales"][0]["remaining"], 90,
        "what was sold shows after the route's seconds: {seen}"
    );
    Ok(())
}

/// G1 end to end, installed through `plugins.toml` alone: staff create a sale through its
/// routes (roles checked by the kernel), the quote shows the flash price, the storefront the
/// countdown (no price for a visitor in the internal shop mode), checkout reserves the quota,
/// the per-member limit refuses with the plugin's words, a cancelled order gives its quota
/// back; removed from `plugins.toml`, the effect leaves new quotes without a restart while the
/// placed order keeps its price.
#[tokio::test]
async fn flash_sale_end_to_end() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let service = app.login(SERVICE, PASSWORD).await?;
    let member = app.login(MEMBER, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;

    // Not installed: no such routes, no effect.
    let (status, _) = app.get(SALES, Some(&admin)).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, plain) = app
        .post("/api/v1/orders/quote", Some(&member), &quote_body(red, 10))
        .await?;
    let plain_total = plain["total_fen"].as_i64().unwrap_or_default();

    app.install_plugins(&flash_sale_toml()).await?;
    let (status, _) = app
        .post(SALES, Some(&member), &json!({ "name": "x" }))
        .await?;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a member may not create sales"
    );
    let (status, refused) = app
        .post(SALES, Some(&service), &json!({ "name": "坏", "starts_at_ms": 10, "ends_at_ms": 5, "total_limit": 1, "per_member_limit": 1, "items": [{ "sku_id": red, "price_fen": 100 }] }))
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(refused["error"]["field"].is_string(), "{refused}");
    let sale = create_sale(&app, &service, red, 1500, 100, 20).await?;

    let (_, docs) = app.get("/api/openapi.json", None).await?;
    assert!(
        docs["paths"]["/api/v1/plugins/flash-sale/sales"]["post"].is_object(),
        "the plugin's routes are published"
    );

    let (status, quote) = app
        .post("/api/v1/orders/quote", Some(&member), &quote_body(red, 10))
        .await?;
    assert_eq!(status, StatusCode::OK, "{quote}");
    assert!(labels(&quote).contains(&"限时抢购价".to_owned()), "{quote}");
    assert_eq!(quote["lines"][0]["line_total_fen"], 15_000, "10 × 15.00");
    let adjustment = quote["lines"][0]["adjustments"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["source"] == "plugin:flash-sale"))
        .cloned()
        .unwrap_or_default();
    assert!(adjustment["amount_fen"].as_i64().unwrap_or(0) < 0);

    let (status, shown) = app
        .get("/api/v1/plugins/flash-sale/storefront", None)
        .await?;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["sales"][0]["state"], "active");
    assert!(shown["sales"][0]["seconds_left"].as_i64().unwrap_or(0) > 3000);
    assert!(
        shown["sales"][0]["items"][0]["price_fen"].is_null(),
        "a visitor sees no price: {shown}"
    );
    let (_, seen) = app
        .get("/api/v1/plugins/flash-sale/storefront", Some(&member))
        .await?;
    assert_eq!(seen["sales"][0]["items"][0]["price_fen"], 1500);

    let calls_before = plugin_calls(&app, &admin, "flash-sale").await?;
    let (status, order, _) = app
        .place_order(&member, "flash-1", &order_body(red, 10))
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["lines"][0]["line_total_fen"], 15_000);
    let id = order["id"].as_i64().unwrap_or_default();
    assert_eq!(
        counter(&app, "flash-sale", &format!("sold:{sale}")).await?,
        10
    );
    assert_eq!(
        plugin_calls(&app, &admin, "flash-sale").await? - calls_before,
        2,
        "an order with a flash line: the plugin's quote and its checkout"
    );
    // A cart with no flash line: the quote says so (`skip_checkout`) and checkout does not
    // call the plugin again.
    let gloves = app.sku_id(GLOVES).await?;
    let calls_before = plugin_calls(&app, &admin, "flash-sale").await?;
    let (status, plain_order, _) = app
        .place_order(&member, "flash-plain", &order_body(gloves, 12))
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{plain_order}");
    assert_eq!(
        plugin_calls(&app, &admin, "flash-sale").await? - calls_before,
        1,
        "an order without a flash line: the plugin's quote only"
    );
    let (status, over, _) = app
        .place_order(&member, "flash-2", &order_body(red, 20))
        .await?;
    assert_eq!(status, StatusCode::CONFLICT, "{over}");
    assert_eq!(error_code(&over), "limit_reached");
    assert!(
        over["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("每人限购20件"),
        "{over}"
    );
    assert_eq!(
        counter(&app, "flash-sale", &format!("sold:{sale}")).await?,
        10,
        "a refusal reserves nothing"
    );

    // Cancelled: the order.closed event gives the quota back (once).
    let (status, _) = app
        .post(
            &format!("/api/v1/orders/{id}/cancel"),
            Some(&member),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    eventually("the quota given back", || async {
        Ok((counter(&app, "flash-sale", &format!("sold:{sale}")).await? == 0).then_some(()))
    })
    .await?;
    let closed = app
        .store
        .plugins()
        .order_event_ids(id, "order.closed")
        .await?;
    let event = closed.first().copied().unwrap_or_default();
    for _ in 0..2 {
        let again = app.plugins.deliver("flash-sale", event).await?;
        assert_eq!(again, pifa::plugins::events::Delivery::AlreadyDelivered);
    }
    assert_eq!(
        counter(&app, "flash-sale", &format!("sold:{sale}")).await?,
        0,
        "given back once"
    );

    let (status, kept, _) = app
        .place_order(&member, "flash-3", &order_body(red, 10))
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{kept}");
    let kept_id = kept["id"].as_i64().unwrap_or_default();

    // Uninstalled by editing plugins.toml: new quotes lose the price, the order keeps it.
    app.install_plugins("").await?;
    let (_, after) = app
        .post("/api/v1/orders/quote", Some(&member), &quote_body(red, 10))
        .await?;
    assert!(
        !labels(&after).contains(&"限时抢购价".to_owned()),
        "{after}"
    );
    assert_eq!(after["total_fen"], plain_total);
    let (_, stored) = app
        .get(&format!("/api/v1/orders/{kept_id}"), Some(&member))
        .await?;
    assert_eq!(stored["lines"][0]["line_total_fen"], 15_000);
    assert!(
        stored["lines"][0]["adjustments"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["source"] == "plugin:flash-sale")),
        "the order keeps who changed its price: {stored}"
    );
    let (status, _) = app.get(SALES, Some(&admin)).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "its routes went with it");
    app.stop().await
}

/// 200 concurrent checkouts against a sale of 20 with 2 per member, 12 members ordering 1 or
/// 2 at a time across several orders: exactly 20 sold, nobody above 2, the counters equal to
/// what the orders hold; and an order the plugin accepted but the kernel refused for stock
/// leaves the quota untouched.
async fn flash_sale_never_oversells(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let service = app.login(SERVICE, PASSWORD).await?;
    app.install_plugins(&flash_sale_toml()).await?;
    let coating = app.sku_id(COATING).await?;
    let gloves = app.sku_id(GLOVES).await?;
    let sale = create_sale(&app, &service, coating, 1000, 20, 2).await?;
    let members = app.approved_members(12).await?;
    let app = Arc::new(app);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..200_usize {
        let (app, token, count) = (
            app.clone(),
            members[n % members.len()].clone(),
            members.len(),
        );
        tasks.spawn(async move {
            let qty = 1 + (n % 2) as i64;
            let body = json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery",
                "lines": [{ "sku_id": coating, "qty": qty }, { "sku_id": gloves, "qty": 12 * (1 + (n % 3) as i64) }] });
            let (status, order, _) = app.place_order(&token, &format!("rush-{n}"), &body).await?;
            Ok::<_, anyhow::Error>((
                n % count,
                status,
                error_code(&order).to_owned(),
                qty,
            ))
        });
    }
    let mut bought = vec![0_i64; members.len()];
    while let Some(result) = tasks.join_next().await {
        let (member, status, code, qty) = result??;
        match status {
            StatusCode::CREATED => bought[member] += qty,
            StatusCode::CONFLICT => assert_eq!(code, "limit_reached"),
            other => anyhow::bail!("unexpected {other} ({code})"),
        }
    }
    assert_eq!(
        bought.iter().sum::<i64>(),
        20,
        "exactly the total: {bought:?}"
    );
    assert!(bought.iter().all(|b| *b <= 2), "nobody above 2: {bought:?}");
    assert_eq!(
        counter(&app, "flash-sale", &format!("sold:{sale}")).await?,
        20
    );

    // Accepted by the plugin (within its limits), refused by the kernel (600 on the shelf):
    // the quota is untouched.
    let red = app.sku_id(HARD_HAT_RED).await?;
    let other = create_sale(&app, &service, red, 100, 5000, 5000).await?;
    let (status, refused, _) = app
        .place_order(&members[0], "no-stock", &order_body(red, 610))
        .await?;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(error_code(&refused), "out_of_stock");
    assert_eq!(
        counter(&app, "flash-sale", &format!("sold:{other}")).await?,
        0
    );
    let app = Arc::try_unwrap(app).map_err(|_| anyhow::anyhow!("app still shared"))?;
    app.stop().await
}
on_both_backends!(
    flash_sale_never_oversells_sqlite,
    flash_sale_never_oversells_postgres,
    flash_sale_never_oversells
);

fn hostile_toml(name: &str, policy: &str, extra: &str) -> String {
    format!(
        "[[plugin]]\nname = {name:?}\ncomponent = {:?}\non_error = {policy:?}\n{extra}\n",
        plugin_component(name).display().to_string()
    )
}

/// Each misbehaving plugin, installed with `skip` while checkouts keep going: the order goes
/// through without it, the failure is logged with its name and counted; with `reject` the
/// quote is refused with `plugin_failed`. `pifa plugins list` shows the failures.
#[tokio::test]
async fn hostile_plugins_are_contained() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    let cases: [(&str, &str, &str); 8] = [
        ("hostile-loop", "", "fuel exhausted"),
        ("hostile-memory", "", "memory limit"),
        ("hostile-recursion", "", "stack"),
        ("hostile-panic", "", "flash sale table corrupt"),
        ("hostile-log", "", "log cap"),
        (
            "hostile-output",
            "settings = { mode = \"negative\" }",
            "less than nothing",
        ),
        (
            "hostile-output",
            "settings = { mode = \"overflow\" }",
            "overflows",
        ),
        (
            "hostile-output",
            "settings = { mode = \"unknown-line\" }",
            "unknown line 999",
        ),
    ];
    for (n, (name, extra, reason)) in cases.into_iter().enumerate() {
        app.install_plugins(&hostile_toml(name, "skip", extra))
            .await?;
        let stats = app.plugin_stats(name)?;
        let failures = stats.failures.load(std::sync::atomic::Ordering::Relaxed);
        let (status, order, _) = app
            .place_order(&member, &format!("hostile-{n}"), &order_body(red, 10))
            .await?;
        assert_eq!(status, StatusCode::CREATED, "{name} with skip: {order}");
        assert!(
            !labels(&order).iter().any(|l| l.contains("hostile")),
            "no adjustment from {name}"
        );
        assert!(stats.failures.load(std::sync::atomic::Ordering::Relaxed) > failures);
        let last = stats.last_error();
        assert!(
            last.contains(reason),
            "{name}: {last:?} should say {reason:?}"
        );

        app.install_plugins(&hostile_toml(name, "reject", extra))
            .await?;
        let (status, refused) = app
            .post("/api/v1/orders/quote", Some(&member), &quote_body(red, 10))
            .await?;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{name} with reject"
        );
        assert_eq!(error_code(&refused), "plugin_failed");
        assert!(
            refused["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains(name)
        );
    }
    app.plugins.flush_stats().await?;
    let listed = pifa::plugins::cli::list(
        &app.plugins_toml(),
        Some(app.store.clone()),
        NativeCode::Refused,
    )
    .await?;
    assert!(listed.contains("hostile-output"), "{listed}");
    let row = app.store.plugins().plugin_stats().await?;
    assert!(
        row.iter()
            .any(|r| r.plugin == "hostile-output" && r.failures >= 2),
        "{row:?}"
    );

    // A static counter reads 1 on every call: each call is a fresh instance.
    app.install_plugins(&hostile_toml("static-counter", "skip", ""))
        .await?;
    for _ in 0..3 {
        let (_, quote) = app
            .post("/api/v1/orders/quote", Some(&member), &quote_body(red, 10))
            .await?;
        assert!(labels(&quote).contains(&"call 1".to_owned()), "{quote}");
    }

    // Settings its schema refuses: not loaded, naming the setting.
    let refused = app
        .install_plugins(&hostile_toml(
            "hostile-output",
            "skip",
            "settings = { mode = \"nonsense\" }",
        ))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(refused.contains("settings /mode"), "{refused}");

    // Importing kv without the grant: refused at load, naming the interface; the previous
    // set keeps serving.
    let refused = app
        .install_plugins(&hostile_toml("hostile-sneaky-kv", "skip", ""))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(refused.contains("pifa:plugin/kv@0.1.0"), "{refused}");
    assert!(refused.contains("hostile-sneaky-kv"), "{refused}");
    assert!(app.plugins.current().named("static-counter").is_some());
    app.stop().await
}

/// Repeated failures suspend a plugin (staff are told in their inbox); the shop keeps selling.
#[tokio::test]
async fn a_failing_plugin_is_suspended_and_staff_told() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let admin = app.login(ADMIN, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    app.install_plugins(&format!(
        "[limits]\nsuspend_after = 3\n{}",
        hostile_toml("hostile-panic", "reject", "")
    ))
    .await?;
    for _ in 0..3 {
        let (status, _) = app
            .post("/api/v1/orders/quote", Some(&member), &quote_body(red, 10))
            .await?;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }
    let (status, quote) = app
        .post("/api/v1/orders/quote", Some(&member), &quote_body(red, 10))
        .await?;
    assert_eq!(status, StatusCode::OK, "suspended, skipped: {quote}");
    eventually("staff told of the suspension", || async {
        let (_, inbox) = app.get("/api/v1/me/inbox", Some(&admin)).await?;
        Ok(inbox.to_string().contains("hostile-panic").then_some(()))
    })
    .await?;
    // Staff lift the suspension (M7): it is called again at once (and fails again).
    let (status, body) = app
        .post(
            "/api/v1/admin/plugins/hostile-panic/resume",
            Some(&admin),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _) = app
        .post("/api/v1/orders/quote", Some(&member), &quote_body(red, 10))
        .await?;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "serving again");
    let (status, body) = app
        .post(
            "/api/v1/admin/plugins/hostile-panic/resume",
            Some(&admin),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::CONFLICT, "not suspended: {body}");
    assert_eq!(pifa_e2e::error_code(&body), "not_suspended");
    app.stop().await
}

/// A plugin whose every answer the kernel refuses (here a +4×10¹⁸ fen adjustment, issue 16
/// item 6) fails like one that traps: `suspend_after` refusals in a row suspend it and tell
/// staff, and it is called no more, while every quote is served without it; a reload changing
/// its entry lifts the suspension.
#[tokio::test]
async fn a_plugin_whose_answers_are_refused_is_suspended() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let admin = app.login(ADMIN, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    app.install_plugins(&format!(
        "[limits]\nsuspend_after = 3\n{}",
        hostile_toml("hostile-output", "skip", "settings = { mode = \"huge\" }")
    ))
    .await?;
    let stats = app.plugin_stats("hostile-output")?;
    use std::sync::atomic::Ordering;
    for _ in 0..5 {
        let (status, quote) = app
            .post("/api/v1/orders/quote", Some(&member), &quote_body(red, 10))
            .await?;
        assert_eq!(status, StatusCode::OK, "{quote}");
        assert!(
            !quote.to_string().contains("hostile-output"),
            "no adjustment of it reaches the quote: {quote}"
        );
    }
    // Every answer of it is refused, so its failures count its quote calls: three, then no
    // more. (`calls` would also count the manifest reads of a reload the file watcher may
    // still make after `install_plugins`, later on a loaded machine.)
    assert_eq!(
        stats.failures.load(Ordering::Relaxed),
        3,
        "called until suspended, then no more"
    );
    assert!(stats.is_suspended(app.clock.now_ms()));
    eventually("staff told of the suspension", || async {
        let (_, inbox) = app.get("/api/v1/me/inbox", Some(&admin)).await?;
        Ok(inbox.to_string().contains("hostile-output").then_some(()))
    })
    .await?;
    // A reload changing its entry may be the fix: it serves again at once.
    app.install_plugins(&hostile_toml(
        "hostile-output",
        "skip",
        "settings = { mode = \"double\" }",
    ))
    .await?;
    let (status, quote) = app
        .post("/api/v1/orders/quote", Some(&member), &quote_body(red, 10))
        .await?;
    assert_eq!(status, StatusCode::OK, "{quote}");
    assert!(labels(&quote).iter().any(|l| l == "hostile"), "{quote}");

    // Each hook counts apart: a quote hook whose labels are refused is suspended although the
    // same plugin's checkout hook answers well in between.
    app.install_plugins(&format!(
        "[limits]\nsuspend_after = 3\n{}",
        hostile_toml(
            "hostile-text",
            "skip",
            "settings = { mode = \"html-label\" }"
        )
    ))
    .await?;
    let stats = app.plugin_stats("hostile-text")?;
    for n in 0..3 {
        let (status, order, _) = app
            .place_order(&member, &format!("text-{n}"), &order_body(red, 10))
            .await?;
        assert_eq!(status, StatusCode::CREATED, "{order}");
    }
    assert!(
        stats.is_suspended(app.clock.now_ms()),
        "its quote failed at every order: {}",
        stats.last_error()
    );
    app.stop().await
}

/// A hook stuck in a host call (its storage read blocked at the database) is stopped by the
/// host-call timeout while other checkouts go on.
#[tokio::test]
async fn a_hook_stuck_in_a_host_call_times_out() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Postgres).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    app.install_plugins(&hostile_toml(
        "hostile-stuck",
        "skip",
        "capabilities = [\"kv\"]",
    ))
    .await?;
    let mut blocker = sqlx::PgConnection::connect(&app.database.url).await?;
    sqlx::query("BEGIN").execute(&mut blocker).await?;
    sqlx::query("LOCK TABLE plugin_kv IN ACCESS EXCLUSIVE MODE")
        .execute(&mut blocker)
        .await?;
    let started = std::time::Instant::now();
    let (status, order, _) = app
        .place_order(&member, "stuck-1", &order_body(red, 10))
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let stats = app.plugin_stats("hostile-stuck")?;
    let last = stats.last_error();
    assert!(last.contains("kv.get took longer than"), "{last}");
    sqlx::query("ROLLBACK").execute(&mut blocker).await?;
    app.stop().await
}

/// Hot reload: a changed component file changes the next quote without a restart; a broken
/// one leaves the old version serving and the reason is kept.
#[tokio::test]
async fn a_changed_plugin_file_is_reloaded() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    let file = app.database.dir().join("tag.wasm");
    std::fs::copy(plugin_component("tag-v1"), &file)?;
    app.install_plugins(&format!(
        "[[plugin]]\nname = \"tag\"\ncomponent = {:?}\n",
        file.display().to_string()
    ))
    .await?;
    let quote_labels = || async {
        let (_, quote) = app
            .post("/api/v1/orders/quote", Some(&member), &quote_body(red, 10))
            .await?;
        Ok::<_, anyhow::Error>(labels(&quote))
    };
    assert!(quote_labels().await?.contains(&"tag v1".to_owned()));

    // Saved by rename, as editors and deploy tools do; the watcher picks it up.
    let staged = app.database.dir().join("tag.wasm.new");
    std::fs::copy(plugin_component("tag-v2"), &staged)?;
    std::fs::rename(&staged, &file)?;
    eventually("version 2 serving", || async {
        Ok(quote_labels()
            .await?
            .contains(&"tag v2".to_owned())
            .then_some(()))
    })
    .await?;

    // Broken in place: the previous version keeps serving; the reason is kept.
    std::fs::write(&file, b"\0asm broken")?;
    eventually("the broken file refused", || async {
        Ok(app
            .plugins
            .last_error
            .lock()
            .map(|e| e.as_deref().is_some_and(|e| e.contains("tag")))
            .unwrap_or(false)
            .then_some(()))
    })
    .await?;
    assert!(quote_labels().await?.contains(&"tag v2".to_owned()));
    let admin = app.login(ADMIN, PASSWORD).await?;
    let (status, plugins) = app.get("/api/v1/admin/plugins", Some(&admin)).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(plugins["plugins"][0]["version"], "2.0.0", "{plugins}");
    assert!(
        plugins["reload_error"]
            .as_str()
            .unwrap_or("")
            .contains("plugin tag"),
        "staff see why: {plugins}"
    );
    app.stop().await
}

/// `pifa plugins check` on one component: the shipped plugin passes; one importing more than
/// its manifest asks for fails, naming the interface.
#[tokio::test]
async fn check_names_what_is_wrong_with_a_component() -> anyhow::Result<()> {
    let ok = tokio::task::spawn_blocking(|| {
        pifa::plugins::cli::check(&plugin_component("flash-sale"), NativeCode::Refused)
    })
    .await?;
    assert!(
        ok.as_ref().is_ok_and(|r| r.contains("flash-sale")),
        "{ok:?}"
    );
    let refused = tokio::task::spawn_blocking(|| {
        pifa::plugins::cli::check(&plugin_component("hostile-sneaky-kv"), NativeCode::Refused)
    })
    .await?;
    assert!(
        refused
            .as_ref()
            .err()
            .map(ToString::to_string)
            .is_some_and(|e| e.contains("pifa:plugin/kv@0.1.0")),
        "{refused:?}"
    );
    Ok(())
}

/// Every plugin's fixtures (`plugins/*/fixtures/*.json`) give the expected output (the SDK's
/// test harness: `pifa plugins run` on each).
#[tokio::test]
async fn plugin_fixtures_hold() -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    let mut ran = 0;
    for plugin in std::fs::read_dir(&root)? {
        let dir = plugin?.path();
        let fixtures = dir.join("fixtures");
        let Some(name) = dir.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            continue;
        };
        if !fixtures.is_dir() {
            continue;
        }
        let config =
            std::env::temp_dir().join(format!("pifa-fixtures-{name}-{}.toml", std::process::id()));
        std::fs::write(
            &config,
            format!(
                "[[plugin]]\nname = {name:?}\ncomponent = {:?}\ncapabilities = [\"clock\", \"kv\", \"catalog-read\", \"notify\", \"pages\", \"pictures\", \"emit\", \"screens\"]\nnotify_to = [\"admin\"]\nevents = [\"*\"]\ndata = [\"people\", \"amounts\", \"payment\"]\nroute_roles = {:?}\n",
                plugin_component(&name).display().to_string(),
                pifa::plugins::config::ROUTE_ROLES
            ),
        )?;
        for fixture in std::fs::read_dir(&fixtures)? {
            let path = fixture?.path();
            let text = std::fs::read_to_string(&path)?;
            let fixture: pifa::plugins::cli::Fixture = serde_json::from_str(&text)?;
            let (config, name2) = (config.clone(), name.clone());
            let (report, fixture) = tokio::task::spawn_blocking(move || {
                pifa::plugins::cli::run(&config, &name2, &fixture, NativeCode::Refused)
                    .map(|r| (r, fixture))
            })
            .await?
            .map_err(anyhow::Error::msg)?;
            let misses = fixture.misses(&report.output, &report.written(&name));
            assert!(misses.is_empty(), "{}: {misses:#?}", path.display());
            assert!(report.fuel > 0);
            ran += 1;
        }
    }
    assert!(ran >= 30, "only {ran} fixtures ran");
    Ok(())
}

/// `on-tick`: the kernel calls it with the shop's time and commits what it wrote.
#[tokio::test]
async fn ticks_reach_the_plugins() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    app.install_plugins(&format!(
        "[[plugin]]\nname = \"ticker\"\ncomponent = {:?}\ncapabilities = [\"kv\"]\n\n[limits]\ndeadline_ms = 30000\nhost_call_ms = 30000\n",
        plugin_component("ticker").display().to_string()
    ))
    .await?;
    // Generous limits above: this is about ticks reaching the plugin, and one tick on a loaded
    // machine may take longer than the default deadline.
    for _ in 0..3 {
        app.plugins.tick().await?;
    }
    assert_eq!(counter(&app, "ticker", "ticks").await?, 3);
    app.stop().await
}
