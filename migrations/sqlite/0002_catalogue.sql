-- Members' wholesale standing and the catalogue: levels, categories, brands, units, products,
-- SKUs with level prices and quantity breaks. Money is integer fen; weights are grams.

CREATE TABLE member_levels (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    rank        INTEGER NOT NULL,
    is_default  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE members (
    user_id        INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    level_id       INTEGER REFERENCES member_levels(id),
    region_id      INTEGER REFERENCES regions(id),
    manager_id     INTEGER REFERENCES users(id),
    reject_reason  TEXT,
    reviewed_by    INTEGER REFERENCES users(id),
    reviewed_at    INTEGER
);

CREATE TABLE categories (
    id         INTEGER PRIMARY KEY,
    parent_id  INTEGER REFERENCES categories(id),
    name       TEXT    NOT NULL,
    depth      INTEGER NOT NULL,
    sort       INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX categories_sibling_name ON categories(COALESCE(parent_id, 0), name);

CREATE TABLE brands (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    logo_url    TEXT,
    description TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
);

CREATE TABLE units (
    id          INTEGER PRIMARY KEY,
    item_unit   TEXT    NOT NULL,
    inner_qty   INTEGER NOT NULL,
    inner_unit  TEXT    NOT NULL,
    outer_qty   INTEGER NOT NULL,
    outer_unit  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (item_unit, inner_qty, inner_unit, outer_qty, outer_unit)
);

CREATE TABLE products (
    id           INTEGER PRIMARY KEY,
    item_no      TEXT    NOT NULL UNIQUE,
    name         TEXT    NOT NULL,
    description  TEXT    NOT NULL DEFAULT '',
    brand_id     INTEGER REFERENCES brands(id),
    category_id  INTEGER REFERENCES categories(id),
    supplier_id  INTEGER REFERENCES users(id),
    unit_id      INTEGER NOT NULL REFERENCES units(id),
    on_shelf     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX products_category ON products(category_id);
CREATE INDEX products_brand ON products(brand_id);

CREATE TABLE skus (
    id                   INTEGER PRIMARY KEY,
    product_id           INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    model                TEXT    NOT NULL DEFAULT '',
    spec                 TEXT    NOT NULL DEFAULT '',
    price_fen            INTEGER NOT NULL,
    cost_fen             INTEGER,
    stock                INTEGER NOT NULL DEFAULT 0,
    allow_backorder      BOOLEAN NOT NULL DEFAULT FALSE,
    low_stock_threshold  INTEGER,
    weight_g             INTEGER,
    barcode              TEXT    UNIQUE,
    sort                 INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX skus_product ON skus(product_id);

CREATE TABLE sku_level_prices (
    sku_id     INTEGER NOT NULL REFERENCES skus(id) ON DELETE CASCADE,
    level_id   INTEGER NOT NULL REFERENCES member_levels(id),
    price_fen  INTEGER NOT NULL,
    PRIMARY KEY (sku_id, level_id)
);

CREATE TABLE sku_price_breaks (
    sku_id     INTEGER NOT NULL REFERENCES skus(id) ON DELETE CASCADE,
    min_qty    INTEGER NOT NULL,
    price_fen  INTEGER NOT NULL,
    PRIMARY KEY (sku_id, min_qty)
);
