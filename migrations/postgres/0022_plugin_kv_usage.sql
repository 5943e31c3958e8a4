-- What each plugin's key-value namespace holds (issue 16): its keys, and the bytes of its keys
-- and values, kept exact by a trigger for every writer of plugin_kv (a hook's commit, a
-- checkout's reservations, a restore), so checking a plugin's quota (quota.kv_keys,
-- quota.kv_bytes in plugins.toml) reads one row instead of summing its namespace. Derived
-- data: not backed up (a restore's rows move it through the trigger).
CREATE TABLE plugin_kv_usage (
    plugin TEXT PRIMARY KEY,
    keys   BIGINT NOT NULL DEFAULT 0,
    bytes  BIGINT NOT NULL DEFAULT 0
);

INSERT INTO plugin_kv_usage (plugin, keys, bytes)
SELECT plugin, COUNT(*), SUM(octet_length(key) + COALESCE(octet_length(value), 0))
FROM plugin_kv GROUP BY plugin;

CREATE FUNCTION plugin_kv_usage_track() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO plugin_kv_usage (plugin, keys, bytes)
        VALUES (NEW.plugin, 1, octet_length(NEW.key) + COALESCE(octet_length(NEW.value), 0))
        ON CONFLICT (plugin) DO UPDATE
        SET keys = plugin_kv_usage.keys + 1, bytes = plugin_kv_usage.bytes + excluded.bytes;
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE plugin_kv_usage
        SET bytes = bytes + COALESCE(octet_length(NEW.value), 0) - COALESCE(octet_length(OLD.value), 0)
        WHERE plugin = NEW.plugin;
    ELSE
        UPDATE plugin_kv_usage
        SET keys = keys - 1, bytes = bytes - octet_length(OLD.key) - COALESCE(octet_length(OLD.value), 0)
        WHERE plugin = OLD.plugin;
    END IF;
    RETURN NULL;
END
$$;

-- Deferred to the commit: the usage row is then the last lock a transaction takes, after the
-- plugin_kv rows it locked in whatever order, so a checkout reserving a new counter and a
-- hook's commit cannot wait for each other in a cycle. A commit that checks the quota asks for
-- it at once (SET CONSTRAINTS plugin_kv_usage_track IMMEDIATE) after its last write. A
-- counter's change (num) leaves the usage as it is.
CREATE CONSTRAINT TRIGGER plugin_kv_usage_track
    AFTER INSERT OR UPDATE OF value OR DELETE ON plugin_kv
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION plugin_kv_usage_track();
