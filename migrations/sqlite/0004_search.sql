-- Product search (C4): words segmented at write time (jieba), with pinyin initials, indexed by
-- FTS5. The tokens are already words separated by spaces, so the unicode61 tokenizer only
-- splits on those spaces (CJK ideographs count as letters) and lower-cases ASCII.
-- rowid = products.id. Derived data: `pifa reindex` rebuilds it.
CREATE VIRTUAL TABLE product_fts USING fts5(name_tokens, body_tokens, initials, tokenize = 'unicode61 remove_diacritics 0');

ALTER TABLE products ADD COLUMN recommended BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE products ADD COLUMN hot BOOLEAN NOT NULL DEFAULT FALSE;
