-- What each plugin's key-value namespace holds (issue 16): its keys, and the bytes of its keys
-- and values, kept exact by triggers for every writer of plugin_kv (a hook's commit, a
-- checkout's reservations, a restore), so checking a plugin's quota (quota.kv_keys,
-- quota.kv_bytes in plugins.toml) reads one row instead of summing its namespace. Derived
-- data: not backed up (a restore's rows move it through the triggers).
CREATE TABLE plugin_kv_usage (
    plugin TEXT PRIMARY KEY,
    keys   INTEGER NOT NULL DEFAULT 0,
    bytes  INTEGER NOT NULL DEFAULT 0
);

INSERT INTO plugin_kv_usage (plugin, keys, bytes)
SELECT plugin, COUNT(*), SUM(length(CAST(key AS BLOB)) + COALESCE(length(value), 0))
FROM plugin_kv GROUP BY plugin;

CREATE TRIGGER plugin_kv_usage_insert AFTER INSERT ON plugin_kv BEGIN
    INSERT INTO plugin_kv_usage (plugin, keys, bytes)
    VALUES (NEW.plugin, 1, length(CAST(NEW.key AS BLOB)) + COALESCE(length(NEW.value), 0))
    ON CONFLICT (plugin) DO UPDATE SET keys = keys + 1, bytes = bytes + excluded.bytes;
END;

-- A counter's change (num) leaves the usage as it is.
CREATE TRIGGER plugin_kv_usage_update AFTER UPDATE OF value ON plugin_kv BEGIN
    UPDATE plugin_kv_usage
    SET bytes = bytes + COALESCE(length(NEW.value), 0) - COALESCE(length(OLD.value), 0)
    WHERE plugin = NEW.plugin;
END;

CREATE TRIGGER plugin_kv_usage_delete AFTER DELETE ON plugin_kv BEGIN
    UPDATE plugin_kv_usage
    SET keys = keys - 1, bytes = bytes - length(CAST(OLD.key AS BLOB)) - COALESCE(length(OLD.value), 0)
    WHERE plugin = OLD.plugin;
END;
