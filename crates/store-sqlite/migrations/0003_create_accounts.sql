-- Accounts and abuse (issue 7): the same tables, columns, keys and indexes as the PostgreSQL
-- migration of the same name (a test compares the two schemas).

-- When the password was last set (NULL: when the user was created): a temporary password
-- expires a set time after it was made.
ALTER TABLE users ADD COLUMN password_set_at INTEGER;

-- Counted-first limits with growing lockouts: `lock_secs` is how long the next lockout of the
-- key lasts (it doubles up to a cap), remembered until `forget_at` (NULL: `window_end`).
ALTER TABLE rate_limits ADD COLUMN lock_secs INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rate_limits ADD COLUMN forget_at INTEGER;

-- The purge of expired sessions.
CREATE INDEX sessions_expires ON sessions (expires_at);
