-- The core of partnerhub: organizations, users, sessions, provider links, invitations,
-- relationships, delegated admin grants, the audit chain and the outbox.
-- Ids are UUIDs stored as 16-byte BLOBs; times are INTEGER microseconds since the Unix epoch
-- (text times compare wrongly when their fractions differ in length).
-- Every tenant row carries the organization it belongs to.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

CREATE TABLE organizations (
    id           BLOB PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('partner', 'customer')),
    name         TEXT NOT NULL,
    domain       TEXT NOT NULL,
    partner_type TEXT CHECK (partner_type IN ('direct', 'indirect_provider', 'indirect_reseller')),
    partner_id   TEXT,
    created_at   INTEGER NOT NULL,
    CHECK ((kind = 'partner') = (partner_type IS NOT NULL AND partner_id IS NOT NULL))
) STRICT;
CREATE UNIQUE INDEX organizations_domain ON organizations (domain);
CREATE UNIQUE INDEX organizations_partner_id ON organizations (partner_id) WHERE partner_id IS NOT NULL;

CREATE TABLE users (
    id              BLOB PRIMARY KEY,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    email           TEXT NOT NULL,
    display_name    TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    roles           TEXT NOT NULL, -- JSON array of role names
    created_at      INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX users_email ON users (email);
CREATE INDEX users_organization ON users (organization_id);

CREATE TABLE sessions (
    token_hash      BLOB PRIMARY KEY, -- SHA-256 of the bearer token; the token itself is never stored
    id              BLOB NOT NULL UNIQUE,
    user_id         BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id);

-- Fixed-window counters for rate limits; in the database so every server process shares them.
CREATE TABLE rate_limits (
    key          TEXT PRIMARY KEY,
    window_end   INTEGER NOT NULL,
    attempts     INTEGER NOT NULL
) STRICT;

CREATE TABLE provider_links (
    id          BLOB PRIMARY KEY,
    provider_id BLOB NOT NULL REFERENCES organizations (id),
    reseller_id BLOB NOT NULL REFERENCES organizations (id),
    state       TEXT NOT NULL CHECK (state IN ('pending', 'active')),
    created_at  INTEGER NOT NULL,
    activated_at INTEGER,
    CHECK (provider_id <> reseller_id)
) STRICT;
CREATE UNIQUE INDEX provider_links_pair ON provider_links (provider_id, reseller_id);
CREATE INDEX provider_links_reseller ON provider_links (reseller_id);

CREATE TABLE invitations (
    id                   BLOB PRIMARY KEY,
    partner_org_id       BLOB NOT NULL REFERENCES organizations (id),
    customer_id          BLOB REFERENCES organizations (id),
    indirect_provider_id BLOB REFERENCES organizations (id),
    roles                TEXT NOT NULL, -- JSON array of delegated role names
    duration_days        INTEGER NOT NULL CHECK (duration_days BETWEEN 1 AND 730),
    auto_extend          INTEGER NOT NULL CHECK (auto_extend IN (0, 1)),
    locale               TEXT NOT NULL CHECK (locale IN ('en', 'fr')),
    state                TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'declined', 'revoked')),
    token_hash           BLOB NOT NULL, -- SHA-256 of the URL token
    email_subject        TEXT NOT NULL,
    email_body           TEXT NOT NULL,
    created_by           BLOB NOT NULL,
    created_at           INTEGER NOT NULL,
    expires_at           INTEGER NOT NULL,
    sent_at              INTEGER,
    responded_at         INTEGER,
    accepted_by          BLOB REFERENCES organizations (id),
    CHECK (NOT (auto_extend = 1 AND roles LIKE '%"global_admin"%')),
    CHECK ((state IN ('accepted', 'declined', 'revoked')) = (responded_at IS NOT NULL))
) STRICT;
CREATE UNIQUE INDEX invitations_token_hash ON invitations (token_hash);
CREATE INDEX invitations_partner ON invitations (partner_org_id, id);

CREATE TABLE relationships (
    id                   BLOB PRIMARY KEY,
    partner_org_id       BLOB NOT NULL REFERENCES organizations (id),
    customer_id          BLOB NOT NULL REFERENCES organizations (id),
    state                TEXT NOT NULL CHECK (state IN ('active', 'removed')),
    via                  TEXT NOT NULL CHECK (via IN ('invitation', 'created')),
    invitation_id        BLOB REFERENCES invitations (id),
    indirect_reseller_id BLOB REFERENCES organizations (id),
    -- Copied from the customer so the partner's list pages along an index in either order.
    customer_name        TEXT NOT NULL COLLATE NOCASE,
    customer_created_at  INTEGER NOT NULL,
    created_at           INTEGER NOT NULL,
    removed_at           INTEGER,
    CHECK ((state = 'removed') = (removed_at IS NOT NULL)),
    CHECK (partner_org_id <> customer_id)
) STRICT;
-- At most one active relationship per (partner, customer).
CREATE UNIQUE INDEX relationships_one_active ON relationships (partner_org_id, customer_id) WHERE state = 'active';
CREATE INDEX relationships_by_name ON relationships (partner_org_id, customer_name, customer_id) WHERE state = 'active';
CREATE INDEX relationships_by_created ON relationships (partner_org_id, customer_created_at, customer_id) WHERE state = 'active';
CREATE INDEX relationships_customer ON relationships (customer_id, state);

CREATE TABLE grants (
    id              BLOB PRIMARY KEY,
    relationship_id BLOB NOT NULL REFERENCES relationships (id),
    partner_org_id  BLOB NOT NULL REFERENCES organizations (id),
    customer_id     BLOB NOT NULL REFERENCES organizations (id),
    role            TEXT NOT NULL CHECK (role IN ('global_admin', 'user_admin', 'license_admin', 'helpdesk_admin', 'billing_admin', 'global_reader')),
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    auto_extend     INTEGER NOT NULL CHECK (auto_extend IN (0, 1)),
    revoked_at      INTEGER,
    CHECK (expires_at > created_at AND expires_at <= created_at + 730 * 86400000000),
    CHECK (NOT (auto_extend = 1 AND role = 'global_admin'))
) STRICT;
CREATE INDEX grants_pair ON grants (partner_org_id, customer_id);

-- Append-only, hash-chained: hash = SHA-256(prev_hash || body), body the canonical JSON.
CREATE TABLE audit_records (
    seq             INTEGER PRIMARY KEY,
    at              INTEGER NOT NULL,
    organization_id BLOB,
    action          TEXT NOT NULL,
    customer_id     BLOB,
    body            TEXT NOT NULL,
    prev_hash       BLOB NOT NULL,
    hash            BLOB NOT NULL
) STRICT;
CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;

-- Which organizations may read which audit record.
CREATE TABLE audit_visibility (
    organization_id BLOB NOT NULL,
    seq             INTEGER NOT NULL REFERENCES audit_records (seq),
    PRIMARY KEY (organization_id, seq)
) STRICT, WITHOUT ROWID;

-- Events written with their change, delivered later (webhooks).
CREATE TABLE outbox_events (
    id              BLOB PRIMARY KEY,
    event_type      TEXT NOT NULL,
    organization_id BLOB NOT NULL,
    payload         TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER
) STRICT;
CREATE INDEX outbox_undelivered ON outbox_events (created_at) WHERE delivered_at IS NULL;
