//! A plugin's key-value namespace (`pifa:plugin/kv`). Hooks see it through a `KvView`:
//! read-only in `quote` and `checkout`; buffered in the other hooks, where the hook reads its
//! own writes and the kernel commits them in one transaction with the event's delivery record
//! or the request (`Store::commit_plugin_writes`). Counter changes stay bounded at commit, so a
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

/// What a hook wrote, to be committed by the kernel.
#[derive(Debug, Default, Clone)]
pub struct KvWrites {
    pub values: BTreeMap<String, KvWrite>,
    pub counters: Vec<CounterAdd>,
}

impl KvWrites {
    pub fn is_empty(&self) -> bool {
        self.values.is_empty() && self.counters.is_empty()
    }
}

/// Keys and values are bounded so one plugin cannot fill the database through one call.
pub const MAX_KEY_BYTES: usize = 256;
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
const MAX_SCAN: u32 = 500;

/// One hook's view of its namespace.
pub struct KvView {
    pub plugin: String,
    pub backend: KvBackend,
    /// `None`: read-only (quote, checkout).
    pub writes: Option<KvWrites>,
}

impl KvView {
    pub fn check_key(key: &str) -> Result<(), String> {
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return Err(format!("key must be 1 to {MAX_KEY_BYTES} bytes"));
        }
        Ok(())
    }

    fn writable(&mut self) -> Result<&mut KvWrites, String> {
        self.writes.as_mut().ok_or_else(|| {
            "storage is read-only in quote and checkout (checkout returns reservations)".to_owned()
        })
    }

    /// The stored bytes and counter of `key`, before this hook's writes.
    pub async fn stored(&self, key: &str) -> StoreResult<(Option<Vec<u8>>, i64)> {
        match &self.backend {
            KvBackend::Db(store) => Ok(store
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

    pub fn put(&mut self, key: &str, value: Vec<u8>) -> Result<(), String> {
        Self::check_key(key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(format!("value must be at most {MAX_VALUE_BYTES} bytes"));
        }
        self.writable()?
            .values
            .insert(key.to_owned(), KvWrite::Put(value));
        Ok(())
    }

    pub fn delete(&mut self, key: &str) -> Result<(), String> {
        Self::check_key(key)?;
        self.writable()?
            .values
            .insert(key.to_owned(), KvWrite::Delete);
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
    ) -> Result<Option<i64>, String> {
        Self::check_key(key)?;
        self.writable()?;
        let now = self.counter(key).await.map_err(|e| e.to_string())?;
        let Some(next) = now.checked_add(delta).filter(|n| (min..=max).contains(n)) else {
            return Ok(None);
        };
        self.writable()?.counters.push(CounterAdd {
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
    pub fn commit_to_memory(&mut self) -> Result<(), String> {
        let (KvBackend::Memory(memory), Some(writes)) = (&self.backend, self.writes.take()) else {
            return Ok(());
        };
        let mut memory = memory.lock().map_err(|_| "kv lock poisoned".to_owned())?;
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
                _ => return Err(format!("counter {} left its bounds", add.key)),
            }
        }
        Ok(())
    }
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

impl Store {
    pub async fn plugin_kv_get(
        &self,
        plugin: &str,
        key: &str,
    ) -> StoreResult<Option<(Option<Vec<u8>>, i64)>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as("SELECT value, num FROM plugin_kv WHERE plugin = $1 AND key = $2")
                .bind(plugin)
                .bind(key)
                .fetch_optional(pool)
                .await
        })?)
    }

    /// A plugin's values under `prefix`, in key order. Served from the cache while no plugin
    /// value changed (`Change::PluginValues`): a flash sale's every quote and checkout scan
    /// its sales, which change only when staff edit them.
    pub async fn plugin_kv_scan(
        &self,
        plugin: &str,
        prefix: &str,
        start_after: Option<&str>,
        limit: u32,
    ) -> StoreResult<crate::store::ScanRows> {
        let scan = (
            plugin.to_owned(),
            prefix.to_owned(),
            start_after.map(str::to_owned),
            limit,
        );
        if let Some(rows) = self.caches.plugin_scan(&scan) {
            return Ok(rows);
        }
        let generation = self.caches.plugin_generation();
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
        let rows: crate::store::ScanRows = Arc::new(
            rows.into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v)))
                .collect(),
        );
        self.caches
            .remember_plugin_scan(scan, Arc::clone(&rows), generation);
        Ok(rows)
    }

    /// Commits a hook's writes, with `record` (the event's delivery row, say) in the same
    /// transaction. `Ok(false)` when `record` found its row already there (delivered before:
    /// nothing is written); `BoundReached` when a counter would leave its bounds.
    pub(crate) async fn commit_plugin_writes(
        &self,
        plugin: &str,
        writes: &KvWrites,
        record: Option<Batch>,
    ) -> StoreResult<bool> {
        let committed = in_tx!(self, |tx| {
            async {
                if let Some(record) = record {
                    let claimed: Vec<(i64,)> = tx.fetch_batch(record).await?;
                    if claimed.is_empty() {
                        return Ok::<_, StoreError>(false);
                    }
                }
                let mut batch = Batch::default();
                let wanted = push_writes(&mut batch, plugin, writes);
                let within: Vec<(i64, String, String)> = tx.fetch_batch(batch).await?;
                if within.len() < wanted {
                    return Err(StoreError::BoundReached("kv"));
                }
                Ok(true)
            }
            .await
        })?;
        if committed && !writes.values.is_empty() {
            self.changed(Change::PluginValues).await;
        }
        Ok(committed)
    }
}
