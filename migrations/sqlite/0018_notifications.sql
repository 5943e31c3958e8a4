-- Notifications (K1–K3). The rules script reads each outbox event once: `events.delivered_at`
-- marks an event it has read, in the transaction that stores the messages it made. Events
-- from before this migration are history and are not announced again.
UPDATE events SET delivered_at = created_at WHERE delivered_at IS NULL;

-- A message remembers the event it came from, the provider's receipt (SMS BizId, WeChat
-- msgid) and, in the inbox, when its reader opened it.
ALTER TABLE outbox_messages ADD COLUMN event_id INTEGER REFERENCES events(id) ON DELETE SET NULL;
ALTER TABLE outbox_messages ADD COLUMN provider_ref TEXT;
ALTER TABLE outbox_messages ADD COLUMN read_at INTEGER;
CREATE INDEX outbox_messages_inbox ON outbox_messages (user_id, channel, read_at);

-- External identities bound to an account (A4): the WeChat openid subscription messages go to.
CREATE TABLE user_identities (
    provider  TEXT    NOT NULL,
    subject   TEXT    NOT NULL,
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    bound_at  INTEGER NOT NULL,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX user_identities_user ON user_identities (user_id, provider);

-- Staff broadcasts (K3): what was said to whom; the messages themselves are in the outbox.
CREATE TABLE broadcasts (
    id          INTEGER PRIMARY KEY,
    title       TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    audience    TEXT    NOT NULL,
    channels    TEXT    NOT NULL,
    recipients  INTEGER NOT NULL,
    created_by  INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at  INTEGER NOT NULL
);
