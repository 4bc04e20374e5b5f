-- Issue 10: webhooks. Design and reasons: docs/events.md. The same tables, columns, keys and
-- indexes on both backends (a test compares the two schemas).

-- Every outbox event's place in commit order. Here one writer commits at a time, so the rowid
-- is that order; a trigger copies it (a column added later cannot default to it).
ALTER TABLE outbox_events ADD COLUMN position INTEGER;
UPDATE outbox_events SET position = rowid;
CREATE TRIGGER outbox_events_position AFTER INSERT ON outbox_events WHEN NEW.position IS NULL
BEGIN
    UPDATE outbox_events SET position = NEW.rowid WHERE rowid = NEW.rowid;
END;
-- An endpoint reads its organization's events after its position.
CREATE INDEX outbox_by_recipient ON outbox_events (organization_id, position);

CREATE TABLE webhooks (
    id                    BLOB PRIMARY KEY,
    organization_id       BLOB NOT NULL REFERENCES organizations (id),
    url                   TEXT NOT NULL,
    events                TEXT NOT NULL,          -- JSON array of event names
    secret                BLOB NOT NULL,          -- sealed with the server secret
    previous_secret       BLOB,                   -- sealed; signs too until previous_secret_until
    previous_secret_until INTEGER,
    created_at            INTEGER NOT NULL,
    position              INTEGER NOT NULL,       -- outbox position of the last event done with
    state                 TEXT NOT NULL CHECK (state IN ('active', 'failing')),
    attempt               INTEGER NOT NULL,       -- failed attempts of the next event
    first_failure_at      INTEGER,
    retry_at              INTEGER,
    lease_owner           BLOB,
    lease_until           INTEGER
) STRICT;
CREATE INDEX webhooks_by_organization ON webhooks (organization_id, created_at);

-- Every attempt of every delivery, for the endpoint's owner.
CREATE TABLE webhook_attempts (
    id          BLOB PRIMARY KEY,
    webhook_id  BLOB NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id    BLOB NOT NULL,
    event_type  TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    status      INTEGER,
    latency_ms  INTEGER NOT NULL,
    error       TEXT
) STRICT;
CREATE INDEX webhook_attempts_by_webhook ON webhook_attempts (webhook_id, at, id);
