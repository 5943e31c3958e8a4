//! What a plugin does to the shop is bounded (issue 16, items 1, 7 and 8): the storage it may
//! fill (per call and in all), the text it hands the kernel (cleaned or refused at the
//! boundary), and the messages it may send staff (per call, per hour, to the granted roles).
//! Each with its hostile fixture from `plugins/testing/`.

use std::sync::atomic::Ordering;

use pifa::native::NativeCode;
use pifa_e2e::pifa_demo::*;
use pifa_e2e::{Backend, TestApp, error_code, on_both_backends, plugin_component};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;
const HARD_HAT_RED: &str = "6901234500011";
const FLOOD: &str = "/api/v1/plugins/hostile-kv-flood/flood";
const SPAM: &str = "/api/v1/plugins/hostile-spammer/spam";

/// `name` from `plugins/build/`, with `extra` lines (grants, quota, settings).
fn entry(name: &str, extra: &str) -> String {
    format!(
        "[[plugin]]\nname = {name:?}\ncomponent = {:?}\n{extra}\n",
        plugin_component(name).display().to_string()
    )
}

/// `entry` with generous fuel and deadline: these tests are about what the quotas let
/// through, whatever else stops a call first (the flood's 200 MB take more than the default
/// fuel, and the test build's unoptimised host, on a loaded machine, may take longer than the
/// default 500 ms to copy the flood's values or write the spammer's messages).
fn slow_entry(name: &str, extra: &str) -> String {
    format!(
        "[limits]\nfuel_base = 100000000000\ndeadline_ms = 30000\nhost_call_ms = 30000\n\n{}",
        entry(name, extra)
    )
}

fn order_body(sku: i64, qty: i64) -> Value {
    json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery", "lines": [{ "sku_id": sku, "qty": qty }] })
}

fn quote_body(sku: i64, qty: i64) -> Value {
    json!({ "delivery_method": "pickup", "lines": [{ "sku_id": sku, "qty": qty }] })
}

fn last_error(app: &TestApp, name: &str) -> anyhow::Result<String> {
    Ok(app.plugin_stats(name)?.last_error())
}

/// The bytes of keys and values the flood's namespace holds, read back row by row.
async fn stored_bytes(app: &TestApp) -> anyhow::Result<(i64, i64)> {
    let rows = app
        .store
        .plugins()
        .plugin_kv_scan("hostile-kv-flood", "", None, 500)
        .await?;
    let bytes = rows.iter().map(|(k, v)| (k.len() + v.len()) as i64).sum();
    Ok((rows.len() as i64, bytes))
}

/// Item 1: an anonymous request to a public route asking to write 3,200 values of 64 KiB
/// (about 200 MB) gets 1 MiB in (`kv_write_bytes_per_call`), the rest refused by name; once
/// the namespace would pass `kv_bytes` the commit is refused whole (507
/// `plugin_quota_exceeded`, counted as the plugin's failure) and the database holds no more
/// than the quota; many small writes stop at `kv_writes_per_call` and then at `kv_keys`. A
/// member's checkout succeeds meanwhile. `plugins list` and the admin API show the use.
async fn a_storage_flood_stays_within_the_quotas(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let admin = app.login(ADMIN, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    let grants = "capabilities = [\"kv\"]\nroute_roles = [\"public\"]";
    let kv_bytes = 2_500_000_i64;
    app.install_plugins(&slow_entry(
        "hostile-kv-flood",
        &format!("{grants}\nquota = {{ kv_bytes = {kv_bytes}, kv_keys = 150 }}"),
    ))
    .await?;

    let flood = |batch: &'static str| {
        let app = &app;
        async move {
            app.post(&format!("{FLOOD}?batch={batch}"), None, &json!({}))
                .await
        }
    };
    let during = order_body(red, 10);
    let (first, placed) = tokio::join!(
        flood("a"),
        app.place_order(&member, "during-flood", &during)
    );
    let (status, body) = first?;
    let (ordered, order, _) = placed?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        ordered,
        StatusCode::CREATED,
        "the member's checkout: {order}"
    );
    let accepted = body["accepted"].as_i64().unwrap_or(-1);
    assert!(
        (1..=16).contains(&accepted),
        "1 MiB of 64 KiB values, not 200 MB: {body}"
    );
    assert_eq!(
        body["refused"], "quota kv_write_bytes_per_call (1048576) reached",
        "{body}"
    );
    let (keys, bytes) = stored_bytes(&app).await?;
    assert_eq!(keys, accepted);
    assert!(bytes <= 1024 * 1024, "{bytes}");

    // Smaller floods (20 values of 64 KiB, still over the call's share) fill the namespace.
    app.install_plugins(&slow_entry(
        "hostile-kv-flood",
        &format!(
            "{grants}\nquota = {{ kv_bytes = {kv_bytes}, kv_keys = 150 }}\nsettings = {{ keys = 20 }}"
        ),
    ))
    .await?;
    let (status, body) = flood("b").await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let failures = app
        .plugin_stats("hostile-kv-flood")?
        .failures
        .load(Ordering::Relaxed);
    let (status, full) = flood("c").await?;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{full}");
    assert_eq!(error_code(&full), "plugin_quota_exceeded");
    assert!(
        full["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("quota kv_bytes (2500000) reached"),
        "{full}"
    );
    assert!(
        app.plugin_stats("hostile-kv-flood")?
            .failures
            .load(Ordering::Relaxed)
            > failures,
        "a refused commit is the plugin's failure"
    );
    assert!(last_error(&app, "hostile-kv-flood")?.contains("quota kv_bytes"));
    let (keys, bytes) = stored_bytes(&app).await?;
    assert!(bytes <= kv_bytes, "the database holds {bytes} bytes");
    assert_eq!(keys, 2 * accepted, "batch c stored nothing");
    let usage = app.store.plugins().plugin_kv_usage().await?;
    let used = usage.get("hostile-kv-flood").copied().unwrap_or_default();
    assert_eq!(
        (used.keys, used.bytes),
        (keys, bytes),
        "the usage row is exact"
    );
    let (status, order, _) = app
        .place_order(&member, "after-flood", &order_body(red, 10))
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{order}");

    // Many small values: 100 a call, then the namespace's 150 keys.
    app.install_plugins(&slow_entry(
        "hostile-kv-flood",
        &format!(
            "{grants}\nquota = {{ kv_bytes = {kv_bytes}, kv_keys = 150 }}\nsettings = {{ keys = 1000, bytes = 1 }}"
        ),
    ))
    .await?;
    let (status, body) = flood("d").await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"], 100, "{body}");
    assert_eq!(body["refused"], "quota kv_writes_per_call (100) reached");
    let (status, full) = flood("e").await?;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE, "{full}");
    assert!(
        full["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("quota kv_keys (150) reached"),
        "{full}"
    );
    let (keys, _) = stored_bytes(&app).await?;
    assert_eq!(keys, 2 * accepted + 100);

    let (status, listed) = app.get("/api/v1/admin/plugins", Some(&admin)).await?;
    assert_eq!(status, StatusCode::OK);
    let storage = &listed["plugins"][0]["storage"];
    assert_eq!(storage["keys"], keys, "{listed}");
    assert_eq!(storage["keys_quota"], 150, "{listed}");
    assert_eq!(storage["bytes_quota"], kv_bytes, "{listed}");
    let listed = pifa::plugins::cli::list(
        &app.plugins_toml(),
        Some(app.store.clone()),
        NativeCode::Refused,
    )
    .await?;
    assert!(listed.contains(&format!("{keys}/150 keys")), "{listed}");
    app.stop().await
}
on_both_backends!(
    a_storage_flood_stays_within_the_quotas_sqlite,
    a_storage_flood_stays_within_the_quotas_postgres,
    a_storage_flood_stays_within_the_quotas
);

/// Item 1 under concurrency: six floods at once, each committing about 1 MiB, into a
/// namespace of 2.5 MB: exactly two commit, the others are refused whole, and the usage row
/// equals what is stored. (On PostgreSQL the commits wait for each other's usage row, so none
/// checks the total without the others' writes.)
async fn concurrent_commits_cannot_pass_the_quota_together(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    app.install_plugins(&slow_entry(
        "hostile-kv-flood",
        "capabilities = [\"kv\"]\nroute_roles = [\"public\"]\nquota = { kv_bytes = 2500000 }\nsettings = { keys = 20 }",
    ))
    .await?;
    let app = std::sync::Arc::new(app);
    let mut floods = tokio::task::JoinSet::new();
    for batch in 0..6 {
        let app = app.clone();
        floods.spawn(async move {
            app.post(&format!("{FLOOD}?batch=c{batch}"), None, &json!({}))
                .await
        });
    }
    let mut statuses = Vec::new();
    while let Some(answer) = floods.join_next().await {
        let (status, body) = answer??;
        if status != StatusCode::OK {
            assert_eq!(error_code(&body), "plugin_quota_exceeded", "{body}");
        }
        statuses.push(status);
    }
    let stored = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(stored, 2, "{statuses:?}");
    let (keys, bytes) = stored_bytes(&app).await?;
    assert!(bytes <= 2_500_000, "{bytes}");
    let usage = app.store.plugins().plugin_kv_usage().await?;
    let used = usage.get("hostile-kv-flood").copied().unwrap_or_default();
    assert_eq!((used.keys, used.bytes), (keys, bytes));
    let app = std::sync::Arc::try_unwrap(app).map_err(|_| anyhow::anyhow!("app still shared"))?;
    app.stop().await
}
on_both_backends!(
    concurrent_commits_cannot_pass_the_quota_together_sqlite,
    concurrent_commits_cannot_pass_the_quota_together_postgres,
    concurrent_commits_cannot_pass_the_quota_together
);

fn plugin_labels(body: &Value) -> Vec<String> {
    body["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|l| l["adjustments"].as_array().cloned().unwrap_or_default())
        .chain(body["adjustments"].as_array().cloned().unwrap_or_default())
        .filter(|a| a["source"] == "plugin:hostile-text")
        .filter_map(|a| a["label"].as_str().map(str::to_owned))
        .collect()
}

fn invisible_or_control(text: &str) -> bool {
    text.chars().any(|c| {
        c.is_control()
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200B}'..='\u{200F}' | '\u{2060}' | '\u{FEFF}')
    })
}

/// Item 7: labels with markup, template syntax or nothing visible are the plugin's failure
/// (the order goes on without them, `last_error` says why); labels with a bidi override or an
/// escape sequence are stored cleaned; a 40,000-character checkout refusal reaches the member
/// as 200 characters with a stable code, a reservation's message too; a log line with a line
/// break stays one line.
#[tokio::test]
async fn text_from_a_plugin_is_cleaned_or_refused() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    let install = |mode: &str| {
        let toml = entry(
            "hostile-text",
            &format!("on_error = \"skip\"\nsettings = {{ mode = {mode:?} }}"),
        );
        let app = &app;
        async move { app.install_plugins(&toml).await }
    };

    for (mode, why) in [
        ("html-label", "markup or template syntax (\"<\")"),
        ("template-label", "markup or template syntax (\"{{\")"),
        ("zero-width-label", "needs a label (empty"),
    ] {
        install(mode).await?;
        let (status, quote) = app
            .post("/api/v1/orders/quote", Some(&member), &quote_body(red, 10))
            .await?;
        assert_eq!(status, StatusCode::OK, "{mode}: {quote}");
        assert!(plugin_labels(&quote).is_empty(), "{mode}: {quote}");
        let last = last_error(&app, "hostile-text")?;
        assert!(last.contains(why), "{mode}: {last:?} should say {why:?}");
    }

    for (n, (mode, stored)) in [
        ("bidi-label", "特价元99"),
        ("escape-label", "特价 [31m红 包"),
    ]
    .into_iter()
    .enumerate()
    {
        install(mode).await?;
        let (status, order, _) = app
            .place_order(&member, &format!("text-{n}"), &order_body(red, 10))
            .await?;
        assert_eq!(status, StatusCode::CREATED, "{mode}: {order}");
        let id = order["id"].as_i64().unwrap_or_default();
        let (_, kept) = app
            .get(&format!("/api/v1/orders/{id}"), Some(&member))
            .await?;
        assert_eq!(plugin_labels(&kept), [stored], "{mode}: {kept}");
    }

    install("long-refusal").await?;
    let (status, refused, _) = app
        .place_order(&member, "text-refused", &order_body(red, 10))
        .await?;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(error_code(&refused), "plugin_refused");
    let message = refused["error"]["message"].as_str().unwrap_or("");
    assert!(message.starts_with("活动太火爆 请请"), "{message}");
    assert!(
        message.ends_with("… (hostile-text refused)"),
        "cut, and the code replaced: {message}"
    );
    assert!(message.chars().count() <= 200 + " (hostile-text refused)".chars().count());
    assert!(!invisible_or_control(message), "{message:?}");

    install("long-reservation").await?;
    let (status, refused, _) = app
        .place_order(&member, "text-reserved", &order_body(red, 10))
        .await?;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(error_code(&refused), "limit_reached");
    let message = refused["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("活动太火爆 请请"), "{message}");
    assert!(
        message.chars().count() <= 250,
        "{}",
        message.chars().count()
    );
    assert!(!invisible_or_control(message), "{message:?}");

    // The log line as the kernel keeps and writes it: one line, its break escaped.
    let config = app.database.dir().join("hostile-text.toml");
    std::fs::write(
        &config,
        entry("hostile-text", "settings = { mode = \"forged-log\" }"),
    )?;
    let fixture: pifa::plugins::cli::Fixture = serde_json::from_value(json!({
        "hook": "quote",
        "input": { "buyer": { "member_id": 1 }, "lines": [], "now_ms": 0, "settings": { "mode": "forged-log" } }
    }))?;
    let report = tokio::task::spawn_blocking(move || {
        pifa::plugins::cli::run(&config, "hostile-text", &fixture, NativeCode::Refused)
    })
    .await?
    .map_err(anyhow::Error::msg)?;
    assert_eq!(
        report.log,
        [
            "quote done\\n2026-01-01T00:00:00.000000Z ERROR pifa::accounts: admin password reset for 13800000000"
        ],
        "{:?}",
        report.log
    );
    app.stop().await
}

/// Messages in `token`'s inbox from the spammer.
async fn spam_in_inbox(app: &TestApp, token: &str) -> anyhow::Result<usize> {
    let (status, inbox) = app.get("/api/v1/me/inbox?limit=200", Some(token)).await?;
    anyhow::ensure!(status == StatusCode::OK, "{status} {inbox}");
    Ok(inbox
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["body"].as_str().unwrap_or("").contains("hostile-spammer"))
        .count())
}

/// Item 8: two anonymous requests asking to send 1,000 messages each put
/// `messages_per_call` and then what is left of `messages_per_hour` in the inbox of the roles
/// `notify_to` grants, and nobody else's; the refusals name the quota. The hour is counted in
/// the database (the next hour the plugin may send again).
async fn messages_to_staff_stay_within_the_quota_and_the_grant(
    backend: Backend,
) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let service = app.login(SERVICE, PASSWORD).await?;
    let spammer = |to: &str| {
        slow_entry(
            "hostile-spammer",
            &format!(
                "capabilities = [\"notify\"]\nnotify_to = [{to:?}]\nroute_roles = [\"public\"]\nquota = {{ messages_per_call = 3, messages_per_hour = 5 }}"
            ),
        )
    };
    app.install_plugins(&spammer("admin")).await?;
    let (status, first) = app.post(SPAM, None, &json!({})).await?;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["sent"], 3, "{first}");
    assert_eq!(first["refused"], "quota messages_per_call (3) reached");
    let (status, second) = app.post(SPAM, None, &json!({})).await?;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["sent"], 2, "{second}");
    assert!(
        second["refused"]
            .as_str()
            .unwrap_or("")
            .starts_with("quota messages_per_hour (5) reached"),
        "{second}"
    );
    assert_eq!(spam_in_inbox(&app, &admin).await?, 5);
    assert_eq!(
        spam_in_inbox(&app, &service).await?,
        0,
        "customer service is not granted"
    );

    // The next hour, granted to customer service only.
    assert!(app.clock.advance_ms(3_600_000));
    app.install_plugins(&spammer("customer_service")).await?;
    let (status, third) = app.post(SPAM, None, &json!({})).await?;
    assert_eq!(status, StatusCode::OK, "{third}");
    assert_eq!(third["sent"], 3, "{third}");
    assert_eq!(spam_in_inbox(&app, &service).await?, 3);
    assert_eq!(spam_in_inbox(&app, &admin).await?, 5);
    app.stop().await
}
on_both_backends!(
    messages_to_staff_stay_within_the_quota_and_the_grant_sqlite,
    messages_to_staff_stay_within_the_quota_and_the_grant_postgres,
    messages_to_staff_stay_within_the_quota_and_the_grant
);
