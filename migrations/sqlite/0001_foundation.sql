-- Foundation: regions, accounts, sessions, codes, rate limits, audit, outbox, settings.
-- Times are UTC milliseconds since the Unix epoch (INTEGER); booleans are 0/1.

CREATE TABLE regions (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id             INTEGER PRIMARY KEY,
    phone          TEXT    NOT NULL UNIQUE,
    email          TEXT    UNIQUE,
    name           TEXT    NOT NULL,
    company_name   TEXT,
    password_hash  TEXT,
    disabled       BOOLEAN NOT NULL DEFAULT FALSE,
    member_state   TEXT,
    vehicle_plate  TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

CREATE TABLE user_roles (
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role     TEXT    NOT NULL,
    PRIMARY KEY (user_id, role)
);

CREATE TABLE user_regions (
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    region_id  INTEGER NOT NULL REFERENCES regions(id),
    PRIMARY KEY (user_id, region_id)
);
CREATE INDEX user_regions_region ON user_regions(region_id);

CREATE TABLE verification_codes (
    id           INTEGER PRIMARY KEY,
    target       TEXT    NOT NULL,
    purpose      TEXT    NOT NULL,
    code_hash    TEXT    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    expires_at   INTEGER NOT NULL,
    consumed_at  INTEGER,
    created_at   INTEGER NOT NULL
);
CREATE INDEX verification_codes_target ON verification_codes(target, purpose, id);

CREATE TABLE sessions (
    token_hash    TEXT    PRIMARY KEY,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind          TEXT    NOT NULL,
    csrf_token    TEXT,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    ip            TEXT,
    user_agent    TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE rate_limits (
    bucket        TEXT    NOT NULL,
    window_start  INTEGER NOT NULL,
    hits          INTEGER NOT NULL,
    PRIMARY KEY (bucket, window_start)
);

CREATE TABLE login_log (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER REFERENCES users(id) ON DELETE SET NULL,
    identifier  TEXT    NOT NULL,
    method      TEXT    NOT NULL,
    success     BOOLEAN NOT NULL,
    reason      TEXT,
    ip          TEXT,
    user_agent  TEXT,
    at          INTEGER NOT NULL
);
CREATE INDEX login_log_at ON login_log(at);

CREATE TABLE operation_log (
    id           INTEGER PRIMARY KEY,
    actor_id     INTEGER REFERENCES users(id) ON DELETE SET NULL,
    action       TEXT    NOT NULL,
    target_kind  TEXT    NOT NULL,
    target_id    TEXT,
    detail       TEXT    NOT NULL,
    ip           TEXT,
    at           INTEGER NOT NULL
);
CREATE INDEX operation_log_at ON operation_log(at);

CREATE TABLE outbox_messages (
    id               INTEGER PRIMARY KEY,
    channel          TEXT    NOT NULL,
    recipient        TEXT    NOT NULL,
    user_id          INTEGER REFERENCES users(id) ON DELETE SET NULL,
    template         TEXT    NOT NULL,
    params           TEXT    NOT NULL,
    body             TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    next_attempt_at  INTEGER,
    created_at       INTEGER NOT NULL,
    sent_at          INTEGER
);
CREATE INDEX outbox_messages_state ON outbox_messages(state, next_attempt_at);

CREATE TABLE settings (
    key         TEXT    PRIMARY KEY,
    value       TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL,
    updated_by  INTEGER REFERENCES users(id) ON DELETE SET NULL
);
