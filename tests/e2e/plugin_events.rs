//! Events as a capability, delivered at least once (issue 16, items 4 and 5): a plugin receives
//! the event kinds `plugins.toml` grants it, with the fields of the data classes it grants; its
//! routes serve only granted roles; an event waits while its plugin is suspended, an `Err` from
//! `on-event` is a counted failure retried with a durable back-off, and an event failing every
//! attempt is parked as dead where staff see it.

use pifa::native::NativeCode;
use pifa_e2e::pifa_demo::*;
use pifa_e2e::{Backend, TestApp, error_code, eventually, on_both_backends, plugin_component};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;
const HARD_HAT_RED: &str = "6901234500011";
const EAVESDROPPER: &str = "hostile-eavesdropper";
const HEARD: &str = "/api/v1/plugins/hostile-eavesdropper/heard";
const FLAKY: &str = "flaky-listener";
const SWITCH: &str = "/api/v1/plugins/flaky-listener/switch";

/// `name` installed with `kv` and the grants in `extra` (TOML lines of its entry, then any
/// `[limits]`).
fn toml(name: &str, extra: &str) -> String {
    format!(
        "[[plugin]]\nname = {name:?}\ncomponent = {:?}\ncapabilities = [\"kv\"]\n{extra}\n",
        plugin_component(name).display().to_string()
    )
}

fn order_body(sku: i64) -> Value {
    json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery", "lines": [{ "sku_id": sku, "qty": 10 }] })
}

/// Places an order as `member`; its id and the id of its `order.placed` event.
async fn place(app: &TestApp, member: &str, key: &str) -> anyhow::Result<(i64, i64)> {
    let red = app.sku_id(HARD_HAT_RED).await?;
    let (status, order, _) = app.place_order(member, key, &order_body(red)).await?;
    anyhow::ensure!(
        status == StatusCode::CREATED,
        "placing {key}: {status} {order}"
    );
    let id = order["id"].as_i64().unwrap_or_default();
    let placed = app
        .store
        .plugins()
        .order_event_ids(id, "order.placed")
        .await?;
    let event = placed
        .first()
        .copied()
        .ok_or_else(|| anyhow::anyhow!("no order.placed event for order {id}"))?;
    Ok((id, event))
}

/// Confirms a pickup order, readies, hands over and has it paid in full: it completes
/// (`order.completed`).
async fn complete(app: &TestApp, staff: &str, id: i64) -> anyhow::Result<()> {
    let (status, confirmed) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/confirm"),
            Some(staff),
            &json!({}),
        )
        .await?;
    anyhow::ensure!(status == StatusCode::OK, "confirm: {status} {confirmed}");
    let (status, ready) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/status"),
            Some(staff),
            &json!({ "status": "ready_for_pickup", "remark": "已备货" }),
        )
        .await?;
    anyhow::ensure!(status == StatusCode::OK, "ready: {status} {ready}");
    let (status, received) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/status"),
            Some(staff),
            &json!({ "status": "received", "remark": "客户已自提" }),
        )
        .await?;
    anyhow::ensure!(status == StatusCode::OK, "receive: {status} {received}");
    let total = received["total_fen"].as_i64().unwrap_or_default();
    let (status, paid) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/payments"),
            Some(staff),
            &json!({ "amount_fen": total, "remark": "现金已收" }),
        )
        .await?;
    anyhow::ensure!(status == StatusCode::OK, "pay: {status} {paid}");
    anyhow::ensure!(paid["status"] == "completed", "{paid}");
    Ok(())
}

/// What the eavesdropper republishes to anyone, by event.
async fn heard(app: &TestApp) -> anyhow::Result<Vec<Value>> {
    let (status, body) = app.get(HEARD, None).await?;
    anyhow::ensure!(status == StatusCode::OK, "GET /heard: {status} {body}");
    Ok(body["heard"].as_array().cloned().unwrap_or_default())
}

/// Waits until `plugin`'s cursor is at or past `event`: the dispatcher has dealt with it.
async fn passed(app: &TestApp, plugin: &str, event: i64) -> anyhow::Result<()> {
    eventually(&format!("{plugin} past event {event}"), || async {
        Ok((app.store.plugins().plugin_cursor(plugin).await?.event_id >= event).then_some(()))
    })
    .await
}

/// How many times the flaky listener took `event` (its counter `times:<id>`).
async fn times_taken(app: &TestApp, event: i64) -> anyhow::Result<i64> {
    Ok(app
        .store
        .plugins()
        .plugin_kv_get(FLAKY, &format!("times:{event}"))
        .await?
        .map_or(0, |(_, n)| n))
}

async fn switch(app: &TestApp, admin: &str, fail: bool) -> anyhow::Result<()> {
    let (status, body) = app
        .call(
            Method::PUT,
            SWITCH,
            Some(admin),
            Some(&json!({ "fail": fail })),
        )
        .await?;
    anyhow::ensure!(
        status == StatusCode::OK,
        "switch to {fail}: {status} {body}"
    );
    Ok(())
}

async fn listed(app: &TestApp) -> anyhow::Result<String> {
    app.plugins.flush_stats().await?;
    pifa::plugins::cli::list(
        &app.plugins_toml(),
        Some(app.store.clone()),
        NativeCode::Refused,
    )
    .await
}

/// A shared route (`shared_seconds`) is told nothing of who asks but whether he sees prices:
/// the eavesdropper's `GET /caller`, which answers the next caller with what it was told,
/// hears neither the member's id, nor his roles, nor his level, so a kept answer cannot carry
/// one person's data to another; answers are kept apart by price visibility.
#[tokio::test]
async fn a_shared_route_is_told_nothing_of_the_caller() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    app.install_plugins(&toml(EAVESDROPPER, "route_roles = [\"public\"]"))
        .await?;
    const CALLER: &str = "/api/v1/plugins/hostile-eavesdropper/caller";
    let (status, told) = app.get(CALLER, Some(&member)).await?;
    assert_eq!(status, StatusCode::OK, "{told}");
    assert_eq!(
        told["caller"],
        json!({ "user_id": null, "roles": [], "member": null, "sees_prices": true }),
        "an approved member, as the shared route was told of him"
    );
    let (status, told) = app.get(CALLER, None).await?;
    assert_eq!(status, StatusCode::OK, "{told}");
    assert_eq!(
        told["caller"]["sees_prices"], false,
        "a visitor of the internal shop gets the answer kept for those who see no prices"
    );
    Ok(())
}

/// A plugin granted only `kv` whose manifest wants every event and publishes what it hears:
/// a public route it is not granted refuses the load, naming the route and the role; with no
/// events granted it hears nothing; granted `order.completed` alone it hears only that, without
/// the member, the total or the payment method; granted `amounts`, the total too. Staff see
/// the grants in `pifa plugins list` and `/admin/plugins`.
#[tokio::test]
async fn events_and_their_fields_follow_the_grants() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let service = app.login(SERVICE, PASSWORD).await?;
    let member = app.login(MEMBER, PASSWORD).await?;

    let refused = app
        .install_plugins(&toml(EAVESDROPPER, "route_roles = [\"admin\"]"))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        refused.contains("plugin hostile-eavesdropper")
            && refused.contains("route GET /heard serves role public")
            && refused.contains("does not grant"),
        "{refused}"
    );
    let (status, body) = app.get(HEARD, None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "not installed: {body}");
    assert_eq!(error_code(&body), "route_not_found");

    // kv and its public route, no events: it hears nothing of an order.
    app.install_plugins(&toml(EAVESDROPPER, "route_roles = [\"public\"]"))
        .await?;
    let (first, placed) = place(&app, &member, "eavesdrop-1").await?;
    complete(&app, &service, first).await?;
    let last = app
        .store
        .plugins()
        .order_event_ids(first, "order.completed")
        .await?;
    passed(&app, EAVESDROPPER, last.last().copied().unwrap_or(placed)).await?;
    assert_eq!(heard(&app).await?, Vec::<Value>::new(), "no events granted");

    // Granted order.completed, no data class: that kind alone, without people, amounts or
    // payment.
    app.install_plugins(&toml(
        EAVESDROPPER,
        "route_roles = [\"public\"]\nevents = [\"order.completed\"]",
    ))
    .await?;
    let (second, _) = place(&app, &member, "eavesdrop-2").await?;
    complete(&app, &service, second).await?;
    let completed = app
        .store
        .plugins()
        .order_event_ids(second, "order.completed")
        .await?;
    passed(&app, EAVESDROPPER, completed.last().copied().unwrap_or(0)).await?;
    let events = heard(&app).await?;
    assert_eq!(
        events.len(),
        1,
        "only order.completed of order 2: {events:?}"
    );
    assert_eq!(events[0]["kind"], "order.completed");
    assert_eq!(events[0]["order_id"], second);
    let mut fields: Vec<String> = events[0]["payload"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    fields.sort();
    assert_eq!(
        fields,
        ["order_id", "order_no", "region_id", "status"],
        "no member id, total or payment method: {events:?}"
    );

    let shown = app.plugin_status(&admin, EAVESDROPPER).await?;
    assert_eq!(
        shown["grants"],
        json!({ "events": ["order.completed"], "data": [], "route_roles": ["public"], "notify_to": [] }),
        "{shown}"
    );
    let list = listed(&app).await?;
    assert!(
        list.contains(
            "grants: events [order.completed]; data [none]; route roles [public]; notify to [none]"
        ),
        "{list}"
    );

    // Amounts granted: the total comes, the member and the payment method still do not.
    app.install_plugins(&toml(
        EAVESDROPPER,
        "route_roles = [\"public\"]\nevents = [\"order.completed\"]\ndata = [\"amounts\"]",
    ))
    .await?;
    let (third, _) = place(&app, &member, "eavesdrop-3").await?;
    complete(&app, &service, third).await?;
    let completed = app
        .store
        .plugins()
        .order_event_ids(third, "order.completed")
        .await?;
    passed(&app, EAVESDROPPER, completed.last().copied().unwrap_or(0)).await?;
    let events = heard(&app).await?;
    let payload = events
        .iter()
        .find(|e| e["order_id"] == third)
        .map(|e| e["payload"].clone())
        .unwrap_or_default();
    assert!(payload["total_fen"].as_i64().unwrap_or(0) > 0, "{payload}");
    assert!(payload.get("member_id").is_none(), "{payload}");
    assert!(payload.get("payment_method").is_none(), "{payload}");
    app.stop().await
}

/// An order placed while its listener is suspended is not an attempt: the event waits (the
/// cursor stays before it) and is delivered, once, when the suspension ends.
#[tokio::test]
async fn an_event_waits_while_its_plugin_is_suspended() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let member = app.login(MEMBER, PASSWORD).await?;
    app.install_plugins(&toml(
        FLAKY,
        "events = [\"order.placed\"]\nroute_roles = [\"admin\"]\n\n[limits]\nsuspend_after = 1\nsuspend_secs = 600",
    ))
    .await?;
    let (status, crashed) = app
        .post(
            "/api/v1/plugins/flaky-listener/crash",
            Some(&admin),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{crashed}");
    let shown = app.plugin_status(&admin, FLAKY).await?;
    assert!(shown["suspended_until"].is_string(), "{shown}");

    let (_, event) = place(&app, &member, "while-suspended").await?;
    // Several dispatcher rounds (every 200 ms) go by: the event is neither taken nor given up.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(times_taken(&app, event).await?, 0);
    let cursor = app.store.plugins().plugin_cursor(FLAKY).await?;
    assert!(cursor.event_id < event, "the event waits: {cursor:?}");
    assert_eq!(cursor.attempts, 0, "waiting is not an attempt: {cursor:?}");

    assert!(app.clock.advance_ms(601_000), "the test clock moves");
    eventually("the event delivered after the suspension", || async {
        Ok((times_taken(&app, event).await? == 1).then_some(()))
    })
    .await?;
    let (status, got) = app
        .get("/api/v1/plugins/flaky-listener/got", Some(&admin))
        .await?;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["got"][0]["id"], event, "{got}");
    assert_eq!(got["got"][0]["times"], 1, "{got}");
    app.stop().await
}

/// An `Err` from `on-event` is the plugin's failure: counted, shown with the event waiting for
/// its next attempt (stored, so a restart keeps it), and the event is delivered once when the
/// plugin stops failing.
async fn an_error_is_counted_and_retried_until_delivered(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let member = app.login(MEMBER, PASSWORD).await?;
    app.install_plugins(&toml(
        FLAKY,
        "events = [\"order.placed\"]\nroute_roles = [\"admin\"]",
    ))
    .await?;
    switch(&app, &admin, true).await?;
    let (_, event) = place(&app, &member, "flaky-1").await?;

    // Tried at once, then after 1 s and 2 s: three failed attempts, none given up.
    let shown = eventually("three failed attempts", || async {
        let shown = app.plugin_status(&admin, FLAKY).await?;
        Ok((shown["event_retry"]["attempts"].as_i64().unwrap_or(0) >= 3).then_some(shown))
    })
    .await?;
    assert_eq!(shown["event_retry"]["event_id"], event, "{shown}");
    assert!(shown["failures"].as_u64().unwrap_or(0) >= 3, "{shown}");
    assert!(
        shown["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("on-event") && e.contains("switched_to_fail")),
        "{shown}"
    );
    assert!(
        shown["event_retry"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("the switch says fail")),
        "{shown}"
    );
    assert_eq!(shown["events_dead"], 0);
    assert_eq!(times_taken(&app, event).await?, 0);
    let list = listed(&app).await?;
    let row = list
        .lines()
        .find(|l| l.starts_with(FLAKY))
        .unwrap_or_default()
        .to_owned();
    let failures: i64 = row
        .split_whitespace()
        .nth(5)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(failures >= 3, "failures counted in plugins list: {list}");
    assert!(
        list.contains(&format!("event {event} failed")),
        "the waiting event in plugins list: {list}"
    );

    // Restarted: the attempts are still there, not started over.
    let attempts = app.store.plugins().plugin_cursor(FLAKY).await?.attempts;
    let app = app.restart().await?;
    let shown = app.plugin_status(&admin, FLAKY).await?;
    assert_eq!(shown["event_retry"]["event_id"], event, "{shown}");
    assert!(
        shown["event_retry"]["attempts"].as_i64().unwrap_or(0) >= attempts,
        "kept across the restart: {shown}"
    );

    switch(&app, &admin, false).await?;
    assert!(app.clock.advance_ms(601_000), "past any back-off");
    // Delivered, then the cursor moves past it (the retry shown until then).
    let shown = eventually(
        "the event delivered once the plugin stops failing",
        || async {
            let shown = app.plugin_status(&admin, FLAKY).await?;
            Ok(
                (times_taken(&app, event).await? == 1 && shown["event_retry"].is_null())
                    .then_some(shown),
            )
        },
    )
    .await?;
    assert_eq!(times_taken(&app, event).await?, 1, "delivered once");
    assert_eq!(shown["events_dead"], 0);
    app.stop().await
}
on_both_backends!(
    an_error_is_counted_and_retried_until_delivered_sqlite,
    an_error_is_counted_and_retried_until_delivered_postgres,
    an_error_is_counted_and_retried_until_delivered
);

/// An event failing `event_attempts` times is parked as dead, not dropped silently: staff are
/// told, `/admin/plugins` and `pifa plugins list` count it, and the plugin's next events go on.
#[tokio::test]
async fn an_event_failing_every_attempt_is_parked_and_staff_told() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let member = app.login(MEMBER, PASSWORD).await?;
    app.install_plugins(&toml(
        FLAKY,
        "events = [\"order.placed\"]\nroute_roles = [\"admin\"]\n\n[limits]\nevent_attempts = 3\nsuspend_after = 10",
    ))
    .await?;
    switch(&app, &admin, true).await?;
    let (_, dead) = place(&app, &member, "doomed").await?;
    let shown = eventually("the event parked after 3 attempts", || async {
        let shown = app.plugin_status(&admin, FLAKY).await?;
        Ok((shown["events_dead"] == 1).then_some(shown))
    })
    .await?;
    assert!(shown["event_retry"].is_null(), "{shown}");
    let inbox = app.inbox_with(&admin, "parked as dead").await?;
    assert!(
        inbox
            .to_string()
            .contains(&format!("插件 {FLAKY} 处理事件 #{dead}")),
        "{inbox}"
    );
    let list = listed(&app).await?;
    assert!(list.contains("events: 1 parked as dead"), "{list}");

    switch(&app, &admin, false).await?;
    let (_, next) = place(&app, &member, "after-the-dead-one").await?;
    eventually("the next event delivered", || async {
        Ok((times_taken(&app, next).await? == 1).then_some(()))
    })
    .await?;
    assert_eq!(
        times_taken(&app, dead).await?,
        0,
        "the parked event stays parked"
    );
    app.stop().await
}
