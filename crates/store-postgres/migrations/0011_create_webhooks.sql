-- Issue 10: webhooks. Design and reasons: docs/events.md. The same tables, columns, keys and
-- indexes on both backends (a test compares the two schemas).

-- Every outbox event's place in commit order. Outbox rows are only written by `audit::append`,
-- under the audit chain's advisory lock, held until commit: numbers taken under it are handed
-- out in commit order, so a reader that sees position N committed has seen every one below.
CREATE SEQUENCE outbox_position;
ALTER TABLE outbox_events ADD COLUMN position bigint DEFAULT nextval('outbox_position');
ALTER SEQUENCE outbox_position OWNED BY outbox_events.position;
-- An endpoint reads its organization's events after its position.
CREATE INDEX outbox_by_recipient ON outbox_events (organization_id, position);

CREATE TABLE webhooks (
    id                    uuid PRIMARY KEY,
    organization_id       uuid NOT NULL REFERENCES organizations (id),
    url                   text NOT NULL,
    events                text NOT NULL,          -- JSON array of event names
    secret                bytea NOT NULL,         -- sealed with the server secret
    previous_secret       bytea,                  -- sealed; signs too until previous_secret_until
    previous_secret_until timestamptz,
    created_at            timestamptz NOT NULL,
    position              bigint NOT NULL,        -- outbox position of the last event done with
    state                 text NOT NULL CHECK (state IN ('active', 'failing')),
    attempt               bigint NOT NULL,        -- failed attempts of the next event
    first_failure_at      timestamptz,
    retry_at              timestamptz,
    lease_owner           uuid,
    lease_until           timestamptz
);
CREATE INDEX webhooks_by_organization ON webhooks (organization_id, created_at);

-- Every attempt of every delivery, for the endpoint's owner.
CREATE TABLE webhook_attempts (
    id          uuid PRIMARY KEY,
    webhook_id  uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id    uuid NOT NULL,
    event_type  text NOT NULL,
    attempt     bigint NOT NULL,
    at          timestamptz NOT NULL,
    status      bigint,
    latency_ms  bigint NOT NULL,
    error       text
);
CREATE INDEX webhook_attempts_by_webhook ON webhook_attempts (webhook_id, at, id);
