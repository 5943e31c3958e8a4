//! The database boundary. Each domain declares its handle on the store (`handle!`:
//! `store.orders()`, `store.catalog()` …) and writes its reads and writes as that handle's
//! methods next to its types; no sqlx row type leaves this crate's domain modules. Both backends run the same SQL text
//! (portable statements with `$N` placeholders): `on_pool!`/`in_tx!` expand one body per
//! backend, so sqlx stays monomorphic and nothing builds on its `Any` driver.

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, PgPool, SqlSafeStr, SqlitePool};

pub(crate) mod batch;
mod cache;
pub(crate) mod group_commit;

pub(crate) use cache::Caches;
pub use cache::{Change, Generation, Room, StockLevel};

/// Which database engine a `Store` talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub(crate) enum Db {
    /// Readers (and single-statement writes), and the one connection write transactions take
    /// turns on: SQLite has one writer at a time, and waiting for the pool is a fair queue,
    /// where waiting for the file lock is a busy loop of sleeps (100 ms tails under load).
    Sqlite {
        pool: SqlitePool,
        writer: SqlitePool,
        /// Checkout's way to the writer (see `store/group_commit.rs`).
        group_commit: group_commit::GroupCommit,
    },
    Postgres(PgPool),
}

/// The kernel's database: every read and write of domain data goes through its methods.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: Db,
    pub(crate) caches: std::sync::Arc<Caches>,
}

/// How long the settings' copy lives (see `settings`).
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(1);

/// Errors a storage method reports; handlers map them to API errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write; the name tells which (`users.phone` …).
    #[error("unique constraint violated: {0}")]
    Conflict(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Other(String),
}

impl StoreError {
    /// Turns a database error into `Conflict` when it is a unique violation, naming the
    /// constraint in a backend-neutral way (`table.column`).
    pub(crate) fn classify(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err
            && db.is_unique_violation()
        {
            let message = db.message().to_owned();
            let name = db
                .constraint()
                .map(pg_constraint_to_column)
                .unwrap_or_else(|| sqlite_unique_column(&message));
            return StoreError::Conflict(name);
        }
        StoreError::Db(err)
    }
}

/// PostgreSQL names unique constraints `<table>_<column>_key`.
fn pg_constraint_to_column(constraint: &str) -> String {
    let base = constraint.strip_suffix("_key").unwrap_or(constraint);
    match base.split_once('_') {
        Some((table, column)) => format!("{table}.{column}"),
        None => base.to_owned(),
    }
}

/// SQLite reports `UNIQUE constraint failed: users.phone`.
fn sqlite_unique_column(message: &str) -> String {
    message
        .rsplit(": ")
        .next()
        .unwrap_or(message)
        .split(", ")
        .next()
        .unwrap_or(message)
        .to_owned()
}

pub(crate) type StoreResult<T> = Result<T, StoreError>;

/// Declares a domain's part of the store: a handle borrowing the `Store` and the accessor that
/// hands it out (`store.orders()`, `store.catalog()` …). Each domain keeps its reads and writes
/// in its own `impl` of its handle, next to its types, so what the orders can do to the
/// database is listed under `store.orders()` instead of in one namespace of two hundred
/// methods; the store itself keeps only what every room shares (the pools, the caches,
/// migrations). The handle is `Copy` and its methods take it by value, so a future holds no
/// borrow of a temporary; it dereferences to the `Store` for the pools and the other rooms.
macro_rules! handle {
    ($(#[$doc:meta])* $vis:vis $name:ident, $accessor:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy)]
        $vis struct $name<'s>(&'s $crate::store::Store);

        impl $crate::store::Store {
            $(#[$doc])*
            $vis fn $accessor(&self) -> $name<'_> {
                $name(self)
            }
        }

        impl std::ops::Deref for $name<'_> {
            type Target = $crate::store::Store;
            fn deref(&self) -> &$crate::store::Store {
                self.0
            }
        }
    };
}
pub(crate) use handle;

/// Runs `$body` with `$pool` bound to the concrete pool of the store's backend.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.db {
            $crate::store::Db::Sqlite { pool: $pool, .. } => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Runs `$body` inside one write transaction (`BEGIN IMMEDIATE` on SQLite, so the write lock
/// is taken up front instead of failing on upgrade) and commits it when the body returns `Ok`.
macro_rules! in_tx {
    ($store:expr, |$tx:ident| $body:expr) => {
        match &$store.db {
            $crate::store::Db::Sqlite { writer, .. } => {
                let mut $tx = writer.begin_with("BEGIN IMMEDIATE").await?;
                let result = $body;
                if result.is_ok() {
                    $tx.commit().await?;
                }
                result
            }
            $crate::store::Db::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                let result = $body;
                if result.is_ok() {
                    $tx.commit().await?;
                }
                result
            }
        }
    };
}
pub(crate) use in_tx;

/// One migration per version, the same version and name for both dialects (a missing twin
/// fails the build).
macro_rules! migrations {
    ($($version:literal => $name:literal),* $(,)?) => {
        fn migration_sources(backend: Backend) -> Vec<(i64, &'static str, &'static str)> {
            match backend {
                Backend::Sqlite => vec![$(($version, $name, include_str!(concat!("../../migrations/sqlite/", $name, ".sql")))),*],
                Backend::Postgres => vec![$(($version, $name, include_str!(concat!("../../migrations/postgres/", $name, ".sql")))),*],
            }
        }
        /// Migration file names, in order, as compiled into the binary.
        pub const MIGRATION_NAMES: &[&str] = &[$($name),*];
    };
}

migrations! {
    1 => "0001_foundation",
    2 => "0002_catalogue",
    3 => "0003_member_profiles",
    4 => "0004_search",
    5 => "0005_relations",
    6 => "0006_product_images",
    7 => "0007_catalogue_library",
    8 => "0008_search_name_class",
    9 => "0009_search_on_shelf",
    10 => "0010_orders",
    11 => "0011_fulfilment",
    12 => "0012_pickup",
    13 => "0013_after_sales",
    14 => "0014_reviews",
    15 => "0015_split_shipments",
    16 => "0016_plugins",
    17 => "0017_script_versions",
    18 => "0018_notifications",
    19 => "0019_pricing_inputs",
    20 => "0020_profile_changes",
    21 => "0021_sign_in_throttling",
    22 => "0022_plugin_kv_usage",
    23 => "0023_plugin_event_retries",
    24 => "0024_plugin_time",
    25 => "0025_marketing_plugins",
}

fn migrator(backend: Backend) -> Migrator {
    let migrations = migration_sources(backend)
        .into_iter()
        .map(|(version, name, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(name),
                MigrationType::Simple,
                AssertSqlSafe(sql).into_sql_str(),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

/// Tables holding domain data, parents before children: the order backups are written and
/// restored in. Sessions, codes and rate-limit counters are deliberately absent: they are
/// secrets or ephemera, and a restored database starts with everyone signed out.
pub const DATA_TABLES: &[&str] = &[
    "regions",
    "users",
    "user_roles",
    "user_regions",
    "member_levels",
    "members",
    "uploads",
    "addresses",
    "promoter_managers",
    "binding_history",
    "tags",
    "member_tags",
    "categories",
    "brands",
    "unit_forms",
    "units",
    "spec_attributes",
    "product_tags",
    "products",
    "product_tag_links",
    "product_images",
    "skus",
    "sku_level_prices",
    "sku_price_breaks",
    "cart_items",
    "pickup_points",
    "pickup_verifiers",
    "orders",
    "order_lines",
    "order_adjustments",
    "order_pricing_inputs",
    "order_history",
    "order_payments",
    "delivery_photos",
    "after_sales",
    "after_sale_photos",
    "refunds",
    "reviews",
    "review_photos",
    "events",
    "order_reservations",
    "plugin_kv",
    "plugin_deliveries",
    "plugin_cursors",
    "plugin_stats",
    "script_versions",
    "idempotency_keys",
    "login_log",
    "operation_log",
    "outbox_messages",
    "user_identities",
    "broadcasts",
    "settings",
];

/// Tables a restore empties without refilling.
pub const EPHEMERAL_TABLES: &[&str] = &["sessions", "verification_codes", "rate_limits"];

/// One page of a list, and how many items the whole list holds: lists answer the page as
/// their body and the count in `X-Total-Count`.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: i64,
}

/// A page reads as the list of its items.
impl<T> std::ops::Deref for Page<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.items
    }
}

impl<T> IntoIterator for Page<T> {
    type Item = T;
    type IntoIter = std::vec::IntoIter<T>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
        }
    }
}

/// The SQL a paged list adds to its select list: the count of every row its filter selects,
/// before `LIMIT`, in the same statement.
pub(crate) const TOTAL_COLUMN: &str = ", COUNT(*) OVER () AS total";

/// Reads one page with `rows(limit, offset)`, whose statement selects `TOTAL_COLUMN` last,
/// and splits its rows into the items and the total. A page past the end has no row to carry
/// the count: the first row is read for it then.
pub(crate) async fn paged<T, F, Fut>(limit: i64, offset: i64, rows: F) -> StoreResult<Page<T>>
where
    F: Fn(i64, i64) -> Fut,
    Fut: std::future::Future<Output = StoreResult<Vec<(T, i64)>>>,
{
    let found = rows(limit, offset).await?;
    let total = match found.first() {
        Some((_, total)) => *total,
        None if offset > 0 => rows(1, 0).await?.first().map_or(0, |(_, total)| *total),
        None => 0,
    };
    Ok(Page {
        items: found.into_iter().map(|(item, _)| item).collect(),
        total,
    })
}

/// Appends a parenthesised list of bound ids: `(1, 2, 3)`. An empty list becomes `(-1)`: it
/// must match nothing, and `IN ()` is not valid SQL.
pub(crate) fn push_id_list<DB: sqlx::Database>(
    query: &mut sqlx::QueryBuilder<DB>,
    ids: impl IntoIterator<Item = i64>,
) where
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut ids = ids.into_iter().peekable();
    query.push("(");
    if ids.peek().is_none() {
        query.push_bind(-1_i64);
    }
    let mut list = query.separated(", ");
    for id in ids {
        list.push_bind(id);
    }
    query.push(")");
}

/// `head` (ending in `IN `) followed by the bound ids.
pub(crate) fn id_list_query<DB: sqlx::Database>(head: &str, ids: &[i64]) -> sqlx::QueryBuilder<DB>
where
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    DB::Arguments: Default,
{
    let mut query = sqlx::QueryBuilder::new(head);
    push_id_list(&mut query, ids.iter().copied());
    query
}

impl Store {
    /// Opens the database named by `url` (`sqlite://…` or `postgres://…`) and applies
    /// pending migrations.
    pub async fn open(url: &str) -> StoreResult<Store> {
        let store = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // Index scans priced for solid-state storage: with the default (4.0, spinning
            // disks) the planner reads every search vector instead of the GIN index.
            let options = PgConnectOptions::from_str(url)?.options([("random_page_cost", "1.1")]);
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            Store {
                db: Db::Postgres(pool),
                caches: Default::default(),
            }
        } else if url.starts_with("sqlite:") {
            // WAL with synchronous=NORMAL survives a killed process (every committed
            // transaction is in the WAL) but may lose the last transactions on power loss.
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                // Savepoint journals (one per checkout in a group commit) and sorts stay in
                // memory instead of temporary files.
                .pragma("temp_store", "memory")
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .test_before_acquire(false)
                .connect_with(options.clone())
                .await?;
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options)
                .await?;
            Store {
                db: Db::Sqlite {
                    group_commit: group_commit::GroupCommit::start(writer.clone()).map_err(
                        |e| {
                            StoreError::Other(format!(
                                "the checkout group commit did not start: {e}"
                            ))
                        },
                    )?,
                    pool,
                    writer,
                },
                caches: Default::default(),
            }
        } else {
            return Err(StoreError::Other(format!(
                "unsupported database URL scheme (expected sqlite: or postgres://): {}",
                url.split(':').next().unwrap_or_default()
            )));
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Opens (creating if needed) the SQLite database file inside `data_dir`.
    pub async fn open_sqlite_in(data_dir: &Path) -> StoreResult<Store> {
        let path = data_dir.join("pifa.db");
        Store::open(&format!("sqlite://{}", path.display())).await
    }

    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite { .. } => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    async fn migrate(&self) -> StoreResult<()> {
        let migrator = migrator(self.backend());
        on_pool!(self, |pool| migrator.run(pool).await)?;
        Ok(())
    }

    /// The migration versions applied to this database, ascending.
    pub async fn applied_migrations(&self) -> StoreResult<Vec<i64>> {
        let sql = "SELECT version FROM _sqlx_migrations WHERE success = TRUE ORDER BY version";
        Ok(on_pool!(self, |pool| sqlx::query_scalar(sql)
            .fetch_all(pool)
            .await)?)
    }

    /// Cheap liveness probe for `/healthz`.
    pub async fn ping(&self) -> StoreResult<()> {
        let _: i32 = on_pool!(self, |pool| sqlx::query_scalar("SELECT 1")
            .fetch_one(pool)
            .await)?;
        Ok(())
    }

    /// Row count of one of the known tables (tests and backups use it to show nothing was
    /// written or lost).
    pub async fn count_rows(&self, table: &str) -> StoreResult<i64> {
        if !DATA_TABLES.contains(&table) && !EPHEMERAL_TABLES.contains(&table) {
            return Err(StoreError::Other(format!("unknown table {table}")));
        }
        let sql = format!("SELECT COUNT(*) FROM {table}");
        Ok(on_pool!(self, |pool| {
            sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.clone()))
                .fetch_one(pool)
                .await
        })?)
    }

    /// True when no user exists yet: the demo loader fills only such a database.
    pub async fn is_empty(&self) -> StoreResult<bool> {
        Ok(self.count_rows("users").await? == 0 && self.count_rows("regions").await? == 0)
    }

    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite { pool, writer, .. } => {
                writer.close().await;
                pool.close().await;
            }
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_violations_name_the_column_on_both_backends() {
        assert_eq!(pg_constraint_to_column("users_phone_key"), "users.phone");
        assert_eq!(
            sqlite_unique_column("UNIQUE constraint failed: users.phone"),
            "users.phone"
        );
    }
}
