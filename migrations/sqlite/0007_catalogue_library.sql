-- The catalogue's libraries (C1–C3): product tags, the spec library (规格库) SKUs take their
-- attributes from, and the packing forms units are built from, with the seed's 14 forms
-- (「X把/盒」「X把/箱」… for 把 桶 瓶 套 卷 个 扎) as defaults.

CREATE TABLE product_tags (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    sort        INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);

CREATE TABLE product_tag_links (
    product_id  INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    tag_id      INTEGER NOT NULL REFERENCES product_tags(id) ON DELETE CASCADE,
    PRIMARY KEY (product_id, tag_id)
);
CREATE INDEX product_tag_links_tag ON product_tag_links(tag_id, product_id);

-- `choices` is a JSON array of the values a SKU may take (颜色: ["红色", "黄色"]).
CREATE TABLE spec_attributes (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    choices     TEXT    NOT NULL,
    sort        INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL
);

-- A SKU's attributes from the spec library, as a JSON object (name → value).
ALTER TABLE skus ADD COLUMN attributes TEXT NOT NULL DEFAULT '{}';

CREATE TABLE unit_forms (
    id          INTEGER PRIMARY KEY,
    item_unit   TEXT    NOT NULL,
    pack_unit   TEXT    NOT NULL,
    UNIQUE (item_unit, pack_unit)
);
INSERT INTO unit_forms (item_unit, pack_unit) VALUES
    ('把', '盒'), ('把', '箱'), ('桶', '盒'), ('桶', '箱'), ('瓶', '盒'), ('瓶', '箱'),
    ('套', '盒'), ('套', '箱'), ('卷', '盒'), ('卷', '箱'), ('个', '盒'), ('个', '箱'),
    ('扎', '盒'), ('扎', '箱');
