-- Self-pickup (E5): pickup points (核销点) with their verifiers, and each pickup order's point
-- and single-use code.
CREATE TABLE pickup_points (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    address    TEXT    NOT NULL,
    map_url    TEXT    NOT NULL DEFAULT '',
    phone      TEXT    NOT NULL DEFAULT '',
    region_id  INTEGER REFERENCES regions(id),
    enabled    BOOLEAN NOT NULL DEFAULT TRUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE pickup_verifiers (
    point_id INTEGER NOT NULL REFERENCES pickup_points(id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users(id),
    PRIMARY KEY (point_id, user_id)
);

ALTER TABLE orders ADD COLUMN pickup_point_id INTEGER REFERENCES pickup_points(id);
-- Random, 12 digits, the member's to show; NULL again never (a used code stays, the status
-- says it was used).
ALTER TABLE orders ADD COLUMN pickup_code TEXT;
CREATE UNIQUE INDEX orders_pickup_code ON orders (pickup_code);
