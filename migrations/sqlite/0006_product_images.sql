-- Product images (C2): public catalogue pictures, files under PIFA_DATA/uploads.
CREATE TABLE product_images (
    key           TEXT    PRIMARY KEY,
    product_id    INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    content_type  TEXT    NOT NULL,
    size_bytes    INTEGER NOT NULL,
    sort          INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX product_images_product ON product_images(product_id, sort);
