-- Product search (C4): words segmented at write time (jieba), with pinyin initials, in a
-- weighted tsvector (name A, initials B, everything else C) with a GIN index. The 'simple'
-- configuration keeps our words as they are; it needs a UTF-8 locale that classifies CJK
-- ideographs as letters (C.UTF-8 and the *.UTF-8 locales do; the startup check says if not).
-- Derived data: `pifa reindex` rebuilds it.
CREATE TABLE product_search (
    product_id   BIGINT PRIMARY KEY REFERENCES products(id) ON DELETE CASCADE,
    name_tokens  TEXT   NOT NULL,
    body_tokens  TEXT   NOT NULL,
    initials     TEXT   NOT NULL,
    document     tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple', name_tokens), 'A') ||
        setweight(to_tsvector('simple', initials), 'B') ||
        setweight(to_tsvector('simple', body_tokens), 'C')
    ) STORED
);
CREATE INDEX product_search_document ON product_search USING GIN (document);

ALTER TABLE products ADD COLUMN recommended BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE products ADD COLUMN hot BOOLEAN NOT NULL DEFAULT FALSE;
