//! What a client writer trips on when the API is not uniform (issue 15, item 10): routes whose
//! body is all optional take none, a payment without a picture is JSON, every paged list says
//! how many it holds, money reads the same in every notice, and the shop says which payment
//! methods are paid first.

use pifa_e2e::pifa_demo::*;
use pifa_e2e::{Backend, TestApp, eventually, on_both_backends};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;

async fn place(app: &TestApp, member: &str, key: &str, method: &str) -> anyhow::Result<i64> {
    let sku = app.sku_id("6901234500011").await?;
    let (status, order, _) = app
        .place_order(
            member,
            key,
            &json!({ "delivery_method": "pickup", "payment_method": method,
                "lines": [{ "sku_id": sku, "qty": 10 }] }),
        )
        .await?;
    anyhow::ensure!(status == StatusCode::CREATED, "{order}");
    Ok(order["id"].as_i64().unwrap_or_default())
}

/// A POST with no body at all, as `start` and `receive` are sent.
async fn post_empty(app: &TestApp, path: &str, token: &str) -> anyhow::Result<(StatusCode, Value)> {
    let response = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .send()
        .await?;
    let status = response.status();
    Ok((status, response.json().await?))
}

async fn uniform_requests(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let admin = app.login(ADMIN, PASSWORD).await?;

    // Cancel and confirm take no body when their fields are all optional.
    let cancelled = place(&app, &member, "uniform-cancel", "cash_on_delivery").await?;
    let (status, body) =
        post_empty(&app, &format!("/api/v1/orders/{cancelled}/cancel"), &member).await?;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("closed")),
        "{body}"
    );
    let paid = place(&app, &member, "uniform-pay", "bank_transfer").await?;
    let (status, body) = post_empty(
        &app,
        &format!("/api/v1/admin/orders/{paid}/confirm"),
        &admin,
    )
    .await?;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("pending_payment")),
        "{body}"
    );

    // A payment without a picture is JSON; the notice names the amount as every notice does.
    let total = body["total_fen"].as_i64().unwrap_or_default();
    let (status, body) = app
        .post(
            &format!("/api/v1/admin/orders/{paid}/payments"),
            Some(&admin),
            &json!({ "amount_fen": total, "remark": "工行转账已到账" }),
        )
        .await?;
    assert_eq!(
        (status, body["paid_fen"].as_i64()),
        (StatusCode::OK, Some(total)),
        "{body}"
    );
    let notice = format!(
        "支付成功通知: {} {}",
        body["number"].as_str().unwrap_or_default(),
        pifa::money::format_price(total)
    );
    assert!(notice.contains('¥'));
    app.inbox_with(&member, &notice).await?;

    // The shop says which methods are paid first.
    let (_, shop) = app.get("/api/v1/shop", None).await?;
    let option = |method: &str| {
        shop["payment_options"]
            .as_array()
            .and_then(|o| o.iter().find(|o| o["method"] == method).cloned())
            .unwrap_or_default()
    };
    assert_eq!(option("bank_transfer")["pays_first"], true, "{shop}");
    assert_eq!(option("cash_on_delivery")["pays_first"], false, "{shop}");
    assert_eq!(option("cash_on_delivery")["label"], "货到付款");
    app.stop().await
}
on_both_backends!(
    uniform_requests_sqlite,
    uniform_requests_postgres,
    uniform_requests
);

/// Every list that pages answers its whole count in `X-Total-Count`, on every page, past the
/// end too. The lists come from the served document (those with an `offset` parameter), so a
/// new one is covered the day it is added.
#[tokio::test]
async fn paged_lists_say_how_many_they_hold() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let admin = app.login(ADMIN, PASSWORD).await?;
    let driver = app.login(DRIVER_HAIKOU, PASSWORD).await?;
    for n in 0..3 {
        place(&app, &member, &format!("paged-{n}"), "cash_on_delivery").await?;
    }
    // The notification rules turn the orders' events into messages in the background: the
    // message log is counted once they have, so it does not grow between two pages.
    eventually("the placed orders announced", || async {
        Ok(app
            .store
            .announcements()
            .unannounced_events(1)
            .await?
            .is_empty()
            .then_some(()))
    })
    .await?;
    let (_, document) = app.get("/api/openapi.json", None).await?;
    let mut lists = Vec::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        let paged = item["get"]["parameters"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["name"] == "offset"));
        if paged {
            lists.push(path.clone());
        }
    }
    assert!(lists.len() >= 7, "{lists:?}");
    for path in &lists {
        let token = if path.contains("/driver/") {
            &driver
        } else {
            &admin
        };
        let query = if path.ends_with("/search") {
            "?q=aqm&"
        } else {
            "?"
        };
        let total_of = |response: &reqwest::Response| {
            response
                .headers()
                .get("x-total-count")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<i64>().ok())
        };
        let all = app
            .client
            .request(Method::GET, app.url(&format!("{path}{query}limit=200")))
            .bearer_auth(token)
            .send()
            .await?;
        assert_eq!(all.status(), StatusCode::OK, "{path}");
        let total = total_of(&all);
        let json = all
            .headers()
            .get("content-type")
            .is_some_and(|ct| ct.as_bytes().starts_with(b"application/json"));
        let body = all.bytes().await?;
        // A spreadsheet export pages and counts as the list does; its rows are not counted
        // here.
        let items = if json {
            serde_json::from_slice::<Value>(&body)?
                .as_array()
                .map_or(0, Vec::len) as i64
        } else {
            total.unwrap_or(-1)
        };
        assert_eq!(total, Some(items), "{path}: the whole list fits one page");
        for offset in [1, 10_000] {
            let page = app
                .client
                .get(app.url(&format!("{path}{query}limit=1&offset={offset}")))
                .bearer_auth(token)
                .send()
                .await?;
            assert_eq!(total_of(&page), Some(items), "{path} offset {offset}");
        }
    }
    // The member's orders: three, one per page.
    let page = app
        .client
        .get(app.url("/api/v1/orders?limit=1&offset=2"))
        .bearer_auth(&member)
        .send()
        .await?;
    assert_eq!(
        page.headers()
            .get("x-total-count")
            .and_then(|v| v.to_str().ok()),
        Some("3")
    );
    assert_eq!(
        page.json::<Value>().await?.as_array().map(Vec::len),
        Some(1)
    );
    app.stop().await
}
