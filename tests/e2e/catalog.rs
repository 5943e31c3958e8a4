//! The catalogue over HTTP: prices hidden from those who may not see them (B2, with a sentinel
//! price that must appear nowhere), a member's level and break prices (B3), and bad catalogue
//! input refused with nothing written.

use pifa_e2e::pifa_demo::{ADMIN, MEMBER};
use pifa_e2e::{Backend, TestApp, error_code, on_both_backends};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;
const SENTINEL: i64 = 987_654;

async fn hard_hat(app: &TestApp) -> anyhow::Result<pifa::catalog::Product> {
    let products = app
        .store
        .catalog()
        .list_products(&pifa::catalog::storage::ProductFilter {
            limit: 100,
            ..Default::default()
        })
        .await?;
    products
        .into_iter()
        .find(|p| p.item_no == "AQM-001")
        .ok_or_else(|| anyhow::anyhow!("demo hard hat missing"))
}

/// A member who signed up but is not approved yet.
async fn unapproved_member(app: &TestApp) -> anyhow::Result<String> {
    let phone = "13912345678";
    app.post(
        "/api/v1/auth/codes",
        None,
        &json!({ "purpose": "signup", "phone": phone }),
    )
    .await?;
    let code = app.latest_code_for(phone).await?;
    let body = json!({ "company_name": "新店", "contact_name": "钱", "phone": phone, "password": "qian2026a", "code": code });
    let (status, _) = app.post("/api/v1/auth/signup", None, &body).await?;
    anyhow::ensure!(status == StatusCode::CREATED);
    app.login(phone, "qian2026a").await
}

async fn prices_stay_hidden_from_visitors_and_unapproved_members(
    backend: Backend,
) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let product = hard_hat(&app).await?;
    let sku = product
        .skus
        .first()
        .ok_or_else(|| anyhow::anyhow!("no sku"))?;
    let sentinel_sku = json!({ "model": sku.model, "spec": sku.spec, "price_fen": SENTINEL, "stock": 10, "barcode": sku.barcode,
        "level_prices": [{ "level_id": sku.level_prices[0].level_id, "price_fen": SENTINEL }], "breaks": [{ "min_qty": 100, "price_fen": SENTINEL }] });
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/admin/skus/{}", sku.id),
            Some(&admin),
            Some(&sentinel_sku),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");

    let member = unapproved_member(&app).await?;
    let (_, openapi) = app.get("/api/openapi.json", None).await?;
    let get_paths: Vec<String> = openapi["paths"]
        .as_object()
        .map(|paths| {
            paths
                .iter()
                .filter(|(_, item)| item.get("get").is_some())
                .map(|(p, _)| p.clone())
                .collect()
        })
        .unwrap_or_default();
    assert!(get_paths.len() > 10, "{get_paths:?}");
    for (who, token) in [
        ("visitor", None),
        ("unapproved member", Some(member.as_str())),
    ] {
        for template in &get_paths {
            let path = template
                .replace("{id}", &product.id.to_string())
                .replace("{name}", "pifa-20000101T000000000Z.jsonl.gz");
            for query in [
                "",
                "?sort=price_asc",
                "?sort=price_desc",
                "?min_price_fen=1",
                "?max_price_fen=99999999",
                "?category_id=1",
            ] {
                let (status, body) = app.get(&format!("{path}{query}"), token).await?;
                let text = body.to_string();
                assert!(
                    !text.contains("987654") && !text.contains("9876.54"),
                    "{who} saw the sentinel at {path}{query}: {text}"
                );
                if path == "/api/v1/products" && query.contains("price") {
                    assert_eq!(
                        (status.as_u16(), error_code(&body)),
                        (403, "price_hidden"),
                        "{who} {query}"
                    );
                }
            }
        }
        let (status, detail) = app
            .get(&format!("/api/v1/products/{}", product.id), token)
            .await?;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(detail["prices_visible"], false);
        assert!(
            detail["skus"]
                .as_array()
                .is_some_and(|skus| skus.iter().all(|s| s.get("price").is_none())),
            "{detail}"
        );
        assert_eq!(
            detail["moq"], 10,
            "the inner pack is the minimum order quantity"
        );
        assert_eq!(detail["unit"]["label"], "10个/盒 - 50个/箱");
    }

    // The approved demo member (银牌) sees his level price and the break as he would pay it.
    let approved = app.login(MEMBER, PASSWORD).await?;
    let (_, detail) = app
        .get(&format!("/api/v1/products/{}", product.id), Some(&approved))
        .await?;
    assert_eq!(detail["prices_visible"], true);
    assert_eq!(detail["skus"][0]["price"]["price_fen"], SENTINEL);
    assert_eq!(
        detail["skus"][1]["price"]["price_fen"], 2660,
        "黄色 at 银牌: 2800 × 95% = 2660: {detail}"
    );
    assert_eq!(
        detail["skus"][1]["price"]["breaks"],
        json!([{ "min_qty": 100, "price_fen": 2576 }, { "min_qty": 500, "price_fen": 2380 }])
    );
    assert!(
        !detail.to_string().contains("cost"),
        "cost prices are for staff only"
    );
    let (status, sorted) = app
        .get("/api/v1/products?sort=price_asc", Some(&approved))
        .await?;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = sorted
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["item_no"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        names,
        vec!["BS-008", "AQM-001", "ST-012", "TD-003", "FS-020", "FS-021"],
        "cheapest first at his level: 2327, 2660, 3420, 3705, 25460, 31160"
    );
    let (_, cheap) = app
        .get("/api/v1/products?max_price_fen=3000", Some(&approved))
        .await?;
    assert_eq!(
        cheap.as_array().map(Vec::len),
        Some(2),
        "BS-008 and AQM-001 start at or below 30.00 for him"
    );

    // Open mode (without the profile switch) shows prices to everyone.
    let (_, mut settings) = app.get("/api/v1/admin/settings", Some(&admin)).await?;
    settings["shop_mode"] = json!("open");
    settings["require_profile"] = json!(false);
    app.call(
        Method::PUT,
        "/api/v1/admin/settings",
        Some(&admin),
        Some(&settings),
    )
    .await?;
    let (_, detail) = app
        .get(&format!("/api/v1/products/{}", product.id), None)
        .await?;
    assert_eq!(
        detail["skus"][1]["price"]["price_fen"], 2800,
        "a visitor pays the catalogue price"
    );
    app.stop().await
}
on_both_backends!(
    price_hiding_sqlite,
    price_hiding_postgres,
    prices_stay_hidden_from_visitors_and_unapproved_members
);

async fn bad_catalogue_input_writes_nothing(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let unit_id = hard_hat(&app).await?.unit.id;
    let product = |item_no: &str, skus: Value| json!({ "item_no": item_no, "name": "测试商品", "unit_id": unit_id, "skus": skus });
    let before = (
        app.store.count_rows("products").await?,
        app.store.count_rows("skus").await?,
        app.store.count_rows("sku_level_prices").await?,
    );
    for (body, status, code, field) in [
        (
            product("AQM-001", json!([{ "price_fen": 100 }])),
            409,
            "item_no_taken",
            "item_no",
        ),
        (
            product(
                "NEW-1",
                json!([{ "price_fen": 100, "barcode": "6901234500011" }]),
            ),
            409,
            "barcode_taken",
            "barcode",
        ),
        (
            product(
                "NEW-1",
                json!([{ "price_fen": 100, "barcode": "1" }, { "price_fen": 100, "barcode": "1" }]),
            ),
            409,
            "barcode_taken",
            "skus[1].barcode",
        ),
        (
            product("NEW-1", json!([{ "price_fen": -1 }])),
            422,
            "invalid_money",
            "skus[0].price_fen",
        ),
        (
            product("NEW-1", json!([{ "price_fen": 12.3 }])),
            422,
            "invalid_input",
            "skus[0].price_fen",
        ),
        (
            product(
                "NEW-1",
                json!([{ "price_fen": 100, "level_prices": [{ "level_id": 999, "price_fen": 90 }] }]),
            ),
            422,
            "unknown_level",
            "skus[0].level_prices[0].level_id",
        ),
        (
            product(
                "NEW-1",
                json!([{ "price_fen": 100, "breaks": [{ "min_qty": 0, "price_fen": 90 }] }]),
            ),
            422,
            "invalid_break",
            "skus[0].breaks[0].min_qty",
        ),
        (
            product(
                "NEW-1",
                json!([{ "price_fen": 100, "breaks": (1..=21).map(|q| json!({ "min_qty": q * 10, "price_fen": 90 })).collect::<Vec<_>>() }]),
            ),
            422,
            "invalid_break",
            "skus[0].breaks",
        ),
        (product("NEW-1", json!([])), 422, "invalid_input", "skus"),
        (
            product(
                "NEW-1",
                json!(
                    (0..201)
                        .map(|_| json!({ "price_fen": 1 }))
                        .collect::<Vec<_>>()
                ),
            ),
            422,
            "invalid_input",
            "skus",
        ),
        (
            json!({ "item_no": "NEW-1", "name": "x", "unit_id": 999, "skus": [{ "price_fen": 1 }] }),
            422,
            "unknown_unit",
            "unit_id",
        ),
    ] {
        let (got, response) = app
            .post("/api/v1/admin/products", Some(&admin), &body)
            .await?;
        assert_eq!(
            (
                got.as_u16(),
                error_code(&response),
                response["error"]["field"].as_str()
            ),
            (status, code, Some(field)),
            "{body} → {response}"
        );
    }
    let after = (
        app.store.count_rows("products").await?,
        app.store.count_rows("skus").await?,
        app.store.count_rows("sku_level_prices").await?,
    );
    assert_eq!(before, after, "nothing half-written");

    // One SKU more (the office's 新增规格): bounded at 200 a product, a barcode another SKU
    // carries refused by its field, an unknown product not found; none of them writes.
    let skus: Vec<Value> = (0..200).map(|_| json!({ "price_fen": 1 })).collect();
    let (status, full) = app
        .post(
            "/api/v1/admin/products",
            Some(&admin),
            &product("FULL-1", json!(skus)),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{full}");
    let before = app.store.count_rows("skus").await?;
    for (id, body, status, code, field) in [
        (
            full["id"].clone(),
            json!({ "price_fen": 1 }),
            422,
            "too_many_skus",
            Some("skus"),
        ),
        (
            json!(hard_hat(&app).await?.id),
            json!({ "price_fen": 1, "barcode": "6901234500011" }),
            409,
            "barcode_taken",
            Some("barcode"),
        ),
        (
            json!(999_999),
            json!({ "price_fen": 1 }),
            404,
            "not_found",
            None,
        ),
    ] {
        let (got, response) = app
            .post(
                &format!("/api/v1/admin/products/{id}/skus"),
                Some(&admin),
                &body,
            )
            .await?;
        assert_eq!(
            (
                got.as_u16(),
                error_code(&response),
                response["error"]["field"].as_str()
            ),
            (status, code, field),
            "{body} → {response}"
        );
    }
    assert_eq!(app.store.count_rows("skus").await?, before, "no SKU added");
    let (status, response) = app
        .get("/api/v1/admin/products?shelf=maybe", Some(&admin))
        .await?;
    assert_eq!(
        (
            status.as_u16(),
            error_code(&response),
            response["error"]["field"].as_str()
        ),
        (422, "invalid_input", Some("shelf"))
    );

    for (body, code, field) in [
        (
            json!({ "item_unit": "把", "inner_qty": 6, "inner_unit": "盒", "outer_qty": 50, "outer_unit": "箱" }),
            "invalid_unit",
            "outer_qty",
        ),
        (
            json!({ "item_unit": "把", "inner_qty": 0, "inner_unit": "盒", "outer_qty": 50, "outer_unit": "箱" }),
            "invalid_unit",
            "inner_qty",
        ),
    ] {
        let (status, response) = app.post("/api/v1/admin/units", Some(&admin), &body).await?;
        assert_eq!(
            (
                status.as_u16(),
                error_code(&response),
                response["error"]["field"].as_str()
            ),
            (422, code, Some(field))
        );
    }
    let (status, unit) = app.post("/api/v1/admin/units", Some(&admin), &json!({ "item_unit": "卷", "inner_qty": 6, "inner_unit": "盒", "outer_qty": 60, "outer_unit": "箱" })).await?;
    assert_eq!(
        (status, unit["label"].as_str()),
        (StatusCode::CREATED, Some("6卷/盒 - 60卷/箱"))
    );

    let (_, categories) = app.get("/api/v1/categories", None).await?;
    let leaf = categories
        .as_array()
        .and_then(|c| c.iter().find(|c| c["depth"] == 3))
        .map(|c| c["id"].clone())
        .unwrap_or_default();
    let (status, body) = app
        .post(
            "/api/v1/admin/categories",
            Some(&admin),
            &json!({ "name": "第四级", "parent_id": leaf }),
        )
        .await?;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (422, "category_too_deep")
    );

    // Delisting hides a product from the shop but not from staff.
    let id = hard_hat(&app).await?.id;
    app.call(
        Method::PATCH,
        &format!("/api/v1/admin/products/{id}"),
        Some(&admin),
        Some(&json!({ "on_shelf": false })),
    )
    .await?;
    let (status, _) = app.get(&format!("/api/v1/products/{id}"), None).await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .get(&format!("/api/v1/admin/products/{id}"), Some(&admin))
        .await?;
    assert_eq!(status, StatusCode::OK);
    let (_, helmets) = app.get("/api/v1/products?category_id=1", None).await?;
    let left: Vec<&str> = helmets
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["item_no"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        left,
        vec!["TD-003", "ST-012"],
        "劳保用品 (with its sub-categories) holds the headlamp and the gloves once the hard hat is off the shelf"
    );
    app.stop().await
}
on_both_backends!(
    bad_catalogue_input_sqlite,
    bad_catalogue_input_postgres,
    bad_catalogue_input_writes_nothing
);

#[tokio::test]
async fn the_shop_mode_switches_guard_the_catalogue() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let approved = app.login(MEMBER, PASSWORD).await?;
    let newcomer = app.new_member("13912345671").await?;
    let id = hard_hat(&app).await?.id;
    let product = format!("/api/v1/products/{id}");
    let (_, settings) = app.get("/api/v1/admin/settings", Some(&admin)).await?;
    let set = |changes: Value| {
        let mut s = settings.clone();
        if let (Some(target), Value::Object(fields)) = (s.as_object_mut(), changes) {
            target.extend(fields);
        }
        s
    };

    // Internal mode behind the single page: only the shop's card, for everyone but the approved.
    app.call(
        Method::PUT,
        "/api/v1/admin/settings",
        Some(&admin),
        Some(&set(
            json!({ "shop_mode": "internal", "single_page": true }),
        )),
    )
    .await?;
    for (who, token) in [("visitor", None), ("newcomer", Some(newcomer.as_str()))] {
        for path in [
            "/api/v1/products",
            product.as_str(),
            "/api/v1/categories",
            "/api/v1/brands",
        ] {
            let (status, body) = app.get(path, token).await?;
            assert_eq!(
                (status.as_u16(), error_code(&body)),
                (403, "single_page"),
                "{who} {path}"
            );
        }
    }
    let (_, card) = app.get("/api/v1/shop", None).await?;
    assert_eq!(
        (card["shop_name"].as_str(), card["single_page"].as_bool()),
        (Some("安达劳保五金批发"), Some(true))
    );
    assert_eq!(app.get(&product, Some(&approved)).await?.0, StatusCode::OK);

    // Open mode with the profile switch: lists for all, a product page after the profile.
    app.call(
        Method::PUT,
        "/api/v1/admin/settings",
        Some(&admin),
        Some(&set(
            json!({ "shop_mode": "open", "require_profile": true }),
        )),
    )
    .await?;
    let (status, list) = app.get("/api/v1/products", None).await?;
    assert_eq!(
        (status, list[0]["prices_visible"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    let (status, body) = app.get(&product, None).await?;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (401, "profile_required")
    );
    let (status, body) = app.get(&product, Some(&newcomer)).await?;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (403, "profile_required")
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("完善资料后可继续访问"))
    );
    app.call(
        Method::PUT,
        "/api/v1/admin/settings",
        Some(&admin),
        Some(&set(
            json!({ "shop_mode": "open", "require_profile": false }),
        )),
    )
    .await?;
    assert_eq!(app.get(&product, None).await?.0, StatusCode::OK);
    app.stop().await
}

#[tokio::test]
async fn low_stock_is_listed_for_staff() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let (_, low) = app.get("/api/v1/admin/stock/low", Some(&admin)).await?;
    assert_eq!(low, json!([]), "the demo is well stocked");
    let sku = hard_hat(&app)
        .await?
        .skus
        .first()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no sku"))?;
    let body = json!({ "model": sku.model, "spec": sku.spec, "price_fen": sku.price_fen, "stock": 5, "low_stock_threshold": 20, "barcode": sku.barcode });
    app.call(
        Method::PUT,
        &format!("/api/v1/admin/skus/{}", sku.id),
        Some(&admin),
        Some(&body),
    )
    .await?;
    let (_, low) = app.get("/api/v1/admin/stock/low", Some(&admin)).await?;
    assert_eq!(
        (
            low[0]["sku_id"].as_i64(),
            low[0]["stock"].as_i64(),
            low[0]["item_no"].as_str()
        ),
        (Some(sku.id.get()), Some(5), Some("AQM-001"))
    );
    let supplier = app.login(pifa_e2e::pifa_demo::SUPPLIER, PASSWORD).await?;
    let (_, mine) = app
        .get("/api/v1/supplier/products", Some(&supplier))
        .await?;
    assert_eq!(
        mine.as_array().map(Vec::len),
        Some(6),
        "the demo supplier supplies all six demo products"
    );
    app.stop().await
}

#[tokio::test]
async fn the_full_demo_is_a_real_wholesale_range() -> anyhow::Result<()> {
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
    assert!(
        app.store.count_rows("skus").await? >= 300,
        "at least 300 SKUs"
    );
    let products = app
        .store
        .catalog()
        .list_products(&pifa::catalog::storage::ProductFilter {
            limit: 1000,
            ..Default::default()
        })
        .await?;
    assert!(products.iter().all(|p| {
        !p.skus.is_empty()
            && p.skus
                .iter()
                .all(|s| s.barcode.as_deref().is_some_and(|b| b.len() == 13))
    }));
    let admin = app.login(ADMIN, PASSWORD).await?;
    for region in app.store.regions().list_regions().await? {
        for state in ["authorised", "profile_complete", "approved", "rejected"] {
            let (_, members) = app
                .get(
                    &format!(
                        "/api/v1/admin/members?state={state}&region_id={}",
                        region.id
                    ),
                    Some(&admin),
                )
                .await?;
            assert!(
                members.as_array().is_some_and(|m| !m.is_empty()) || state == "authorised",
                "{} has no {state} member",
                region.name
            );
        }
    }
    let (_, waiting) = app
        .get("/api/v1/admin/members?state=authorised", Some(&admin))
        .await?;
    assert!(
        waiting.as_array().map_or(0, Vec::len) >= 3,
        "authorised members in every region"
    );
    let (_, hats) = app
        .get("/api/v1/search?q=%E5%AE%89%E5%85%A8%E5%B8%BD", None)
        .await?;
    assert!(
        hats.as_array().is_some_and(|h| h.len() >= 3
            && h.iter()
                .take(3)
                .all(|p| p["name"].as_str().is_some_and(|n| n.contains("安全帽")))),
        "{hats}"
    );
    let (_, hot) = app.get("/api/v1/products?list=hot", None).await?;
    assert!(hot.as_array().is_some_and(|h| !h.is_empty()));
    app.stop().await
}

#[tokio::test]
async fn product_pictures_are_public_and_leave_no_orphans() -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(Backend::Sqlite).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let id = hard_hat(&app).await?.id.get();
    let upload = |bytes: &'static [u8], product: i64| {
        app.client
            .post(app.url(&format!("/api/v1/admin/products/{product}/images")))
            .bearer_auth(&admin)
            .header("content-type", "image/png")
            .body(bytes)
            .send()
    };
    let refused = upload(b"<svg>not a photo</svg>", id).await?;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&refused.json().await?), "invalid_image");
    assert_eq!(
        upload(pifa_e2e::TINY_PNG, 9999).await?.status(),
        StatusCode::NOT_FOUND
    );
    assert!(
        app.upload_files().is_empty(),
        "refused pictures leave no file"
    );

    let added = upload(pifa_e2e::TINY_PNG, id).await?;
    assert_eq!(added.status(), StatusCode::CREATED);
    let (_, shown) = app.get(&format!("/api/v1/products/{id}"), None).await?;
    let url = shown["images"][0].as_str().unwrap_or_default().to_owned();
    assert!(url.starts_with("/api/v1/images/product-"), "{shown}");
    let picture = app.client.get(app.url(&url)).send().await?;
    assert_eq!(
        picture
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/png")
    );
    assert!(
        pifa_e2e::images::same_picture(&picture.bytes().await?, pifa_e2e::TINY_PNG)?,
        "anyone sees the picture"
    );

    let key = url.rsplit('/').next().unwrap_or_default().to_owned();
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/admin/products/9999/images/{key}"),
            Some(&admin),
            None,
        )
        .await?;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a picture belongs to its product"
    );
    let (status, after) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/admin/products/{id}/images/{key}"),
            Some(&admin),
            None,
        )
        .await?;
    assert_eq!(
        (status, after["images"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(0))
    );
    assert_eq!(app.get(&url, None).await?.0, StatusCode::NOT_FOUND);
    assert!(
        app.upload_files().is_empty(),
        "the file went with the picture"
    );
    app.stop().await
}
