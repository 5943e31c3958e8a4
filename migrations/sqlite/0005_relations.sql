-- Who serves whom (B5, B6, A3, B4): invite codes of managers and promoters, a member's promoter
-- and credit terms, the promoter's manager, tags, and the history of every binding change.

ALTER TABLE users ADD COLUMN invite_code TEXT;
CREATE UNIQUE INDEX users_invite_code ON users(invite_code);

ALTER TABLE members ADD COLUMN promoter_id INTEGER REFERENCES users(id);
ALTER TABLE members ADD COLUMN credit_terms TEXT NOT NULL DEFAULT 'none';
ALTER TABLE members ADD COLUMN credit_limit_fen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN added_by INTEGER REFERENCES users(id);

CREATE TABLE promoter_managers (
    promoter_id  INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    manager_id   INTEGER NOT NULL REFERENCES users(id)
);

CREATE TABLE binding_history (
    id            INTEGER PRIMARY KEY,
    subject_kind  TEXT    NOT NULL,
    subject_id    INTEGER NOT NULL,
    role          TEXT    NOT NULL,
    from_user     INTEGER REFERENCES users(id) ON DELETE SET NULL,
    to_user       INTEGER REFERENCES users(id) ON DELETE SET NULL,
    reason        TEXT    NOT NULL,
    by_user       INTEGER REFERENCES users(id) ON DELETE SET NULL,
    at            INTEGER NOT NULL
);
CREATE INDEX binding_history_subject ON binding_history(subject_kind, subject_id);

CREATE TABLE tags (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE member_tags (
    member_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tag_id     INTEGER NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
    PRIMARY KEY (member_id, tag_id)
);
