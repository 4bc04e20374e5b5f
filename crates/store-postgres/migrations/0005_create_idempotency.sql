-- Idempotency-Key: a POST's key per caller, the hash of the request that claimed it, and
-- once answered, the answer (docs/accounts.md, "Idempotency").
CREATE TABLE idempotency_keys (
    caller        text NOT NULL,
    key           text NOT NULL,
    request_hash  bytea NOT NULL,
    created_at    timestamptz NOT NULL,
    claimed_at    timestamptz NOT NULL,
    status        integer,
    content_type  text,
    body          bytea,
    PRIMARY KEY (caller, key)
);

-- The purge of keys past 24 hours.
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
