//! A load generator for the driver console (issue: fulfilment), against a running server with
//! the demo data: the latency of the driver's order list, and of uploading two photos of a
//! signed delivery note (each 200 KB), which receives the order.
//!
//!   cargo run --release -p pifa-e2e --bin fulfilment_load -- http://127.0.0.1:18184
//!
//! It places ORDERS orders as the demo member (default 300), confirms them as his manager and
//! assigns them to the 海口 driver, then measures as the driver.
#![expect(
    clippy::indexing_slicing,
    reason = "serde_json::Value indexing yields Null, it never panics"
)]
#![expect(clippy::print_stdout, reason = "a command-line tool reporting figures")]

use std::time::Instant;

use anyhow::{Context, anyhow};
use pifa_e2e::load::{ADMIN, DRIVER, MANAGER, MEMBER, Target, idempotency_key, percentile_ms};
use serde_json::{Value, json};

/// A PNG header and padding: sniffed as PNG, the size of a phone photo after compression.
fn photo(n: usize) -> Vec<u8> {
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    bytes.extend(std::iter::repeat_n((n % 251) as u8, 200 * 1024));
    bytes
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let target = Target::from_args("http://127.0.0.1:18184")?;
    let orders: usize = std::env::var("ORDERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    let member = target.login(MEMBER).await.context("member")?;
    let manager = target.login(MANAGER).await.context("manager")?;
    let driver = target.login(DRIVER).await.context("driver")?;
    let admin = target.login(ADMIN).await.context("admin")?;
    let me = target.get("/api/v1/me", &driver).await?;
    let driver_id = me["id"]
        .as_i64()
        .or_else(|| me["user"]["id"].as_i64())
        .ok_or_else(|| anyhow!("driver id: {me}"))?;
    let addresses = target.get("/api/v1/me/addresses", &member).await?;
    let products = target.get("/api/v1/products?limit=5", &member).await?;
    let product_id = products[0]["id"].as_i64().unwrap_or_default();
    // Enough stock that every order goes through.
    let skus = target.raise_stock(&admin, product_id).await?;
    let &(sku_id, qty) = skus
        .first()
        .ok_or_else(|| anyhow!("product {product_id} has no SKU"))?;
    let mut ids = Vec::with_capacity(orders);
    for n in 0..orders {
        let body = json!({ "delivery_method": "ship", "payment_method": "cash_on_delivery",
            "address_id": addresses[0]["id"], "lines": [{ "sku_id": sku_id, "qty": qty }] });
        let response = target
            .client
            .post(target.url("/api/v1/orders"))
            .bearer_auth(&member)
            .header(
                "idempotency-key",
                idempotency_key(&format!("fulfilment-load-{n}")),
            )
            .json(&body)
            .send()
            .await?;
        let order: Value = response.json().await?;
        let id = order["id"]
            .as_i64()
            .ok_or_else(|| anyhow!("order: {order}"))?;
        target
            .post(
                &format!("/api/v1/admin/orders/{id}/confirm"),
                &manager,
                &json!({}),
            )
            .await?;
        target
            .post(
                &format!("/api/v1/admin/orders/{id}/dispatch"),
                &manager,
                &json!({ "method": "driver", "driver_id": driver_id }),
            )
            .await?;
        ids.push(id);
    }
    println!("{} orders assigned to the driver", ids.len());

    let mut lists = Vec::new();
    for _ in 0..200 {
        let start = Instant::now();
        let response = target
            .client
            .get(target.url("/api/v1/driver/orders"))
            .bearer_auth(&driver)
            .send()
            .await?;
        anyhow::ensure!(response.status().is_success());
        response.bytes().await?;
        lists.push(start.elapsed());
    }
    lists.sort();
    println!(
        "driver list ({} orders waiting): p50 {:.1} ms, p99 {:.1} ms (200 runs)",
        ids.len(),
        percentile_ms(&lists, 0.5),
        percentile_ms(&lists, 0.99)
    );

    let mut uploads = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let form = reqwest::multipart::Form::new()
            .part(
                "photo",
                reqwest::multipart::Part::bytes(photo(2 * n)).file_name("1.png"),
            )
            .part(
                "photo",
                reqwest::multipart::Part::bytes(photo(2 * n + 1)).file_name("2.png"),
            );
        let start = Instant::now();
        let response = target
            .client
            .post(target.url(&format!("/api/v1/driver/orders/{id}/delivered")))
            .bearer_auth(&driver)
            .multipart(form)
            .send()
            .await?;
        let status = response.status();
        let body = response.text().await?;
        anyhow::ensure!(status.is_success(), "delivered {id}: {body}");
        uploads.push(start.elapsed());
    }
    uploads.sort();
    println!(
        "delivered with two 200 KB photos: p50 {:.1} ms, p99 {:.1} ms ({} orders)",
        percentile_ms(&uploads, 0.5),
        percentile_ms(&uploads, 0.99),
        uploads.len()
    );
    Ok(())
}
