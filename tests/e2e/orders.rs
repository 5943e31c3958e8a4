//! Ordering (D1–D6, B6, F1): the cart, the quote pipeline, checkout with idempotency, stock under
//! concurrency, confirmation with changes, cancellation, closing on the kernel clock, offline
//! payment, and who may do which of it.

use std::collections::BTreeMap;

use pifa_e2e::pifa_demo::*;
use pifa_e2e::{Backend, TestApp, error_code, on_both_backends};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;
const HARD_HAT_RED: &str = "6901234500011";
const HARD_HAT_YELLOW: &str = "6901234500028";
const GLOVES: &str = "6901234500042";
const COATING_GREY: &str = "6901234500066";
const WRENCH_8: &str = "6901234500080";

async fn demo(backend: Backend) -> anyhow::Result<Option<TestApp>> {
    TestApp::with_demo(backend).await
}

async fn member_address(app: &TestApp, token: &str) -> anyhow::Result<i64> {
    let (_, addresses) = app.get("/api/v1/me/addresses", Some(token)).await?;
    addresses[0]["id"]
        .as_i64()
        .ok_or_else(|| anyhow::anyhow!("no address: {addresses}"))
}

/// D1, D3, D5, N: cart → quote → checkout → confirmation with a changed quantity, as the member
/// and his manager would do it, each with his own token.
async fn cart_to_confirmed_order(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = demo(backend).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let manager = app.login(MANAGER_HAIKOU, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    let yellow = app.sku_id(HARD_HAT_YELLOW).await?;
    let coating = app.sku_id(COATING_GREY).await?;
    let address = member_address(&app, &member).await?;
    let red_stock = app.stock_of(HARD_HAT_RED).await?;

    // 订货 from the product page: two SKUs in one go; a second add adds up.
    let (status, cart) = app
        .post(
            "/api/v1/cart/items",
            Some(&member),
            &json!({ "items": [{ "sku_id": red, "qty": 100 }, { "sku_id": yellow, "qty": 20 }] }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{cart}");
    let (status, cart) = app
        .post(
            "/api/v1/cart/items",
            Some(&member),
            &json!({ "items": [{ "sku_id": coating, "qty": 2 }] }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{cart}");
    assert_eq!(cart["lines"].as_array().map(Vec::len), Some(3));
    // The pack is 10 per box: 15 hard hats are refused, naming the field.
    let (status, refused) = app
        .post(
            "/api/v1/cart/items",
            Some(&member),
            &json!({ "items": [{ "sku_id": red, "qty": 15 }] }),
        )
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&refused), "moq_step");
    assert_eq!(refused["error"]["field"], "items[0].qty");

    // A price change after adding shows in the cart (D1).
    let admin = app.login(ADMIN, PASSWORD).await?;
    let (status, _) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/admin/skus/{yellow}"),
            Some(&admin),
            Some(&json!({ "model": "V型", "spec": "黄色", "price_fen": 2900, "cost_fen": 1960, "stock": 800, "barcode": HARD_HAT_YELLOW,
                "level_prices": [], "breaks": [] })),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    let (_, cart) = app.get("/api/v1/cart", Some(&member)).await?;
    let yellow_line = cart["lines"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["sku_id"] == yellow))
        .cloned()
        .unwrap_or_default();
    assert_eq!(yellow_line["price_changed"], true, "{cart}");
    assert_eq!(yellow_line["unit_price_fen"], 2900);

    // The quote: list price, the silver level price and the 100-piece break as adjustments.
    let (status, quote) = app
        .post(
            "/api/v1/orders/quote",
            Some(&member),
            &json!({ "delivery_method": "ship", "address_id": address }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{quote}");
    let red_line = quote["lines"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["sku_id"] == red))
        .cloned()
        .unwrap_or_default();
    assert_eq!(red_line["list_price_fen"], 2800);
    // 2800 list, 2660 silver (95%), 2576 from 100 pieces (92%): 100 × 2576.
    assert_eq!(red_line["line_total_fen"], 257_600, "{red_line}");
    let labels: Vec<&str> = red_line["adjustments"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["label"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(labels, ["会员价", "阶梯价 满100件"]);
    let goods = quote["goods_fen"].as_i64().unwrap_or_default();
    // Over the ¥1,000 threshold: shipping is free (D3).
    assert_eq!(quote["shipping_fen"], 0, "{quote}");
    assert_eq!(quote["total_fen"].as_i64(), Some(goods));

    // Checkout needs a key; with one it places the order and empties the cart.
    let body = json!({ "delivery_method": "ship", "payment_method": "cash_on_delivery", "address_id": address,
        "remark": "下午送货", "po_number": "PO-2026-118" });
    let response = app
        .client
        .post(app.url("/api/v1/orders"))
        .bearer_auth(&member)
        .json(&body)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let refused: Value = response.json().await?;
    assert_eq!(error_code(&refused), "idempotency_key_required");
    let (status, order, first_text) = app.place_order(&member, "cart-1", &body).await?;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["status"], "pending_confirmation");
    assert_eq!(order["status_label"], "等待业务经理确认中");
    assert_eq!(order["total_fen"].as_i64(), Some(goods));
    assert_eq!(order["po_number"], "PO-2026-118");
    let number = order["number"].as_str().unwrap_or_default().to_owned();
    assert_eq!(number.len(), 14, "date + six-digit sequence: {number}");
    assert!(number.starts_with(&pifa::clock::shop_date_compact(app.clock.now_ms())));
    assert_eq!(app.stock_of(HARD_HAT_RED).await?, red_stock - 100);
    let (_, cart) = app.get("/api/v1/cart", Some(&member)).await?;
    assert_eq!(cart["lines"].as_array().map(Vec::len), Some(0), "{cart}");
    // The same key again: the same response, byte for byte, and still one order.
    let (status, _, again) = app.place_order(&member, "cart-1", &body).await?;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(again, first_text);
    // The same key with another body is refused.
    let other = json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery", "lines": [{ "sku_id": red, "qty": 10 }] });
    let (status, refused, _) = app.place_order(&member, "cart-1", &other).await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&refused), "idempotency_key_reused");
    let (_, mine) = app.get("/api/v1/orders", Some(&member)).await?;
    assert_eq!(mine.as_array().map(Vec::len), Some(1));

    // The manager was told, and confirms with fewer hard hats (a reason), which gives stock back.
    app.inbox_with(
        &manager,
        &format!("有新订单{number}，请尽快登录小程序业务管理查看处理。"),
    )
    .await?;
    let order_id = order["id"].as_i64().unwrap_or_default();
    let red_no = order["lines"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["sku_id"] == red))
        .map_or(0, |l| l["line_no"].as_i64().unwrap_or_default());
    let (status, confirmed) = app
        .post(
            &format!("/api/v1/admin/orders/{order_id}/confirm"),
            Some(&manager),
            &json!({ "changes": [{ "line_no": red_no, "qty": 80, "reason": "客户电话减量" }] }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    assert_eq!(
        confirmed["status"], "awaiting_dispatch",
        "cash on delivery does not wait for payment"
    );
    assert_eq!(confirmed["status_label"], "待发货");
    let red_line = confirmed["lines"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["sku_id"] == red))
        .cloned()
        .unwrap_or_default();
    // The same unit price (2576) for 80: the adjustments scale with the quantity.
    assert_eq!(red_line["qty"], 80);
    assert_eq!(red_line["line_total_fen"], 80 * 2576, "{red_line}");
    assert_eq!(red_line["reserved_qty"], 80);
    assert_eq!(app.stock_of(HARD_HAT_RED).await?, red_stock - 80);
    let lines_total: i64 = confirmed["lines"]
        .as_array()
        .map(|l| l.iter().filter_map(|x| x["line_total_fen"].as_i64()).sum())
        .unwrap_or_default();
    assert_eq!(
        confirmed["total_fen"].as_i64(),
        Some(lines_total + confirmed["shipping_fen"].as_i64().unwrap_or_default()),
        "N: the total is the lines plus shipping"
    );
    let history: Vec<&str> = confirmed["history"]
        .as_array()
        .map(|h| h.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(history, ["placed", "confirmed"]);
    assert!(
        confirmed["history"][1]["remark"]
            .as_str()
            .unwrap_or("")
            .contains("数量 100→80（客户电话减量）")
    );
    app.inbox_with(&member, &format!("订单确认通知: {number}"))
        .await?;
    // A confirmed order can no longer be cancelled by the member.
    let (status, refused) = app
        .post(
            &format!("/api/v1/orders/{order_id}/cancel"),
            Some(&member),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&refused), "invalid_transition");
    app.stop().await
}
on_both_backends!(
    cart_to_confirmed_order_sqlite,
    cart_to_confirmed_order_postgres,
    cart_to_confirmed_order
);

/// The products, members and limits of the concurrency tests.
struct Shelf {
    /// (SKU id, pack size, barcode)
    skus: Vec<(i64, i64, &'static str)>,
    initial: BTreeMap<i64, i64>,
}

async fn stock_shelf(app: &TestApp, admin: &str, level: i64) -> anyhow::Result<Shelf> {
    let mut skus = Vec::new();
    let mut initial = BTreeMap::new();
    for (barcode, pack, model, spec) in [
        (HARD_HAT_RED, 10, "V型", "红色"),
        (GLOVES, 12, "浸胶", "均码"),
        (WRENCH_8, 5, "8寸", "200mm"),
    ] {
        let id = app.sku_id(barcode).await?;
        let (status, body) = app
            .call(
                reqwest::Method::PUT,
                &format!("/api/v1/admin/skus/{id}"),
                Some(admin),
                Some(&json!({ "model": model, "spec": spec, "price_fen": 1000, "stock": level, "barcode": barcode, "level_prices": [], "breaks": [] })),
            )
            .await?;
        anyhow::ensure!(status == StatusCode::OK, "{body}");
        skus.push((id, pack, barcode));
        initial.insert(id, level);
    }
    Ok(Shelf { skus, initial })
}

/// Stock on the shelf plus stock held by orders that are not closed: what was there at first.
async fn conserved(app: &TestApp, shelf: &Shelf, admin: &str) -> anyhow::Result<()> {
    let mut held: BTreeMap<i64, i64> = BTreeMap::new();
    let mut offset = 0;
    loop {
        let (status, page) = app
            .get(
                &format!("/api/v1/orders?limit=200&offset={offset}"),
                Some(admin),
            )
            .await?;
        anyhow::ensure!(status == StatusCode::OK, "{page}");
        let orders = page.as_array().cloned().unwrap_or_default();
        for order in &orders {
            if order["status"] == "closed" {
                continue;
            }
            for line in order["lines"].as_array().cloned().unwrap_or_default() {
                *held
                    .entry(line["sku_id"].as_i64().unwrap_or_default())
                    .or_default() += line["reserved_qty"].as_i64().unwrap_or_default();
            }
        }
        if orders.len() < 200 {
            break;
        }
        offset += 200;
    }
    for (sku, _, barcode) in &shelf.skus {
        let now = app.stock_of(barcode).await?;
        assert!(now >= 0, "stock of {barcode} went negative: {now}");
        assert_eq!(
            shelf.initial.get(sku).copied().unwrap_or_default(),
            now + held.get(sku).copied().unwrap_or_default(),
            "stock of {barcode}: shelf {now} + held {:?} must be the initial stock",
            held.get(sku)
        );
    }
    Ok(())
}

/// D3, the brief's checkout: 200 concurrent checkouts of multi-SKU carts in random order with
/// random pack-step quantities, while placed orders are cancelled concurrently. Stock never
/// goes negative, nothing is lost or made up, and refusals say `out_of_stock`.
async fn no_oversell_under_concurrency(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = demo(backend).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let admin = app.login(ADMIN, PASSWORD).await?;
    let shelf = stock_shelf(&app, &admin, 600).await?;
    let app = std::sync::Arc::new(app);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..200_u64 {
        let app = app.clone();
        let member = member.clone();
        let skus = shelf.skus.clone();
        tasks.spawn(async move {
            // A small deterministic generator: every run tries the same mixes.
            let mut seed = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let mut next = |m: u64| {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                (seed >> 33) % m
            };
            let mut lines: Vec<Value> = Vec::new();
            let start = next(3) as usize;
            let count = 2 + next(2) as usize;
            for i in 0..count {
                let (sku, pack, _) = skus[(start + i) % skus.len()];
                lines.push(json!({ "sku_id": sku, "qty": pack * (1 + next(4) as i64) }));
            }
            let body = json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery", "lines": lines });
            let (status, order, _) = app.place_order(&member, &format!("burst-{n}"), &body).await?;
            let cancelled = if status == StatusCode::CREATED && n % 3 == 0 {
                let id = order["id"].as_i64().unwrap_or_default();
                let (status, body) = app
                    .post(&format!("/api/v1/orders/{id}/cancel"), Some(&member), &json!({}))
                    .await?;
                anyhow::ensure!(status == StatusCode::OK, "cancel: {body}");
                true
            } else {
                false
            };
            Ok::<_, anyhow::Error>((status, error_code(&order).to_owned(), cancelled))
        });
    }
    let mut placed = 0;
    let mut refused = 0;
    let mut cancelled = 0;
    while let Some(result) = tasks.join_next().await {
        let (status, code, was_cancelled) = result??;
        match status {
            StatusCode::CREATED => placed += 1,
            StatusCode::CONFLICT => {
                assert_eq!(code, "out_of_stock");
                refused += 1;
            }
            other => anyhow::bail!("unexpected checkout status {other} ({code})"),
        }
        cancelled += usize::from(was_cancelled);
    }
    assert_eq!(placed + refused, 200);
    assert!(
        placed > 0 && refused > 0,
        "the burst must sell out: {placed} placed, {refused} refused"
    );
    assert!(cancelled > 0);
    conserved(&app, &shelf, &admin).await?;
    let app = std::sync::Arc::try_unwrap(app).map_err(|_| anyhow::anyhow!("app still shared"))?;
    app.stop().await
}
on_both_backends!(
    no_oversell_sqlite,
    no_oversell_postgres,
    no_oversell_under_concurrency
);

/// D3: a double submit creates one order — ten concurrent submits with one key give one order
/// and ten identical responses, and so does the key after a restart.
async fn one_key_one_order(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = demo(backend).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    let before = app.stock_of(HARD_HAT_RED).await?;
    let body = json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery", "lines": [{ "sku_id": red, "qty": 20 }] });
    let app = std::sync::Arc::new(app);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (app, member, body) = (app.clone(), member.clone(), body.clone());
        tasks.spawn(async move { app.place_order(&member, "same-key", &body).await });
    }
    let mut texts = Vec::new();
    while let Some(result) = tasks.join_next().await {
        let (status, body, text) = result??;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        texts.push(text);
    }
    assert!(texts.iter().all(|t| *t == texts[0]), "responses differ");
    let app = std::sync::Arc::try_unwrap(app).map_err(|_| anyhow::anyhow!("app still shared"))?;
    let (_, mine) = app.get("/api/v1/orders", Some(&member)).await?;
    assert_eq!(mine.as_array().map(Vec::len), Some(1), "{mine}");
    assert_eq!(app.stock_of(HARD_HAT_RED).await?, before - 20);

    let app = app.restart().await?;
    let member = app.login(MEMBER, PASSWORD).await?;
    let (status, _, text) = app.place_order(&member, "same-key", &body).await?;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(text, texts[0], "the first response survives a restart");
    let (status, refused, _) = app
        .place_order(&member, "same-key", &json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery", "lines": [{ "sku_id": red, "qty": 30 }] }))
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&refused), "idempotency_key_reused");
    let (_, mine) = app.get("/api/v1/orders", Some(&member)).await?;
    assert_eq!(mine.as_array().map(Vec::len), Some(1));
    assert_eq!(app.stock_of(HARD_HAT_RED).await?, before - 20);
    app.stop().await
}
on_both_backends!(
    one_key_one_order_sqlite,
    one_key_one_order_postgres,
    one_key_one_order
);

/// D5 on the kernel clock: an unconfirmed order is open one minute before the limit and closed,
/// its stock back, one tick after it — the clock moved, the limit left at its 48 hours.
async fn unconfirmed_orders_close_in_time(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = demo(backend).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    let before = app.stock_of(HARD_HAT_RED).await?;
    let body = json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery", "lines": [{ "sku_id": red, "qty": 50 }] });
    let (status, order, _) = app.place_order(&member, "clock-1", &body).await?;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let id = order["id"].as_i64().unwrap_or_default();
    let limit_ms = 48 * 3_600_000;
    assert!(app.clock.advance_ms(limit_ms - 60_000));
    assert_eq!(
        app.store
            .orders()
            .close_overdue_orders(app.clock.now_ms())
            .await?,
        0
    );
    let (_, open) = app
        .get(&format!("/api/v1/orders/{id}"), Some(&member))
        .await?;
    assert_eq!(open["status"], "pending_confirmation");
    assert_eq!(app.stock_of(HARD_HAT_RED).await?, before - 50);
    // One tick of the maintenance loop later (it runs every minute).
    assert!(app.clock.advance_ms(60_000));
    assert_eq!(
        app.store
            .orders()
            .close_overdue_orders(app.clock.now_ms())
            .await?,
        1
    );
    let (_, closed) = app
        .get(&format!("/api/v1/orders/{id}"), Some(&member))
        .await?;
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["status_label"], "已关闭");
    assert!(
        closed["close_reason"]
            .as_str()
            .unwrap_or("")
            .contains("超时未确认")
    );
    assert_eq!(
        app.stock_of(HARD_HAT_RED).await?,
        before,
        "closing gave the stock back"
    );
    let (_, inbox) = app.get("/api/v1/me/inbox", Some(&member)).await?;
    assert!(inbox.to_string().contains("已关闭"), "{inbox}");
    app.stop().await
}
on_both_backends!(
    unconfirmed_orders_close_sqlite,
    unconfirmed_orders_close_postgres,
    unconfirmed_orders_close_in_time
);

/// D4, D5, A2: each role with its own token. The promoter orders for his own customer but not
/// for another promoter's; the 三亚 manager cannot see or confirm a 海口 order; another member
/// cannot read it; the member's own manager confirms.
#[tokio::test]
async fn each_role_acts_only_on_its_own_orders() -> anyhow::Result<()> {
    let Some(app) = demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let promoter = app.login(PROMOTER, PASSWORD).await?;
    let sanya = app.login(MANAGER_SANYA, PASSWORD).await?;
    let haikou = app.login(MANAGER_HAIKOU, PASSWORD).await?;
    let member_id = app
        .store
        .accounts()
        .user_id_by_phone(MEMBER)
        .await?
        .unwrap_or_default();
    let red = app.sku_id(HARD_HAT_RED).await?;
    let body = json!({ "member_id": member_id, "delivery_method": "pickup", "payment_method": "cash_on_delivery",
        "lines": [{ "sku_id": red, "qty": 10 }] });

    // 代客下单 by his promoter: recorded as placed by the promoter.
    let (status, order, _) = app.place_order(&promoter, "behalf-1", &body).await?;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let promoter_id = app
        .store
        .accounts()
        .user_id_by_phone(PROMOTER)
        .await?
        .unwrap_or_default();
    assert_eq!(order["placed_by"], promoter_id);
    assert_eq!(order["member_id"], member_id);
    let id = order["id"].as_i64().unwrap_or_default();

    // Another promoter: the customer is not his, as if he did not exist.
    let (status, _) = app
        .post("/api/v1/admin/staff", Some(&admin), &json!({ "name": "郑推广", "phone": "13800000022", "password": "promoter2026", "roles": ["promoter"] }))
        .await?;
    assert_eq!(status, StatusCode::CREATED);
    let other_promoter = app.login("13800000022", "promoter2026").await?;
    let (status, refused, _) = app.place_order(&other_promoter, "behalf-2", &body).await?;
    assert_eq!(status, StatusCode::NOT_FOUND, "{refused}");
    let (status, _) = app
        .get(&format!("/api/v1/orders/{id}"), Some(&other_promoter))
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The 三亚 manager: 404 on reading and on confirming a 海口 order.
    let (status, _) = app
        .get(&format!("/api/v1/orders/{id}"), Some(&sanya))
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/confirm"),
            Some(&sanya),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = app.get("/api/v1/orders", Some(&sanya)).await?;
    assert_eq!(list.as_array().map(Vec::len), Some(0));

    // Another member cannot read it.
    let stranger = app.new_member("13912340000").await?;
    let (status, _) = app
        .get(&format!("/api/v1/orders/{id}"), Some(&stranger))
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The promoter sees it but may not confirm; the member's own manager may.
    let (status, refused) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/confirm"),
            Some(&promoter),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let (status, confirmed) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/confirm"),
            Some(&haikou),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    let haikou_id = app
        .store
        .accounts()
        .user_id_by_phone(MANAGER_HAIKOU)
        .await?
        .unwrap_or_default();
    assert_eq!(confirmed["history"][1]["actor_id"], haikou_id);
    app.stop().await
}

/// F1 and B6: a pay-first order waits in 待付款 after confirmation until staff record the
/// money; a monthly-settlement order over the credit limit waits on hold until released.
#[tokio::test]
async fn payment_first_and_credit_hold() -> anyhow::Result<()> {
    let Some(app) = demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let service = app.login(SERVICE, PASSWORD).await?;
    let member = app.login(MEMBER, PASSWORD).await?;
    let manager = app.login(MANAGER_HAIKOU, PASSWORD).await?;
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
            reqwest::Method::PUT,
            "/api/v1/admin/settings",
            Some(&admin),
            Some(&settings),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Bank transfer pays first: 待付款 after confirmation, 待发货 once paid in full.
    let lines = json!([{ "sku_id": red, "qty": 10 }]);
    let (status, order, _) = app
        .place_order(&member, "pay-1", &json!({ "delivery_method": "pickup", "payment_method": "bank_transfer", "lines": lines }))
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let id = order["id"].as_i64().unwrap_or_default();
    let total = order["total_fen"].as_i64().unwrap_or_default();
    let (_, confirmed) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/confirm"),
            Some(&manager),
            &json!({}),
        )
        .await?;
    assert_eq!(confirmed["status"], "pending_payment", "{confirmed}");
    let receipt = reqwest::multipart::Form::new()
        .text("remark", "已转账")
        .part(
            "proof",
            reqwest::multipart::Part::bytes(pifa_e2e::TINY_PNG.to_vec()).file_name("r.png"),
        );
    let response = app
        .client
        .post(app.url(&format!("/api/v1/orders/{id}/receipts")))
        .bearer_auth(&member)
        .multipart(receipt)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let with_receipt: Value = response.json().await?;
    let proof_url = with_receipt["payments"][0]["proof_url"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let proof = app
        .client
        .get(app.url(&proof_url))
        .bearer_auth(&service)
        .send()
        .await?;
    assert!(
        pifa_e2e::images::same_picture(&proof.bytes().await?, pifa_e2e::TINY_PNG)?,
        "staff see the receipt"
    );
    let too_much = reqwest::multipart::Form::new()
        .text("amount_fen", (total + 1).to_string())
        .text("remark", "工行到账");
    let response = app
        .client
        .post(app.url(&format!("/api/v1/admin/orders/{id}/payments")))
        .bearer_auth(&service)
        .multipart(too_much)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused: Value = response.json().await?;
    assert_eq!(error_code(&refused), "overpayment");
    let paid = reqwest::multipart::Form::new()
        .text("amount_fen", total.to_string())
        .text("remark", "工行到账");
    let response = app
        .client
        .post(app.url(&format!("/api/v1/admin/orders/{id}/payments")))
        .bearer_auth(&service)
        .multipart(paid)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let paid: Value = response.json().await?;
    assert_eq!(paid["status"], "awaiting_dispatch", "{paid}");
    assert_eq!(paid["paid_fen"].as_i64(), Some(total));

    // Monthly settlement beyond the limit: on hold, not confirmable until released.
    let (status, _) = app
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/admin/members/{member_id}/credit"),
            Some(&admin),
            Some(&json!({ "terms": "monthly", "limit_fen": 100 })),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    let (status, held, _) = app
        .place_order(&member, "credit-1", &json!({ "delivery_method": "pickup", "payment_method": "monthly_settlement", "lines": lines }))
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{held}");
    assert_eq!(held["credit_hold"], true);
    let held_id = held["id"].as_i64().unwrap_or_default();
    let (status, refused) = app
        .post(
            &format!("/api/v1/admin/orders/{held_id}/confirm"),
            Some(&manager),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(error_code(&refused), "credit_hold");
    let (status, _) = app
        .post(
            &format!("/api/v1/admin/orders/{held_id}/release-hold"),
            Some(&manager),
            &json!({ "reason": "老客户" }),
        )
        .await?;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "only admin or customer service release holds"
    );
    let (status, released) = app
        .post(
            &format!("/api/v1/admin/orders/{held_id}/release-hold"),
            Some(&service),
            &json!({ "reason": "老客户，月底结清" }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{released}");
    assert_eq!(released["credit_hold"], false);
    let (status, confirmed) = app
        .post(
            &format!("/api/v1/admin/orders/{held_id}/confirm"),
            Some(&manager),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    assert_eq!(
        confirmed["status"], "awaiting_dispatch",
        "monthly settlement does not wait for payment"
    );
    app.stop().await
}

/// D2: a quick order from pasted codes; a bad row refuses the whole list, row by row.
#[tokio::test]
async fn quick_order_and_reorder() -> anyhow::Result<()> {
    let Some(app) = demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let quick = |text: &'static str| {
        app.client
            .post(app.url("/api/v1/cart/quick-order"))
            .bearer_auth(&member)
            .header("content-type", "text/plain")
            .body(text)
            .send()
    };
    let response = quick("6901234500011 20\nNOPE-1 5\nFS-021 abc\n").await?;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused: Value = response.json().await?;
    assert_eq!(error_code(&refused), "quick_order_invalid");
    let rows: Vec<(i64, &str)> = refused["error"]["details"]["rows"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|e| {
                    (
                        e["row"].as_i64().unwrap_or_default(),
                        e["code"].as_str().unwrap_or(""),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(rows, [(2, "unknown_code"), (3, "invalid_quantity")]);
    let (_, cart) = app.get("/api/v1/cart", Some(&member)).await?;
    assert_eq!(
        cart["lines"].as_array().map(Vec::len),
        Some(0),
        "nothing half-added"
    );
    // A barcode, and an item number with a single SKU.
    let response = quick("6901234500011 20\nFS-021，3\n").await?;
    assert_eq!(response.status(), StatusCode::OK);
    let cart: Value = response.json().await?;
    assert_eq!(cart["lines"].as_array().map(Vec::len), Some(2), "{cart}");
    let (status, order, _) = app
        .place_order(
            &member,
            "quick-1",
            &json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery" }),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let id = order["id"].as_i64().unwrap_or_default();
    let (status, cart) = app
        .post(
            &format!("/api/v1/orders/{id}/reorder"),
            Some(&member),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{cart}");
    let quantities: Vec<i64> = cart["lines"]
        .as_array()
        .map(|l| l.iter().filter_map(|x| x["qty"].as_i64()).collect())
        .unwrap_or_default();
    assert_eq!(quantities, [20, 3], "再来一单 puts the same lines back");
    app.stop().await
}

/// D1: goods delisted after they went into the cart are dropped at checkout with a notice;
/// the rest is ordered and the cart keeps nothing of either.
#[tokio::test]
async fn delisted_goods_leave_the_cart_at_checkout() -> anyhow::Result<()> {
    let Some(app) = demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let admin = app.login(ADMIN, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    let coating = app.sku_id(COATING_GREY).await?;
    let (status, _) = app
        .post(
            "/api/v1/cart/items",
            Some(&member),
            &json!({ "items": [{ "sku_id": red, "qty": 10 }, { "sku_id": coating, "qty": 1 }] }),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    let coating_product = app
        .store
        .catalog()
        .sku_products(&[pifa::ids::SkuId(coating)])
        .await?
        .get(&pifa::ids::SkuId(coating))
        .map_or(0, |p| p.get());
    let (status, _) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/admin/products/{coating_product}"),
            Some(&admin),
            Some(&json!({ "on_shelf": false })),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    let (_, cart) = app.get("/api/v1/cart", Some(&member)).await?;
    let delisted: Vec<bool> = cart["lines"]
        .as_array()
        .map(|l| l.iter().map(|x| x["delisted"] == true).collect())
        .unwrap_or_default();
    assert_eq!(delisted, [false, true], "{cart}");
    let (_, quote) = app
        .post(
            "/api/v1/orders/quote",
            Some(&member),
            &json!({ "delivery_method": "pickup" }),
        )
        .await?;
    assert_eq!(quote["notices"][0]["code"], "delisted", "{quote}");
    let (status, order, _) = app
        .place_order(
            &member,
            "delisted-1",
            &json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery" }),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let skus: Vec<i64> = order["lines"]
        .as_array()
        .map(|l| l.iter().filter_map(|x| x["sku_id"].as_i64()).collect())
        .unwrap_or_default();
    assert_eq!(skus, [red]);
    assert_eq!(
        order["notices"][0]["code"], "delisted",
        "the answer says what was dropped"
    );
    assert_eq!(order["notices"][0]["sku_id"], coating);
    let (_, cart) = app.get("/api/v1/cart", Some(&member)).await?;
    assert_eq!(cart["lines"].as_array().map(Vec::len), Some(0), "{cart}");
    // Ordering it by name now is refused, naming the line.
    let (status, refused, _) = app
        .place_order(&member, "delisted-2", &json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery", "lines": [{ "sku_id": coating, "qty": 1 }] }))
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&refused), "delisted");
    assert_eq!(refused["error"]["field"], "lines[0].sku_id");
    app.stop().await
}

/// D5: a confirmed pay-first order still unpaid closes after the payment time limit (72 hours
/// by default), stock back; one minute before, it still waits.
#[tokio::test]
async fn unpaid_orders_close_in_time() -> anyhow::Result<()> {
    let Some(app) = demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let manager = app.login(MANAGER_HAIKOU, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    let before = app.stock_of(HARD_HAT_RED).await?;
    let (status, order, _) = app
        .place_order(&member, "unpaid-1", &json!({ "delivery_method": "pickup", "payment_method": "bank_transfer", "lines": [{ "sku_id": red, "qty": 30 }] }))
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    let id = order["id"].as_i64().unwrap_or_default();
    let (_, confirmed) = app
        .post(
            &format!("/api/v1/admin/orders/{id}/confirm"),
            Some(&manager),
            &json!({}),
        )
        .await?;
    assert_eq!(confirmed["status"], "pending_payment");
    assert!(app.clock.advance_ms(72 * 3_600_000 - 60_000));
    assert_eq!(
        app.store
            .orders()
            .close_overdue_orders(app.clock.now_ms())
            .await?,
        0
    );
    assert!(app.clock.advance_ms(60_000));
    assert_eq!(
        app.store
            .orders()
            .close_overdue_orders(app.clock.now_ms())
            .await?,
        1
    );
    let (_, closed) = app
        .get(&format!("/api/v1/orders/{id}"), Some(&member))
        .await?;
    assert_eq!(closed["status"], "closed");
    assert!(
        closed["close_reason"]
            .as_str()
            .unwrap_or("")
            .contains("超时未付款")
    );
    assert_eq!(app.stock_of(HARD_HAT_RED).await?, before);
    app.stop().await
}

/// D6: staff find orders by number, status, member and date, and export them to Excel.
#[tokio::test]
async fn staff_search_filter_and_export_orders() -> anyhow::Result<()> {
    let Some(app) = demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let service = app.login(SERVICE, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    let mut numbers = Vec::new();
    for n in 0..3 {
        let (status, order, _) = app
            .place_order(
                &member,
                &format!("find-{n}"),
                &json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery",
                "po_number": format!("PO-{n}"), "lines": [{ "sku_id": red, "qty": 10 }] }),
            )
            .await?;
        assert_eq!(status, StatusCode::CREATED, "{order}");
        numbers.push((
            order["id"].as_i64().unwrap_or_default(),
            order["number"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    let (first_id, first_number) = numbers[0].clone();
    app.post(
        &format!("/api/v1/orders/{first_id}/cancel"),
        Some(&member),
        &json!({}),
    )
    .await?;
    let ids = |list: &Value| -> Vec<i64> {
        list.as_array()
            .map(|l| l.iter().filter_map(|o| o["id"].as_i64()).collect())
            .unwrap_or_default()
    };
    let (_, by_number) = app
        .get(&format!("/api/v1/orders?q={first_number}"), Some(&service))
        .await?;
    assert_eq!(ids(&by_number), [first_id]);
    let (_, by_po) = app.get("/api/v1/orders?q=PO-2", Some(&service)).await?;
    assert_eq!(ids(&by_po), [numbers[2].0]);
    let (_, open) = app
        .get("/api/v1/orders?status=pending_confirmation", Some(&service))
        .await?;
    assert_eq!(ids(&open), [numbers[2].0, numbers[1].0], "newest first");
    let (_, by_name) = app
        .get("/api/v1/orders?q=%E8%B5%B5", Some(&service))
        .await?; // 赵
    assert_eq!(ids(&by_name).len(), 3);
    let today = pifa::clock::shop_date_iso(app.clock.now_ms());
    let (_, dated) = app
        .get(
            &format!("/api/v1/orders?from={today}&to={today}"),
            Some(&service),
        )
        .await?;
    assert_eq!(ids(&dated).len(), 3);
    let (_, tomorrow) = app
        .get(
            &format!(
                "/api/v1/orders?from={}",
                pifa::clock::shop_date_iso(app.clock.now_ms() + 86_400_000)
            ),
            Some(&service),
        )
        .await?;
    assert_eq!(ids(&tomorrow).len(), 0);
    let (status, refused) = app
        .get("/api/v1/orders?from=2026-13-01", Some(&service))
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["error"]["field"], "from");
    let export = app
        .client
        .get(app.url("/api/v1/admin/orders/export?status=pending_confirmation"))
        .bearer_auth(&service)
        .send()
        .await?;
    assert_eq!(export.status(), StatusCode::OK);
    let bytes = export.bytes().await?;
    assert!(bytes.starts_with(b"PK\x03\x04"), "an .xlsx (zip) workbook");
    app.stop().await
}

/// C6/D3: a SKU that allows backorders sells beyond its stock — what is on the shelf is
/// reserved, the rest owed — and never goes below zero; cancelling gives back only what was
/// taken.
#[tokio::test]
async fn backorders_take_what_is_there_and_owe_the_rest() -> anyhow::Result<()> {
    let Some(app) = demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let member = app.login(MEMBER, PASSWORD).await?;
    let coating = app.sku_id(COATING_GREY).await?;
    let (status, body) = app
        .call(reqwest::Method::PUT, &format!("/api/v1/admin/skus/{coating}"), Some(&admin),
            Some(&json!({ "model": "JS-II", "spec": "灰色 20kg", "price_fen": 26800, "stock": 5, "allow_backorder": true, "barcode": COATING_GREY })))
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, order, _) = app
        .place_order(&member, "backorder-1", &json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery", "lines": [{ "sku_id": coating, "qty": 20 }] }))
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{order}");
    assert_eq!(order["lines"][0]["reserved_qty"], 5);
    assert_eq!(order["lines"][0]["backorder_qty"], 15);
    assert_eq!(app.stock_of(COATING_GREY).await?, 0);
    let id = order["id"].as_i64().unwrap_or_default();
    let (status, _) = app
        .post(
            &format!("/api/v1/orders/{id}/cancel"),
            Some(&member),
            &json!({}),
        )
        .await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.stock_of(COATING_GREY).await?, 5);
    app.stop().await
}

/// Bad checkout input: each refusal has its status, stable code and field, and writes
/// nothing — no order, no stock taken.
#[tokio::test]
async fn bad_checkouts_are_refused_by_name_and_change_nothing() -> anyhow::Result<()> {
    let Some(app) = demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let member = app.login(MEMBER, PASSWORD).await?;
    let red = app.sku_id(HARD_HAT_RED).await?;
    let before = app.stock_of(HARD_HAT_RED).await?;
    let line = json!([{ "sku_id": red, "qty": 10 }]);
    let base = |extra: Value| {
        let mut body = json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery", "lines": line });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        body
    };
    let cases = [
        (base(json!({ "lines": [] })), 422, "empty_order", "lines"),
        (
            base(json!({ "lines": [{ "sku_id": red, "qty": 10 }, { "sku_id": red, "qty": 20 }] })),
            422,
            "duplicate_line",
            "lines[1].sku_id",
        ),
        (
            base(json!({ "lines": [{ "sku_id": 999_999, "qty": 10 }] })),
            422,
            "unknown_sku",
            "lines[0].sku_id",
        ),
        (
            base(json!({ "lines": [{ "sku_id": red, "qty": 0 }] })),
            422,
            "invalid_quantity",
            "lines[0].qty",
        ),
        (
            base(json!({ "delivery_method": "ship" })),
            422,
            "address_required",
            "address_id",
        ),
        (
            base(json!({ "delivery_method": "ship", "address_id": 999_999 })),
            422,
            "unknown_address",
            "address_id",
        ),
        (
            base(json!({ "delivery_method": "ship_to_terminal" })),
            422,
            "delivery_method_disabled",
            "delivery_method",
        ),
        (
            base(json!({ "payment_method": "alipay_transfer" })),
            422,
            "payment_method_disabled",
            "payment_method",
        ),
        (
            base(json!({ "requested_date": "2020-01-01" })),
            422,
            "invalid_date",
            "requested_date",
        ),
        (
            base(json!({ "remark": "长".repeat(201) })),
            422,
            "invalid_input",
            "remark",
        ),
        (
            base(json!({ "payment_method": "bitcoin" })),
            422,
            "invalid_input",
            "payment_method",
        ),
    ];
    for (n, (body, status, code, field)) in cases.iter().enumerate() {
        let (got, refused, _) = app.place_order(&member, &format!("bad-{n}"), body).await?;
        assert_eq!(got.as_u16(), *status, "{body}: {refused}");
        assert_eq!(error_code(&refused), *code, "{body}");
        assert_eq!(refused["error"]["field"], *field, "{body}");
    }
    let response = app
        .client
        .post(app.url("/api/v1/orders"))
        .bearer_auth(&member)
        .header("idempotency-key", "key with spaces")
        .json(&base(json!({})))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let refused: Value = response.json().await?;
    assert_eq!(error_code(&refused), "invalid_idempotency_key");
    let (_, mine) = app.get("/api/v1/orders", Some(&member)).await?;
    assert_eq!(
        mine.as_array().map(Vec::len),
        Some(0),
        "nothing was ordered"
    );
    assert_eq!(
        app.stock_of(HARD_HAT_RED).await?,
        before,
        "no stock was taken"
    );
    app.stop().await
}
