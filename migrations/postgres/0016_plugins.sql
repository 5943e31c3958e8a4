-- The plugin host (REQUIREMENTS M2, M7). Each plugin's key-value namespace: bytes, and an
-- integer counter beside them for bounded increments (flash-sale quotas).
CREATE TABLE plugin_kv (
    plugin TEXT    NOT NULL,
    key    TEXT    NOT NULL,
    value  BYTEA,
    num    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (plugin, key)
);

-- Reservations a plugin's checkout hook made for an order, applied in its transaction; sent
-- back to the plugin with the order's events so it can return them.
CREATE TABLE order_reservations (
    order_id BIGINT NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    plugin   TEXT    NOT NULL,
    key      TEXT    NOT NULL,
    delta    BIGINT NOT NULL,
    PRIMARY KEY (order_id, plugin, key)
);

-- Events delivered to a plugin's on-event hook: one row per (plugin, event), written in the
-- transaction that commits the hook's storage writes, so each event's effects happen once.
CREATE TABLE plugin_deliveries (
    plugin       TEXT    NOT NULL,
    event_id     BIGINT NOT NULL,
    failed       BOOLEAN NOT NULL DEFAULT FALSE,
    delivered_at BIGINT NOT NULL,
    PRIMARY KEY (plugin, event_id)
);

-- How far each plugin has read the outbox.
CREATE TABLE plugin_cursors (
    plugin   TEXT PRIMARY KEY,
    event_id BIGINT NOT NULL
);

-- Calls, failures and fuel per plugin, flushed by the serving instance (for `pifa plugins
-- list`, another process).
CREATE TABLE plugin_stats (
    plugin          TEXT PRIMARY KEY,
    version         TEXT    NOT NULL DEFAULT '',
    calls           BIGINT NOT NULL DEFAULT 0,
    failures        BIGINT NOT NULL DEFAULT 0,
    fuel_p50        BIGINT NOT NULL DEFAULT 0,
    fuel_p99        BIGINT NOT NULL DEFAULT 0,
    suspended_until BIGINT,
    last_error      TEXT    NOT NULL DEFAULT '',
    updated_at      BIGINT NOT NULL
);
