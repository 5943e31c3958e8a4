-- Reviews (C7): a member who received goods rates and reviews them, once per product and
-- order; staff moderate; product pages show the approved ones.
CREATE TABLE reviews (
    id           INTEGER PRIMARY KEY,
    product_id   INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    order_id     INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    member_id    INTEGER NOT NULL REFERENCES users(id),
    rating       INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    body         TEXT    NOT NULL,
    -- pending | approved | rejected
    status       TEXT    NOT NULL,
    moderated_by INTEGER REFERENCES users(id),
    created_at   INTEGER NOT NULL,
    UNIQUE (order_id, product_id)
);
CREATE INDEX reviews_product ON reviews (product_id, status, id);
CREATE INDEX reviews_status ON reviews (status, id);

CREATE TABLE review_photos (
    review_id  INTEGER NOT NULL REFERENCES reviews(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    upload_key TEXT    NOT NULL REFERENCES uploads(key),
    PRIMARY KEY (review_id, seq)
);
