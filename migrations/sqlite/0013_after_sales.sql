-- After-sales (E8): a member's request for a refund, return, exchange or repair, decided by
-- staff or the order's manager; goods collected back by a driver; refunds recorded against
-- what was paid.
CREATE TABLE after_sales (
    id              INTEGER PRIMARY KEY,
    order_id        INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL,
    -- requested | approved | rejected | collected | refunded
    status          TEXT    NOT NULL,
    reason          TEXT    NOT NULL,
    -- JSON: [{"line_no": 1, "qty": 10}]; empty for a refund of money only.
    lines           TEXT    NOT NULL,
    amount_fen      INTEGER NOT NULL DEFAULT 0,
    decided_by      INTEGER REFERENCES users(id),
    decision_remark TEXT    NOT NULL DEFAULT '',
    collected_by    INTEGER REFERENCES users(id),
    refunded_fen    INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX after_sales_order ON after_sales (order_id);
CREATE INDEX after_sales_status ON after_sales (status, id);

CREATE TABLE after_sale_photos (
    after_sale_id INTEGER NOT NULL REFERENCES after_sales(id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    upload_key    TEXT    NOT NULL REFERENCES uploads(key),
    PRIMARY KEY (after_sale_id, seq)
);

CREATE TABLE refunds (
    id            INTEGER PRIMARY KEY,
    order_id      INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    after_sale_id INTEGER REFERENCES after_sales(id),
    amount_fen    INTEGER NOT NULL,
    remark        TEXT    NOT NULL DEFAULT '',
    actor_id      INTEGER NOT NULL REFERENCES users(id),
    at            INTEGER NOT NULL
);
CREATE INDEX refunds_order ON refunds (order_id);

ALTER TABLE orders ADD COLUMN refunded_fen INTEGER NOT NULL DEFAULT 0;
