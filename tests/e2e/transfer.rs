//! Import and export of goods (C5): a round trip through Excel changes nothing, "12.30" becomes
//! exactly 1230 fen (from text or from a spreadsheet number), and a file with bad rows is
//! refused whole, every error named by row and column.

use pifa_e2e::pifa_demo::ADMIN;
use pifa_e2e::{Backend, TestApp, on_both_backends};
use reqwest::StatusCode;
use serde_json::Value;

const PASSWORD: &str = pifa::demo::DEMO_PASSWORD;

async fn import(app: &TestApp, token: &str, bytes: Vec<u8>) -> anyhow::Result<(StatusCode, Value)> {
    let response = app
        .client
        .post(app.url("/api/v1/admin/catalog/import"))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(bytes)
        .send()
        .await?;
    Ok((response.status(), response.json().await?))
}

async fn export(app: &TestApp, token: &str, format: &str) -> anyhow::Result<Vec<u8>> {
    let response = app
        .client
        .get(app.url(&format!("/api/v1/admin/catalog/export?format={format}")))
        .bearer_auth(token)
        .send()
        .await?;
    anyhow::ensure!(response.status() == StatusCode::OK);
    Ok(response.bytes().await?.to_vec())
}

async fn counts(app: &TestApp) -> anyhow::Result<Vec<i64>> {
    let mut out = Vec::new();
    for table in ["products", "skus", "sku_level_prices", "sku_price_breaks"] {
        out.push(app.store.count_rows(table).await?);
    }
    Ok(out)
}

async fn round_trips_and_exact_money(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let csv_bytes = export(&app, &admin, "csv").await?;
    let text = String::from_utf8(csv_bytes.clone())?;
    let mut reader = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let header: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
    assert_eq!(
        header.get(..4).map(<[String]>::to_vec),
        Some(vec![
            "货号".into(),
            "商品名称".into(),
            "品牌".into(),
            "分类".into()
        ])
    );
    assert!(header.contains(&"等级价:银牌会员".to_owned()), "{header:?}");
    let red_hat: Vec<String> = reader
        .records()
        .filter_map(Result::ok)
        .find(|r| r.get(7) == Some("6901234500011"))
        .map(|r| r.iter().map(str::to_owned).collect())
        .unwrap_or_default();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .and_then(|i| red_hat.get(i))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        (
            col("价格"),
            col("等级价:银牌会员"),
            col("阶梯价"),
            col("分类"),
            col("单位")
        ),
        (
            "28.00".into(),
            "26.60".into(),
            "100:25.76;500:23.80".into(),
            "劳保用品/头部防护/安全帽".into(),
            "10个/盒 - 50个/箱".into()
        )
    );

    // The Excel export imports back as a no-op update.
    let before = counts(&app).await?;
    let xlsx = export(&app, &admin, "xlsx").await?;
    assert!(xlsx.starts_with(b"PK"), "an .xlsx is a zip");
    let (status, summary) = import(&app, &admin, xlsx).await?;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(
        (
            summary["products_created"].as_u64(),
            summary["skus_created"].as_u64(),
            summary["skus_updated"].as_u64()
        ),
        (Some(0), Some(0), Some(12))
    );
    assert_eq!(counts(&app).await?, before);
    assert_eq!(
        export(&app, &admin, "csv").await?,
        csv_bytes,
        "export → import → export is stable"
    );

    // New goods from CSV text: "12.30" is exactly 1230 fen.
    let csv = "货号,商品名称,单位,型号,规格,条码,价格,库存,阶梯价,等级价:金牌会员\nNEW-100,反光背心 荧光黄,10个/盒 - 50个/箱,L,荧光黄,6909990000017,12.30,500,100:11.5,11.07\nNEW-100,反光背心 荧光黄,10个/盒 - 50个/箱,XL,荧光黄,6909990000024,12.3,300,,\n";
    let (status, summary) = import(&app, &admin, csv.as_bytes().to_vec()).await?;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(
        (
            summary["products_created"].as_u64(),
            summary["skus_created"].as_u64()
        ),
        (Some(1), Some(2))
    );
    let id = app
        .store
        .catalog()
        .product_id_by_barcode("6909990000017")
        .await?
        .unwrap_or_default();
    let product = app
        .store
        .catalog()
        .product(id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("imported product missing"))?;
    let prices: Vec<i64> = product.skus.iter().map(|s| s.price_fen).collect();
    assert_eq!(prices, vec![1230, 1230]);
    assert_eq!(
        product.skus.first().map(|s| (
            s.stock,
            s.breaks.first().map(|b| (b.min_qty, b.price_fen)),
            s.level_prices.first().map(|l| l.price_fen)
        )),
        Some((500, Some((100, 1150)), Some(1107)))
    );
    let (_, found) = app
        .get(
            "/api/v1/search?q=%E5%8F%8D%E5%85%89%E8%83%8C%E5%BF%83",
            None,
        )
        .await?;
    assert_eq!(
        found[0]["item_no"], "NEW-100",
        "imported goods are searchable at once"
    );

    // A spreadsheet number 12.3 is 1230 fen too.
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (col, name) in ["货号", "商品名称", "单位", "规格", "价格", "库存"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, u16::try_from(col)?, *name)?;
    }
    sheet.write_string(1, 0, "NEW-200")?;
    sheet.write_string(1, 1, "警示锥 70cm")?;
    sheet.write_string(1, 2, "10个/盒 - 50个/箱")?;
    sheet.write_string(1, 3, "红白")?;
    sheet.write_number(1, 4, 12.3)?;
    sheet.write_number(1, 5, 40)?;
    let (status, summary) = import(&app, &admin, workbook.save_to_buffer()?).await?;
    assert_eq!(status, StatusCode::OK, "{summary}");
    let cones = app
        .store
        .catalog()
        .list_products(&pifa::catalog::storage::ProductFilter {
            limit: 100,
            ..Default::default()
        })
        .await?;
    let cone = cones
        .iter()
        .find(|p| p.item_no == "NEW-200")
        .and_then(|p| p.skus.first())
        .map(|s| (s.price_fen, s.stock));
    assert_eq!(cone, Some((1230, 40)));
    app.stop().await
}
on_both_backends!(
    transfer_sqlite,
    transfer_postgres,
    round_trips_and_exact_money
);

async fn bad_rows_are_reported_and_nothing_is_imported(backend: Backend) -> anyhow::Result<()> {
    let Some(app) = TestApp::with_demo(backend).await? else {
        return Ok(());
    };
    let admin = app.login(ADMIN, PASSWORD).await?;
    let before = counts(&app).await?;
    let csv = "货号,商品名称,单位,规格,条码,价格,上架\n\
               OK-1,好的一行,10个/盒 - 50个/箱,红,6909990000031,10.00,是\n\
               BAD-1,单位不对,3个/袋 - 9个/箱,红,,10.00,是\n\
               BAD-2,价格不对,10个/盒 - 50个/箱,红,,12.345,是\n\
               BAD-3,条码重复,10个/盒 - 50个/箱,蓝,6909990000031,10.00,是\n\
               BAD-4,条码已被占用,10个/盒 - 50个/箱,蓝,6901234500011,10.00,是\n\
               BAD-5,上架填错,10个/盒 - 50个/箱,蓝,,10.00,也许\n";
    let (status, body) = import(&app, &admin, csv.as_bytes().to_vec()).await?;
    assert_eq!(
        (status.as_u16(), body["error"]["code"].as_str()),
        (422, Some("import_invalid")),
        "{body}"
    );
    let problems: Vec<(u64, String, String)> = body["error"]["details"]["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    (
                        r["row"].as_u64().unwrap_or(0),
                        r["column"].as_str().unwrap_or("").to_owned(),
                        r["code"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        problems,
        vec![
            (3, "单位".into(), "unknown_unit".into()),
            (4, "价格".into(), "invalid_money".into()),
            (5, "条码".into(), "barcode_taken".into()),
            (6, "条码".into(), "barcode_taken".into()),
            (7, "上架".into(), "invalid_input".into()),
        ]
    );
    assert_eq!(
        counts(&app).await?,
        before,
        "not even the good row was written"
    );

    for (file, code) in [
        (
            "商品名称,单位,价格\nx,10个/盒 - 50个/箱,1.00\n"
                .as_bytes()
                .to_vec(),
            "import_invalid",
        ),
        (b"\xff\xfe not utf-8".to_vec(), "invalid_file"),
        (b"PK\x03\x04 broken zip".to_vec(), "invalid_file"),
    ] {
        let (status, body) = import(&app, &admin, file).await?;
        assert_eq!(
            (status.as_u16(), body["error"]["code"].as_str()),
            (422, Some(code)),
            "{body}"
        );
    }
    assert_eq!(counts(&app).await?, before);
    app.stop().await
}
on_both_backends!(
    bad_import_sqlite,
    bad_import_postgres,
    bad_rows_are_reported_and_nothing_is_imported
);
