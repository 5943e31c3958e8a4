//! Fulfilment (E2–E4, E6, E7, E9): each seed path end to end, every step made by the seed's
//! role with its own token.

use pifa_e2e::pifa_demo::*;
use pifa_e2e::{Backend, TestApp, error_code, on_both_backends};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;
const HARD_HAT_RED: &str = "6901234500011";
const GLOVES: &str = "6901234500042";
const COATING_GREY: &str = "6901234500066";

fn id_of(order: &Value) -> i64 {
    order["id"].as_i64().unwrap_or_default()
}

pub(crate) async fn user_id(app: &TestApp, token: &str) -> anyhow::Result<i64> {
    let (_, me) = app.get("/api/v1/me", Some(token)).await?;
    me["id"]
        .as_i64()
        .or_else(|| me["user"]["id"].as_i64())
        .ok_or_else(|| anyhow::anyhow!("no id in {me}"))
}

/// The member orders cash on delivery, shipped; returns the order.
pub(crate) async fn ship_order(app: &TestApp, member: &str, key: &str) -> anyhow::Result<Value> {
    let (_, addresses) = app.get("/api/v1/me/addresses", Some(member)).await?;
    let address = addresses[0]["id"].as_i64().unwrap_or_default();
    let red = app.sku_id(HARD_HAT_RED).await?;
    let gloves = app.sku_id(GLOVES).await?;
    let body = json!({
        "delivery_method": "ship",
        "payment_method": "cash_on_delivery",
        "address_id": address,
        "lines": [{ "sku_id": red, "qty": 100 }, { "sku_id": gloves, "qty": 120 }],
    });
    let (status, order, _) = app.place_order(member, key, &body).await?;
    anyhow::ensure!(status == StatusCode::CREATED, "{order}");
    Ok(order)
}

async fn photo(app: &TestApp, url: &str, token: &str) -> anyhow::Result<(StatusCode, Vec<u8>)> {
    let response = app
        .client
        .get(app.url(url))
        .bearer_auth(token)
        .send()
        .await?;
    Ok((response.status(), response.bytes().await?.to_vec()))
}

/// The driver path (E2, E3, E7, E9): member orders → his manager changes a quantity and
/// confirms → assigns the region's driver → the driver sets out and uploads two photos → the
/// member sees 已收货 without doing anything, and both photos come back, in order, to him and
/// to staff; cash collected and marked paid, the order completes.
async fn driver_delivery(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let manager = app.login(MANAGER_HAIKOU, PASSWORD).await?;
    let driver = app.login(DRIVER_HAIKOU, PASSWORD).await?;
    let sanya_driver = app.login(DRIVER_SANYA, PASSWORD).await?;
    let service = app.login(SERVICE, PASSWORD).await?;
    let driver_id = user_id(&app, &driver).await?;
    let sanya_driver_id = user_id(&app, &sanya_driver).await?;

    let order = ship_order(&app, &member, "drive-1").await?;
    let id = id_of(&order);
    let (status, confirmed) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/confirm"),
            Some(&manager),
            &json!({ "changes": [{ "line_no": 1, "qty": 80, "reason": "客户电话减量" }] }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    assert_eq!(confirmed["status"], "awaiting_dispatch");

    // Before assignment the driver does not see it; a driver of another region cannot be
    // assigned.
    let (_, list) = app.get("/api/v1/driver/orders", Some(&driver)).await?;
    assert!(
        !list.to_string().contains(&format!("\"id\":{id}")),
        "{list}"
    );
    let (status, refused) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/dispatch"),
            Some(&manager),
            &json!({ "method": "driver", "driver_id": sanya_driver_id }),
        )
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(error_code(&refused), "unknown_driver");
    assert_eq!(refused["error"]["field"], "driver_id");

    let (status, assigned) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/dispatch"),
            Some(&manager),
            &json!({ "method": "driver", "driver_id": driver_id, "remark": "上午送" }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{assigned}");
    assert_eq!(assigned["status"], "awaiting_dispatch");
    assert_eq!(assigned["fulfilment"]["driver"]["name"], "张师傅");
    app.inbox_with(
        &driver,
        &format!(
            "您的订单{}待送货，请及时办理出库和送货。",
            order["number"].as_str().unwrap_or("")
        ),
    )
    .await?;

    // The driver's console: address and phone, in his words.
    let (status, list) = app.get("/api/v1/driver/orders", Some(&driver)).await?;
    assert_eq!(status, StatusCode::OK, "{list}");
    let stop = list
        .as_array()
        .and_then(|l| l.iter().find(|s| s["id"] == id))
        .cloned()
        .unwrap_or_default();
    assert_eq!(stop["status_label"], "待送货");
    assert!(!stop["phone"].as_str().unwrap_or("").is_empty(), "{stop}");
    assert!(
        stop["address"].as_str().unwrap_or("").contains("海口"),
        "{stop}"
    );
    assert_eq!(stop["to_collect_fen"], confirmed["total_fen"]);

    // Scope: the 三亚 driver sees nothing of it; the driver may neither confirm nor reprice.
    let (status, _) = app
        .get(&format!("/api/v1/orders/{id}"), Some(&sanya_driver))
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(
            &format!("/api/v1/driver/orders/{id}/start"),
            Some(&sanya_driver),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/confirm"),
            Some(&driver),
            &json!({ "changes": [{ "line_no": 1, "unit_price_fen": 1, "reason": "x" }] }),
        )
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, started) = app
        .post(
            &format!("/api/v1/driver/orders/{id}/start"),
            Some(&driver),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{started}");
    assert_eq!(started["status_label"], "送货中");
    let (_, seen) = app
        .get(&format!("/api/v1/orders/{id}"), Some(&member))
        .await?;
    assert_eq!(seen["status_label"], "待收货");
    assert_eq!(seen["fulfilment"]["driver"]["phone"], DRIVER_HAIKOU);
    assert_eq!(seen["fulfilment"]["driver"]["plate"], "琼A·3K721");

    // Two photos of the signed note; a file that is not an image is refused first.
    let not_image = reqwest::multipart::Form::new().part(
        "photo",
        reqwest::multipart::Part::bytes(b"not a picture".to_vec()).file_name("a.png"),
    );
    let (status, _) = app
        .post_form(
            &format!("/api/v1/driver/orders/{id}/delivered"),
            &driver,
            not_image,
        )
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let first = pifa_e2e::TINY_PNG.to_vec();
    let second = pifa_e2e::images::jpeg(3, 2)?;
    let form = reqwest::multipart::Form::new()
        .part(
            "photo",
            reqwest::multipart::Part::bytes(first.clone()).file_name("1.png"),
        )
        .part(
            "photo",
            reqwest::multipart::Part::bytes(second.clone()).file_name("2.png"),
        )
        .text("remark", "已签收");
    let (status, delivered) = app
        .post_form(
            &format!("/api/v1/driver/orders/{id}/delivered"),
            &driver,
            form,
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{delivered}");
    assert_eq!(
        delivered["status_label"], "已完成",
        "the driver's word for it"
    );

    let (_, seen) = app
        .get(&format!("/api/v1/orders/{id}"), Some(&member))
        .await?;
    assert_eq!(seen["status"], "received");
    assert_eq!(seen["status_label"], "已收货");
    let (_, staff_view) = app
        .get(&format!("/api/v1/orders/{id}"), Some(&service))
        .await?;
    assert_eq!(staff_view["status_label"], "已送达");
    let urls: Vec<String> = seen["fulfilment"]["delivery_photos"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|u| u.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(urls.len(), 2, "{seen}");
    for (url, size) in urls.iter().zip([(1, 1), (3, 2)]) {
        for token in [&member, &service, &manager] {
            let (status, bytes) = photo(&app, url, token).await?;
            assert_eq!(status, StatusCode::OK);
            let picture = pifa_e2e::images::decode(&bytes)?;
            assert_eq!((picture.width(), picture.height()), size, "{url}");
        }
        let (status, _) = photo(&app, url, &sanya_driver).await?;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    // A second delivery of a received order is refused.
    let again = reqwest::multipart::Form::new().part(
        "photo",
        reqwest::multipart::Part::bytes(first.clone()).file_name("1.png"),
    );
    let (status, _) = app
        .post_form(
            &format!("/api/v1/driver/orders/{id}/delivered"),
            &driver,
            again,
        )
        .await?;
    assert_eq!(status, StatusCode::CONFLICT);

    // Cash collected: marked paid in full, the order completes (E9).
    let total = seen["total_fen"].as_i64().unwrap_or_default();
    let paid = reqwest::multipart::Form::new()
        .text("amount_fen", total.to_string())
        .text("remark", "司机代收现金");
    let (status, _) = app
        .post_form(
            &format!("/api/v1/admin/orders/{id}/payments"),
            &service,
            paid,
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    let (_, done) = app
        .get(&format!("/api/v1/orders/{id}"), Some(&member))
        .await?;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["status_label"], "订单已完成");
    let actions: Vec<&str> = done["history"]
        .as_array()
        .map(|h| h.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        actions,
        [
            "placed",
            "confirmed",
            "driver_assigned",
            "delivery_started",
            "delivered",
            "paid",
            "completed"
        ]
    );
    let events = app.store.orders().order_event_kinds(id).await?;
    for kind in [
        "order.driver_assigned",
        "order.delivery_started",
        "order.delivered",
        "order.completed",
    ] {
        assert!(events.iter().any(|e| e == kind), "{kind} in {events:?}");
    }
    app.stop().await
}
on_both_backends!(
    driver_delivery_sqlite,
    driver_delivery_postgres,
    driver_delivery
);

/// Express with the member's confirmation (E2, E4, E7), and the clock's receipt for an order
/// nobody confirms (E4): still in delivery at N days minus a minute, received one tick after.
#[tokio::test]
async fn express_and_auto_receipt() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let manager = app.login(MANAGER_HAIKOU, PASSWORD).await?;
    let driver = app.login(DRIVER_HAIKOU, PASSWORD).await?;
    let mut ids = Vec::new();
    for key in ["express-1", "express-2"] {
        let order = ship_order(&app, &member, key).await?;
        let id = id_of(&order);
        let (status, body) = app
            .post(
                &format!("/api/v1/admin/orders/{id}/confirm"),
                Some(&manager),
                &json!({}),
            )
            .await?;
        assert_eq!(status, StatusCode::OK, "{body}");
        ids.push(id);
    }
    let (first, second) = (ids[0], ids[1]);

    // Express needs the carrier and the number.
    let (status, refused) = app
        .post(
            &format!("/api/v1/admin/orders/{first}/dispatch"),
            Some(&manager),
            &json!({ "method": "express", "carrier": "顺丰" }),
        )
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["error"]["field"], "tracking_no");
    for id in [first, second] {
        let (status, sent) = app
            .post(
                &format!("/api/v1/admin/orders/{id}/dispatch"),
                Some(&manager),
                &json!({ "method": "express", "carrier": "顺丰", "tracking_no": format!("SF{id}"), "expected_date": "2026-12-05" }),
            )
            .await?;
        assert_eq!(status, StatusCode::OK, "{sent}");
        assert_eq!(sent["status_label"], "发货中");
    }
    let (_, seen) = app
        .get(&format!("/api/v1/orders/{first}"), Some(&member))
        .await?;
    assert_eq!(seen["status_label"], "待收货");
    assert_eq!(seen["fulfilment"]["carrier"], "顺丰");
    assert_eq!(seen["fulfilment"]["tracking_no"], format!("SF{first}"));
    assert_eq!(seen["fulfilment"]["shipment_label"], "快递");
    app.inbox_with(&member, "正在发货中").await?;

    // No driver: the driver cannot deliver it; the member confirms the first himself.
    let (status, _) = app
        .post(
            &format!("/api/v1/driver/orders/{first}/start"),
            Some(&driver),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, received) = app
        .post(
            &format!("/api/v1/orders/{first}/receive"),
            Some(&member),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{received}");
    assert_eq!(received["status_label"], "已收货");
    let (status, again) = app
        .post(
            &format!("/api/v1/orders/{first}/receive"),
            Some(&member),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&again), "invalid_transition");

    // The second: nobody confirms; the clock does after auto_receive_days (7).
    let limit_ms = 7 * 86_400_000;
    assert!(app.clock.advance_ms(limit_ms - 60_000));
    assert_eq!(
        app.store
            .orders()
            .receive_overdue_orders(app.clock.now_ms())
            .await?,
        0
    );
    let (_, open) = app
        .get(&format!("/api/v1/orders/{second}"), Some(&member))
        .await?;
    assert_eq!(open["status"], "in_delivery");
    assert!(app.clock.advance_ms(60_000));
    assert_eq!(
        app.store
            .orders()
            .receive_overdue_orders(app.clock.now_ms())
            .await?,
        1
    );
    let (_, received) = app
        .get(&format!("/api/v1/orders/{second}"), Some(&member))
        .await?;
    assert_eq!(received["status"], "received");
    assert_eq!(received["status_label"], "已收货");
    app.stop().await
}

/// Customer service changes any order's status with a remark (E6); a remark is required and
/// an illegal move is refused with a stable code; a manager may not.
#[tokio::test]
async fn service_changes_status_with_a_remark() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let manager = app.login(MANAGER_HAIKOU, PASSWORD).await?;
    let service = app.login(SERVICE, PASSWORD).await?;
    let order = ship_order(&app, &member, "status-1").await?;
    let id = id_of(&order);
    let path = format!("/api/v1/admin/orders/{id}/status");
    let (status, refused) = app
        .post(
            &path,
            Some(&service),
            &json!({ "status": "in_delivery", "remark": " " }),
        )
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["error"]["field"], "remark");
    let (status, refused) = app
        .post(
            &path,
            Some(&service),
            &json!({ "status": "received", "remark": "跳过" }),
        )
        .await?;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(error_code(&refused), "invalid_transition");
    let (status, _) = app
        .post(
            &path,
            Some(&manager),
            &json!({ "status": "closed", "remark": "客户不要了" }),
        )
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, closed) = app
        .post(
            &path,
            Some(&service),
            &json!({ "status": "closed", "remark": "客户电话取消" }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{closed}");
    assert_eq!(closed["status"], "closed");
    let last = closed["history"]
        .as_array()
        .and_then(|h| h.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["action"], "status_changed");
    assert_eq!(last["remark"], "客户电话取消");
    app.stop().await
}

/// Self-pickup (E5): the order waits at a point with a code only its member sees; another
/// point's verifier, a second scan and a guessed code are refused, and guessing is
/// rate-limited.
#[tokio::test]
async fn self_pickup_with_a_single_use_code() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let manager = app.login(MANAGER_HAIKOU, PASSWORD).await?;
    let admin = app.login(ADMIN, PASSWORD).await?;
    let verifier = app.login(VERIFIER, PASSWORD).await?;
    let (_, points) = app.get("/api/v1/pickup-points", Some(&member)).await?;
    let jinpan = points[0]["id"].as_i64().unwrap_or_default();
    assert_eq!(points[0]["name"], "海口金盘自提点");
    assert!(
        points[0]["map_url"]
            .as_str()
            .unwrap_or("")
            .starts_with("https://")
    );

    // A second point in 三亚 with its own verifier.
    let (_, regions) = app.get("/api/v1/regions", None).await?;
    let sanya = regions
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "三亚"))
        .and_then(|r| r["id"].as_i64());
    let (status, other) = app
        .post(
            "/api/v1/admin/staff",
            Some(&admin),
            &json!({ "name": "黎核销", "phone": "13800000042", "password": "verify2026", "roles": ["verifier"], "region_ids": [sanya] }),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    let other_id = other["id"].as_i64().unwrap_or_default();
    let (status, point) = app
        .post(
            "/api/v1/admin/pickup-points",
            Some(&admin),
            &json!({ "name": "三亚自提点", "address": "三亚市吉阳区", "region_id": sanya, "verifier_ids": [other_id] }),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{point}");
    let other_verifier = app.login("13800000042", "verify2026").await?;

    let red = app.sku_id(HARD_HAT_RED).await?;
    let body = json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery", "lines": [{ "sku_id": red, "qty": 50 }] });
    let (status, order, _) = app.place_order(&member, "pickup-1", &body).await?;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let id = id_of(&order);
    let (status, _) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/confirm"),
            Some(&manager),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    let (status, ready) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/ready-for-pickup"),
            Some(&manager),
            &json!({ "pickup_point_id": jinpan }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{ready}");
    assert_eq!(ready["status_label"], "待自提");
    assert!(
        ready["fulfilment"]["pickup_code"].is_null(),
        "staff never see the code"
    );

    let (_, mine) = app
        .get(&format!("/api/v1/orders/{id}"), Some(&member))
        .await?;
    assert_eq!(mine["status_label"], "待自提");
    assert_eq!(mine["fulfilment"]["pickup_point"]["name"], "海口金盘自提点");
    let code = mine["fulfilment"]["pickup_code"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert_eq!(code.len(), 12, "{mine}");
    let (_, inbox) = app.get("/api/v1/me/inbox", Some(&member)).await?;
    assert!(inbox.to_string().contains(&code), "{inbox}");

    // Another point's verifier is refused; a guess is refused; then the right one hands out.
    let (status, refused) = app
        .post(
            "/api/v1/pickup/verify",
            Some(&other_verifier),
            &json!({ "code": code }),
        )
        .await?;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(error_code(&refused), "wrong_pickup_point");
    let guess = if code == "123456789012" {
        "123456789013"
    } else {
        "123456789012"
    };
    let (status, refused) = app
        .post(
            "/api/v1/pickup/verify",
            Some(&verifier),
            &json!({ "code": guess }),
        )
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&refused), "unknown_pickup_code");
    let (status, picked) = app
        .post(
            "/api/v1/pickup/verify",
            Some(&verifier),
            &json!({ "code": code }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{picked}");
    assert_eq!(picked["status_label"], "已送达");
    let (_, mine) = app
        .get(&format!("/api/v1/orders/{id}"), Some(&member))
        .await?;
    assert_eq!(mine["status_label"], "已收货");
    let (status, again) = app
        .post(
            "/api/v1/pickup/verify",
            Some(&verifier),
            &json!({ "code": code }),
        )
        .await?;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&again), "pickup_code_used");

    // Guessing: ten wrong codes in the window, then even the right code waits.
    for n in 0..9 {
        let (status, _) = app
            .post(
                "/api/v1/pickup/verify",
                Some(&verifier),
                &json!({ "code": format!("99999999990{n}") }),
            )
            .await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let (status, limited) = app
        .post(
            "/api/v1/pickup/verify",
            Some(&verifier),
            &json!({ "code": code }),
        )
        .await?;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{limited}");
    assert_eq!(error_code(&limited), "too_many_attempts");
    app.stop().await
}

/// Pay first (E9, F1): a bank-transfer order waits in 待付款 after confirmation and cannot be
/// sent until paid; paid, sent by logistics and confirmed by the member, it completes.
async fn pay_first_then_dispatch(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let manager = app.login(MANAGER_HAIKOU, PASSWORD).await?;
    let service = app.login(SERVICE, PASSWORD).await?;
    let (_, addresses) = app.get("/api/v1/me/addresses", Some(&member)).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    let body = json!({ "delivery_method": "ship", "payment_method": "bank_transfer",
        "address_id": addresses[0]["id"], "lines": [{ "sku_id": red, "qty": 100 }] });
    let (status, order, _) = app.place_order(&member, "pay-first-1", &body).await?;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let id = id_of(&order);
    let (_, confirmed) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/confirm"),
            Some(&manager),
            &json!({}),
        )
        .await?;
    assert_eq!(confirmed["status_label"], "待付款");
    let send = json!({ "method": "logistics", "carrier": "德邦物流", "tracking_no": "DB2026" });
    let (status, refused) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/dispatch"),
            Some(&manager),
            &send,
        )
        .await?;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(error_code(&refused), "invalid_transition");

    // Four clerks mark the same transfer at once: one is recorded, the others are refused
    // (more than is owed), and the order is paid exactly once.
    let total = confirmed["total_fen"].as_i64().unwrap_or_default();
    let path = format!("/api/v1/admin/orders/{id}/payments");
    let mark = || {
        let paid = reqwest::multipart::Form::new()
            .text("amount_fen", total.to_string())
            .text("remark", "工行到账");
        app.post_form(&path, &service, paid)
    };
    let marks = tokio::join!(mark(), mark(), mark(), mark());
    let mut recorded = 0;
    for result in [marks.0, marks.1, marks.2, marks.3] {
        let (status, body) = result?;
        if status == StatusCode::OK {
            recorded += 1;
        } else {
            assert!(
                ["overpayment", "changed_meanwhile"].contains(&error_code(&body)),
                "{status} {body}"
            );
        }
    }
    assert_eq!(recorded, 1);
    let (_, paid) = app
        .get(&format!("/api/v1/orders/{id}"), Some(&service))
        .await?;
    assert_eq!(paid["paid_fen"], total);
    assert_eq!(paid["payments"].as_array().map(Vec::len), Some(1));
    let (status, sent) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/dispatch"),
            Some(&manager),
            &send,
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{sent}");
    let (_, received) = app
        .post(
            &format!("/api/v1/orders/{id}/receive"),
            Some(&member),
            &json!({}),
        )
        .await?;
    assert_eq!(
        received["status"], "completed",
        "received and paid in full: {received}"
    );
    assert_eq!(received["status_label"], "订单已完成");
    app.stop().await
}
on_both_backends!(
    pay_first_sqlite,
    pay_first_postgres,
    pay_first_then_dispatch
);

async fn html(app: &TestApp, path: &str, token: &str) -> anyhow::Result<(StatusCode, String)> {
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await?;
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = response.text().await?;
    if status == StatusCode::OK {
        anyhow::ensure!(content_type.starts_with("text/html"), "{content_type}");
    }
    Ok((status, body))
}

/// Paper (E10): the delivery note carries the order, its lines and its number as a QR code
/// (the same SVG the number encodes to), with the member's words escaped; the picking list
/// of the region's day adds up each SKU across its orders.
#[tokio::test]
async fn delivery_note_and_picking_list() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let manager = app.login(MANAGER_HAIKOU, PASSWORD).await?;
    let sanya_manager = app.login(MANAGER_SANYA, PASSWORD).await?;
    let (_, addresses) = app.get("/api/v1/me/addresses", Some(&member)).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    let mut numbers = Vec::new();
    for (key, qty) in [("paper-1", 100), ("paper-2", 50)] {
        let body = json!({ "delivery_method": "ship", "payment_method": "cash_on_delivery",
            "address_id": addresses[0]["id"], "remark": "<script>alert(1)</script>",
            "lines": [{ "sku_id": red, "qty": qty }] });
        let (status, order, _) = app.place_order(&member, key, &body).await?;
        assert_eq!(status, StatusCode::CREATED, "{order}");
        let id = id_of(&order);
        let (status, _) = app
            .post(
                &format!("/api/v1/admin/orders/{id}/confirm"),
                Some(&manager),
                &json!({}),
            )
            .await?;
        assert_eq!(status, StatusCode::OK);
        numbers.push((id, order["number"].as_str().unwrap_or("").to_owned()));
    }
    let (id, number) = numbers[0].clone();
    let (status, note) = html(
        &app,
        &format!("/api/v1/orders/{id}/delivery-note"),
        &manager,
    )
    .await?;
    assert_eq!(status, StatusCode::OK, "{note}");
    assert!(note.contains("出库签收单"), "{note}");
    assert!(note.contains(&number));
    assert!(note.contains("AQM-001"), "the line's item number");
    let qr = qrcode::QrCode::new(number.as_bytes())?
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(120, 120)
        .build();
    assert!(note.contains(&qr), "the QR code encodes the order number");
    assert!(!note.contains("<script>alert"), "the remark is escaped");
    assert!(note.contains("&lt;script&gt;"));

    let today = pifa::clock::shop_date_iso(app.clock.now_ms());
    let (_, regions) = app.get("/api/v1/regions", None).await?;
    let haikou = regions
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "海口"))
        .and_then(|r| r["id"].as_i64())
        .unwrap_or_default();
    let path = format!("/api/v1/admin/picking-list?region_id={haikou}&date={today}");
    let (status, list) = html(&app, &path, &manager).await?;
    assert_eq!(status, StatusCode::OK, "{list}");
    for (_, number) in &numbers {
        assert!(list.contains(number.as_str()), "{number} in the list");
    }
    assert!(
        list.contains("<td class=\"n\">150</td>"),
        "100 + 50 hard hats: {list}"
    );
    let (status, _) = html(&app, &path, &sanya_manager).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await
}

/// After-sales (E8): a return with photos, approved by the order's manager, collected by a
/// driver of the region (goods back on the shelf), refunded by customer service against what
/// was paid; nobody refunds more than was paid.
async fn return_with_refund_and_stock_back(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let manager = app.login(MANAGER_HAIKOU, PASSWORD).await?;
    let service = app.login(SERVICE, PASSWORD).await?;
    let driver = app.login(DRIVER_HAIKOU, PASSWORD).await?;
    let sanya_driver = app.login(DRIVER_SANYA, PASSWORD).await?;
    let order = ship_order(&app, &member, "return-1").await?;
    let id = id_of(&order);
    let (_, confirmed) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/confirm"),
            Some(&manager),
            &json!({}),
        )
        .await?;
    let send = json!({ "method": "express", "carrier": "顺丰", "tracking_no": "SF77" });
    let (status, _) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/dispatch"),
            Some(&manager),
            &send,
        )
        .await?;
    assert_eq!(status, StatusCode::OK);

    // Not before the goods arrived.
    let early = reqwest::multipart::Form::new()
        .text("kind", "return")
        .text("reason", "破损")
        .text("lines", r#"[{"line_no":1,"qty":40}]"#);
    let (status, _) = app
        .post_form(&format!("/api/v1/orders/{id}/after-sales"), &member, early)
        .await?;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, _) = app
        .post(
            &format!("/api/v1/orders/{id}/receive"),
            Some(&member),
            &json!({}),
        )
        .await?;
    let total = confirmed["total_fen"].as_i64().unwrap_or_default();
    let paid = reqwest::multipart::Form::new()
        .text("amount_fen", total.to_string())
        .text("remark", "货到付款已收");
    let (status, _) = app
        .post_form(
            &format!("/api/v1/admin/orders/{id}/payments"),
            &service,
            paid,
        )
        .await?;
    assert_eq!(status, StatusCode::OK);

    let red_price = confirmed["lines"][0]["line_total_fen"]
        .as_i64()
        .unwrap_or_default()
        / confirmed["lines"][0]["qty"].as_i64().unwrap_or(1).max(1);
    let refund = red_price * 40;
    let request = reqwest::multipart::Form::new()
        .text("kind", "return")
        .text("reason", "40顶帽檐开裂")
        .text("lines", r#"[{"line_no":1,"qty":40}]"#)
        .text("amount_fen", refund.to_string())
        .part(
            "photo",
            reqwest::multipart::Part::bytes(pifa_e2e::TINY_PNG.to_vec()).file_name("crack.png"),
        );
    let (status, requested) = app
        .post_form(
            &format!("/api/v1/orders/{id}/after-sales"),
            &member,
            request,
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{requested}");
    assert_eq!(requested["status_label"], "待审核");
    assert_eq!(requested["kind_label"], "退货");
    let request_id = requested["id"].as_i64().unwrap_or_default();
    let (_, marked) = app
        .get(&format!("/api/v1/orders/{id}"), Some(&member))
        .await?;
    assert_eq!(marked["after_sales_open"], true, "售后中");
    let queued = |queue: &Value| {
        queue
            .as_array()
            .is_some_and(|q| q.iter().any(|r| r["id"] == request_id))
    };
    let (_, queue) = app.get("/api/v1/admin/after-sales", Some(&manager)).await?;
    assert!(queued(&queue), "in his queue: {queue}");
    let sanya_manager = app.login(MANAGER_SANYA, PASSWORD).await?;
    let (_, queue) = app
        .get("/api/v1/admin/after-sales", Some(&sanya_manager))
        .await?;
    assert!(!queued(&queue), "not in another region's queue");
    let (status, photo_bytes) = photo(
        &app,
        requested["photos"][0].as_str().unwrap_or(""),
        &manager,
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    assert!(pifa_e2e::images::same_picture(
        &photo_bytes,
        pifa_e2e::TINY_PNG
    )?);

    // Refund before the goods are back is refused; the driver may not decide.
    let (status, _) = app
        .post(
            &format!("/api/v1/admin/after-sales/{request_id}/decision"),
            Some(&driver),
            &json!({ "approve": true }),
        )
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, approved) = app
        .post(
            &format!("/api/v1/admin/after-sales/{request_id}/decision"),
            Some(&manager),
            &json!({ "approve": true, "remark": "同意退货" }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["status_label"], "已同意");
    let (status, early) = app
        .post(
            &format!("/api/v1/admin/after-sales/{request_id}/refund"),
            Some(&service),
            &json!({ "amount_fen": refund }),
        )
        .await?;
    assert_eq!(status, StatusCode::CONFLICT, "{early}");

    let stock_before = app.stock_of(HARD_HAT_RED).await?;
    let (status, _) = app
        .post(
            &format!("/api/v1/driver/after-sales/{request_id}/collected"),
            Some(&sanya_driver),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, collected) = app
        .post(
            &format!("/api/v1/driver/after-sales/{request_id}/collected"),
            Some(&driver),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{collected}");
    assert_eq!(
        app.stock_of(HARD_HAT_RED).await?,
        stock_before + 40,
        "returned goods are back on the shelf"
    );

    let (status, over) = app
        .post(
            &format!("/api/v1/admin/after-sales/{request_id}/refund"),
            Some(&service),
            &json!({ "amount_fen": total + 1 }),
        )
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&over), "overpayment");
    let (status, refunded) = app
        .post(
            &format!("/api/v1/admin/after-sales/{request_id}/refund"),
            Some(&service),
            &json!({ "amount_fen": refund, "remark": "原路退回" }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{refunded}");
    assert_eq!(refunded["status_label"], "已退款");
    assert_eq!(refunded["refunded_fen"], refund);
    let (_, done) = app
        .get(&format!("/api/v1/orders/{id}"), Some(&member))
        .await?;
    assert_eq!(done["refunded_fen"], refund);
    assert_eq!(done["after_sales_open"], false);
    let (_, inbox) = app.get("/api/v1/me/inbox", Some(&member)).await?;
    // Money reads the same in every notice (issue 15): ¥ and two decimals.
    let notice = format!("已退款{}", pifa::money::format_price(refund));
    assert!(notice.contains('¥'), "{notice}");
    assert!(inbox.to_string().contains(&notice), "{inbox}");
    let events = app.store.orders().order_event_kinds(id).await?;
    for kind in [
        "order.after_sale_requested",
        "order.after_sale_approved",
        "order.after_sale_collected",
        "order.after_sale_refunded",
    ] {
        assert!(events.iter().any(|e| e == kind), "{kind} in {events:?}");
    }
    app.stop().await
}
on_both_backends!(
    return_with_refund_sqlite,
    return_with_refund_postgres,
    return_with_refund_and_stock_back
);

/// Reviews (C7): only after the goods arrived, once per product and order; hidden until staff
/// approve; then on the product page with the name shortened and the photo readable to all.
#[tokio::test]
async fn reviews_are_moderated_before_they_show() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let manager = app.login(MANAGER_HAIKOU, PASSWORD).await?;
    let service = app.login(SERVICE, PASSWORD).await?;
    let outsider = app.login(MANAGER_SANYA, PASSWORD).await?;
    let order = ship_order(&app, &member, "review-1").await?;
    let id = id_of(&order);
    let product_id = order["lines"][0]["product_id"].as_i64().unwrap_or_default();
    let review_form = |rating: &str| {
        reqwest::multipart::Form::new()
            .text("product_id", product_id.to_string())
            .text("rating", rating.to_owned())
            .text("body", "帽壳结实，戴着舒服")
            .part(
                "photo",
                reqwest::multipart::Part::bytes(pifa_e2e::TINY_PNG.to_vec()).file_name("hat.png"),
            )
    };
    let post_review = |form: reqwest::multipart::Form| {
        app.client
            .post(app.url(&format!("/api/v1/orders/{id}/reviews")))
            .bearer_auth(&member)
            .multipart(form)
            .send()
    };
    assert_eq!(
        post_review(review_form("5")).await?.status(),
        StatusCode::CONFLICT,
        "not before receipt"
    );
    app.post(
        &format!("/api/v1/admin/orders/{id}/confirm"),
        Some(&manager),
        &json!({}),
    )
    .await?;
    app.post(
        &format!("/api/v1/admin/orders/{id}/dispatch"),
        Some(&manager),
        &json!({ "method": "express", "carrier": "顺丰", "tracking_no": "SF5" }),
    )
    .await?;
    app.post(
        &format!("/api/v1/orders/{id}/receive"),
        Some(&member),
        &json!({}),
    )
    .await?;
    let response = post_review(review_form("6")).await?;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused: Value = response.json().await?;
    assert_eq!(refused["error"]["field"], "rating");
    let response = post_review(review_form("4")).await?;
    assert_eq!(response.status(), StatusCode::CREATED);
    let review: Value = response.json().await?;
    assert_eq!(review["status"], "pending");
    let twice = post_review(review_form("4")).await?;
    assert_eq!(twice.status(), StatusCode::CONFLICT, "once per product");
    assert_eq!(error_code(&twice.json().await?), "already_reviewed");

    let page = format!("/api/v1/products/{product_id}/reviews");
    let (_, shown) = app.get(&page, Some(&outsider)).await?;
    assert_eq!(shown["count"], 0, "pending reviews are not shown: {shown}");
    let photo_url = review["photos"][0].as_str().unwrap_or("").to_owned();
    assert_eq!(
        photo(&app, &photo_url, &outsider).await?.0,
        StatusCode::NOT_FOUND
    );

    let (_, queue) = app.get("/api/v1/admin/reviews", Some(&service)).await?;
    assert!(queue.to_string().contains("帽壳结实"), "{queue}");
    let review_id = review["id"].as_i64().unwrap_or_default();
    let (status, approved) = app
        .post(
            &format!("/api/v1/admin/reviews/{review_id}/moderation"),
            Some(&service),
            &json!({ "approve": true }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{approved}");
    let (_, shown) = app.get(&page, Some(&outsider)).await?;
    assert_eq!(shown["count"], 1);
    assert_eq!(shown["average_x10"], 40);
    assert_eq!(shown["reviews"][0]["rating"], 4);
    assert!(
        shown["reviews"][0]["reviewer"]
            .as_str()
            .unwrap_or("")
            .ends_with('*')
    );
    let (status, bytes) = photo(&app, &photo_url, &outsider).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(pifa_e2e::images::same_picture(&bytes, pifa_e2e::TINY_PNG)?);
    app.stop().await
}

/// Sets a SKU's shelf stock (admin), keeping it open to backorders.
async fn restock(app: &TestApp, admin: &str, barcode: &str, stock: i64) -> anyhow::Result<()> {
    let sku = app.sku_id(barcode).await?;
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/admin/skus/{sku}"),
            Some(admin),
            Some(&json!({ "model": "JS-II", "spec": "灰色 20kg", "price_fen": 26800, "stock": stock, "allow_backorder": true, "barcode": barcode })),
        )
        .await?;
    anyhow::ensure!(status == StatusCode::OK, "{body}");
    Ok(())
}

/// Partial shipment (E2): an order beyond stock on a backorder SKU owes the rest. Dispatch
/// first takes what has arrived; if items are still owed it is refused (`stock_short`, naming
/// the line) unless staff split: then what is there leaves, and the rest becomes a follow-up
/// order (补发单, priced at zero) that ships when stock arrives. Stock is conserved throughout.
async fn partial_shipment(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let member = app.login(MEMBER, PASSWORD).await?;
    let manager = app.login(MANAGER_HAIKOU, PASSWORD).await?;
    let driver = app.login(DRIVER_HAIKOU, PASSWORD).await?;
    let driver_id = user_id(&app, &driver).await?;
    restock(&app, &admin, COATING_GREY, 5).await?;
    let coating = app.sku_id(COATING_GREY).await?;
    let (_, addresses) = app.get("/api/v1/me/addresses", Some(&member)).await?;
    let address = addresses[0]["id"].as_i64().unwrap_or_default();
    let (status, order, _) = app
        .place_order(&member, "partial-1", &json!({ "delivery_method": "ship", "payment_method": "cash_on_delivery", "address_id": address, "lines": [{ "sku_id": coating, "qty": 20 }] }))
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let id = id_of(&order);
    let total = order["total_fen"].as_i64().unwrap_or_default();
    assert_eq!(order["lines"][0]["backorder_qty"], 15);
    let (status, body) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/confirm"),
            Some(&manager),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");

    // 3 arrive; 12 still owed: a plain dispatch is refused and changes nothing.
    restock(&app, &admin, COATING_GREY, 3).await?;
    let express = json!({ "method": "express", "carrier": "德邦", "tracking_no": "DB1" });
    let (status, refused) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/dispatch"),
            Some(&manager),
            &express,
        )
        .await?;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(error_code(&refused), "stock_short");
    assert_eq!(refused["error"]["details"]["lines"][0]["owed"], 12);
    assert_eq!(refused["error"]["details"]["lines"][0]["line_no"], 1);
    assert_eq!(app.stock_of(COATING_GREY).await?, 3, "nothing taken");
    let (_, still) = app
        .get(&format!("/api/v1/orders/{id}"), Some(&member))
        .await?;
    assert_eq!(still["status"], "awaiting_dispatch");
    assert_eq!(still["lines"][0]["reserved_qty"], 5);

    // Split: 8 leave now, 12 follow.
    let mut split = express.clone();
    split["split_backorders"] = json!(true);
    let (status, sent) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/dispatch"),
            Some(&manager),
            &split,
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert_eq!(sent["status"], "in_delivery");
    assert_eq!(sent["lines"][0]["reserved_qty"], 8);
    assert_eq!(sent["lines"][0]["backorder_qty"], 0);
    assert_eq!(sent["lines"][0]["followup_qty"], 12);
    assert_eq!(sent["total_fen"], total, "the parent keeps the money");
    assert_eq!(app.stock_of(COATING_GREY).await?, 0);
    let (status, note) = html(
        &app,
        &format!("/api/v1/orders/{id}/delivery-note"),
        &manager,
    )
    .await?;
    assert_eq!(status, StatusCode::OK);
    assert!(note.contains("另补发 12"), "the note says what follows");

    let (_, mine) = app.get("/api/v1/orders", Some(&member)).await?;
    let followup = mine
        .as_array()
        .and_then(|orders| orders.iter().find(|o| o["parent_id"] == id))
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no follow-up order in {mine}"))?;
    let followup_id = id_of(&followup);
    assert_eq!(followup["status"], "awaiting_dispatch");
    assert_eq!(followup["parent_number"], sent["number"]);
    assert_eq!(followup["total_fen"], 0);
    assert_eq!(followup["lines"][0]["qty"], 12);
    assert_eq!(followup["lines"][0]["backorder_qty"], 12);
    let (_, inbox) = app.get("/api/v1/me/inbox", Some(&member)).await?;
    assert!(inbox.to_string().contains("补发单"), "{inbox}");

    // The follow-up waits for stock, then goes with the region's driver.
    let by_driver = json!({ "method": "driver", "driver_id": driver_id });
    let (status, refused) = app
        .post(
            &format!("/api/v1/admin/orders/{followup_id}/dispatch"),
            Some(&manager),
            &by_driver,
        )
        .await?;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&refused), "stock_short");
    restock(&app, &admin, COATING_GREY, 12).await?;
    let (status, assigned) = app
        .post(
            &format!("/api/v1/admin/orders/{followup_id}/dispatch"),
            Some(&manager),
            &by_driver,
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{assigned}");
    assert_eq!(assigned["lines"][0]["reserved_qty"], 12);
    assert_eq!(assigned["lines"][0]["backorder_qty"], 0);
    assert_eq!(app.stock_of(COATING_GREY).await?, 0);
    let (_, parent) = app
        .get(&format!("/api/v1/orders/{id}"), Some(&manager))
        .await?;
    let shipped: i64 = [&parent, &assigned]
        .iter()
        .map(|o| o["lines"][0]["reserved_qty"].as_i64().unwrap_or_default())
        .sum();
    assert_eq!(shipped, 20, "5 + 3 + 12 received, 20 sent");
    let events = app.store.orders().order_event_kinds(id).await?;
    assert!(events.iter().any(|e| e == "order.split"), "{events:?}");
    app.stop().await
}
on_both_backends!(
    partial_shipment_sqlite,
    partial_shipment_postgres,
    partial_shipment
);

/// Asserts a refusal: its status, stable code and (where given) the field it names.
fn refused(
    (status, body): (StatusCode, Value),
    expected: StatusCode,
    code: &str,
    field: Option<&str>,
) {
    assert_eq!(status, expected, "{code}: {body}");
    assert_eq!(error_code(&body), code, "{body}");
    if let Some(field) = field {
        assert_eq!(body["error"]["field"], field, "{body}");
    }
}

/// Bad fulfilment input, step by step along one order: each refusal carries its status, stable
/// code and field, and the order moves on only when the input is right.
#[tokio::test]
async fn fulfilment_refusals_are_named() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let manager = app.login(MANAGER_HAIKOU, PASSWORD).await?;
    let admin = app.login(ADMIN, PASSWORD).await?;
    let service = app.login(SERVICE, PASSWORD).await?;
    let driver = app.login(DRIVER_HAIKOU, PASSWORD).await?;
    let driver_id = user_id(&app, &driver).await?;
    let member_id = user_id(&app, &member).await?;
    let order = ship_order(&app, &member, "refusals-1").await?;
    let id = id_of(&order);
    let (status, _) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/confirm"),
            Some(&manager),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    let dispatch = format!("/api/v1/admin/orders/{id}/dispatch");

    refused(
        app.post(&dispatch, Some(&manager), &json!({ "method": "driver" }))
            .await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "driver_required",
        Some("driver_id"),
    );
    refused(
        app.post(
            &dispatch,
            Some(&manager),
            &json!({ "method": "logistics", "tracking_no": "X1" }),
        )
        .await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "shipment_incomplete",
        Some("carrier"),
    );
    refused(
        app.post(
            &format!("/api/v1/admin/orders/{id}/ready-for-pickup"),
            Some(&manager),
            &json!({ "pickup_point_id": 1 }),
        )
        .await?,
        StatusCode::CONFLICT,
        "not_a_pickup_order",
        None,
    );
    refused(
        app.post(
            &format!("/api/v1/admin/orders/{id}/status"),
            Some(&service),
            &json!({ "status": "in_delivery", "remark": " " }),
        )
        .await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "reason_required",
        Some("remark"),
    );
    let (status, _) = app
        .post(
            &dispatch,
            Some(&manager),
            &json!({ "method": "driver", "driver_id": driver_id }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post(
            &format!("/api/v1/driver/orders/{id}/start"),
            Some(&driver),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    refused(
        app.post(
            &format!("/api/v1/orders/{id}/receive"),
            Some(&member),
            &json!({}),
        )
        .await?,
        StatusCode::CONFLICT,
        "driver_delivery",
        None,
    );
    let delivered = format!("/api/v1/driver/orders/{id}/delivered");
    refused(
        app.post_form(
            &delivered,
            &driver,
            reqwest::multipart::Form::new().text("remark", "已送达"),
        )
        .await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "photo_required",
        Some("photo"),
    );
    let (_, still) = app
        .get(&format!("/api/v1/orders/{id}"), Some(&member))
        .await?;
    assert_eq!(still["status"], "in_delivery", "nothing moved");
    let signed = reqwest::multipart::Form::new().part(
        "photo",
        reqwest::multipart::Part::bytes(pifa_e2e::TINY_PNG.to_vec()).file_name("note.png"),
    );
    let (status, body) = app.post_form(&delivered, &driver, signed).await?;
    assert_eq!(status, StatusCode::OK, "{body}");

    let after_sales = format!("/api/v1/orders/{id}/after-sales");
    let request = |lines: &str| {
        reqwest::multipart::Form::new()
            .text("kind", "exchange")
            .text("reason", "颜色不对")
            .text("lines", lines.to_owned())
    };
    refused(
        app.post_form(
            &after_sales,
            &member,
            request(r#"[{"line_no":99,"qty":1}]"#),
        )
        .await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_line",
        Some("lines[0].line_no"),
    );
    refused(
        app.post_form(
            &after_sales,
            &member,
            request(r#"[{"line_no":1,"qty":101}]"#),
        )
        .await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_quantity",
        Some("lines[0].qty"),
    );
    let (status, exchange) = app
        .post_form(&after_sales, &member, request(r#"[{"line_no":1,"qty":2}]"#))
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{exchange}");
    let request_id = exchange["id"].as_i64().unwrap_or_default();
    refused(
        app.post(
            &format!("/api/v1/admin/after-sales/{request_id}/decision"),
            Some(&manager),
            &json!({ "approve": false }),
        )
        .await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "reason_required",
        Some("remark"),
    );

    refused(
        app.post(
            "/api/v1/admin/pickup-points",
            Some(&admin),
            &json!({ "name": "海口秀英自提点", "address": "海口市秀英区", "verifier_ids": [member_id] }),
        )
        .await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_a_verifier",
        Some("verifier_ids[0]"),
    );
    refused(
        app.post(
            "/api/v1/admin/pickup-points",
            Some(&admin),
            &json!({ "name": "海口金盘自提点", "address": "海口市龙华区" }),
        )
        .await?,
        StatusCode::CONFLICT,
        "pickup_point_taken",
        Some("name"),
    );
    let red = app.sku_id(HARD_HAT_RED).await?;
    let body = json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery", "lines": [{ "sku_id": red, "qty": 10 }] });
    let (_, pickup, _) = app.place_order(&member, "refusals-2", &body).await?;
    let pickup_id = id_of(&pickup);
    app.post(
        &format!("/api/v1/admin/orders/{pickup_id}/confirm"),
        Some(&manager),
        &json!({}),
    )
    .await?;
    refused(
        app.post(
            &format!("/api/v1/admin/orders/{pickup_id}/ready-for-pickup"),
            Some(&manager),
            &json!({ "pickup_point_id": 999_999 }),
        )
        .await?,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_pickup_point",
        Some("pickup_point_id"),
    );
    app.stop().await
}
