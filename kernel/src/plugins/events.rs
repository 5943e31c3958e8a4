//! Outbox events to the plugins' `on-event` hooks, after commit (the brief's step 4), and the
//! `on-tick` schedule. Each plugin reads the outbox from its own cursor; an event's delivery
//! record commits in the same transaction as the storage writes the hook made, so a redelivery
//! (a crash before the cursor moved, a second instance) finds the record and changes nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use pifa_sdk::{Event, Hook, Reserved};
use sqlx::FromRow;

use super::{Access, CallError, Loaded, PluginHost};
use crate::store::batch::{Batch, args};
use crate::store::{Store, StoreError, StoreResult, on_pool};

/// Attempts before an event a plugin keeps failing on is given up (recorded as failed, so the
/// plugin's later events are not held up behind it).
const MAX_ATTEMPTS: u32 = 5;
const BATCH: i64 = 200;

#[derive(Debug, Clone, FromRow)]
pub struct StoredEvent {
    pub id: i64,
    pub kind: String,
    pub order_id: Option<i64>,
    pub payload: String,
    pub created_at: i64,
}

/// What delivering one event to one plugin came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// Delivered before (this call changed nothing).
    AlreadyDelivered,
    Failed(String),
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

impl Store {
    /// Where `plugin` reads the outbox from; a plugin seen for the first time starts after
    /// the last event now (installed plugins get the events from their install on). (`WHERE
    /// TRUE`: SQLite's parser needs it between `INSERT … SELECT` and `ON CONFLICT`.)
    pub async fn init_plugin_cursor(&self, plugin: &str) -> StoreResult<()> {
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

    async fn plugin_cursor(&self, plugin: &str) -> StoreResult<i64> {
        self.init_plugin_cursor(plugin).await?;
        Ok(on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT event_id FROM plugin_cursors WHERE plugin = $1")
                .bind(plugin)
                .fetch_one(pool)
                .await
        })?)
    }

    async fn move_plugin_cursor(&self, plugin: &str, event_id: i64) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO plugin_cursors (plugin, event_id) VALUES ($1, $2)
                 ON CONFLICT (plugin) DO UPDATE SET event_id = excluded.event_id
                 WHERE plugin_cursors.event_id < excluded.event_id",
            )
            .bind(plugin)
            .bind(event_id)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    async fn events_after(&self, cursor: i64, limit: i64) -> StoreResult<Vec<StoredEvent>> {
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

    pub async fn event(&self, id: i64) -> StoreResult<Option<StoredEvent>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, kind, order_id, payload, created_at FROM events WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await
        })?)
    }

    /// The ids of an order's events of `kind`, oldest first.
    pub async fn order_event_ids(&self, order_id: i64, kind: &str) -> StoreResult<Vec<i64>> {
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

    async fn plugin_delivered(&self, plugin: &str, event_id: i64) -> StoreResult<bool> {
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

    async fn give_up_delivery(&self, plugin: &str, event_id: i64, now_ms: i64) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO plugin_deliveries (plugin, event_id, failed, delivered_at) VALUES ($1, $2, TRUE, $3)
                 ON CONFLICT (plugin, event_id) DO NOTHING",
            )
            .bind(plugin)
            .bind(event_id)
            .bind(now_ms)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// What `plugin` reserved for `order_id` at checkout.
    pub async fn order_reservations(
        &self,
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

    pub async fn save_plugin_stats(&self, row: &StatsRow, now_ms: i64) -> StoreResult<()> {
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
    pub async fn plugin_stats(&self) -> StoreResult<Vec<StatsRow>> {
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
    /// its record and changes nothing.
    pub async fn deliver(self: &Arc<Self>, plugin: &str, event_id: i64) -> StoreResult<Delivery> {
        let Some(store) = self.store.clone() else {
            return Ok(Delivery::Failed("no database".to_owned()));
        };
        let set = self.current();
        let Some(loaded) = set.named(plugin).cloned() else {
            return Ok(Delivery::Failed(format!("no plugin {plugin}")));
        };
        if store.plugin_delivered(plugin, event_id).await? {
            return Ok(Delivery::AlreadyDelivered);
        }
        let Some(stored) = store.event(event_id).await? else {
            return Ok(Delivery::Failed(format!("no event {event_id}")));
        };
        let reservations = match stored.order_id {
            Some(order_id) => store.order_reservations(order_id, plugin).await?,
            None => Vec::new(),
        };
        let now = self.clock.now_ms();
        let event = Event {
            id: stored.id,
            kind: stored.kind,
            order_id: stored.order_id,
            payload: serde_json::from_str(&stored.payload).unwrap_or(serde_json::Value::Null),
            reservations: reservations
                .into_iter()
                .map(|(key, delta)| Reserved { key, delta })
                .collect(),
            now_ms: now,
            settings: loaded.declared.settings.clone(),
        };
        let json = serde_json::to_string(&event).map_err(|e| StoreError::Other(e.to_string()))?;
        let host = self.clone();
        let called = tokio::task::spawn_blocking(move || {
            host.call(
                &set.runtime,
                &loaded,
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
            Err(
                CallError::Failed(reason)
                | CallError::Refused {
                    message: reason, ..
                },
            ) => {
                return Ok(Delivery::Failed(reason));
            }
            Err(CallError::Suspended) => return Ok(Delivery::Failed("suspended".to_owned())),
            Err(CallError::Busy(reason)) => return Ok(Delivery::Failed(reason)),
        };
        let mut record = Batch::default();
        record.push(
            "INSERT INTO plugin_deliveries (plugin, event_id, delivered_at) VALUES ($1, $2, $3)
             ON CONFLICT (plugin, event_id) DO NOTHING RETURNING event_id",
            args![plugin, event_id, now],
        );
        match store
            .commit_plugin_writes(plugin, &outcome.writes, Some(record))
            .await
        {
            Ok(true) => Ok(Delivery::Delivered),
            Ok(false) => Ok(Delivery::AlreadyDelivered),
            Err(StoreError::BoundReached(_)) => Ok(Delivery::Failed(
                "a counter would leave its bounds (changed meanwhile); will retry".to_owned(),
            )),
            Err(other) => Err(other),
        }
    }

    /// One round of the dispatcher: each plugin's events since its cursor.
    pub async fn dispatch_pending(
        self: &Arc<Self>,
        attempts: &mut HashMap<(String, i64), u32>,
    ) -> StoreResult<usize> {
        let Some(store) = self.store.clone() else {
            return Ok(0);
        };
        let set = self.current();
        let mut delivered = 0;
        let listeners: Vec<Arc<Loaded>> = set.with_hook(Hook::OnEvent).cloned().collect();
        for plugin in listeners {
            let name = plugin.name().to_owned();
            let cursor = store.plugin_cursor(&name).await?;
            let mut reached = cursor;
            for event in store.events_after(cursor, BATCH).await? {
                if plugin.wants_event(&event.kind) {
                    match self.deliver(&name, event.id).await? {
                        Delivery::Delivered => delivered += 1,
                        Delivery::AlreadyDelivered => {}
                        Delivery::Failed(reason) => {
                            let tries = attempts.entry((name.clone(), event.id)).or_insert(0);
                            *tries += 1;
                            if *tries < MAX_ATTEMPTS {
                                tracing::warn!(plugin = name, event = event.id, %reason, "event delivery failed; will retry");
                                break;
                            }
                            tracing::error!(plugin = name, event = event.id, %reason, "event delivery given up");
                            store
                                .give_up_delivery(&name, event.id, self.clock.now_ms())
                                .await?;
                            attempts.remove(&(name.clone(), event.id));
                        }
                    }
                }
                reached = event.id;
            }
            if reached > cursor {
                store.move_plugin_cursor(&name, reached).await?;
            }
        }
        Ok(delivered)
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
            if let Ok(outcome) = called
                && let Err(error) = store
                    .commit_plugin_writes(plugin.name(), &outcome.writes, None)
                    .await
            {
                tracing::warn!(plugin = plugin.name(), %error, "on-tick writes not committed");
            }
        }
        Ok(())
    }
}

/// Delivers events every 200 ms and flushes the counters every few seconds.
pub async fn dispatch_loop(host: Arc<PluginHost>) {
    let mut interval = tokio::time::interval(Duration::from_millis(200));
    let mut attempts = HashMap::new();
    for round in 0u64.. {
        interval.tick().await;
        if let Err(error) = host.dispatch_pending(&mut attempts).await {
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
