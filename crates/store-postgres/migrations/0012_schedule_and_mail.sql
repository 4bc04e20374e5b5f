-- Issue 10: scheduled changes and e-mail through an outbox. The same tables and columns on
-- both backends (a test compares the two schemas).
-- - invitations: the scheduler writes `expired` down (a new state; `responded_at` stays NULL),
--   `sent_to` keeps the address partnerhub last sent the invitation to (the reminder's
--   recipient), `reminded_at` when the 7-day reminder was queued (once).
-- - grants: `duration_days` is one period (an auto-extension adds as much: the end may now lie
--   more than 730 days after `created_at`), `expired_at` when the scheduler recorded the expiry.
--   `duration_days` may be NULL (read as the grant's length to the nearest day) so that a node
--   of the version before, during a rolling upgrade, still makes grants. Older nodes read
--   `expired` invitations already (the state existed, computed on read).
ALTER TABLE invitations DROP CONSTRAINT invitations_state_check;
ALTER TABLE invitations ADD CONSTRAINT invitations_state_check CHECK (state IN ('pending', 'accepted', 'declined', 'revoked', 'expired'));
ALTER TABLE invitations ADD COLUMN sent_to text;
ALTER TABLE invitations ADD COLUMN reminded_at timestamptz;
CREATE INDEX invitations_pending_expiry ON invitations (expires_at) WHERE state = 'pending';

ALTER TABLE grants DROP CONSTRAINT grants_check;
ALTER TABLE grants ADD CONSTRAINT grants_check CHECK (expires_at > created_at);
ALTER TABLE grants ADD COLUMN duration_days bigint;
UPDATE grants SET duration_days = greatest(1, least(730, round(extract(epoch FROM expires_at - created_at) / 86400)::bigint));
ALTER TABLE grants ADD CONSTRAINT grants_duration_days_check CHECK (duration_days BETWEEN 1 AND 730);
ALTER TABLE grants ADD COLUMN expired_at timestamptz;
CREATE INDEX grants_unhandled_expiry ON grants (expires_at) WHERE revoked_at IS NULL AND expired_at IS NULL;

-- Each warning once per grant and number of days, however many schedulers run.
CREATE TABLE grant_warnings (
    grant_id  uuid NOT NULL REFERENCES grants (id),
    days      bigint NOT NULL CHECK (days IN (1, 7, 30)),
    warned_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX grant_warnings_once ON grant_warnings (grant_id, days);

-- Who runs the scheduler now (one per database); taken again once `expires_at` has passed.
CREATE TABLE scheduler_leases (
    name       text PRIMARY KEY,
    holder     uuid NOT NULL,
    expires_at timestamptz NOT NULL
);

-- E-mails queued with the change they tell of, sent by a worker that claims them until
-- `claimed_until`; `attempts` and `last_error*` say how sending went.
CREATE TABLE email_outbox (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    kind            text NOT NULL CHECK (kind IN ('invitation', 'invitation_reminder', 'grant_expiring')),
    invitation_id   uuid REFERENCES invitations (id),
    change_id       uuid NOT NULL,
    recipient       text NOT NULL,
    locale          text NOT NULL CHECK (locale IN ('en', 'fr')),
    from_name       text NOT NULL,
    subject         text NOT NULL,
    body            text NOT NULL,
    state           text NOT NULL CHECK (state IN ('queued', 'sent', 'failed')),
    attempts        bigint NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    claim           uuid,
    claimed_until   timestamptz,
    last_error      text,
    last_error_kind text CHECK (last_error_kind IN ('unreachable', 'refused_for_now', 'refused', 'abandoned')),
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    sent_at         timestamptz,
    CHECK ((state = 'sent') = (sent_at IS NOT NULL))
);
CREATE INDEX email_outbox_due ON email_outbox (next_attempt_at) WHERE state = 'queued';
CREATE INDEX email_outbox_invitation ON email_outbox (invitation_id, created_at);
