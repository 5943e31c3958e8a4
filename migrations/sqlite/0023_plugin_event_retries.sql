-- At least once, kept (issue 16): an event a plugin's on-event fails on waits at the head of
-- that plugin's queue, its attempts and next try stored beside the plugin's cursor so a
-- restart keeps them (1 s doubling to 10 minutes); after `[limits] event_attempts` failures it
-- is parked as dead: a `failed` row in plugin_deliveries with how often it was tried and why.
ALTER TABLE plugin_cursors ADD COLUMN failed_event_id INTEGER;
ALTER TABLE plugin_cursors ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE plugin_cursors ADD COLUMN retry_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE plugin_cursors ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
ALTER TABLE plugin_deliveries ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0; -- of a dead one
ALTER TABLE plugin_deliveries ADD COLUMN error TEXT NOT NULL DEFAULT '';
