//! Copies of what nearly every request reads, each kept by its own domain in a *room* of the
//! store (`Store::room`): the session behind a token (`accounts::sessions`), products with
//! their SKUs, prices and pictures (`catalog::storage`), the settings (a one-second copy,
//! `settings`), and the plugins' stored keys as their hooks read and scan them (`plugins::kv`). This
//! module knows none of their types; it keeps the rooms, the generation and the changes. The
//! copies are kept correct, not merely fresh enough: every write that changes one of them reports a
//! `Change` after it commits, which clears this instance's copy at once and, on PostgreSQL,
//! tells every other instance sharing the database (`NOTIFY pifa_cache`, one listener per
//! instance). An SQLite file belongs to one process, so the local clear is all it needs. A
//! listener that loses its connection may have missed messages, so it clears everything.
//!
//! A read that raced a write must not put the old value back: a reader notes the generation
//! before it reads the database, and stores what it read only if no change arrived meanwhile.
//! Stock moves with every order, so checkout has the products' room patch the cached stock in
//! place instead of dropping the product (`Room::stock_moved`): each stock change carries the
//! SKU's `stock_seq` from the statement that made it, and a patch applies only over an older
//! one.

use std::any::{Any, TypeId};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

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
    /// What the shelf is filed and searched by: categories, brands, the search index.
    Library,
    /// The shop settings.
    Settings,
    /// A plugin's stored values (the plugin named).
    PluginValues(String),
    /// Plugins' counters moved (plugin, key): a checkout's reservations, a hook's adds.
    PluginCounters(Vec<(String, String)>),
    /// A user's inbox got a message or had messages read (`None`: several users').
    Inbox(Option<i64>),
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
            Change::Library => "library".to_owned(),
            Change::Settings => "settings".to_owned(),
            Change::PluginValues(plugin) => format!("plugin_values:{plugin}"),
            // JSON: a key may hold any character. Too long for a NOTIFY (8,000 bytes), the
            // plugins' values say it: their keys all go.
            Change::PluginCounters(keys) => match serde_json::to_string(keys) {
                Ok(json) if json.len() <= 7_000 => format!("plugin_counters:{json}"),
                _ => "everything".to_owned(),
            },
            Change::Inbox(None) => "inbox".to_owned(),
            Change::Inbox(Some(user_id)) => format!("inbox:{user_id}"),
            Change::Everything => "everything".to_owned(),
        }
    }

    /// Unknown text (a newer instance's message) is treated as `Everything`: clearing too much
    /// is only slower, keeping too much would be wrong.
    fn decode(text: &str) -> Change {
        match text {
            "accounts" => Change::Accounts,
            "catalogue" => Change::Catalogue,
            "library" => Change::Library,
            "settings" => Change::Settings,
            _ if text.starts_with("plugin_values:") => text
                .strip_prefix("plugin_values:")
                .map_or(Change::Everything, |plugin| {
                    Change::PluginValues(plugin.to_owned())
                }),
            _ if text.starts_with("plugin_counters:") => text
                .strip_prefix("plugin_counters:")
                .and_then(|json| serde_json::from_str(json).ok())
                .map_or(Change::Everything, Change::PluginCounters),
            "inbox" => Change::Inbox(None),
            _ if text.starts_with("inbox:") => text
                .strip_prefix("inbox:")
                .and_then(|id| id.parse().ok())
                .map_or(Change::Everything, |id| Change::Inbox(Some(id))),
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
    pub product_id: crate::ids::ProductId,
    pub sku_id: crate::ids::SkuId,
    pub stock: i64,
    /// `skus.stock_seq` after the change.
    pub seq: i64,
}

/// A domain's copies, kept in the store and told of every change after its commit.
pub trait Room: Send + Sync + 'static {
    /// Forgets what `change` made stale.
    fn apply(&self, change: &Change);
    /// Applies committed stock levels to the copies they are newer than (the products'
    /// room); other rooms keep no stock.
    fn stock_moved(&self, _levels: &[StockLevel]) {}
}

/// Moves on every change: a reader notes it before reading the database and stores what it
/// read only if it has not moved (see the module comment).
#[derive(Debug, Default)]
pub struct Generation(AtomicU64);

impl Generation {
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    pub fn advance(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    /// Keeps `value`, read from the database when the generation was `read_at`, in `cache`,
    /// and takes it out again if a change arrived meanwhile: a change moves the generation
    /// before it clears, so either its clear or this check sees the race.
    pub fn keep<K, V>(&self, cache: &moka::sync::Cache<K, V>, key: K, value: V, read_at: u64)
    where
        K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        cache.insert(key.clone(), value);
        if self.current() != read_at {
            cache.invalidate(&key);
        }
    }
}

struct Entry {
    id: TypeId,
    any: Arc<dyn Any + Send + Sync>,
    room: Arc<dyn Room>,
}

#[derive(Default)]
pub(crate) struct Caches {
    generation: Generation,
    /// A handful (one per domain that keeps copies), looked up by type.
    rooms: RwLock<Vec<Entry>>,
}

impl Caches {
    fn apply(&self, change: &Change) {
        self.tell_rooms(|room| room.apply(change));
    }

    fn stock_moved(&self, levels: &[StockLevel]) {
        self.tell_rooms(|room| room.stock_moved(levels));
    }

    /// Moves the generation, then tells every room: a reader that read before the change
    /// finds the generation moved and does not store what it read.
    fn tell_rooms(&self, tell: impl Fn(&dyn Room)) {
        self.generation.advance();
        let rooms = self.rooms.read().unwrap_or_else(PoisonError::into_inner);
        for entry in rooms.iter() {
            tell(entry.room.as_ref());
        }
    }

    fn room<R: Room + Default>(&self) -> Arc<R> {
        let id = TypeId::of::<R>();
        let find = |rooms: &[Entry]| {
            rooms
                .iter()
                .find(|entry| entry.id == id)
                .and_then(|entry| Arc::clone(&entry.any).downcast::<R>().ok())
        };
        if let Some(room) = find(&self.rooms.read().unwrap_or_else(PoisonError::into_inner)) {
            return room;
        }
        let mut rooms = self.rooms.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(room) = find(&rooms) {
            return room;
        }
        let room = Arc::new(R::default());
        rooms.push(Entry {
            id,
            any: room.clone(),
            room: room.clone(),
        });
        room
    }
}

impl Store {
    /// This store's room of type `R`, made empty on first use: where a domain keeps its
    /// copies (see the module comment).
    pub fn room<R: Room + Default>(&self) -> Arc<R> {
        self.caches.room()
    }

    /// The caches' generation (see `Generation`).
    pub fn generation(&self) -> &Generation {
        &self.caches.generation
    }

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
        self.caches.stock_moved(levels);
        let mut products: Vec<i64> = levels.iter().map(|l| l.product_id.get()).collect();
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

    #[derive(Default)]
    struct Counter(std::sync::Mutex<Vec<Change>>);

    impl Room for Counter {
        fn apply(&self, change: &Change) {
            self.0.lock().unwrap().push(change.clone());
        }
    }

    #[test]
    fn a_room_is_made_once_and_hears_every_change() {
        let caches = Caches::default();
        let room: Arc<Counter> = caches.room();
        assert!(Arc::ptr_eq(&room, &caches.room::<Counter>()));
        let before = caches.generation.current();
        caches.apply(&Change::Settings);
        caches.stock_moved(&[]);
        assert_eq!(caches.generation.current(), before + 2);
        assert_eq!(*room.0.lock().unwrap(), [Change::Settings]);
    }

    #[test]
    fn changes_survive_the_wire_and_unknown_ones_clear_everything() {
        for change in [
            Change::Accounts,
            Change::Product(42),
            Change::Stock(vec![1, 22, 333]),
            Change::Catalogue,
            Change::Settings,
            Change::PluginValues("flash-sale".to_owned()),
            Change::PluginCounters(vec![("points".to_owned(), "balance:7".to_owned())]),
            Change::Library,
            Change::Inbox(None),
            Change::Inbox(Some(7)),
            Change::Everything,
        ] {
            assert_eq!(Change::decode(&change.encode()), change);
        }
        assert_eq!(Change::decode("product:x"), Change::Everything);
        assert_eq!(Change::decode("stock:1,x"), Change::Everything);
        assert_eq!(Change::decode("orders"), Change::Everything);
        assert_eq!(Change::decode("inbox:x"), Change::Everything);
        assert_eq!(Change::decode("plugin_counters:[1]"), Change::Everything);
    }
}
