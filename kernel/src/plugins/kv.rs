//! A plugin's key-value namespace (`pifa:plugin/kv`). Hooks see it through a `KvView`:
//! read-only in `quote` and `checkout`; buffered in the other hooks, where the hook reads its
//! own writes and the kernel commits them in one transaction with the event's delivery record
//! or the request (`store.plugins().commit_plugin_writes`). Counter changes stay bounded at commit, so a
//! concurrent writer can make a commit fail but never push a counter out of its bounds.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::store::batch::{Batch, RunBatch, args};
use crate::store::{Change, Store, StoreError, StoreResult, in_tx, on_pool};

/// Where a namespace lives: the kernel's database, or memory (`pifa plugins run`, fixtures).
#[derive(Clone)]
pub enum KvBackend {
    Db(Store),
    Memory(Arc<Mutex<MemoryKv>>),
}

/// An in-memory namespace: per key, the bytes and the counter.
#[derive(Debug, Default, Clone)]
pub struct MemoryKv {
    pub entries: BTreeMap<String, (Option<Vec<u8>>, i64)>,
}

/// A buffered change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvWrite {
    Put(Vec<u8>),
    Delete,
}

/// A buffered bounded increment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterAdd {
    pub key: String,
    pub delta: i64,
    pub min: i64,
    pub max: i64,
}

/// An event a plugin emitted (`pifa:plugin/emit`), written to the outbox with its writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emitted {
    /// `plugin.<name>.<kind>`.
    pub kind: String,
    /// A JSON object.
    pub payload: String,
    pub at_ms: i64,
}

/// What a hook wrote, to be committed by the kernel.
#[derive(Debug, Default, Clone)]
pub struct KvWrites {
    pub values: BTreeMap<String, KvWrite>,
    pub counters: Vec<CounterAdd>,
    /// Events for the outbox, in the order emitted; each counts as a write and its kind and
    /// payload as bytes.
    pub events: Vec<Emitted>,
    /// Bytes of keys and values the commit will write: each buffered value's key and bytes
    /// (a key written twice counts once, at its last value), each counter change's key.
    bytes: u64,
}

impl KvWrites {
    pub fn is_empty(&self) -> bool {
        self.values.is_empty() && self.counters.is_empty() && self.events.is_empty()
    }

    /// Writes counted against `quota.kv_writes_per_call`: each key put or deleted (once,
    /// however often), each counter change (each is its own bounded update at commit) and
    /// each event emitted.
    pub fn writes(&self) -> u64 {
        (self.values.len() + self.counters.len() + self.events.len()) as u64
    }

    /// Bytes counted against `quota.kv_write_bytes_per_call`.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Whether this call only deletes: such a commit can only shrink the namespace, so it is
    /// allowed even above the plugin's quota (which may have been lowered under its use).
    fn only_deletes(&self) -> bool {
        self.counters.is_empty()
            && self.events.is_empty()
            && self.values.values().all(|w| *w == KvWrite::Delete)
    }
}

fn write_bytes(key: &str, write: &KvWrite) -> u64 {
    let value = match write {
        KvWrite::Put(bytes) => bytes.len(),
        KvWrite::Delete => 0,
    };
    (key.len() + value) as u64
}

/// One call's share of `quota`: how many writes and bytes it may buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerCall {
    pub writes: u64,
    pub bytes: u64,
}

impl PerCall {
    pub fn of(quota: &super::config::Quota) -> PerCall {
        PerCall {
            writes: quota.kv_writes_per_call,
            bytes: quota.kv_write_bytes_per_call,
        }
    }
}

/// What a plugin's namespace may hold in all (`quota.kv_keys`, `quota.kv_bytes`), checked when
/// its writes commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Total {
    pub keys: u64,
    pub bytes: u64,
}

impl Total {
    pub fn of(quota: &super::config::Quota) -> Total {
        Total {
            keys: quota.kv_keys,
            bytes: quota.kv_bytes,
        }
    }
}

/// A plugin's namespace as `plugin_kv_usage` counts it: its keys, and the bytes of its keys
/// and values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Usage {
    pub keys: i64,
    pub bytes: i64,
}

/// Keys and values are bounded so one plugin cannot fill the database through one call.
pub const MAX_KEY_BYTES: usize = 256;
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// An emitted event's payload; its kind (after `plugin.<name>.`) is at most 64 bytes.
pub const MAX_EVENT_BYTES: usize = 16 * 1024;
const MAX_EVENT_KIND: usize = 64;
const MAX_SCAN: u32 = 500;

/// Why a write is refused. The plugin reads the words (`kv.put` and the rest answer them as
/// their `Err`), so each names the limit it met.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error("key must be 1 to {MAX_KEY_BYTES} bytes")]
    Key,
    #[error("value must be at most {MAX_VALUE_BYTES} bytes")]
    Value,
    #[error("storage is read-only in quote and checkout (checkout returns reservations)")]
    ReadOnly,
    #[error("quota kv_writes_per_call ({0}) reached")]
    WritesPerCall(u64),
    #[error("quota kv_write_bytes_per_call ({0}) reached")]
    BytesPerCall(u64),
    /// Reading the counter a bounded update starts from.
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("kv lock poisoned")]
    Poisoned,
    #[error("counter {key} left its bounds")]
    CounterBounds { key: String },
    #[error("an event kind is 1 to {MAX_EVENT_KIND} of a-z, 0-9, _ and ., starting with a letter")]
    EventKind,
    #[error("an event's payload is a JSON object of at most {MAX_EVENT_BYTES} bytes")]
    EventPayload,
    #[error("events are emitted only in on-event, on-tick and handle-http")]
    EmitReadOnly,
}

/// Why a hook's writes did not commit (`store.plugins().commit_plugin_writes`); the transaction rolled
/// back, so nothing was written. Apart from the database failing, these are the plugin's
/// doing, not the kernel's: the callers count them as its failure or refuse its request.
#[derive(Debug, thiserror::Error)]
pub enum KvCommitError {
    /// The database failed; the kernel's trouble, not the plugin's.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The namespace would end above a total quota, and larger than before the commit. The
    /// plugin and the staff read the words (a failed delivery's reason, a route's 507).
    #[error(
        "quota {} ({limit}) reached: the commit would leave {would_hold} {}",
        quota.name(),
        quota.unit()
    )]
    OverQuota {
        quota: TotalQuota,
        limit: u64,
        would_hold: i64,
    },
    /// A counter change would leave its bounds: a concurrent writer moved the counter after
    /// the hook read it, so a retry may pass.
    #[error("a counter would leave its bounds (changed meanwhile)")]
    CounterBounds,
}

/// The statements of a commit are the store's; their failure is the database's.
impl From<sqlx::Error> for KvCommitError {
    fn from(err: sqlx::Error) -> Self {
        KvCommitError::Store(err.into())
    }
}

/// Which total quota a commit met (`quota.kv_keys`, `quota.kv_bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotalQuota {
    Keys,
    Bytes,
}

impl TotalQuota {
    /// The quota's name in the plugin's `quota` table.
    pub fn name(self) -> &'static str {
        match self {
            TotalQuota::Keys => "kv_keys",
            TotalQuota::Bytes => "kv_bytes",
        }
    }

    fn unit(self) -> &'static str {
        match self {
            TotalQuota::Keys => "keys",
            TotalQuota::Bytes => "bytes",
        }
    }
}

/// One hook's view of its namespace.
pub struct KvView {
    pub plugin: String,
    pub backend: KvBackend,
    /// `None`: read-only (quote, checkout).
    pub writes: Option<KvWrites>,
    /// What this call may buffer; past it a write is refused (an `Err` naming the quota).
    pub per_call: PerCall,
}

impl KvView {
    pub fn check_key(key: &str) -> Result<(), KvError> {
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Err(KvError::Key);
        }
        Ok(())
    }

    fn writable(&mut self) -> Result<&mut KvWrites, KvError> {
        self.writes.as_mut().ok_or(KvError::ReadOnly)
    }

    /// The stored bytes and counter of `key`, before this hook's writes.
    pub async fn stored(&self, key: &str) -> StoreResult<StoredKey> {
        match &self.backend {
            KvBackend::Db(store) => Ok(store
                .plugins()
                .plugin_kv_get(&self.plugin, key)
                .await?
                .unwrap_or((None, 0))),
            KvBackend::Memory(memory) => Ok(memory
                .lock()
                .map_err(|_| StoreError::Other("kv lock poisoned".to_owned()))?
                .entries
                .get(key)
                .cloned()
                .unwrap_or((None, 0))),
        }
    }

    pub async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        if let Some(write) = self.writes.as_ref().and_then(|w| w.values.get(key)) {
            return Ok(match write {
                KvWrite::Put(bytes) => Some(bytes.clone()),
                KvWrite::Delete => None,
            });
        }
        Ok(self.stored(key).await?.0)
    }

    pub fn put(&mut self, key: &str, value: Vec<u8>) -> Result<(), KvError> {
        Self::check_key(key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(KvError::Value);
        }
        self.buffer(key, KvWrite::Put(value))
    }

    pub fn delete(&mut self, key: &str) -> Result<(), KvError> {
        Self::check_key(key)?;
        self.buffer(key, KvWrite::Delete)
    }

    /// Buffers an event for the outbox as `plugin.<plugin>.<kind>`, within the call's write
    /// quotas; it commits with the call's other writes or not at all.
    pub fn emit(&mut self, kind: &str, payload: &str, at_ms: i64) -> Result<(), KvError> {
        let kind_ok = !kind.is_empty()
            && kind.len() <= MAX_EVENT_KIND
            && kind.starts_with(|c: char| c.is_ascii_lowercase())
            && kind
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
        if !kind_ok {
            return Err(KvError::EventKind);
        }
        let is_object =
            serde_json::from_str::<serde_json::Value>(payload).is_ok_and(|value| value.is_object());
        if payload.len() > MAX_EVENT_BYTES || !is_object {
            return Err(KvError::EventPayload);
        }
        let per_call = self.per_call;
        let kind = format!("plugin.{}.{kind}", self.plugin);
        let writes = self.writes.as_mut().ok_or(KvError::EmitReadOnly)?;
        if writes.writes() >= per_call.writes {
            return Err(KvError::WritesPerCall(per_call.writes));
        }
        let bytes = writes
            .bytes
            .saturating_add((kind.len() + payload.len()) as u64);
        if bytes > per_call.bytes {
            return Err(KvError::BytesPerCall(per_call.bytes));
        }
        writes.bytes = bytes;
        writes.events.push(Emitted {
            kind,
            payload: payload.to_owned(),
            at_ms,
        });
        Ok(())
    }

    /// Buffers a put or delete within the call's quotas; the write replaces one of the same
    /// key buffered before (and its bytes).
    fn buffer(&mut self, key: &str, write: KvWrite) -> Result<(), KvError> {
        let per_call = self.per_call;
        let writes = self.writable()?;
        let replaced = writes.values.get(key).map(|old| write_bytes(key, old));
        if replaced.is_none() && writes.writes() >= per_call.writes {
            return Err(KvError::WritesPerCall(per_call.writes));
        }
        let bytes = writes
            .bytes
            .saturating_sub(replaced.unwrap_or(0))
            .saturating_add(write_bytes(key, &write));
        if bytes > per_call.bytes {
            return Err(KvError::BytesPerCall(per_call.bytes));
        }
        writes.bytes = bytes;
        writes.values.insert(key.to_owned(), write);
        Ok(())
    }

    pub async fn counter(&self, key: &str) -> StoreResult<i64> {
        let stored = self.stored(key).await?.1;
        let buffered: i64 = self
            .writes
            .iter()
            .flat_map(|w| w.counters.iter())
            .filter(|c| c.key == key)
            .map(|c| c.delta)
            .sum();
        Ok(stored.saturating_add(buffered))
    }

    /// Adds `delta` if the counter stays within bounds; `Ok(None)` when it would not.
    pub async fn add_bounded(
        &mut self,
        key: &str,
        delta: i64,
        min: i64,
        max: i64,
    ) -> Result<Option<i64>, KvError> {
        Self::check_key(key)?;
        let per_call = self.per_call;
        let writes = self.writable()?;
        if writes.writes() >= per_call.writes {
            return Err(KvError::WritesPerCall(per_call.writes));
        }
        let bytes = writes.bytes.saturating_add(key.len() as u64);
        if bytes > per_call.bytes {
            return Err(KvError::BytesPerCall(per_call.bytes));
        }
        let now = self.counter(key).await?;
        let Some(next) = now.checked_add(delta).filter(|n| (min..=max).contains(n)) else {
            return Ok(None);
        };
        let writes = self.writable()?;
        writes.bytes = bytes;
        writes.counters.push(CounterAdd {
            key: key.to_owned(),
            delta,
            min,
            max,
        });
        Ok(Some(next))
    }

    pub async fn scan(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let limit = limit.min(MAX_SCAN);
        let mut merged: BTreeMap<String, Vec<u8>> = match &self.backend {
            KvBackend::Db(store) => store
                .plugins()
                .plugin_kv_scan(&self.plugin, prefix, start_after, limit)
                .await?
                .iter()
                .cloned()
                .collect(),
            KvBackend::Memory(memory) => memory
                .lock()
                .map_err(|_| StoreError::Other("kv lock poisoned".to_owned()))?
                .entries
                .iter()
                .filter(|(k, _)| {
                    k.starts_with(prefix) && start_after.is_none_or(|a| k.as_str() > a)
                })
                .filter_map(|(k, (v, _))| v.clone().map(|v| (k.clone(), v)))
                .take(limit as usize)
                .collect(),
        };
        if let Some(writes) = &self.writes {
            for (key, write) in &writes.values {
                if !key.starts_with(prefix) || start_after.is_some_and(|a| key.as_str() <= a) {
                    continue;
                }
                match write {
                    KvWrite::Put(bytes) => {
                        merged.insert(key.clone(), bytes.clone());
                    }
                    KvWrite::Delete => {
                        merged.remove(key);
                    }
                }
            }
        }
        Ok(merged.into_iter().take(limit as usize).collect())
    }

    /// Applies the buffered writes to a memory namespace (runs outside the database).
    pub fn commit_to_memory(&mut self) -> Result<(), KvError> {
        let (KvBackend::Memory(memory), Some(writes)) = (&self.backend, self.writes.take()) else {
            return Ok(());
        };
        let mut memory = memory.lock().map_err(|_| KvError::Poisoned)?;
        for (key, write) in writes.values {
            match write {
                KvWrite::Put(bytes) => memory.entries.entry(key).or_default().0 = Some(bytes),
                KvWrite::Delete => {
                    memory.entries.remove(&key);
                }
            }
        }
        for add in writes.counters {
            let entry = memory.entries.entry(add.key.clone()).or_default();
            match entry.1.checked_add(add.delta) {
                Some(next) if (add.min..=add.max).contains(&next) => entry.1 = next,
                _ => return Err(KvError::CounterBounds { key: add.key }),
            }
        }
        Ok(())
    }
}

/// Refuses a commit that leaves the namespace above a total quota it grew towards.
fn over_quota(before: Usage, after: Usage, total: Total) -> Result<(), KvCommitError> {
    let keys_quota = i64::try_from(total.keys).unwrap_or(i64::MAX);
    let bytes_quota = i64::try_from(total.bytes).unwrap_or(i64::MAX);
    if after.keys > keys_quota && after.keys > before.keys {
        return Err(KvCommitError::OverQuota {
            quota: TotalQuota::Keys,
            limit: total.keys,
            would_hold: after.keys,
        });
    }
    if after.bytes > bytes_quota && after.bytes > before.bytes {
        return Err(KvCommitError::OverQuota {
            quota: TotalQuota::Bytes,
            limit: total.bytes,
            would_hold: after.bytes,
        });
    }
    Ok(())
}

/// Adds the statements that apply `writes` of `plugin` to `batch` (each counter add is a
/// bounded update `RETURNING` a row while within bounds: the caller checks it got one per add).
pub(crate) fn push_writes(batch: &mut Batch, plugin: &str, writes: &KvWrites) -> usize {
    for (key, write) in &writes.values {
        match write {
            KvWrite::Put(bytes) => batch.push(
                "INSERT INTO plugin_kv (plugin, key, value, num) VALUES ($1, $2, $3, 0)
                 ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value",
                args![plugin, key.as_str(), bytes.clone()],
            ),
            KvWrite::Delete => batch.push(
                "DELETE FROM plugin_kv WHERE plugin = $1 AND key = $2",
                args![plugin, key.as_str()],
            ),
        }
    }
    push_counter_adds(
        batch,
        writes
            .counters
            .iter()
            .map(|c| (plugin, c.key.as_str(), c.delta, c.min, c.max)),
    )
}

/// Adds bounded counter increments to `batch`; returns how many rows they must return (each a
/// `(num, plugin, key)` while within its bounds).
pub(crate) fn push_counter_adds<'a>(
    batch: &mut Batch,
    adds: impl Iterator<Item = (&'a str, &'a str, i64, i64, i64)>,
) -> usize {
    let mut bounded = 0;
    for (plugin, key, delta, min, max) in adds {
        batch.push(
            "INSERT INTO plugin_kv (plugin, key, num) VALUES ($1, $2, 0) ON CONFLICT (plugin, key) DO NOTHING",
            args![plugin, key],
        );
        batch.push(
            "UPDATE plugin_kv SET num = num + $3 WHERE plugin = $1 AND key = $2 AND num + $3 >= $4 AND num + $3 <= $5 RETURNING num, plugin, key",
            args![plugin, key, delta, min, max],
        );
        bounded += 1;
    }
    bounded
}

impl super::PluginStore<'_> {
    /// Every plugin's namespace as `plugin_kv_usage` counts it (one row per plugin that ever
    /// stored anything), for `pifa plugins list` and the admin API.
    pub async fn plugin_kv_usage(self) -> StoreResult<BTreeMap<String, Usage>> {
        let rows: Vec<(String, i64, i64)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT plugin, keys, bytes FROM plugin_kv_usage")
                .fetch_all(pool)
                .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(plugin, keys, bytes)| (plugin, Usage { keys, bytes }))
            .collect())
    }

    /// A plugin's key: its bytes and its counter (`None`: never stored). Served from the
    /// plugins' key room (`KeyRoom`) while neither changed: a clearance quote reads the item
    /// of every SKU in the cart, a points quote the member's balance.
    pub async fn plugin_kv_get(self, plugin: &str, key: &str) -> StoreResult<Option<StoredKey>> {
        let room = self.room::<KeyRoom>();
        let kept = room.key_of(plugin, key);
        if let Some(stored) = room.keys.get(&kept) {
            return Ok(stored.as_ref().clone());
        }
        let generation = room.generation.current();
        let stored: Option<StoredKey> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT value, num FROM plugin_kv WHERE plugin = $1 AND key = $2")
                .bind(plugin)
                .bind(key)
                .fetch_optional(pool)
                .await
        })?;
        room.generation
            .keep(&room.keys, kept, Arc::new(stored.clone()), generation);
        Ok(stored)
    }

    /// A plugin's values under `prefix`, in key order. Served from the cache while no plugin
    /// value changed (`Change::PluginValues`): a flash sale's every quote and checkout scan
    /// its sales, which change only when staff edit them.
    pub async fn plugin_kv_scan(
        self,
        plugin: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: u32,
    ) -> StoreResult<ScanRows> {
        let scan = (
            plugin.to_owned(),
            prefix.to_owned(),
            start_after.map(str::to_owned),
            limit,
        );
        let room = self.room::<ScanRoom>();
        if let Some(rows) = room.scans.get(&scan) {
            return Ok(rows);
        }
        let generation = room.generation.current();
        let rows: Vec<(String, Option<Vec<u8>>)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT key, value FROM plugin_kv
                 WHERE plugin = $1 AND key >= $2 AND substr(key, 1, length($2)) = $2 AND key > $3 AND value IS NOT NULL
                 ORDER BY key LIMIT $4",
            )
            .bind(plugin)
            .bind(prefix)
            .bind(start_after.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
        })?;
        let rows: ScanRows = Arc::new(
            rows.into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect(),
        );
        room.generation
            .keep(&room.scans, scan, Arc::clone(&rows), generation);
        Ok(rows)
    }

    /// Commits a hook's writes, with `record` (the event's delivery row, say) in the same
    /// transaction. `Ok(false)` when `record` found its row already there (delivered before:
    /// nothing is written); `CounterBounds` when a counter would leave its bounds;
    /// `OverQuota` (nothing is written) when the namespace would hold more keys or bytes than
    /// `total` and more than before the commit.
    ///
    /// The usage is `plugin_kv_usage`, which triggers on `plugin_kv` keep exact for every
    /// writer (a checkout's reservations and a restore too). On PostgreSQL the trigger is
    /// deferred to the commit, where it locks the plugin's usage row last, after every
    /// `plugin_kv` row the transaction locks, so it adds no lock-order cycle with concurrent
    /// checkouts; here it runs at once before the check, and concurrent commits of one plugin
    /// wait for each other's usage row, so each checks the total with the others' writes in
    /// it and two together cannot pass the quota. `before` is read unlocked: it only decides
    /// whether a commit above the quota is shrinking the namespace.
    pub(crate) async fn commit_plugin_writes(
        self,
        plugin: &str,
        writes: &KvWrites,
        total: Total,
        record: Option<Batch>,
    ) -> Result<bool, KvCommitError> {
        let postgres = self.backend() == crate::store::Backend::Postgres;
        let usage_sql = "SELECT keys, bytes FROM plugin_kv_usage WHERE plugin = $1";
        let committed = in_tx!(self, |tx| {
            async {
                if let Some(record) = record {
                    let claimed: Vec<(i64,)> = tx.fetch_batch(record).await?;
                    if claimed.is_empty() {
                        return Ok::<_, KvCommitError>(false);
                    }
                }
                if writes.is_empty() {
                    return Ok(true);
                }
                // The plugin's events commit with its writes (K2), like the kernel's own.
                for event in &writes.events {
                    sqlx::query("INSERT INTO events (kind, order_id, payload, created_at) VALUES ($1, NULL, $2, $3)")
                        .bind(&event.kind)
                        .bind(&event.payload)
                        .bind(event.at_ms)
                        .execute(&mut *tx)
                        .await?;
                }
                let before: Option<Usage> = sqlx::query_as(usage_sql)
                    .bind(plugin)
                    .fetch_optional(&mut *tx)
                    .await?;
                let mut batch = Batch::default();
                let wanted = push_writes(&mut batch, plugin, writes);
                let within: Vec<(i64, String, String)> = tx.fetch_batch(batch).await?;
                if within.len() < wanted {
                    return Err(KvCommitError::CounterBounds);
                }
                if postgres {
                    sqlx::query("SET CONSTRAINTS plugin_kv_usage_track IMMEDIATE")
                        .execute(&mut *tx)
                        .await?;
                }
                let after: Option<Usage> = sqlx::query_as(usage_sql)
                    .bind(plugin)
                    .fetch_optional(&mut *tx)
                    .await?;
                if !writes.only_deletes() {
                    over_quota(before.unwrap_or_default(), after.unwrap_or_default(), total)?;
                }
                Ok(true)
            }
            .await
        })?;
        if committed {
            if !writes.values.is_empty() {
                self.changed(Change::PluginValues(plugin.to_owned())).await;
            }
            if !writes.counters.is_empty() {
                let moved = writes
                    .counters
                    .iter()
                    .map(|add| (plugin.to_owned(), add.key.clone()))
                    .collect();
                self.changed(Change::PluginCounters(moved)).await;
            }
        }
        Ok(committed)
    }
}

/// A plugin's scan: plugin, prefix, the key it starts after, the most rows.
type PluginScan = (String, String, Option<String>, u32);

/// What a plugin's scan found: keys and values in key order.
pub type ScanRows = Arc<Vec<(String, Vec<u8>)>>;

/// The plugins' scans as their hooks read them (a flash sale's sales, read by every quote and
/// checkout; see `store::cache`). Counters move with every order and are never kept, so this
/// room has its own generation, moved only by changes of plugin values: stock moves with
/// every order and would keep a scan from ever being kept under the store's.
pub struct ScanRoom {
    scans: moka::sync::Cache<PluginScan, ScanRows>,
    generation: crate::store::Generation,
}

impl Default for ScanRoom {
    fn default() -> Self {
        ScanRoom {
            scans: moka::sync::Cache::new(10_000),
            generation: Default::default(),
        }
    }
}

impl crate::store::Room for ScanRoom {
    fn apply(&self, change: &crate::store::Change) {
        if matches!(
            change,
            crate::store::Change::PluginValues(_) | crate::store::Change::Everything
        ) {
            self.generation.advance();
            self.scans.invalidate_all();
        }
    }
}

/// A stored key: its bytes (`None`: only a counter) and its counter.
pub type StoredKey = (Option<Vec<u8>>, i64);

/// Most bytes of keys the key room keeps (keys, values and their bookkeeping).
const KEY_ROOM_BYTES: u64 = 32 * 1024 * 1024;

/// The plugins' keys as their hooks read them one by one (`get`, `counter`), absent ones
/// included. Exact like every room: a plugin's value writes (`Change::PluginValues`) drop
/// all its keys at once by moving the plugin to a new epoch (the old entries are never asked
/// for again and age out); a counter's move (`Change::PluginCounters`: a checkout's
/// reservation, a hook's add) drops that key; a read that raced either is not kept (the room's
/// own generation, moved by every plugin change and only by those).
pub struct KeyRoom {
    keys: moka::sync::Cache<KeptKey, Arc<Option<StoredKey>>>,
    /// Each plugin's epoch, moved by its value writes.
    epochs: Mutex<std::collections::HashMap<String, u64>>,
    generation: crate::store::Generation,
}

/// A kept key: plugin, the plugin's epoch, key.
type KeptKey = (String, u64, String);

impl Default for KeyRoom {
    fn default() -> Self {
        KeyRoom {
            keys: moka::sync::Cache::builder()
                .max_capacity(KEY_ROOM_BYTES)
                .weigher(
                    |(plugin, _, key): &KeptKey, stored: &Arc<Option<StoredKey>>| {
                        let value = stored
                            .as_ref()
                            .as_ref()
                            .and_then(|(value, _)| value.as_ref())
                            .map_or(0, Vec::len);
                        u32::try_from(plugin.len() + key.len() + value + 64).unwrap_or(u32::MAX)
                    },
                )
                .build(),
            epochs: Mutex::default(),
            generation: Default::default(),
        }
    }
}

impl KeyRoom {
    fn epoch(&self, plugin: &str) -> u64 {
        self.epochs
            .lock()
            .map(|epochs| epochs.get(plugin).copied().unwrap_or(0))
            .unwrap_or_else(|poisoned| poisoned.into_inner().get(plugin).copied().unwrap_or(0))
    }

    fn key_of(&self, plugin: &str, key: &str) -> KeptKey {
        (plugin.to_owned(), self.epoch(plugin), key.to_owned())
    }
}

impl crate::store::Room for KeyRoom {
    fn apply(&self, change: &crate::store::Change) {
        use crate::store::Change;
        match change {
            Change::PluginValues(plugin) => {
                self.generation.advance();
                let mut epochs = self
                    .epochs
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let epoch = epochs.entry(plugin.clone()).or_insert(0);
                *epoch = epoch.wrapping_add(1);
            }
            Change::PluginCounters(moved) => {
                self.generation.advance();
                for (plugin, key) in moved {
                    self.keys.invalidate(&self.key_of(plugin, key));
                }
            }
            Change::Everything => {
                self.generation.advance();
                self.keys.invalidate_all();
            }
            Change::Accounts
            | Change::Product(_)
            | Change::Stock(_)
            | Change::Catalogue
            | Change::Library
            | Change::Settings
            | Change::Inbox(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(writes: u64, bytes: u64) -> KvView {
        KvView {
            plugin: "p".to_owned(),
            backend: KvBackend::Memory(Arc::default()),
            writes: Some(KvWrites::default()),
            per_call: PerCall { writes, bytes },
        }
    }

    /// The words the plugin reads.
    fn said<T>(result: Result<T, KvError>) -> Result<T, String> {
        result.map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn a_call_writes_within_its_quota_and_the_refusal_names_it() {
        let mut kv = view(3, 1000);
        assert_eq!(said(kv.put("a", vec![0; 10])), Ok(()));
        assert_eq!(said(kv.put("a", vec![0; 20])), Ok(()), "the same key again");
        assert_eq!(said(kv.delete("b")), Ok(()));
        assert_eq!(said(kv.add_bounded("c", 1, 0, 9).await), Ok(Some(1)));
        assert_eq!(
            said(kv.put("d", Vec::new())),
            Err("quota kv_writes_per_call (3) reached".to_owned())
        );
        assert_eq!(
            said(kv.add_bounded("c", 1, 0, 9).await),
            Err("quota kv_writes_per_call (3) reached".to_owned()),
            "each counter change is a write"
        );
        assert_eq!(
            said(kv.put("a", vec![0; 5])),
            Ok(()),
            "replacing is no new write"
        );
        let writes = kv.writes.take().unwrap_or_default();
        assert_eq!(writes.bytes(), (1 + 5) + 1 + 1);

        let mut kv = view(100, 100);
        assert_eq!(said(kv.put("k", vec![0; 90])), Ok(()));
        assert_eq!(
            said(kv.put("k", vec![0; 99])),
            Ok(()),
            "its old bytes are given back"
        );
        assert_eq!(
            said(kv.put("j", vec![0; 1])),
            Err("quota kv_write_bytes_per_call (100) reached".to_owned())
        );
        assert_eq!(
            said(kv.add_bounded("jj", 1, 0, 9).await),
            Err("quota kv_write_bytes_per_call (100) reached".to_owned())
        );
        assert_eq!(
            said(kv.delete("k")),
            Ok(()),
            "a delete shrinks what is written"
        );
        assert_eq!(said(kv.put("j", vec![0; 1])), Ok(()));
    }

    #[test]
    fn a_commit_may_not_grow_a_namespace_past_its_total() {
        let total = Total {
            keys: 10,
            bytes: 1000,
        };
        let at = |keys, bytes| Usage { keys, bytes };
        assert!(over_quota(at(5, 500), at(10, 1000), total).is_ok());
        let said = |result: Result<(), KvCommitError>| result.map_err(|e| e.to_string());
        assert_eq!(
            said(over_quota(at(10, 900), at(11, 950), total)),
            Err("quota kv_keys (10) reached: the commit would leave 11 keys".to_owned())
        );
        assert_eq!(
            said(over_quota(at(5, 900), at(6, 1001), total)),
            Err("quota kv_bytes (1000) reached: the commit would leave 1001 bytes".to_owned())
        );
        assert!(
            over_quota(at(20, 5000), at(20, 4000), total).is_ok(),
            "above a lowered quota, a commit that shrinks the namespace passes"
        );
    }
}
