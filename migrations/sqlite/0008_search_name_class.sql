-- PostgreSQL's twin adds a name-only text index for its relevance classes; FTS5's bm25 already
-- weighs the name column (10) over the rest, so SQLite needs nothing.
SELECT 1;
