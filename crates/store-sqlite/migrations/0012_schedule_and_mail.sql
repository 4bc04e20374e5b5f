-- no-transaction
-- Issue 10: scheduled changes and e-mail through an outbox. The same tables and columns on
-- both backends (a test compares the two schemas).
-- - invitations: the scheduler writes `expired` down (a new state; `responded_at` stays NULL),
--   `sent_to` keeps the address partnerhub last sent the invitation to (the reminder's
--   recipient), `reminded_at` when the 7-day reminder was queued (once).
-- - grants: `duration_days` is one period (an auto-extension adds as much: the end may now lie
--   more than 730 days after `created_at`), `expired_at` when the scheduler recorded the expiry.
--   `duration_days` may be NULL (read as the grant's length to the nearest day) so that a node
--   of the version before, during a rolling upgrade, still makes grants.
-- SQLite cannot change a CHECK in place: both tables are made again and their rows copied.
-- `relationships` references `invitations`, so the foreign keys are off while the table is
-- swapped (SQLite's documented procedure; the pragma is a no-op inside a transaction, hence
-- this migration runs outside sqlx's and opens its own).
PRAGMA foreign_keys = OFF;
BEGIN;

CREATE TABLE invitations_new (
    id                   BLOB PRIMARY KEY,
    partner_org_id       BLOB NOT NULL REFERENCES organizations (id),
    customer_id          BLOB REFERENCES organizations (id),
    indirect_provider_id BLOB REFERENCES organizations (id),
    roles                TEXT NOT NULL, -- JSON array of delegated role names
    duration_days        INTEGER NOT NULL CHECK (duration_days BETWEEN 1 AND 730),
    auto_extend          INTEGER NOT NULL CHECK (auto_extend IN (0, 1)),
    locale               TEXT NOT NULL CHECK (locale IN ('en', 'fr')),
    state                TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'declined', 'revoked', 'expired')),
    token_hash           BLOB NOT NULL, -- SHA-256 of the URL token
    email_subject        TEXT NOT NULL,
    email_body           TEXT NOT NULL,
    created_by           BLOB NOT NULL,
    created_at           INTEGER NOT NULL,
    expires_at           INTEGER NOT NULL,
    sent_at              INTEGER,
    responded_at         INTEGER,
    accepted_by          BLOB REFERENCES organizations (id),
    sent_to              TEXT,
    reminded_at          INTEGER,
    CHECK (NOT (auto_extend = 1 AND roles LIKE '%"global_admin"%')),
    CHECK ((state IN ('accepted', 'declined', 'revoked')) = (responded_at IS NOT NULL))
) STRICT;
INSERT INTO invitations_new (id, partner_org_id, customer_id, indirect_provider_id, roles, duration_days, auto_extend, locale, state,
                             token_hash, email_subject, email_body, created_by, created_at, expires_at, sent_at, responded_at, accepted_by)
    SELECT id, partner_org_id, customer_id, indirect_provider_id, roles, duration_days, auto_extend, locale, state,
           token_hash, email_subject, email_body, created_by, created_at, expires_at, sent_at, responded_at, accepted_by
    FROM invitations;
DROP TABLE invitations;
ALTER TABLE invitations_new RENAME TO invitations;
CREATE UNIQUE INDEX invitations_token_hash ON invitations (token_hash);
CREATE INDEX invitations_partner ON invitations (partner_org_id, id);
CREATE INDEX invitations_pending_expiry ON invitations (expires_at) WHERE state = 'pending';

CREATE TABLE grants_new (
    id              BLOB PRIMARY KEY,
    relationship_id BLOB NOT NULL REFERENCES relationships (id),
    partner_org_id  BLOB NOT NULL REFERENCES organizations (id),
    customer_id     BLOB NOT NULL REFERENCES organizations (id),
    role            TEXT NOT NULL CHECK (role IN ('global_admin', 'user_admin', 'license_admin', 'helpdesk_admin', 'billing_admin', 'global_reader')),
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    auto_extend     INTEGER NOT NULL CHECK (auto_extend IN (0, 1)),
    revoked_at      INTEGER,
    duration_days   INTEGER CHECK (duration_days BETWEEN 1 AND 730),
    expired_at      INTEGER,
    CHECK (expires_at > created_at),
    CHECK (NOT (auto_extend = 1 AND role = 'global_admin'))
) STRICT;
INSERT INTO grants_new (id, relationship_id, partner_org_id, customer_id, role, created_at, expires_at, auto_extend, revoked_at, duration_days)
    SELECT id, relationship_id, partner_org_id, customer_id, role, created_at, expires_at, auto_extend, revoked_at,
           max(1, min(730, (expires_at - created_at + 43200000000) / 86400000000))
    FROM grants;
DROP TABLE grants;
ALTER TABLE grants_new RENAME TO grants;
CREATE INDEX grants_pair ON grants (partner_org_id, customer_id);
CREATE UNIQUE INDEX grants_one_live_role ON grants (partner_org_id, customer_id, role) WHERE revoked_at IS NULL;
CREATE INDEX grants_unhandled_expiry ON grants (expires_at) WHERE revoked_at IS NULL AND expired_at IS NULL;

-- Each warning once per grant and number of days, however many schedulers run.
CREATE TABLE grant_warnings (
    grant_id  BLOB NOT NULL REFERENCES grants (id),
    days      INTEGER NOT NULL CHECK (days IN (1, 7, 30)),
    warned_at INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX grant_warnings_once ON grant_warnings (grant_id, days);

-- Who runs the scheduler now (one per database); taken again once `expires_at` has passed.
CREATE TABLE scheduler_leases (
    name       TEXT PRIMARY KEY,
    holder     BLOB NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

-- E-mails queued with the change they tell of, sent by a worker that claims them until
-- `claimed_until`; `attempts` and `last_error*` say how sending went.
CREATE TABLE email_outbox (
    id              BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    kind            TEXT NOT NULL CHECK (kind IN ('invitation', 'invitation_reminder', 'grant_expiring')),
    invitation_id   BLOB REFERENCES invitations (id),
    change_id       BLOB NOT NULL,
    recipient       TEXT NOT NULL,
    locale          TEXT NOT NULL CHECK (locale IN ('en', 'fr')),
    from_name       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'sent', 'failed')),
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    claim           BLOB,
    claimed_until   INTEGER,
    last_error      TEXT,
    last_error_kind TEXT CHECK (last_error_kind IN ('unreachable', 'refused_for_now', 'refused', 'abandoned')),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    CHECK ((state = 'sent') = (sent_at IS NOT NULL))
) STRICT;
CREATE INDEX email_outbox_due ON email_outbox (next_attempt_at) WHERE state = 'queued';
CREATE INDEX email_outbox_invitation ON email_outbox (invitation_id, created_at);

COMMIT;
PRAGMA foreign_keys = ON;
