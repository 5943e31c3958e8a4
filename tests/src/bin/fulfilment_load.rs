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

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use serde_json::{Value, json};

const MEMBER: &str = "13900000001";
const MANAGER: &str = "13800000011";
const DRIVER: &str = "13800000031";
const ADMIN: &str = "13800000001";
const PASSWORD: &str = "pifa1234";

/// A PNG header and padding: sniffed as PNG, the size of a phone photo after compression.
fn photo(n: usize) -> Vec<u8> {
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    bytes.extend(std::iter::repeat_n((n % 251) as u8, 200 * 1024));
    bytes
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((sorted.len().saturating_sub(1)) as f64 * p).round() as usize;
    sorted
        .get(rank)
        .copied()
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
        * 1000.0
}

async fn login(client: &reqwest::Client, base: &str, phone: &str) -> anyhow::Result<String> {
    let body: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "phone": phone, "password": PASSWORD }))
        .send()
        .await?
        .json()
        .await?;
    body["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("login {phone}: {body}"))
}

async fn post(
    client: &reqwest::Client,
    url: String,
    token: &str,
    body: &Value,
) -> anyhow::Result<Value> {
    let response = client
        .post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await?;
    let status = response.status();
    let value: Value = response.json().await?;
    anyhow::ensure!(status.is_success(), "{status}: {value}");
    Ok(value)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:18184".to_owned());
    let orders: usize = std::env::var("ORDERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    let client = reqwest::Client::new();
    let member = login(&client, &base, MEMBER).await.context("member")?;
    let manager = login(&client, &base, MANAGER).await.context("manager")?;
    let driver = login(&client, &base, DRIVER).await.context("driver")?;
    let me: Value = client
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&driver)
        .send()
        .await?
        .json()
        .await?;
    let driver_id = me["id"]
        .as_i64()
        .or_else(|| me["user"]["id"].as_i64())
        .ok_or_else(|| anyhow!("driver id: {me}"))?;
    let addresses: Value = client
        .get(format!("{base}/api/v1/me/addresses"))
        .bearer_auth(&member)
        .send()
        .await?
        .json()
        .await?;
    let products: Value = client
        .get(format!("{base}/api/v1/products?limit=5"))
        .bearer_auth(&member)
        .send()
        .await?
        .json()
        .await?;
    let product_id = products[0]["id"].as_i64().unwrap_or_default();
    let product: Value = client
        .get(format!("{base}/api/v1/products/{product_id}"))
        .bearer_auth(&member)
        .send()
        .await?
        .json()
        .await?;
    let sku = &product["skus"][0];
    let qty = product["unit"]["inner_qty"].as_i64().unwrap_or(1).max(1);
    // Enough stock that every order goes through.
    let admin = login(&client, &base, ADMIN).await.context("admin")?;
    let full: Value = client
        .get(format!("{base}/api/v1/admin/products/{product_id}"))
        .bearer_auth(&admin)
        .send()
        .await?
        .json()
        .await?;
    let mut input = full["skus"][0].clone();
    let sku_id = input["id"].clone();
    if let Some(fields) = input.as_object_mut() {
        fields.remove("id");
        fields.remove("product_id");
        fields.insert("stock".to_owned(), json!(100_000_000));
    }
    let raised = client
        .put(format!("{base}/api/v1/admin/skus/{sku_id}"))
        .bearer_auth(&admin)
        .json(&input)
        .send()
        .await?;
    anyhow::ensure!(
        raised.status().is_success(),
        "raising stock: {}",
        raised.text().await?
    );
    let mut ids = Vec::with_capacity(orders);
    for n in 0..orders {
        let body = json!({ "delivery_method": "ship", "payment_method": "cash_on_delivery",
            "address_id": addresses[0]["id"], "lines": [{ "sku_id": sku["id"], "qty": qty }] });
        let response = client
            .post(format!("{base}/api/v1/orders"))
            .bearer_auth(&member)
            .header("idempotency-key", format!("fulfilment-load-{n}"))
            .json(&body)
            .send()
            .await?;
        let order: Value = response.json().await?;
        let id = order["id"]
            .as_i64()
            .ok_or_else(|| anyhow!("order: {order}"))?;
        post(
            &client,
            format!("{base}/api/v1/admin/orders/{id}/confirm"),
            &manager,
            &json!({}),
        )
        .await?;
        post(
            &client,
            format!("{base}/api/v1/admin/orders/{id}/dispatch"),
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
        let response = client
            .get(format!("{base}/api/v1/driver/orders"))
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
        percentile(&lists, 0.5),
        percentile(&lists, 0.99)
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
        let response = client
            .post(format!("{base}/api/v1/driver/orders/{id}/delivered"))
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
        percentile(&uploads, 0.5),
        percentile(&uploads, 0.99),
        uploads.len()
    );
    Ok(())
}
