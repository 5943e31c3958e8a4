//! What the load generators (`src/bin/*_load.rs`) share: a running server reached over
//! loopback, signing in as the demo accounts, the admin's stock raise (so refusals measure the
//! system, not the shelf) and percentiles.

use std::time::Duration;

use anyhow::anyhow;
use serde_json::{Value, json};

/// The demo accounts the generators act as (see `pifa::demo`).
pub const MEMBER: &str = "13900000001";
pub const ADMIN: &str = "13800000001";
pub const MANAGER: &str = "13800000011";
pub const DRIVER: &str = "13800000031";

/// An idempotency key no earlier run against the same database used: a repeated key is
/// answered with the order it first made (a replay), which would measure the replay, not a
/// checkout.
pub fn idempotency_key(what: &str) -> String {
    static RUN: std::sync::OnceLock<u128> = std::sync::OnceLock::new();
    let run = RUN.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    });
    format!("{run:x}-{what}")
}

/// A server under load.
pub struct Target {
    pub base: String,
    pub client: reqwest::Client,
}

impl Target {
    /// The server at the first command-line argument, or `default`.
    pub fn from_args(default: &str) -> anyhow::Result<Target> {
        Ok(Target {
            base: std::env::args()
                .nth(1)
                .unwrap_or_else(|| default.to_owned()),
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .build()?,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A demo account's bearer token.
    pub async fn login(&self, phone: &str) -> anyhow::Result<String> {
        let body: Value = self
            .client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({ "phone": phone, "password": pifa::demo::DEMO_PASSWORD }))
            .send()
            .await?
            .json()
            .await?;
        body["token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("login {phone}: {body}"))
    }

    pub async fn get(&self, path: &str, token: &str) -> anyhow::Result<Value> {
        Ok(self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?)
    }

    /// Posts JSON; anything but a 2xx is an error with the body.
    pub async fn post(&self, path: &str, token: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await?;
        let status = response.status();
        let value: Value = response.json().await?;
        anyhow::ensure!(status.is_success(), "{path}: {status}: {value}");
        Ok(value)
    }

    /// Raises every SKU of product `product_id` to a stock no run exhausts (as the admin);
    /// returns the SKU ids and the product's pack size.
    pub async fn raise_stock(
        &self,
        admin: &str,
        product_id: i64,
    ) -> anyhow::Result<Vec<(i64, i64)>> {
        let full = self
            .get(&format!("/api/v1/admin/products/{product_id}"), admin)
            .await?;
        let pack = full["unit"]["inner_qty"].as_i64().unwrap_or(1).max(1);
        let mut skus = Vec::new();
        for sku in full["skus"].as_array().cloned().unwrap_or_default() {
            let sku_id = sku["id"].as_i64().unwrap_or_default();
            let mut input = sku;
            if let Some(fields) = input.as_object_mut() {
                fields.remove("id");
                fields.remove("product_id");
                fields.insert("stock".to_owned(), json!(100_000_000));
            }
            let response = self
                .client
                .put(self.url(&format!("/api/v1/admin/skus/{sku_id}")))
                .bearer_auth(admin)
                .json(&input)
                .send()
                .await?;
            anyhow::ensure!(
                response.status().is_success(),
                "raising stock of SKU {sku_id}: {}",
                response.text().await?
            );
            skus.push((sku_id, pack));
        }
        Ok(skus)
    }
}

/// The `p` quantile of sorted latencies, in milliseconds.
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((sorted.len().saturating_sub(1)) as f64 * p).round() as usize;
    sorted
        .get(rank)
        .copied()
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
        * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert!((percentile_ms(&sorted, 0.5) - 51.0).abs() < 1e-9);
        assert!((percentile_ms(&sorted, 0.99) - 99.0).abs() < 1e-9);
        assert!(percentile_ms(&[], 0.99).abs() < 1e-9);
    }
}
