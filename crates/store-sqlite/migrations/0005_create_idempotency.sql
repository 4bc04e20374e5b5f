-- Idempotency-Key: a POST's key per caller, the hash of the request that claimed it, and
-- once answered, the answer (docs/accounts.md, "Idempotency"). Times in microseconds.
CREATE TABLE idempotency_keys (
    caller        TEXT NOT NULL,
    key           TEXT NOT NULL,
    request_hash  BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    claimed_at    INTEGER NOT NULL,
    status        INTEGER,
    content_type  TEXT,
    body          BLOB,
    PRIMARY KEY (caller, key)
) STRICT;

-- The purge of keys past 24 hours.
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
