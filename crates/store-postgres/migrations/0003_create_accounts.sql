-- Accounts and abuse (issue 7) on PostgreSQL: the same tables, columns, keys and indexes as
-- the SQLite migration of the same name (a test compares the two schemas).

-- When the password was last set (NULL: when the user was created): a temporary password
-- expires a set time after it was made.
ALTER TABLE users ADD COLUMN password_set_at timestamptz;

-- Counted-first limits with growing lockouts: `lock_secs` is how long the next lockout of the
-- key lasts (it doubles up to a cap), remembered until `forget_at` (NULL: `window_end`).
ALTER TABLE rate_limits ADD COLUMN lock_secs bigint NOT NULL DEFAULT 0;
ALTER TABLE rate_limits ADD COLUMN forget_at timestamptz;

-- The purge of expired sessions.
CREATE INDEX sessions_expires ON sessions (expires_at);
