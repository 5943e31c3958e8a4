-- Fulfilment (E2–E4, E7, E9): how an order was sent, by whom, and when it was received and
-- completed; the driver's photos of the signed delivery note.
ALTER TABLE orders ADD COLUMN driver_id INTEGER REFERENCES users(id);
-- driver | express | logistics | other; NULL until dispatched (or a driver assigned).
ALTER TABLE orders ADD COLUMN shipment TEXT;
ALTER TABLE orders ADD COLUMN carrier TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN tracking_no TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN expected_date TEXT;
ALTER TABLE orders ADD COLUMN dispatch_remark TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN dispatched_at INTEGER;
ALTER TABLE orders ADD COLUMN received_at INTEGER;
ALTER TABLE orders ADD COLUMN completed_at INTEGER;
CREATE INDEX orders_driver ON orders (driver_id, status);
CREATE INDEX orders_in_delivery ON orders (status, dispatched_at);

CREATE TABLE delivery_photos (
    order_id    INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    upload_key  TEXT    NOT NULL REFERENCES uploads(key),
    uploaded_by INTEGER NOT NULL REFERENCES users(id),
    at          INTEGER NOT NULL,
    PRIMARY KEY (order_id, seq)
);
