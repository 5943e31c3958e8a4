-- Partial shipment (E2): when a backordered order leaves with what is on the shelf, what is
-- still owed moves to a follow-up order (补发单) that ships when stock arrives. The parent keeps
-- the money (the follow-up is priced at zero); its lines say how much went to the follow-up.
ALTER TABLE orders ADD COLUMN parent_id BIGINT REFERENCES orders(id);
ALTER TABLE order_lines ADD COLUMN followup_qty BIGINT NOT NULL DEFAULT 0;
CREATE INDEX orders_parent ON orders (parent_id);
