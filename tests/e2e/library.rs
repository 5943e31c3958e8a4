//! The catalogue's libraries over HTTP (C1–C3): packing forms with the seed's 14 as defaults,
//! product tags (filter and search), the spec library SKUs take attributes from, and editing or
//! removing categories and brands without orphaning goods.

use pifa_e2e::pifa_demo::ADMIN;
use pifa_e2e::{Backend, TestApp, error_code, on_both_backends};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;

async fn product_id(app: &TestApp, item_no: &str) -> anyhow::Result<i64> {
    let (_, found) = app
        .get(&format!("/api/v1/search?q={item_no}"), None)
        .await?;
    found
        .as_array()
        .and_then(|list| list.iter().find(|p| p["item_no"] == item_no))
        .and_then(|p| p["id"].as_i64())
        .ok_or_else(|| anyhow::anyhow!("{item_no} not found: {found}"))
}

fn item_numbers(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|l| {
            l.iter()
                .filter_map(|p| p["item_no"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn units_are_built_from_the_packing_forms(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let (status, forms) = app.get("/api/v1/admin/unit-forms", Some(&admin)).await?;
    assert_eq!(status, StatusCode::OK);
    let labels: Vec<&str> = forms
        .as_array()
        .map(|f| f.iter().filter_map(|f| f["label"].as_str()).collect())
        .unwrap_or_default();
    for item in ["把", "桶", "瓶", "套", "卷", "个", "扎"] {
        for pack in ["盒", "箱"] {
            let label = format!("X{item}/{pack}");
            assert!(
                labels.contains(&label.as_str()),
                "{label} ships as a default: {labels:?}"
            );
        }
    }

    let unit = json!({ "item_unit": "支", "inner_qty": 10, "inner_unit": "袋", "outer_qty": 200, "outer_unit": "箱" });
    let (status, refused) = app
        .call(
            Method::POST,
            "/api/v1/admin/units",
            Some(&admin),
            Some(&unit),
        )
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(&refused), "unknown_unit_form");
    assert_eq!(refused["error"]["field"], "inner_unit");
    for pack in ["袋", "箱"] {
        let (status, form) = app
            .call(
                Method::POST,
                "/api/v1/admin/unit-forms",
                Some(&admin),
                Some(&json!({ "item_unit": "支", "pack_unit": pack })),
            )
            .await?;
        assert_eq!(status, StatusCode::CREATED, "{form}");
        assert_eq!(form["label"], format!("X支/{pack}"));
    }
    let (status, created) = app
        .call(
            Method::POST,
            "/api/v1/admin/units",
            Some(&admin),
            Some(&unit),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["label"], "10支/袋 - 200支/箱");
    Ok(())
}
on_both_backends!(
    unit_forms_sqlite,
    unit_forms_postgres,
    units_are_built_from_the_packing_forms
);

async fn tagged_goods_are_listed_and_found_by_their_tag(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let hat = product_id(&app, "AQM-001").await?;
    let (status, tag) = app
        .call(
            Method::POST,
            "/api/v1/admin/product-tags",
            Some(&admin),
            Some(&json!({ "name": "工地专用" })),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{tag}");
    let tag_id = tag["id"].as_i64().unwrap_or_default();
    let (status, again) = app
        .call(
            Method::POST,
            "/api/v1/admin/product-tags",
            Some(&admin),
            Some(&json!({ "name": "工地专用" })),
        )
        .await?;
    assert_eq!(
        (status, error_code(&again)),
        (StatusCode::CONFLICT, "tag_taken")
    );

    let (status, refused) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/admin/products/{hat}"),
            Some(&admin),
            Some(&json!({ "tag_ids": [tag_id, 999_999] })),
        )
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        (error_code(&refused), refused["error"]["field"].as_str()),
        ("unknown_tag", Some("tag_ids[1]"))
    );
    let (status, tagged) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/admin/products/{hat}"),
            Some(&admin),
            Some(&json!({ "tag_ids": [tag_id] })),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{tagged}");
    assert_eq!(tagged["tag_ids"], json!([tag_id]));

    let (_, shop) = app.get(&format!("/api/v1/products/{hat}"), None).await?;
    assert_eq!(shop["tag_ids"], json!([tag_id]), "the shop shows the tag");
    let (_, listed) = app
        .get(&format!("/api/v1/products?tag_id={tag_id}"), None)
        .await?;
    assert_eq!(item_numbers(&listed), vec!["AQM-001"]);
    let (_, found) = app.get("/api/v1/search?q=工地专用", None).await?;
    assert_eq!(
        item_numbers(&found),
        vec!["AQM-001"],
        "the tag's name finds its goods"
    );

    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/admin/product-tags/{tag_id}"),
            Some(&admin),
            None,
        )
        .await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, shop) = app.get(&format!("/api/v1/products/{hat}"), None).await?;
    assert_eq!(shop["tag_ids"], json!([]), "a removed tag leaves its goods");
    let (_, found) = app.get("/api/v1/search?q=工地专用", None).await?;
    assert_eq!(item_numbers(&found), Vec::<String>::new());
    Ok(())
}
on_both_backends!(
    product_tags_sqlite,
    product_tags_postgres,
    tagged_goods_are_listed_and_found_by_their_tag
);

async fn skus_take_their_attributes_from_the_spec_library(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let (status, colour) = app
        .call(
            Method::POST,
            "/api/v1/admin/spec-attributes",
            Some(&admin),
            Some(&json!({ "name": "颜色", "choices": ["红色", "黄色", "红色"] })),
        )
        .await?;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{colour}");
    assert_eq!(
        colour["error"]["field"], "choices[2]",
        "a repeated value is named"
    );
    let (status, colour) = app
        .call(
            Method::POST,
            "/api/v1/admin/spec-attributes",
            Some(&admin),
            Some(&json!({ "name": "颜色", "choices": ["红色", "黄色"] })),
        )
        .await?;
    assert_eq!(status, StatusCode::CREATED, "{colour}");
    app.call(
        Method::POST,
        "/api/v1/admin/spec-attributes",
        Some(&admin),
        Some(&json!({ "name": "尺码", "choices": ["M", "L"], "sort": 1 })),
    )
    .await?;
    let (status, taken) = app
        .call(
            Method::POST,
            "/api/v1/admin/spec-attributes",
            Some(&admin),
            Some(&json!({ "name": "颜色", "choices": ["蓝色"] })),
        )
        .await?;
    assert_eq!(
        (status, error_code(&taken)),
        (StatusCode::CONFLICT, "spec_attribute_taken")
    );

    let hat = product_id(&app, "AQM-001").await?;
    let (_, product) = app
        .get(&format!("/api/v1/admin/products/{hat}"), Some(&admin))
        .await?;
    let sku = &product["skus"][0];
    let sku_id = sku["id"].as_i64().unwrap_or_default();
    let with = |attributes: Value| json!({ "model": sku["model"], "spec": "", "price_fen": sku["price_fen"], "stock": sku["stock"], "barcode": sku["barcode"], "attributes": attributes });
    for (attributes, code, field) in [
        (
            json!({ "颜色": "紫色" }),
            "unknown_spec_value",
            "attributes.颜色",
        ),
        (
            json!({ "材质": "ABS" }),
            "unknown_spec_attribute",
            "attributes.材质",
        ),
    ] {
        let (status, refused) = app
            .call(
                Method::PUT,
                &format!("/api/v1/admin/skus/{sku_id}"),
                Some(&admin),
                Some(&with(attributes)),
            )
            .await?;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(
            (error_code(&refused), refused["error"]["field"].as_str()),
            (code, Some(field))
        );
    }
    let (_, unchanged) = app.get(&format!("/api/v1/products/{hat}"), None).await?;
    assert_eq!(
        unchanged["skus"][0]["spec"], sku["spec"],
        "a refused SKU is not written"
    );

    let (status, saved) = app
        .call(
            Method::PUT,
            &format!("/api/v1/admin/skus/{sku_id}"),
            Some(&admin),
            Some(&with(json!({ "尺码": "L", "颜色": "黄色" }))),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let (_, shop) = app.get(&format!("/api/v1/products/{hat}"), None).await?;
    let shown = &shop["skus"][0];
    assert_eq!(shown["attributes"], json!({ "颜色": "黄色", "尺码": "L" }));
    assert_eq!(
        shown["spec"], "黄色 L",
        "the spec reads in the library's order"
    );
    Ok(())
}
on_both_backends!(
    spec_library_sqlite,
    spec_library_postgres,
    skus_take_their_attributes_from_the_spec_library
);

async fn categories_and_brands_are_edited_and_removed_only_when_empty(
    backend: Backend,
) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let (_, categories) = app.get("/api/v1/categories", None).await?;
    let find = |list: &Value, name: &str| {
        list.as_array()
            .and_then(|l| l.iter().find(|c| c["name"] == name))
            .and_then(|c| c["id"].as_i64())
            .unwrap_or_default()
    };
    let top = find(&categories, "劳保用品");
    let sibling = find(&categories, "五金工具");
    let (status, taken) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/admin/categories/{top}"),
            Some(&admin),
            Some(&json!({ "name": "五金工具" })),
        )
        .await?;
    assert_eq!(
        (status, error_code(&taken)),
        (StatusCode::CONFLICT, "category_taken")
    );
    let (status, renamed) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/admin/categories/{top}"),
            Some(&admin),
            Some(&json!({ "name": "个体防护" })),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    let (_, found) = app.get("/api/v1/search?q=个体防护", None).await?;
    assert!(
        item_numbers(&found).contains(&"AQM-001".to_owned()),
        "goods two levels down are found by the new name: {found}"
    );

    for (path, code) in [
        (format!("/api/v1/admin/categories/{top}"), "category_in_use"),
        (
            format!("/api/v1/admin/categories/{sibling}"),
            "category_in_use",
        ),
    ] {
        let (status, refused) = app.call(Method::DELETE, &path, Some(&admin), None).await?;
        assert_eq!((status, error_code(&refused)), (StatusCode::CONFLICT, code));
    }
    let (_, empty) = app
        .post(
            "/api/v1/admin/categories",
            Some(&admin),
            &json!({ "name": "临时分类" }),
        )
        .await?;
    let empty = empty["id"].as_i64().unwrap_or_default();
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/admin/categories/{empty}"),
            Some(&admin),
            None,
        )
        .await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, categories) = app.get("/api/v1/categories", None).await?;
    assert_eq!(find(&categories, "临时分类"), 0);
    assert_ne!(find(&categories, "个体防护"), 0);

    let (_, brands) = app.get("/api/v1/brands", None).await?;
    let delta = find(&brands, "代尔塔");
    let (status, taken) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/admin/brands/{delta}"),
            Some(&admin),
            Some(&json!({ "name": "世达" })),
        )
        .await?;
    assert_eq!(
        (status, error_code(&taken)),
        (StatusCode::CONFLICT, "brand_taken")
    );
    let (status, renamed) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/admin/brands/{delta}"),
            Some(&admin),
            Some(&json!({ "name": "代尔塔防护", "logo_url": "https://example.com/delta.png" })),
        )
        .await?;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["logo_url"], "https://example.com/delta.png");
    let (_, found) = app.get("/api/v1/search?q=代尔塔防护", None).await?;
    assert!(
        !item_numbers(&found).is_empty(),
        "the brand's goods follow its new name"
    );
    let (status, refused) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/admin/brands/{delta}"),
            Some(&admin),
            None,
        )
        .await?;
    assert_eq!(
        (status, error_code(&refused)),
        (StatusCode::CONFLICT, "brand_in_use")
    );
    let (_, unused) = app
        .post(
            "/api/v1/admin/brands",
            Some(&admin),
            &json!({ "name": "新品牌" }),
        )
        .await?;
    let unused = unused["id"].as_i64().unwrap_or_default();
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/admin/brands/{unused}"),
            Some(&admin),
            None,
        )
        .await?;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/admin/brands/{unused}"),
            Some(&admin),
            None,
        )
        .await?;
    assert_eq!(status, StatusCode::NOT_FOUND);
    Ok(())
}
on_both_backends!(
    categories_and_brands_sqlite,
    categories_and_brands_postgres,
    categories_and_brands_are_edited_and_removed_only_when_empty
);
