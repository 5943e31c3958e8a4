-- Member profiles (B1), their uploads (shop-front photo, business licence) and address books (B7).

ALTER TABLE members ADD COLUMN shop_name TEXT;
ALTER TABLE members ADD COLUMN wechat_id TEXT;
ALTER TABLE members ADD COLUMN shop_photo TEXT;
ALTER TABLE members ADD COLUMN licence_photo TEXT;
ALTER TABLE members ADD COLUMN profile_completed_at INTEGER;

CREATE TABLE uploads (
    key           TEXT    PRIMARY KEY,
    owner_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind          TEXT    NOT NULL,
    content_type  TEXT    NOT NULL,
    size_bytes    INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX uploads_owner ON uploads(owner_id);

CREATE TABLE addresses (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    province      TEXT    NOT NULL,
    city          TEXT    NOT NULL,
    district      TEXT    NOT NULL,
    detail        TEXT    NOT NULL,
    contact_name  TEXT    NOT NULL,
    phone         TEXT    NOT NULL,
    is_default    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX addresses_user ON addresses(user_id);
