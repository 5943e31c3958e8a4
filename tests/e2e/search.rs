//! Search (C4) on both backends: the cases that need real word segmentation, pinyin initials,
//! barcodes, and price filters that only those who see prices may use.

use pifa_e2e::pifa_demo::MEMBER;
use pifa_e2e::{Backend, TestApp, on_both_backends};
use serde_json::Value;

async fn item_numbers(
    app: &TestApp,
    query: &str,
    token: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    let (status, body) = app
        .get(&format!("/api/v1/search?q={}", urlencode(query)), token)
        .await?;
    anyhow::ensure!(status.is_success(), "{query}: {status} {body}");
    Ok(body
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p["item_no"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn segmented_search_finds_what_people_type(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let hats = item_numbers(&app, "安全帽", None).await?;
    assert_eq!(
        hats.first().map(String::as_str),
        Some("AQM-001"),
        "the name match ranks first: {hats:?}"
    );
    assert!(
        hats.contains(&"TD-003".to_owned()),
        "the headlamp mentions 安全帽 in its description: {hats:?}"
    );
    assert_eq!(
        item_numbers(&app, "手套 劳保", None).await?,
        vec!["ST-012"],
        "words in any order"
    );
    assert_eq!(
        item_numbers(&app, "防水 涂料 灰色", None).await?,
        vec!["FS-020"],
        "only the coating with a grey SKU"
    );
    let coatings = item_numbers(&app, "防水涂料", None).await?;
    assert!(
        coatings.contains(&"FS-020".to_owned()) && coatings.contains(&"FS-021".to_owned()),
        "{coatings:?}"
    );
    assert!(
        item_numbers(&app, "水涂", None).await?.is_empty(),
        "水涂 straddles two words of 防水涂料"
    );
    assert_eq!(
        item_numbers(&app, "aqm", None)
            .await?
            .first()
            .map(String::as_str),
        Some("AQM-001"),
        "pinyin initials"
    );
    assert_eq!(
        item_numbers(&app, "AQM", None)
            .await?
            .first()
            .map(String::as_str),
        Some("AQM-001")
    );
    assert_eq!(
        item_numbers(&app, "6901234500066", None).await?,
        vec!["FS-020"],
        "a scanned barcode finds its product"
    );
    assert!(item_numbers(&app, "不存在的商品名", None).await?.is_empty());
    assert!(
        item_numbers(&app, "，。", None).await?.is_empty(),
        "punctuation alone finds nothing, without an error"
    );

    // Price filters and sorts only for those who see prices.
    let (status, body) = app
        .get(
            &format!("/api/v1/search?q={}&sort=price_asc", urlencode("防水涂料")),
            None,
        )
        .await?;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (403, Some("price_hidden"))
    );
    let member = app.login(MEMBER, pifa::demo::DEMO_PASSWORD).await?;
    let (_, sorted) = app
        .get(
            &format!("/api/v1/search?q={}&sort=price_desc", urlencode("防水涂料")),
            Some(&member),
        )
        .await?;
    let order: Vec<&str> = sorted
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["item_no"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(order, vec!["FS-021", "FS-020"], "dearest first");
    let (_, cheap) = app
        .get(
            &format!(
                "/api/v1/search?q={}&max_price_fen=30000",
                urlencode("防水涂料")
            ),
            Some(&member),
        )
        .await?;
    assert_eq!(
        cheap.as_array().map(|a| a
            .iter()
            .map(|p| p["item_no"].clone())
            .collect::<Vec<Value>>()),
        Some(vec![Value::from("FS-020")])
    );

    // Edits reach the index: a renamed product is found by its new name, a delisted one is not.
    let admin = app
        .login(pifa_e2e::pifa_demo::ADMIN, pifa::demo::DEMO_PASSWORD)
        .await?;
    let wrench = app
        .store
        .catalog()
        .product_id_by_barcode("6901234500080")
        .await?
        .unwrap_or_default();
    app.call(
        reqwest::Method::PATCH,
        &format!("/api/v1/admin/products/{wrench}"),
        Some(&admin),
        Some(&serde_json::json!({ "name": "活络扳手 铬钒钢" })),
    )
    .await?;
    assert_eq!(item_numbers(&app, "活络扳手", None).await?, vec!["BS-008"]);
    app.call(
        reqwest::Method::PATCH,
        &format!("/api/v1/admin/products/{wrench}"),
        Some(&admin),
        Some(&serde_json::json!({ "on_shelf": false })),
    )
    .await?;
    assert!(item_numbers(&app, "扳手", None).await?.is_empty());

    // Pages put together are the whole list: 安全帽 is in the hard hat's name and in the head
    // lamp's description, so the pages cross from name matches to the others.
    let all = item_numbers(&app, "安全帽", None).await?;
    assert_eq!(all.first().map(String::as_str), Some("AQM-001"), "{all:?}");
    assert!(all.contains(&"TD-003".to_owned()), "{all:?}");
    for size in [1, 2] {
        let mut paged = Vec::new();
        for offset in (0..=all.len()).step_by(size) {
            let (_, page) = app
                .get(
                    &format!(
                        "/api/v1/search?q={}&limit={size}&offset={offset}",
                        urlencode("安全帽")
                    ),
                    None,
                )
                .await?;
            paged.extend(
                page.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["item_no"].as_str().map(str::to_owned)),
            );
        }
        assert_eq!(paged, all, "pages of {size}");
    }
    app.stop().await
}
on_both_backends!(
    search_sqlite,
    search_postgres,
    segmented_search_finds_what_people_type
);
