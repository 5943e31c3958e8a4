-- The plugin host (REQUIREMENTS M2, M7). Each plugin's key-value namespace: bytes, and an
-- integer counter beside them for bounded increments (flash-sale quotas).
CREATE TABLE plugin_kv (
    plugin TEXT    NOT NULL,
    key    TEXT    NOT NULL,
    value  BLOB,
    num    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (plugin, key)
);

-- Reservations a plugin's checkout hook made for an order, applied in its transaction; sent
-- back to the plugin with the order's events so it can return them.
CREATE TABLE order_reservations (
    order_id INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    plugin   TEXT    NOT NULL,
    key      TEXT    NOT NULL,
    delta    INTEGER NOT NULL,
    PRIMARY KEY (order_id, plugin, key)
);

-- Events delivered to a plugin's on-event hook: one row per (plugin, event), written in the
-- transaction that commits the hook's storage writes, so each event's effects happen once.
CREATE TABLE plugin_deliveries (
    plugin       TEXT    NOT NULL,
    event_id     INTEGER NOT NULL,
    failed       BOOLEAN NOT NULL DEFAULT FALSE,
    delivered_at INTEGER NOT NULL,
    PRIMARY KEY (plugin, event_id)
);

-- How far each plugin has read the outbox.
CREATE TABLE plugin_cursors (
    plugin   TEXT PRIMARY KEY,
    event_id INTEGER NOT NULL
);

-- Calls, failures and fuel per plugin, flushed by the serving instance (for `pifa plugins
-- list`, another process).
CREATE TABLE plugin_stats (
    plugin          TEXT PRIMARY KEY,
    version         TEXT    NOT NULL DEFAULT '',
    calls           INTEGER NOT NULL DEFAULT 0,
    failures        INTEGER NOT NULL DEFAULT 0,
    fuel_p50        INTEGER NOT NULL DEFAULT 0,
    fuel_p99        INTEGER NOT NULL DEFAULT 0,
    suspended_until INTEGER,
    last_error      TEXT    NOT NULL DEFAULT '',
    updated_at      INTEGER NOT NULL
);
