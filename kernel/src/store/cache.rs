//! Copies of what nearly every request reads: the session behind a token, products with
//! their SKUs, prices and pictures, and the plugins' stored values as their hooks scan them
//! (a flash sale's sales, read by every quote and checkout; the settings keep their own
//! one-second copy). They are
//! kept correct, not merely fresh enough: every write that changes one of them reports a
//! `Change` after it commits, which clears this instance's copy at once and, on PostgreSQL,
//! tells every other instance sharing the database (`NOTIFY pifa_cache`, one listener per
//! instance). An SQLite file belongs to one process, so the local clear is all it needs. A
//! listener that loses its connection may have missed messages, so it clears everything.
//!
//! A read that raced a write must not put the old value back: a reader notes the generation
//! before it reads the database, and stores what it read only if no change arrived meanwhile.
//! Stock moves with every order, so checkout patches the cached stock in place instead of
//! dropping the product: each stock change carries the SKU's `stock_seq` from the statement
//! that made it, and a patch applies only over an older one. Patches, stores and drops of
//! products happen under one lock, so none of them can put back what another replaced.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::accounts::sessions::SessionOwner;
use crate::catalog::Product;

use super::{Db, Store};

/// The PostgreSQL channel instances tell each other about changes on.
const CHANNEL: &str = "pifa_cache";

/// What a committed write changed, as far as the caches care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Sessions, roles, regions or a member's standing: who a token stands for.
    Accounts,
    /// One product: its fields, SKUs, stock, prices or pictures.
    Product(i64),
    /// The stock of these products (checkout, cancellation, closing).
    Stock(Vec<i64>),
    /// Products in bulk (an import, a unit many products share).
    Catalogue,
    /// The shop settings.
    Settings,
    /// A plugin's stored values (not its counters, which move with orders and are never
    /// kept).
    PluginValues,
    /// Anything (a restore).
    Everything,
}

impl Change {
    fn encode(&self) -> String {
        match self {
            Change::Accounts => "accounts".to_owned(),
            Change::Product(id) => format!("product:{id}"),
            Change::Stock(ids) => format!(
                "stock:{}",
                ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
            ),
            Change::Catalogue => "catalogue".to_owned(),
            Change::Settings => "settings".to_owned(),
            Change::PluginValues => "plugin_values".to_owned(),
            Change::Everything => "everything".to_owned(),
        }
    }

    /// Unknown text (a newer instance's message) is treated as `Everything`: clearing too much
    /// is only slower, keeping too much would be wrong.
    fn decode(text: &str) -> Change {
        match text {
            "accounts" => Change::Accounts,
            "catalogue" => Change::Catalogue,
            "settings" => Change::Settings,
            "plugin_values" => Change::PluginValues,
            _ if text.starts_with("stock:") => text
                .strip_prefix("stock:")
                .and_then(|ids| ids.split(',').map(|id| id.parse().ok()).collect())
                .map_or(Change::Everything, Change::Stock),
            _ => text
                .strip_prefix("product:")
                .and_then(|id| id.parse().ok())
                .map_or(Change::Everything, Change::Product),
        }
    }
}

/// A SKU's stock as a committed statement left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockLevel {
    pub product_id: i64,
    pub sku_id: i64,
    pub stock: i64,
    /// `skus.stock_seq` after the change.
    pub seq: i64,
}

/// A plugin's scan: plugin, prefix, the key it starts after, the most rows.
pub(crate) type PluginScan = (String, String, Option<String>, u32);

/// What a plugin's scan found: keys and values in key order.
pub type ScanRows = Arc<Vec<(String, Vec<u8>)>>;

pub(crate) struct Caches {
    pub(crate) settings: std::sync::Mutex<Option<(std::time::Instant, crate::settings::Settings)>>,
    /// By token hash.
    sessions: moka::sync::Cache<String, Arc<SessionOwner>>,
    products: moka::sync::Cache<i64, Arc<Product>>,
    /// SKU id → product id; a SKU never moves, so only a restore clears it.
    sku_products: moka::sync::Cache<i64, i64>,
    plugin_scans: moka::sync::Cache<PluginScan, ScanRows>,
    /// Moves on every change; see the module comment.
    generation: AtomicU64,
    /// Moves on every change of plugin values: stock moves with every order and would keep a
    /// scan from ever being kept under `generation`.
    plugin_generation: AtomicU64,
    /// Held while products are stored, patched or dropped.
    product_writes: std::sync::Mutex<()>,
}

impl Default for Caches {
    fn default() -> Self {
        Caches {
            settings: Default::default(),
            sessions: moka::sync::Cache::new(100_000),
            products: moka::sync::Cache::new(50_000),
            sku_products: moka::sync::Cache::new(500_000),
            plugin_scans: moka::sync::Cache::new(10_000),
            generation: AtomicU64::new(0),
            plugin_generation: AtomicU64::new(0),
            product_writes: std::sync::Mutex::new(()),
        }
    }
}

impl Caches {
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn apply(&self, change: &Change) {
        let _writing = self.product_writes.lock();
        self.generation.fetch_add(1, Ordering::SeqCst);
        match change {
            Change::Accounts => self.sessions.invalidate_all(),
            Change::Product(id) => self.products.invalidate(id),
            Change::Stock(ids) => {
                for id in ids {
                    self.products.invalidate(id);
                }
            }
            Change::Catalogue => self.products.invalidate_all(),
            Change::Settings => self.clear_settings(),
            Change::PluginValues => self.clear_plugin_scans(),
            Change::Everything => {
                self.clear_plugin_scans();
                self.sessions.invalidate_all();
                self.products.invalidate_all();
                self.sku_products.invalidate_all();
                self.clear_settings();
            }
        }
    }

    fn clear_plugin_scans(&self) {
        self.plugin_generation.fetch_add(1, Ordering::SeqCst);
        self.plugin_scans.invalidate_all();
    }

    pub(crate) fn plugin_generation(&self) -> u64 {
        self.plugin_generation.load(Ordering::SeqCst)
    }

    pub(crate) fn plugin_scan(&self, scan: &PluginScan) -> Option<ScanRows> {
        self.plugin_scans.get(scan)
    }

    /// Keeps what `scan` read from the database after `generation` was taken, unless plugin
    /// values changed since.
    pub(crate) fn remember_plugin_scan(&self, scan: PluginScan, rows: ScanRows, generation: u64) {
        self.plugin_scans.insert(scan.clone(), rows);
        if self.plugin_generation() != generation {
            self.plugin_scans.invalidate(&scan);
        }
    }

    fn clear_settings(&self) {
        if let Ok(mut cached) = self.settings.lock() {
            *cached = None;
        }
    }

    pub(crate) fn session(&self, token_hash: &str) -> Option<Arc<SessionOwner>> {
        self.sessions.get(token_hash)
    }

    /// Keeps `owner`, read from the database after `generation` was taken.
    pub(crate) fn remember_session(
        &self,
        token_hash: String,
        owner: Arc<SessionOwner>,
        generation: u64,
    ) {
        self.sessions.insert(token_hash.clone(), owner);
        if self.generation() != generation {
            self.sessions.invalidate(&token_hash);
        }
    }

    pub(crate) fn sku_product(&self, sku_id: i64) -> Option<i64> {
        self.sku_products.get(&sku_id)
    }

    pub(crate) fn remember_sku_product(&self, sku_id: i64, product_id: i64) {
        self.sku_products.insert(sku_id, product_id);
    }

    pub(crate) fn product(&self, id: i64) -> Option<Arc<Product>> {
        self.products.get(&id)
    }

    /// Keeps `product`, read from the database after `generation` was taken, unless a change
    /// arrived since.
    pub(crate) fn remember_product(&self, product: Arc<Product>, generation: u64) {
        let _writing = self.product_writes.lock();
        if self.generation() == generation {
            self.products.insert(product.id, product);
        }
    }

    /// Applies committed stock levels to the cached products they are newer than.
    fn patch_stock(&self, levels: &[StockLevel]) {
        let _writing = self.product_writes.lock();
        self.generation.fetch_add(1, Ordering::SeqCst);
        let mut product_ids: Vec<i64> = levels.iter().map(|l| l.product_id).collect();
        product_ids.sort_unstable();
        product_ids.dedup();
        for product_id in product_ids {
            let Some(cached) = self.products.get(&product_id) else {
                continue;
            };
            let mut copy = Product::clone(&cached);
            let mut moved = false;
            for level in levels.iter().filter(|l| l.product_id == product_id) {
                if let Some(sku) = copy.skus.iter_mut().find(|s| s.id == level.sku_id)
                    && level.seq > sku.stock_seq
                {
                    sku.stock = level.stock;
                    sku.stock_seq = level.seq;
                    moved = true;
                }
            }
            if moved {
                self.products.insert(product_id, Arc::new(copy));
            }
        }
    }
}

impl Store {
    /// Reports a committed write: this instance forgets its copies now, the others when the
    /// database passes the message on. Call it after the commit, never before.
    pub async fn changed(&self, change: Change) {
        self.caches.apply(&change);
        self.tell_other_instances(&change).await;
    }

    /// On PostgreSQL, tells the other instances sharing the database about a change.
    async fn tell_other_instances(&self, change: &Change) {
        if let Db::Postgres(pool) = &self.db {
            let sent = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(change.encode())
                .execute(pool)
                .await;
            if let Err(error) = sent {
                // The write stands; other instances catch up when their listener reconnects
                // (which clears everything) — worth a warning, not a failed request.
                tracing::warn!(%error, ?change, "could not tell other instances about a change");
            }
        }
    }

    /// Reports committed stock changes: this instance patches its copies in place (see the
    /// module comment); other instances drop theirs.
    pub async fn stock_moved(&self, levels: &[StockLevel]) {
        if levels.is_empty() {
            return;
        }
        self.caches.patch_stock(levels);
        let mut products: Vec<i64> = levels.iter().map(|l| l.product_id).collect();
        products.sort_unstable();
        products.dedup();
        self.tell_other_instances(&Change::Stock(products)).await;
    }

    /// Listens for other instances' changes (PostgreSQL; nothing to do for SQLite) until the
    /// store is dropped or the task aborted. Started once per process by the server.
    pub fn follow_changes(&self) -> Option<tokio::task::JoinHandle<()>> {
        let Db::Postgres(pool) = &self.db else {
            return None;
        };
        let pool = pool.clone();
        let caches = Arc::downgrade(&self.caches);
        Some(tokio::spawn(async move {
            loop {
                let listener = async {
                    let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await?;
                    listener.listen(CHANNEL).await?;
                    Ok::<_, sqlx::Error>(listener)
                };
                let mut listener = match listener.await {
                    Ok(listener) => listener,
                    Err(error) => {
                        tracing::warn!(%error, "cache listener could not connect; retrying");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                        continue;
                    }
                };
                // Whatever happened while we were not listening is unknown.
                match caches.upgrade() {
                    Some(caches) => caches.apply(&Change::Everything),
                    None => return,
                }
                loop {
                    // `try_recv` gives `None` when the connection dropped (it reconnects on
                    // the next call); messages sent in between are lost.
                    let received = tokio::time::timeout(
                        std::time::Duration::from_secs(5),
                        listener.try_recv(),
                    )
                    .await;
                    let Some(caches) = caches.upgrade() else {
                        return;
                    };
                    match received {
                        Err(_idle) => {}
                        Ok(Ok(Some(message))) => caches.apply(&Change::decode(message.payload())),
                        Ok(Ok(None)) => caches.apply(&Change::Everything),
                        Ok(Err(error)) => {
                            tracing::warn!(%error, "cache listener failed; reconnecting");
                            caches.apply(&Change::Everything);
                            break;
                        }
                    }
                }
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(stock: i64, seq: i64) -> Product {
        Product {
            id: 7,
            item_no: "AQM-001".to_owned(),
            name: "安全帽".to_owned(),
            description: String::new(),
            brand_id: None,
            category_id: None,
            supplier_id: None,
            unit: crate::catalog::Unit {
                id: 1,
                item_unit: "个".to_owned(),
                inner_qty: 10,
                inner_unit: "盒".to_owned(),
                outer_qty: 50,
                outer_unit: "箱".to_owned(),
            },
            on_shelf: true,
            images: vec![],
            tag_ids: vec![],
            revision: 0,
            skus: vec![crate::catalog::Sku {
                id: 70,
                product_id: 7,
                model: String::new(),
                spec: String::new(),
                price_fen: 2800,
                cost_fen: None,
                stock,
                stock_seq: seq,
                allow_backorder: false,
                low_stock_threshold: None,
                weight_g: None,
                barcode: None,
                attributes: Default::default(),
                level_prices: vec![],
                breaks: vec![],
            }],
        }
    }

    #[test]
    fn stock_patches_apply_only_over_older_ones() {
        let caches = Caches::default();
        caches.remember_product(Arc::new(product(100, 5)), caches.generation());
        let level = |stock, seq| StockLevel {
            product_id: 7,
            sku_id: 70,
            stock,
            seq,
        };
        let stock = |caches: &Caches| caches.product(7).map(|p| p.skus[0].stock);
        // A late patch from an earlier statement loses to what the cache already holds.
        caches.patch_stock(&[level(120, 4)]);
        assert_eq!(stock(&caches), Some(100));
        caches.patch_stock(&[level(90, 7)]);
        assert_eq!(stock(&caches), Some(90));
        caches.patch_stock(&[level(95, 6)]);
        assert_eq!(stock(&caches), Some(90), "seq 6 arrived after seq 7");
        // A reader that raced any change does not store what it read.
        let before = caches.generation();
        caches.patch_stock(&[level(80, 8)]);
        caches.apply(&Change::Product(7));
        caches.remember_product(Arc::new(product(100, 5)), before);
        assert_eq!(stock(&caches), None);
    }

    #[test]
    fn changes_survive_the_wire_and_unknown_ones_clear_everything() {
        for change in [
            Change::Accounts,
            Change::Product(42),
            Change::Stock(vec![1, 22, 333]),
            Change::Catalogue,
            Change::Settings,
            Change::PluginValues,
            Change::Everything,
        ] {
            assert_eq!(Change::decode(&change.encode()), change);
        }
        assert_eq!(Change::decode("product:x"), Change::Everything);
        assert_eq!(Change::decode("stock:1,x"), Change::Everything);
        assert_eq!(Change::decode("orders"), Change::Everything);
    }
}
