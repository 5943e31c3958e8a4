-- PostgreSQL keeps the shelf flag beside its search vectors; SQLite's FTS5 ranking joins
-- products cheaply and needs nothing here.
SELECT 1;
