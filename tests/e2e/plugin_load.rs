//! What a slow or crowded plugin may cost the shop (issue 16, items 2 and 3): a call's deadline
//! counts its host calls, each plugin has its own share of the call slots, its routes are
//! rate-limited per client, the time per call is shown to staff, and the kernel refuses HTTP
//! answers outside the contract (size, status, body).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use pifa::native::NativeCode;
use pifa_e2e::pifa_demo::*;
use pifa_e2e::{Backend, TestApp, error_code, eventually, plugin_component};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;
const HARD_HAT_RED: &str = "6901234500011";
const SLOW: &str = "/api/v1/plugins/hostile-slow/slow";
const ANSWER: &str = "/api/v1/plugins/hostile-http/answer";

/// `hostile-slow` (kv and clock granted, its route public) with `extra` lines in its entry, and
/// `limits` in `[limits]`. Fuel is plentiful: these tests are about time, not instructions.
fn slow_toml(extra: &str, limits: &str) -> String {
    format!(
        "[limits]\nfuel_base = 1000000000\n{limits}\n\n[[plugin]]\nname = \"hostile-slow\"\ncomponent = {:?}\ncapabilities = [\"kv\", \"clock\"]\nroute_roles = [\"public\"]\n{extra}\n",
        plugin_component("hostile-slow").display().to_string()
    )
}

/// `hostile-http`, its route public, with `extra` lines in its entry.
fn http_toml(extra: &str) -> String {
    format!(
        "[[plugin]]\nname = \"hostile-http\"\ncomponent = {:?}\nroute_roles = [\"public\"]\n{extra}\n",
        plugin_component("hostile-http").display().to_string()
    )
}

fn quote_body(sku: i64) -> Value {
    json!({ "delivery_method": "pickup", "lines": [{ "sku_id": sku, "qty": 10 }] })
}

/// A GET as if from `source` (`X-Forwarded-For`, which a server `behind_proxy` believes):
/// the status, the `Retry-After` seconds and the body.
async fn get_from(
    app: &TestApp,
    source: &str,
    path: &str,
    token: Option<&str>,
) -> anyhow::Result<(StatusCode, Option<u64>, Value)> {
    app.request_from(reqwest::Method::GET, source, path, token, None)
        .await
}

/// A quote hook spending 1.5 s in storage reads (each one legal) is stopped at the member's
/// deadline (100 ms by default), host calls included: the member's quote answers within about
/// that, without the plugin, and the failure is counted and named. With `reject` the quote is
/// refused. Failing quotes suspend the plugin even while its route keeps answering.
#[tokio::test]
async fn a_slow_quote_hook_fails_its_deadline_and_the_quote_goes_on() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    app.install_plugins(&slow_toml(
        "on_error = \"skip\"\nsettings = { quote_ms = 1500 }",
        "suspend_after = 3",
    ))
    .await?;
    let stats = app.plugin_stats("hostile-slow")?;
    let failures = stats.failures.load(Ordering::Relaxed);

    let started = Instant::now();
    let (status, quote) = app
        .post("/api/v1/orders/quote", Some(&member), &quote_body(red))
        .await?;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::OK, "{quote}");
    assert!(
        took < Duration::from_millis(1000),
        "the member waited {took:?} for a plugin with a 100 ms deadline"
    );
    assert_eq!(stats.failures.load(Ordering::Relaxed), failures + 1);
    let last = stats.last_error();
    assert!(
        last.contains("deadline of 100 ms") && last.contains("host calls included"),
        "{last}"
    );

    // Its route answering in between does not keep its failing quote hook serving.
    for _ in 0..2 {
        let (status, answer) = app.get(&format!("{SLOW}?ms=0"), None).await?;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let (status, _) = app
            .post("/api/v1/orders/quote", Some(&member), &quote_body(red))
            .await?;
        assert_eq!(status, StatusCode::OK);
    }
    assert!(
        stats.is_suspended(app.clock.now_ms()),
        "three failing quotes in a row suspend it: {}",
        stats.last_error()
    );

    app.install_plugins(&slow_toml(
        "on_error = \"reject\"\nsettings = { quote_ms = 1500 }",
        "suspend_after = 100",
    ))
    .await?;
    stats.suspended_until.store(0, Ordering::Relaxed);
    let started = Instant::now();
    let (status, refused) = app
        .post("/api/v1/orders/quote", Some(&member), &quote_body(red))
        .await?;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{refused}");
    assert_eq!(error_code(&refused), "plugin_failed");
    assert!(started.elapsed() < Duration::from_millis(1000));
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("deadline"),
        "{refused}"
    );
    app.stop().await
}

/// A plugin with a share of 2 concurrent calls, both taken by slow route requests: a third
/// request is answered at once with 503 `plugin_busy` and `Retry-After`, while another
/// plugin's route and the member's quote (which goes on without the busy plugin's hook, past
/// its deadline) still answer; once the slow requests end, the route answers again.
#[tokio::test]
async fn a_plugin_whose_share_is_in_use_answers_busy_while_the_shop_serves() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    app.install_plugins(&format!(
        "{}{}",
        slow_toml(
            "on_error = \"skip\"\nquota = { concurrent_calls = 2 }\nsettings = { quote_ms = 1500 }",
            "deadline_ms = 10000\nhost_call_ms = 10000\nsuspend_after = 100",
        ),
        http_toml("")
    ))
    .await?;
    let stats = app.plugin_stats("hostile-slow")?;
    let busy = stats.busy.load(Ordering::Relaxed);
    let app = Arc::new(app);
    let mut slow = tokio::task::JoinSet::new();
    for _ in 0..2 {
        let app = app.clone();
        slow.spawn(async move { app.get(&format!("{SLOW}?ms=2500"), None).await });
    }
    // Waits on the share itself, not on the call count: a reload by the file watcher after
    // `install_plugins` asks the plugin for its manifest, which is a call too.
    eventually("both slow requests holding the share", || async {
        let share = app
            .plugins
            .current()
            .named("hostile-slow")
            .map(|p| p.share.clone())
            .ok_or_else(|| anyhow::anyhow!("hostile-slow is not serving"))?;
        Ok(share.others_full().then_some(()))
    })
    .await?;

    let started = Instant::now();
    let response = app
        .client
        .get(app.url(&format!("{SLOW}?ms=0")))
        .send()
        .await?;
    let status = response.status();
    let retry_after = response.headers().get("retry-after").cloned();
    let refused: Value = response.json().await?;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{refused}");
    assert_eq!(error_code(&refused), "plugin_busy");
    assert!(retry_after.is_some(), "Retry-After is set");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("quota.concurrent_calls"),
        "{refused}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "answered at once"
    );
    assert_eq!(stats.busy.load(Ordering::Relaxed), busy + 1);

    let (status, answer) = app.get(ANSWER, None).await?;
    assert_eq!(status, StatusCode::OK, "another plugin's route: {answer}");
    let started = Instant::now();
    let (status, quote) = app
        .post("/api/v1/orders/quote", Some(&member), &quote_body(red))
        .await?;
    assert_eq!(status, StatusCode::OK, "the member's quote: {quote}");
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "the quote took {:?}",
        started.elapsed()
    );

    while let Some(done) = slow.join_next().await {
        let (status, answer) = done??;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    let (status, answer) = app.get(&format!("{SLOW}?ms=0"), None).await?;
    assert_eq!(status, StatusCode::OK, "its share is free again: {answer}");
    let app = Arc::try_unwrap(app).map_err(|_| anyhow::anyhow!("app still shared"))?;
    app.stop().await
}

/// Requests to a plugin's routes are counted per client in memory: the 121st in a minute from
/// one address is answered 429 `rate_limited` with `Retry-After` before the plugin runs; another
/// address and a signed-in user (counted as himself) still pass, and the next minute the
/// address passes again. A small quota from `plugins.toml` holds for a signed-in user.
#[tokio::test]
async fn plugin_routes_are_rate_limited_per_client() -> anyhow::Result<()> {
    let Some(app) = TestApp::behind_proxy(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    app.install_plugins(&http_toml("")).await?;
    let stats = app.plugin_stats("hostile-http")?;
    for n in 0..120 {
        let (status, _, answer) = get_from(&app, "203.0.113.7", ANSWER, None).await?;
        assert_eq!(status, StatusCode::OK, "request {}: {answer}", n + 1);
    }
    let calls = stats.calls.load(Ordering::Relaxed);
    let (status, retry_after, refused) = get_from(&app, "203.0.113.7", ANSWER, None).await?;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{refused}");
    assert_eq!(error_code(&refused), "rate_limited");
    assert!(
        retry_after.is_some_and(|s| (1..=60).contains(&s)),
        "{retry_after:?}"
    );
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("route_requests_per_minute"),
        "{refused}"
    );
    assert_eq!(
        stats.calls.load(Ordering::Relaxed),
        calls,
        "refused before the plugin ran"
    );
    let (status, _, _) = get_from(&app, "203.0.113.8", ANSWER, None).await?;
    assert_eq!(status, StatusCode::OK, "another address");
    let (status, _, _) = get_from(&app, "203.0.113.7", ANSWER, Some(&member)).await?;
    assert_eq!(status, StatusCode::OK, "a signed-in user counts as himself");

    app.clock.advance_ms(61_000);
    let (status, _, _) = get_from(&app, "203.0.113.7", ANSWER, None).await?;
    assert_eq!(status, StatusCode::OK, "a new minute");

    app.install_plugins(&http_toml("quota = { route_requests_per_minute = 3 }"))
        .await?;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (status, _, _) = get_from(&app, "203.0.113.9", ANSWER, Some(&member)).await?;
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ],
        "the member's requests this minute (quota 3)"
    );
    app.stop().await
}

/// Time per call (wall, host calls included) is measured and shown to staff: `pifa plugins
/// list` (from the counters the server flushes) and `/admin/plugins` give its p50 and p99 in
/// ms, with the calls refused for a full share.
#[tokio::test]
async fn time_per_call_is_shown_in_the_list_and_the_admin_api() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    app.install_plugins(&slow_toml("", "")).await?;
    for _ in 0..3 {
        let (status, answer) = app.get(&format!("{SLOW}?ms=50"), None).await?;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    app.plugins.flush_stats().await?;
    let listed = pifa::plugins::cli::list(
        &app.plugins_toml(),
        Some(app.store.clone()),
        NativeCode::Refused,
    )
    .await?;
    assert!(
        listed.contains("ms p50") && listed.contains("ms p99"),
        "{listed}"
    );
    let row: Vec<&str> = listed
        .lines()
        .find(|l| l.starts_with("hostile-slow"))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    // plugin kind version status calls failures fuel-p50 fuel-p99 ms-p50 ms-p99 busy
    let ms_p50: f64 = row.get(8).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let ms_p99: f64 = row.get(9).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    assert!(ms_p50 >= 40.0 && ms_p99 >= ms_p50, "{listed}");

    let (status, plugins) = app.get("/api/v1/admin/plugins", Some(&admin)).await?;
    assert_eq!(status, StatusCode::OK);
    let shown = &plugins["plugins"][0];
    assert_eq!(shown["name"], "hostile-slow");
    let p50 = shown["wall_ms_p50"].as_f64().unwrap_or(0.0);
    let p99 = shown["wall_ms_p99"].as_f64().unwrap_or(0.0);
    assert!(p50 >= 40.0 && p99 >= p50, "{plugins}");
    assert_eq!(shown["busy"], 0);
    assert_eq!(shown["concurrent_calls"], 8);
    app.stop().await
}

/// Each answer outside the contract is refused as the plugin's failure (counted, named) and
/// the client gets 503 `plugin_failed`, never the body, the status or the redirect; an error
/// in the kernel's shape passes, and so does a plain answer.
#[tokio::test]
async fn plugin_http_answers_outside_the_contract_are_refused() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    // Many failures in a row here; a suspension would hide the later ones. Copying 1.9 MB
    // costs fuel (one per byte): enough of it that the output cap is what refuses.
    app.install_plugins(&format!(
        "[limits]\nsuspend_after = 100\nfuel_base = 1000000000\n\n{}",
        http_toml("")
    ))
    .await?;
    let stats = app.plugin_stats("hostile-http")?;
    let cases = [
        ("big", "over the 262144-byte cap"),
        ("status-999", "status 999 is not one a plugin may answer"),
        ("status-101", "status 101 is not one a plugin may answer"),
        ("redirect", "status 302 is a redirect"),
        ("no-content-body", "status 204 must have no body"),
        ("bad-error", "an error's body is"),
    ];
    for (mode, reason) in cases {
        let failures = stats.failures.load(Ordering::Relaxed);
        let response = app
            .client
            .get(app.url(&format!("{ANSWER}?mode={mode}")))
            .send()
            .await?;
        let status = response.status();
        assert!(response.headers().get("location").is_none(), "{mode}");
        let body = response.bytes().await?;
        assert!(
            body.len() < 4096,
            "{mode}: {} bytes reached the client",
            body.len()
        );
        let refused: Value = serde_json::from_slice(&body)?;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{mode}: {refused}");
        assert_eq!(error_code(&refused), "plugin_failed", "{mode}");
        assert_eq!(
            stats.failures.load(Ordering::Relaxed),
            failures + 1,
            "{mode} is counted"
        );
        let last = stats.last_error();
        assert!(
            last.contains(reason),
            "{mode}: {last:?} should say {reason:?}"
        );
    }
    let (status, refusal) = app.get(&format!("{ANSWER}?mode=error"), None).await?;
    assert_eq!(status, StatusCode::CONFLICT, "{refusal}");
    assert_eq!(error_code(&refusal), "sold_out");
    let (status, answer) = app.get(ANSWER, None).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer, json!({ "ok": true }));
    app.stop().await
}
