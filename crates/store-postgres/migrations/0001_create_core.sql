-- The core of partnerhub on PostgreSQL: the same tables, columns, keys and indexes as the
-- SQLite migration of the same name (a test compares the two schemas), in native types:
-- uuid ids, timestamptz times (microseconds, as SQLite's integers), boolean flags, bytea hashes.
-- Every tenant row carries the organization it belongs to.
--
-- When a row breaks two uniqueness rules at once, the error names one of them, and the store
-- maps that name to its conflict: SQLite checks a table's unique indexes newest first, the
-- primary key last; PostgreSQL checks them oldest first (by OID). So tables with more than one
-- create their unique indexes here in the reverse of SQLite's order, and add the primary key
-- after them.

-- SQLite's `COLLATE NOCASE` for the customer name copied into relationships: compared and
-- sorted without regard to case, so the partner's list pages along `relationships_by_name`.
-- Nondeterministic: `=`, ORDER BY and row comparisons work; LIKE does not (searches compare
-- under "C" instead).
CREATE COLLATION IF NOT EXISTS nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);

CREATE TABLE settings (
    key   text PRIMARY KEY,
    value bytea NOT NULL
);

CREATE TABLE organizations (
    id           uuid NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('partner', 'customer')),
    name         text NOT NULL,
    domain       text NOT NULL,
    partner_type text CHECK (partner_type IN ('direct', 'indirect_provider', 'indirect_reseller')),
    partner_id   text,
    created_at   timestamptz NOT NULL,
    CHECK ((kind = 'partner') = (partner_type IS NOT NULL AND partner_id IS NOT NULL))
);
CREATE UNIQUE INDEX organizations_partner_id ON organizations (partner_id) WHERE partner_id IS NOT NULL;
CREATE UNIQUE INDEX organizations_domain ON organizations (domain);
ALTER TABLE organizations ADD PRIMARY KEY (id);

CREATE TABLE users (
    id              uuid NOT NULL,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    email           text NOT NULL,
    display_name    text NOT NULL,
    password_hash   text NOT NULL,
    roles           text NOT NULL, -- JSON array of role names
    created_at      timestamptz NOT NULL
);
CREATE INDEX users_organization ON users (organization_id);
CREATE UNIQUE INDEX users_email ON users (email);
ALTER TABLE users ADD PRIMARY KEY (id);

CREATE TABLE sessions (
    token_hash      bytea NOT NULL, -- SHA-256 of the bearer token; the token itself is never stored
    id              uuid NOT NULL,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL
);
ALTER TABLE sessions ADD UNIQUE (id);
ALTER TABLE sessions ADD PRIMARY KEY (token_hash);
CREATE INDEX sessions_user ON sessions (user_id);

-- Fixed-window counters for rate limits; in the database so every server process shares them.
CREATE TABLE rate_limits (
    key          text PRIMARY KEY,
    window_end   timestamptz NOT NULL,
    attempts     bigint NOT NULL
);

CREATE TABLE provider_links (
    id           uuid NOT NULL,
    provider_id  uuid NOT NULL REFERENCES organizations (id),
    reseller_id  uuid NOT NULL REFERENCES organizations (id),
    state        text NOT NULL CHECK (state IN ('pending', 'active')),
    created_at   timestamptz NOT NULL,
    activated_at timestamptz,
    CHECK (provider_id <> reseller_id)
);
CREATE UNIQUE INDEX provider_links_pair ON provider_links (provider_id, reseller_id);
ALTER TABLE provider_links ADD PRIMARY KEY (id);
CREATE INDEX provider_links_reseller ON provider_links (reseller_id);

CREATE TABLE invitations (
    id                   uuid NOT NULL,
    partner_org_id       uuid NOT NULL REFERENCES organizations (id),
    customer_id          uuid REFERENCES organizations (id),
    indirect_provider_id uuid REFERENCES organizations (id),
    roles                text NOT NULL, -- JSON array of delegated role names
    duration_days        bigint NOT NULL CHECK (duration_days BETWEEN 1 AND 730),
    auto_extend          boolean NOT NULL,
    locale               text NOT NULL CHECK (locale IN ('en', 'fr')),
    state                text NOT NULL CHECK (state IN ('pending', 'accepted', 'declined', 'revoked')),
    token_hash           bytea NOT NULL, -- SHA-256 of the URL token
    email_subject        text NOT NULL,
    email_body           text NOT NULL,
    created_by           uuid NOT NULL,
    created_at           timestamptz NOT NULL,
    expires_at           timestamptz NOT NULL,
    sent_at              timestamptz,
    responded_at         timestamptz,
    accepted_by          uuid REFERENCES organizations (id),
    CHECK (NOT (auto_extend AND roles LIKE '%"global_admin"%')),
    CHECK ((state IN ('accepted', 'declined', 'revoked')) = (responded_at IS NOT NULL))
);
CREATE UNIQUE INDEX invitations_token_hash ON invitations (token_hash);
ALTER TABLE invitations ADD PRIMARY KEY (id);
CREATE INDEX invitations_partner ON invitations (partner_org_id, id);

CREATE TABLE relationships (
    id                   uuid NOT NULL,
    partner_org_id       uuid NOT NULL REFERENCES organizations (id),
    customer_id          uuid NOT NULL REFERENCES organizations (id),
    state                text NOT NULL CHECK (state IN ('active', 'removed')),
    via                  text NOT NULL CHECK (via IN ('invitation', 'created')),
    invitation_id        uuid REFERENCES invitations (id),
    indirect_reseller_id uuid REFERENCES organizations (id),
    -- Copied from the customer so the partner's list pages along an index in either order.
    customer_name        text COLLATE nocase NOT NULL,
    customer_created_at  timestamptz NOT NULL,
    created_at           timestamptz NOT NULL,
    removed_at           timestamptz,
    CHECK ((state = 'removed') = (removed_at IS NOT NULL)),
    CHECK (partner_org_id <> customer_id)
);
-- At most one active relationship per (partner, customer).
CREATE UNIQUE INDEX relationships_one_active ON relationships (partner_org_id, customer_id) WHERE state = 'active';
ALTER TABLE relationships ADD PRIMARY KEY (id);
CREATE INDEX relationships_by_name ON relationships (partner_org_id, customer_name, customer_id) WHERE state = 'active';
CREATE INDEX relationships_by_created ON relationships (partner_org_id, customer_created_at, customer_id) WHERE state = 'active';
CREATE INDEX relationships_customer ON relationships (customer_id, state);

CREATE TABLE grants (
    id              uuid PRIMARY KEY,
    relationship_id uuid NOT NULL REFERENCES relationships (id),
    partner_org_id  uuid NOT NULL REFERENCES organizations (id),
    customer_id     uuid NOT NULL REFERENCES organizations (id),
    role            text NOT NULL CHECK (role IN ('global_admin', 'user_admin', 'license_admin', 'helpdesk_admin', 'billing_admin', 'global_reader')),
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    auto_extend     boolean NOT NULL,
    revoked_at      timestamptz,
    -- 730 days of 24 hours (an interval in days would follow the session's daylight saving time).
    CHECK (expires_at > created_at AND expires_at <= created_at + interval '17520 hours'),
    CHECK (NOT (auto_extend AND role = 'global_admin'))
);
CREATE INDEX grants_pair ON grants (partner_org_id, customer_id);

-- Append-only, hash-chained: hash = SHA-256(prev_hash || body), body the canonical JSON.
CREATE TABLE audit_records (
    seq             bigint PRIMARY KEY,
    at              timestamptz NOT NULL,
    organization_id uuid,
    action          text NOT NULL,
    customer_id     uuid,
    body            text NOT NULL,
    prev_hash       bytea NOT NULL,
    hash            bytea NOT NULL
);
CREATE FUNCTION audit_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit records are append-only';
END;
$$;
CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
    FOR EACH ROW EXECUTE FUNCTION audit_records_append_only();
CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
    FOR EACH ROW EXECUTE FUNCTION audit_records_append_only();
-- TRUNCATE skips row triggers in PostgreSQL (SQLite has no TRUNCATE).
CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records
    FOR EACH STATEMENT EXECUTE FUNCTION audit_records_append_only();

-- Which organizations may read which audit record.
CREATE TABLE audit_visibility (
    organization_id uuid NOT NULL,
    seq             bigint NOT NULL REFERENCES audit_records (seq),
    PRIMARY KEY (organization_id, seq)
);

-- Events written with their change, delivered later (webhooks).
CREATE TABLE outbox_events (
    id              uuid PRIMARY KEY,
    event_type      text NOT NULL,
    organization_id uuid NOT NULL,
    payload         text NOT NULL,
    created_at      timestamptz NOT NULL,
    delivered_at    timestamptz
);
CREATE INDEX outbox_undelivered ON outbox_events (created_at) WHERE delivered_at IS NULL;
