//! A load generator for checkout (issue: ordering), against a running server with the demo
//! data: orders/s and latency of 5-line checkouts at several client counts, and the quote
//! latency of a 200-line cart. Loopback only; every phase stops by itself.
//!
//!   cargo run --release -p pifa-e2e --bin checkout_load -- http://127.0.0.1:18183
//!
//! Stock is raised first (as the admin) so that refusals measure the system, not the shelf.
#![expect(
    clippy::indexing_slicing,
    reason = "serde_json::Value indexing yields Null, it never panics"
)]
#![expect(clippy::print_stdout, reason = "a command-line tool reporting figures")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use pifa_e2e::load::{ADMIN, MEMBER, Target, idempotency_key, percentile_ms};
use serde_json::{Value, json};

/// SKUs on sale with their pack size, every one's stock raised.
async fn skus_on_sale(target: &Target, admin: &str) -> anyhow::Result<Vec<(i64, i64)>> {
    let mut skus = Vec::new();
    for offset in [0, 100, 200, 300] {
        let page = target
            .get(
                &format!("/api/v1/products?limit=100&offset={offset}"),
                admin,
            )
            .await?;
        for product in page.as_array().cloned().unwrap_or_default() {
            let id = product["id"].as_i64().unwrap_or_default();
            skus.extend(target.raise_stock(admin, id).await?);
        }
    }
    Ok(skus)
}

fn lines(skus: &[(i64, i64)], count: usize, seed: &mut u64) -> Vec<Value> {
    let mut picked: Vec<Value> = Vec::with_capacity(count);
    let mut used = std::collections::HashSet::new();
    while picked.len() < count.min(skus.len()) {
        *seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let index = ((*seed >> 33) as usize) % skus.len();
        if let Some((sku, pack)) = skus.get(index)
            && used.insert(*sku)
        {
            picked.push(json!({ "sku_id": sku, "qty": pack }));
        }
    }
    picked
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::var("DURATION")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(10);
    let target = Arc::new(Target::from_args("http://127.0.0.1:18183")?);
    let admin = target.login(ADMIN).await.context("admin sign-in")?;
    let member = target.login(MEMBER).await.context("member sign-in")?;
    let skus = Arc::new(skus_on_sale(&target, &admin).await?);
    println!("{} SKUs on sale, stock raised", skus.len());

    // The quote of a 200-line cart (QUOTE_LINES), one at a time. With FLASH_SALE=1, a flash
    // sale (the plugin) covers the cart's first 50 SKUs at 1 fen off.
    let mut seed = 7;
    let cart_lines: usize = std::env::var("QUOTE_LINES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let cart = lines(&skus, cart_lines, &mut seed);
    if std::env::var("FLASH_SALE").is_ok_and(|v| v == "1") {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis() as i64;
        let items: Vec<Value> = cart
            .iter()
            .take(50)
            .map(|line| json!({ "sku_id": line["sku_id"], "price_fen": 1 }))
            .collect();
        target
            .post(
                "/api/v1/plugins/flash-sale/sales",
                &admin,
                &json!({ "name": "压测秒杀", "starts_at_ms": now - 60_000, "ends_at_ms": now + 3_600_000,
                    "total_limit": 1_000_000_000, "per_member_limit": 1_000_000_000, "items": items }),
            )
            .await
            .context("creating the flash sale")?;
        println!("flash sale on 50 of the cart's SKUs");
    }
    let big = json!({ "delivery_method": "pickup", "lines": cart });
    let runs: usize = std::env::var("QUOTES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(60);
    let mut quotes = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let response = target
            .client
            .post(target.url("/api/v1/orders/quote"))
            .bearer_auth(&member)
            .json(&big)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "quote: {}",
            response.text().await?
        );
        response.bytes().await?;
        quotes.push(start.elapsed());
    }
    quotes.sort();
    println!(
        "quote of a {cart_lines}-line cart: p50 {:.3} ms, p99 {:.3} ms ({} runs)",
        percentile_ms(&quotes, 0.5),
        percentile_ms(&quotes, 0.99),
        quotes.len()
    );
    if std::env::var("QUOTE_ONLY").is_ok_and(|v| v == "1") {
        return Ok(());
    }

    // CLIENTS=32 (or 8,32) runs only those phases.
    let phases: Vec<usize> = std::env::var("CLIENTS")
        .ok()
        .map(|list| {
            list.split(',')
                .filter_map(|n| n.trim().parse().ok())
                .collect()
        })
        .unwrap_or_else(|| vec![8, 32, 128]);
    for clients in phases {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for client in 0..clients {
            let (target, member, skus) = (target.clone(), member.clone(), skus.clone());
            tasks.spawn(async move {
                let mut seed = client as u64 * 7919 + 1;
                let mut latencies = Vec::new();
                let mut failed = 0_usize;
                let mut n = 0_u64;
                while Instant::now() < deadline {
                    n += 1;
                    let body = json!({ "delivery_method": "pickup", "payment_method": "cash_on_delivery",
                        "lines": lines(&skus, 5, &mut seed) });
                    let start = Instant::now();
                    let response = target
                        .client
                        .post(target.url("/api/v1/orders"))
                        .bearer_auth(&member)
                        .header(
                            "idempotency-key",
                            idempotency_key(&format!("load-{clients}-{client}-{n}")),
                        )
                        .json(&body)
                        .send()
                        .await;
                    let ok = match response {
                        Ok(response) => {
                            let ok = response.status().as_u16() == 201;
                            let _ = response.bytes().await;
                            ok
                        }
                        Err(_) => false,
                    };
                    if ok {
                        latencies.push(start.elapsed());
                    } else {
                        failed += 1;
                    }
                }
                (latencies, failed)
            });
        }
        let mut all = Vec::new();
        let mut failed = 0;
        while let Some(result) = tasks.join_next().await {
            let (latencies, f) = result?;
            all.extend(latencies);
            failed += f;
        }
        let elapsed = started.elapsed().as_secs_f64();
        all.sort();
        let placed = all.len();
        println!(
            "checkout, 5 lines, {clients:>3} clients: {:>6.0} orders/s, {:.2}% succeeded, p50 {:.1} ms, p99 {:.1} ms",
            placed as f64 / elapsed,
            100.0 * placed as f64 / (placed + failed).max(1) as f64,
            percentile_ms(&all, 0.5),
            percentile_ms(&all, 0.99),
        );
    }
    Ok(())
}
