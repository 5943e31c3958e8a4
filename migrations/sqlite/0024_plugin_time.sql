-- Time per plugin call (issue 16): wall time in µs with host calls included, 50th and 99th
-- percentile of the recent calls, and the calls not made for want of a free call slot, as the
-- serving instance flushes them for `pifa plugins list`.
ALTER TABLE plugin_stats ADD COLUMN wall_us_p50 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE plugin_stats ADD COLUMN wall_us_p99 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE plugin_stats ADD COLUMN busy INTEGER NOT NULL DEFAULT 0;
