-- Sign-in throttling that strangers cannot turn against the owner (issue 15).
-- A back-off row (kernel/src/accounts/rate_limit.rs, `Backoff`) keeps the time before which its
-- key may not try again; fixed-window rows leave it 0.
ALTER TABLE rate_limits ADD COLUMN not_before BIGINT NOT NULL DEFAULT 0;
-- "Has this account signed in from this address lately?": past the account-wide limit on wrong
-- passwords, such an address may still sign in with the password.
CREATE INDEX login_log_user_ip ON login_log(user_id, ip, at);
