-- Ordering (D1–D6, B6, F1 offline, K2 events). Money is integer fen; times are epoch ms (UTC).

-- Bumped by every write that changes what a product costs or whether it sells (fields, SKUs,
-- prices, shelf status) — never by stock — so checkout can tell whether its quote still holds.
-- Moves with every change to a SKU's stock, in the statement that changes it: caches apply stock
-- changes in place only when they are newer than what they hold.
ALTER TABLE skus ADD COLUMN stock_seq INTEGER NOT NULL DEFAULT 0;

ALTER TABLE products ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;

-- D1: one cart per member; what he saw when he put a SKU in, to tell him what changed since.
CREATE TABLE cart_items (
    user_id        INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    sku_id         INTEGER NOT NULL REFERENCES skus(id) ON DELETE CASCADE,
    qty            INTEGER NOT NULL,
    seen_price_fen INTEGER NOT NULL,
    seen_stock     INTEGER NOT NULL,
    added_at       INTEGER NOT NULL,
    PRIMARY KEY (user_id, sku_id)
);

-- The order number is derived (shop date + id), so no counter row is fought over.
CREATE TABLE orders (
    id              INTEGER PRIMARY KEY,
    member_id       INTEGER  NOT NULL REFERENCES users(id),
    placed_by       INTEGER  NOT NULL REFERENCES users(id),
    region_id       INTEGER  REFERENCES regions(id),
    manager_id      INTEGER  REFERENCES users(id),
    promoter_id     INTEGER  REFERENCES users(id),
    status          TEXT    NOT NULL,
    credit_hold     BOOLEAN NOT NULL DEFAULT FALSE,
    payment_method  TEXT    NOT NULL,
    delivery_method TEXT    NOT NULL,
    address         TEXT    NOT NULL,
    remark          TEXT    NOT NULL DEFAULT '',
    po_number       TEXT    NOT NULL DEFAULT '',
    requested_date  TEXT,
    goods_fen       INTEGER  NOT NULL,
    shipping_fen    INTEGER  NOT NULL,
    adjustments_fen INTEGER  NOT NULL,
    total_fen       INTEGER  NOT NULL,
    paid_fen        INTEGER  NOT NULL DEFAULT 0,
    weight_g        INTEGER  NOT NULL,
    close_reason    TEXT,
    placed_at       INTEGER  NOT NULL,
    confirmed_at    INTEGER,
    confirmed_by    INTEGER  REFERENCES users(id),
    paid_at         INTEGER,
    closed_at       INTEGER,
    updated_at      INTEGER  NOT NULL
);
CREATE INDEX orders_member ON orders (member_id, id);
CREATE INDEX orders_region ON orders (region_id, id);
CREATE INDEX orders_status ON orders (status, placed_at);

CREATE TABLE order_lines (
    order_id       INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    line_no        INTEGER NOT NULL,
    sku_id         INTEGER NOT NULL REFERENCES skus(id),
    product_id     INTEGER NOT NULL REFERENCES products(id),
    item_no        TEXT   NOT NULL,
    name           TEXT   NOT NULL,
    model          TEXT   NOT NULL,
    spec           TEXT   NOT NULL,
    unit_label     TEXT   NOT NULL,
    qty            INTEGER NOT NULL,
    list_price_fen INTEGER NOT NULL,
    line_total_fen INTEGER NOT NULL,
    reserved_qty   INTEGER NOT NULL,
    backorder_qty  INTEGER NOT NULL,
    weight_g       INTEGER NOT NULL,
    PRIMARY KEY (order_id, line_no)
);
CREATE INDEX order_lines_sku ON order_lines (sku_id);

-- Every change to a price: per line (line_no) or for the order (NULL), with who made it.
CREATE TABLE order_adjustments (
    id         INTEGER PRIMARY KEY,
    order_id   INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    line_no    INTEGER,
    source     TEXT   NOT NULL,
    label      TEXT   NOT NULL,
    amount_fen INTEGER NOT NULL
);
CREATE INDEX order_adjustments_order ON order_adjustments (order_id);

CREATE TABLE order_history (
    id          INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    actor_id    INTEGER REFERENCES users(id),
    action      TEXT   NOT NULL,
    from_status TEXT,
    to_status   TEXT   NOT NULL,
    remark      TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX order_history_order ON order_history (order_id);

-- The outbox (K2): written in the transaction of what happened, delivered after commit.
CREATE TABLE events (
    id           INTEGER PRIMARY KEY,
    kind         TEXT   NOT NULL,
    order_id     INTEGER REFERENCES orders(id) ON DELETE CASCADE,
    payload      TEXT   NOT NULL,
    created_at   INTEGER NOT NULL,
    delivered_at INTEGER
);
CREATE INDEX events_undelivered ON events (delivered_at, id);

-- F1 offline payments: the member's transfer receipts and staff's marks of money received.
CREATE TABLE order_payments (
    id          INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    kind        TEXT   NOT NULL,
    amount_fen  INTEGER NOT NULL,
    upload_key  TEXT   REFERENCES uploads(key),
    remark      TEXT   NOT NULL DEFAULT '',
    actor_id    INTEGER NOT NULL REFERENCES users(id),
    at          INTEGER NOT NULL
);
CREATE INDEX order_payments_order ON order_payments (order_id);

-- A double submit creates one order: the first response, kept per member and key.
CREATE TABLE idempotency_keys (
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key          TEXT   NOT NULL,
    request_hash TEXT   NOT NULL,
    order_id     INTEGER REFERENCES orders(id) ON DELETE CASCADE,
    response     TEXT   NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
);
