-- Scripts changed through the admin API (M4): who, when, what changed (a unified diff) and the
-- whole source, so any version can be rolled back to. The files stay the truth; this is their
-- history.
CREATE TABLE script_versions (
    id         INTEGER PRIMARY KEY,
    file       TEXT    NOT NULL,
    source     TEXT    NOT NULL,
    diff       TEXT    NOT NULL,
    author_id  INTEGER REFERENCES users(id),
    note       TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE INDEX script_versions_file ON script_versions (file, id);
