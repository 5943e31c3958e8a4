-- What the pricing script step was given for each order (M4): the member as the script saw
-- him, the pricing time and each line before the script (catalogue price after level and
-- break prices, quantity, SKU), as JSON. Written in the checkout's own transaction, so an order
-- and its inputs commit together; a draft script is replayed on them with only the script step
-- changed (POST /api/v1/admin/scripts/pricing/replay).
CREATE TABLE order_pricing_inputs (
    order_id BIGINT  PRIMARY KEY REFERENCES orders(id) ON DELETE CASCADE,
    inputs   TEXT    NOT NULL
);
