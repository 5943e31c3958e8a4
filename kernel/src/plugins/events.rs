//! Outbox events to the plugins' `on-event` hooks, after commit (the brief's step 4), and the
//! `on-tick` schedule. Each plugin reads the outbox from its own cursor, in order: the event
//! kinds its manifest asks for and `plugins.toml` grants, each payload cut to the data classes
//! granted (`data.rs`). An event's delivery record commits in the same transaction as the
//! storage writes the hook made, so a redelivery (a crash before the cursor moved, a second
//! instance) finds the record and changes nothing. A delivery that wrote nothing (most: a
//! coupons plugin looks at every placed order, and few used a coupon) leaves no record and
//! costs no write: delivered again, it has no effect to repeat.
//!
//! At least once, kept: while a plugin is suspended its events wait (its cursor stays; nothing
//! is attempted). An event whose delivery fails (a trap, a limit, an `Err` from `on-event`,
//! each counted as the plugin's failure) stays at the head of the plugin's queue, the events
//! after it waiting behind it so that a plugin sees its events in order, and is tried again
//! after 1 s, doubling to 10 minutes; the attempts and the next try are stored with the cursor,
//! so a restart keeps them. After `[limits] event_attempts` failed attempts the event is parked
//! as dead: recorded (`plugin_deliveries.failed`, with the attempts and the last error),
//! counted in `pifa plugins list` and `/admin/plugins`, and staff are told; the plugin's next
//! events go on. Nothing is dropped silently.

use crate::notify::StoredEvent;
use std::sync::Arc;
use std::time::Duration;

use pifa_sdk::{Event, Hook, Reserved};
use sqlx::FromRow;

use super::kv::KvCommitError;
use super::{Access, CallError, Loaded, PluginHost, PluginSet};
use crate::store::batch::{Batch, args};
use crate::store::{Store, StoreError, StoreResult, in_tx, on_pool};

const BATCH: i64 = 200;
/// The wait after an event's first failed attempt; it doubles with each further failure …
const FIRST_RETRY_MS: i64 = 1000;
/// … up to this.
const MAX_RETRY_MS: i64 = 10 * 60 * 1000;

/// How long to wait after the `attempts`-th failed attempt of an event before the next one.
pub fn retry_delay_ms(attempts: i64) -> i64 {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    FIRST_RETRY_MS
        .saturating_mul(1_i64 << doublings)
        .min(MAX_RETRY_MS)
}

/// What delivering one event to one plugin came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// Delivered before, or parked as dead (this call changed nothing).
    AlreadyDelivered,
    /// The plugin is suspended: not an attempt; the event waits for the suspension to end.
    Suspended,
    /// No call slot was free for it (`plugin_busy`): not an attempt; the event waits for the
    /// next round, like a suspended plugin's.
    Busy,
    /// An attempt that failed, and why; tried again after a back-off.
    Failed(String),
}

/// Where a plugin reads the outbox from (its `plugin_cursors` row): the last event it is done
/// with, and the event after it that failed, waiting for its next attempt.
#[derive(Debug, Clone, Default, FromRow)]
pub struct Cursor {
    pub plugin: String,
    pub event_id: i64,
    /// The event whose delivery failed last; `None` when nothing waits for a retry.
    pub failed_event_id: Option<i64>,
    /// Failed attempts of `failed_event_id`.
    pub attempts: i64,
    /// Kernel-clock ms before which the plugin's events are not tried again.
    pub retry_at: i64,
    pub last_error: String,
}

/// A failed event waiting for its next attempt.
#[derive(Debug, Clone)]
struct Retry {
    event_id: i64,
    attempts: i64,
    retry_at: i64,
    error: String,
}

/// A `plugin_stats` row.
#[derive(Debug, Clone, FromRow)]
pub struct StatsRow {
    pub plugin: String,
    pub version: String,
    pub calls: i64,
    pub failures: i64,
    pub fuel_p50: i64,
    pub fuel_p99: i64,
    /// Wall time per call in µs (host calls included), 50th and 99th percentile.
    pub wall_us_p50: i64,
    pub wall_us_p99: i64,
    /// Calls not made for want of a free call slot (`plugin_busy`).
    pub busy: i64,
    pub suspended_until: Option<i64>,
    pub last_error: String,
}

impl super::PluginStore<'_> {
    /// Where `plugin` reads the outbox from; a plugin seen for the first time starts after
    /// the last event now (installed plugins get the events from their install on). (`WHERE
    /// TRUE`: SQLite's parser needs it between `INSERT … SELECT` and `ON CONFLICT`.)
    pub async fn init_plugin_cursor(self, plugin: &str) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO plugin_cursors (plugin, event_id)
                 SELECT $1, CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM events WHERE TRUE
                 ON CONFLICT (plugin) DO NOTHING",
            )
            .bind(plugin)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// `plugin`'s cursor and retry state (set up on first use).
    pub async fn plugin_cursor(self, plugin: &str) -> StoreResult<Cursor> {
        self.init_plugin_cursor(plugin).await?;
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT plugin, event_id, failed_event_id, attempts, retry_at, last_error FROM plugin_cursors WHERE plugin = $1",
            )
            .bind(plugin)
            .fetch_one(pool)
            .await
        })?)
    }

    /// How many events each plugin has had parked as dead, and every plugin's cursor and
    /// retry state (for `pifa plugins list` and `/admin/plugins`). Read in that order: parking
    /// clears the retry in the same transaction, so an event counted dead is never also shown
    /// waiting for its retry (read the other way round, a park between the two reads showed
    /// both).
    pub async fn event_state(self) -> StoreResult<(Vec<(String, i64)>, Vec<Cursor>)> {
        let dead = self.dead_plugin_events().await?;
        let cursors = self.plugin_cursors().await?;
        Ok((dead, cursors))
    }

    async fn plugin_cursors(self) -> StoreResult<Vec<Cursor>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT plugin, event_id, failed_event_id, attempts, retry_at, last_error FROM plugin_cursors ORDER BY plugin",
            )
            .fetch_all(pool)
            .await
        })?)
    }

    /// Moves `plugin`'s cursor to `event_id` (never back: another instance may be ahead) with
    /// the event that now waits for a retry, or none.
    async fn save_plugin_cursor(
        self,
        plugin: &str,
        event_id: i64,
        retry: Option<&Retry>,
    ) -> StoreResult<()> {
        let (failed, attempts, retry_at, error) = match retry {
            Some(r) => (Some(r.event_id), r.attempts, r.retry_at, r.error.as_str()),
            None => (None, 0, 0, ""),
        };
        on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE plugin_cursors SET event_id = $2, failed_event_id = $3, attempts = $4, retry_at = $5, last_error = $6
                 WHERE plugin = $1 AND event_id <= $2",
            )
            .bind(plugin)
            .bind(event_id)
            .bind(failed)
            .bind(attempts)
            .bind(retry_at)
            .bind(error)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// How many events each plugin has had parked as dead.
    async fn dead_plugin_events(self) -> StoreResult<Vec<(String, i64)>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT plugin, CAST(COUNT(*) AS BIGINT) FROM plugin_deliveries WHERE failed GROUP BY plugin ORDER BY plugin",
            )
            .fetch_all(pool)
            .await
        })?)
    }

    async fn events_after(self, cursor: i64, limit: i64) -> StoreResult<Vec<StoredEvent>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, kind, order_id, payload, created_at FROM events WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(cursor)
            .bind(limit)
            .fetch_all(pool)
            .await
        })?)
    }

    pub async fn event(self, id: i64) -> StoreResult<Option<StoredEvent>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, kind, order_id, payload, created_at FROM events WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await
        })?)
    }

    /// The newest event in the outbox (0 for none): what a plugin's cursor reaches once it
    /// has dealt with everything written so far.
    pub async fn last_event_id(self) -> StoreResult<i64> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(id), 0) FROM events")
                .fetch_one(pool)
                .await
        })?)
    }

    /// The ids of an order's events of `kind`, oldest first.
    pub async fn order_event_ids(self, order_id: i64, kind: &str) -> StoreResult<Vec<i64>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT id FROM events WHERE order_id = $1 AND kind = $2 ORDER BY id",
            )
            .bind(order_id)
            .bind(kind)
            .fetch_all(pool)
            .await
        })?)
    }

    async fn plugin_delivered(self, plugin: &str, event_id: i64) -> StoreResult<bool> {
        let found: Option<i64> = on_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT event_id FROM plugin_deliveries WHERE plugin = $1 AND event_id = $2",
            )
            .bind(plugin)
            .bind(event_id)
            .fetch_optional(pool)
            .await
        })?;
        Ok(found.is_some())
    }

    /// Parks `event_id` as dead for `plugin` and moves its cursor past it, clearing the
    /// retry, in one transaction (the cursor never passes an event that is not recorded);
    /// false when it was delivered or parked already.
    async fn park_dead_event(
        self,
        plugin: &str,
        event_id: i64,
        attempts: i64,
        error: &str,
        now_ms: i64,
    ) -> StoreResult<bool> {
        let parked = in_tx!(self, |tx| {
            let parked: Option<i64> = sqlx::query_scalar(
                "INSERT INTO plugin_deliveries (plugin, event_id, failed, delivered_at, attempts, error) VALUES ($1, $2, TRUE, $3, $4, $5)
                 ON CONFLICT (plugin, event_id) DO NOTHING RETURNING event_id",
            )
            .bind(plugin)
            .bind(event_id)
            .bind(now_ms)
            .bind(attempts)
            .bind(error)
            .fetch_optional(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE plugin_cursors SET event_id = $2, failed_event_id = NULL, attempts = 0, retry_at = 0, last_error = ''
                 WHERE plugin = $1 AND event_id <= $2",
            )
            .bind(plugin)
            .bind(event_id)
            .execute(&mut *tx)
            .await?;
            Ok::<_, StoreError>(parked.is_some())
        })?;
        Ok(parked)
    }

    /// Which events after `after` up to `last` were delivered to `plugin` (or parked).
    async fn delivered_between(
        self,
        plugin: &str,
        after: i64,
        last: i64,
    ) -> StoreResult<std::collections::HashSet<i64>> {
        let ids: Vec<i64> = on_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT event_id FROM plugin_deliveries WHERE plugin = $1 AND event_id > $2 AND event_id <= $3",
            )
            .bind(plugin)
            .bind(after)
            .bind(last)
            .fetch_all(pool)
            .await
        })?;
        Ok(ids.into_iter().collect())
    }

    /// What `plugin` reserved at checkout for the orders of the events after `after` up to
    /// `last`, by order.
    async fn reservations_between(
        self,
        plugin: &str,
        after: i64,
        last: i64,
    ) -> StoreResult<std::collections::HashMap<i64, Vec<(String, i64)>>> {
        let rows: Vec<(i64, String, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT order_id, key, delta FROM order_reservations
                 WHERE plugin = $1 AND order_id IN (SELECT order_id FROM events WHERE id > $2 AND id <= $3)
                 ORDER BY order_id, key",
            )
            .bind(plugin)
            .bind(after)
            .bind(last)
            .fetch_all(pool)
            .await
        })?;
        let mut by_order: std::collections::HashMap<i64, Vec<(String, i64)>> =
            std::collections::HashMap::new();
        for (order_id, key, delta) in rows {
            by_order.entry(order_id).or_default().push((key, delta));
        }
        Ok(by_order)
    }

    /// What `plugin` reserved for `order_id` at checkout.
    pub async fn order_reservations(
        self,
        order_id: i64,
        plugin: &str,
    ) -> StoreResult<Vec<(String, i64)>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT key, delta FROM order_reservations WHERE order_id = $1 AND plugin = $2 ORDER BY key",
            )
            .bind(order_id)
            .bind(plugin)
            .fetch_all(pool)
            .await
        })?)
    }

    pub async fn save_plugin_stats(self, row: &StatsRow, now_ms: i64) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO plugin_stats (plugin, version, calls, failures, fuel_p50, fuel_p99, suspended_until, last_error, updated_at, wall_us_p50, wall_us_p99, busy)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                 ON CONFLICT (plugin) DO UPDATE SET version = excluded.version, calls = excluded.calls,
                   failures = excluded.failures, fuel_p50 = excluded.fuel_p50, fuel_p99 = excluded.fuel_p99,
                   suspended_until = excluded.suspended_until, last_error = excluded.last_error,
                   updated_at = excluded.updated_at, wall_us_p50 = excluded.wall_us_p50,
                   wall_us_p99 = excluded.wall_us_p99, busy = excluded.busy",
            )
            .bind(&row.plugin)
            .bind(&row.version)
            .bind(row.calls)
            .bind(row.failures)
            .bind(row.fuel_p50)
            .bind(row.fuel_p99)
            .bind(row.suspended_until)
            .bind(&row.last_error)
            .bind(now_ms)
            .bind(row.wall_us_p50)
            .bind(row.wall_us_p99)
            .bind(row.busy)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Every plugin's recorded counters.
    pub async fn plugin_stats(self) -> StoreResult<Vec<StatsRow>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT plugin, version, calls, failures, fuel_p50, fuel_p99, wall_us_p50, wall_us_p99, busy, suspended_until, last_error FROM plugin_stats ORDER BY plugin",
            )
            .fetch_all(pool)
            .await
        })?)
    }
}

impl PluginHost {
    /// Delivers event `event_id` to `plugin` once: a second delivery of the same event finds
    /// its record and changes nothing. The payload carries only the data classes the plugin
    /// is granted.
    pub async fn deliver(self: &Arc<Self>, plugin: &str, event_id: i64) -> StoreResult<Delivery> {
        let Some(store) = self.store.clone() else {
            return Ok(Delivery::Failed("no database".to_owned()));
        };
        let set = self.current();
        let Some(loaded) = set.named(plugin).cloned() else {
            return Ok(Delivery::Failed(format!("no plugin {plugin}")));
        };
        if store.plugins().plugin_delivered(plugin, event_id).await? {
            return Ok(Delivery::AlreadyDelivered);
        }
        let Some(stored) = store.plugins().event(event_id).await? else {
            return Ok(Delivery::Failed(format!("no event {event_id}")));
        };
        if !loaded.wants_event(&stored.kind) {
            return Ok(Delivery::Failed(format!(
                "{plugin} does not receive {} events (its manifest's events and plugins.toml's grant)",
                stored.kind
            )));
        }
        let reservations = match stored.order_id {
            Some(order_id) => store.plugins().order_reservations(order_id, plugin).await?,
            None => Vec::new(),
        };
        self.deliver_read(&store, &set, &loaded, &stored, reservations)
            .await
    }

    /// Delivers an event already read, with what the plugin reserved for its order, to a
    /// plugin that wants it. A delivery that wrote nothing and told nobody leaves no record
    /// (no write transaction for the many events a plugin only looks at): delivered again
    /// it has nothing to undo, and what it writes then is its only effect. One that wrote
    /// commits its record with its writes, so a second delivery finds it and writes nothing.
    async fn deliver_read(
        self: &Arc<Self>,
        store: &Store,
        set: &Arc<PluginSet>,
        loaded: &Arc<Loaded>,
        stored: &StoredEvent,
        reservations: Vec<(String, i64)>,
    ) -> StoreResult<Delivery> {
        let plugin = loaded.name();
        let event_id = stored.id;
        let now = self.clock.now_ms();
        let payload = serde_json::from_str(&stored.payload).unwrap_or(serde_json::Value::Null);
        let event = Event {
            id: stored.id,
            payload: super::data::visible_payload(&stored.kind, payload, &loaded.declared.grants),
            kind: stored.kind.clone(),
            order_id: stored.order_id,
            reservations: reservations
                .into_iter()
                .map(|(key, delta)| Reserved { key, delta })
                .collect(),
            now_ms: now,
            settings: loaded.declared.settings.clone(),
        };
        let json = serde_json::to_string(&event).map_err(|e| StoreError::Other(e.to_string()))?;
        let host = self.clone();
        let calling = loaded.clone();
        let runtime_set = set.clone();
        let called = tokio::task::spawn_blocking(move || {
            host.call(
                &runtime_set.runtime,
                &calling,
                Hook::OnEvent,
                0,
                Access::Buffered,
                |instance, store| instance.call_on_event(store, &json),
            )
        })
        .await
        .map_err(|e| StoreError::Other(e.to_string()))?;
        let outcome = match called {
            Ok(outcome) => outcome,
            // `call` counts an `Err` from on-event as a failure (`Failed`); a refusal is not
            // expected from it, and is no delivery either.
            Err(
                CallError::Failed(reason)
                | CallError::Refused {
                    message: reason, ..
                },
            ) => {
                return Ok(Delivery::Failed(reason));
            }
            Err(CallError::Suspended) => return Ok(Delivery::Suspended),
            // No free call slot: not an attempt either; the event waits for the next round.
            Err(CallError::Busy(_)) => return Ok(Delivery::Busy),
        };
        if outcome.writes.is_empty() && outcome.messages_sent == 0 {
            self.record_success(loaded, Hook::OnEvent);
            return Ok(Delivery::Delivered);
        }
        let mut record = Batch::default();
        record.push(
            "INSERT INTO plugin_deliveries (plugin, event_id, delivered_at) VALUES ($1, $2, $3)
             ON CONFLICT (plugin, event_id) DO NOTHING RETURNING event_id",
            args![plugin, event_id, now],
        );
        let total = super::kv::Total::of(&loaded.declared.quota);
        match store
            .plugins()
            .commit_plugin_writes(plugin, &outcome.writes, total, Some(record))
            .await
        {
            Ok(stored) => {
                self.record_success(loaded, Hook::OnEvent);
                Ok(if stored {
                    Delivery::Delivered
                } else {
                    Delivery::AlreadyDelivered
                })
            }
            Err(KvCommitError::CounterBounds) => Ok(Delivery::Failed(
                "a counter would leave its bounds (changed meanwhile); will retry".to_owned(),
            )),
            // The plugin's output the kernel refuses: its failure, counted like a trap.
            Err(over @ KvCommitError::OverQuota { .. }) => {
                let reason = over.to_string();
                self.record_failure(loaded, Hook::OnEvent, reason.clone());
                Ok(Delivery::Failed(reason))
            }
            Err(KvCommitError::Store(other)) => Err(other),
        }
    }

    /// One round of the dispatcher: each plugin's events since its cursor, unless it is
    /// suspended or its failed event's back-off has not passed.
    pub async fn dispatch_pending(self: &Arc<Self>) -> StoreResult<usize> {
        let Some(store) = self.store.clone() else {
            return Ok(0);
        };
        let set = self.current();
        let max_attempts = i64::from(set.runtime.limits.event_attempts.max(1));
        let mut delivered = 0;
        let listeners: Vec<Arc<Loaded>> = set.with_hook(Hook::OnEvent).cloned().collect();
        for plugin in listeners {
            let name = plugin.name().to_owned();
            let now = self.clock.now_ms();
            // Suspended: its events wait, unattempted, for the suspension to end.
            if plugin.stats.is_suspended(now) {
                continue;
            }
            let cursor = store.plugins().plugin_cursor(&name).await?;
            if cursor.retry_at > now {
                continue;
            }
            let mut reached = cursor.event_id;
            let mut retry = None;
            let events = store.plugins().events_after(cursor.event_id, BATCH).await?;
            // What this round needs besides the events, in one read each: which of them were
            // delivered before (a crash before the cursor moved, another instance), and what
            // the plugin reserved for their orders.
            let last = events.last().map_or(cursor.event_id, |e| e.id);
            let wanted = events.iter().any(|e| plugin.wants_event(&e.kind));
            let (done, reserved) = if wanted {
                let plugins = store.plugins();
                (
                    plugins
                        .delivered_between(&name, cursor.event_id, last)
                        .await?,
                    plugins
                        .reservations_between(&name, cursor.event_id, last)
                        .await?,
                )
            } else {
                Default::default()
            };
            for event in events {
                if !plugin.wants_event(&event.kind) || done.contains(&event.id) {
                    reached = event.id;
                    continue;
                }
                // An order's events share its reservations (placed, then closed).
                let reservations = event
                    .order_id
                    .and_then(|order| reserved.get(&order).cloned())
                    .unwrap_or_default();
                let id = event.id;
                let delivery = self
                    .deliver_read(&store, &set, &plugin, &event, reservations)
                    .await?;
                match delivery {
                    Delivery::Delivered => {
                        delivered += 1;
                        reached = id;
                    }
                    Delivery::AlreadyDelivered => reached = id,
                    // Suspended by this round's failures (or another caller's), or its call
                    // slots busy: wait, unattempted.
                    Delivery::Suspended | Delivery::Busy => break,
                    Delivery::Failed(reason) => {
                        let attempts = match cursor.failed_event_id {
                            Some(failed) if failed == event.id => cursor.attempts.saturating_add(1),
                            _ => 1,
                        };
                        if attempts >= max_attempts {
                            self.park(&store, &plugin, &event, attempts, &reason)
                                .await?;
                            reached = event.id;
                            continue;
                        }
                        let wait = retry_delay_ms(attempts);
                        tracing::warn!(
                            plugin = name,
                            event = event.id,
                            attempts,
                            retry_in_ms = wait,
                            %reason,
                            "event delivery failed; will retry"
                        );
                        retry = Some(Retry {
                            event_id: event.id,
                            attempts,
                            retry_at: self.clock.now_ms().saturating_add(wait),
                            error: reason,
                        });
                        break;
                    }
                }
            }
            if reached > cursor.event_id || retry.is_some() {
                store
                    .plugins()
                    .save_plugin_cursor(&name, reached, retry.as_ref())
                    .await?;
            }
        }
        Ok(delivered)
    }

    /// Parks an event `plugin` failed on `attempts` times as dead: recorded with why, logged,
    /// and staff told (once, however many instances saw it fail).
    async fn park(
        &self,
        store: &Store,
        plugin: &Loaded,
        event: &StoredEvent,
        attempts: i64,
        reason: &str,
    ) -> StoreResult<()> {
        let name = plugin.name();
        let now = self.clock.now_ms();
        tracing::error!(
            plugin = name,
            event = event.id,
            kind = event.kind,
            attempts,
            %reason,
            "event delivery failed every attempt; parked as dead"
        );
        if store
            .plugins()
            .park_dead_event(name, event.id, attempts, reason, now)
            .await?
        {
            let body = format!(
                "插件 {name} 处理事件 #{}（{}）{attempts}次均失败，已搁置，不再重试 (event parked as dead after {attempts} failed attempts)：{reason}",
                event.id, event.kind
            );
            crate::notify::tell_staff(store, "plugin_event_dead", body, now).await;
        }
        Ok(())
    }

    /// Calls every plugin's `on-tick` with the shop's time; its writes commit after the call.
    pub async fn tick(self: &Arc<Self>) -> StoreResult<()> {
        let Some(store) = self.store.clone() else {
            return Ok(());
        };
        let set = self.current();
        let tickers: Vec<Arc<Loaded>> = set.with_hook(Hook::OnTick).cloned().collect();
        for plugin in tickers {
            let now = self.clock.now_ms();
            let host = self.clone();
            let runtime_set = set.clone();
            let loaded = plugin.clone();
            let called = tokio::task::spawn_blocking(move || {
                host.call(
                    &runtime_set.runtime,
                    &loaded,
                    Hook::OnTick,
                    0,
                    Access::Buffered,
                    |instance, store| instance.call_on_tick(store, now),
                )
            })
            .await
            .map_err(|e| StoreError::Other(e.to_string()))?;
            let total = super::kv::Total::of(&plugin.declared.quota);
            if let Ok(outcome) = called {
                match store
                    .plugins()
                    .commit_plugin_writes(plugin.name(), &outcome.writes, total, None)
                    .await
                {
                    Ok(_) => self.record_success(&plugin, Hook::OnTick),
                    Err(over @ KvCommitError::OverQuota { .. }) => {
                        self.record_failure(&plugin, Hook::OnTick, over.to_string());
                    }
                    Err(error) => {
                        tracing::warn!(plugin = plugin.name(), %error, "on-tick writes not committed");
                    }
                }
            }
        }
        Ok(())
    }
}

/// Delivers events every 200 ms and flushes the counters every few seconds.
pub async fn dispatch_loop(host: Arc<PluginHost>) {
    let mut interval = tokio::time::interval(Duration::from_millis(200));
    for round in 0u64.. {
        interval.tick().await;
        if let Err(error) = host.dispatch_pending().await {
            tracing::warn!(%error, "plugin event dispatch failed");
        }
        if round % 10 == 0
            && let Err(error) = host.flush_stats().await
        {
            tracing::warn!(%error, "plugin stats not saved");
        }
    }
}

/// `on-tick` once a minute.
pub async fn tick_loop(host: Arc<PluginHost>) {
    let mut interval = tokio::time::interval(Duration::from_secs(60));
    loop {
        interval.tick().await;
        if let Err(error) = host.tick().await {
            tracing::warn!(%error, "plugin ticks failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_a_second_doubling_to_ten_minutes() {
        let waits: Vec<i64> = (1..=12).map(retry_delay_ms).collect();
        assert_eq!(
            waits,
            [
                1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 256_000, 512_000, 600_000,
                600_000
            ]
        );
        assert_eq!(retry_delay_ms(0), 1000);
        assert_eq!(retry_delay_ms(i64::MAX), MAX_RETRY_MS);
    }
}
