-- Delegated administration and commerce: temporary passwords, offers, orders, subscriptions,
-- licenses; and one unrevoked grant per partner, customer and role.

-- A temporary password (set by a partner or an admin) must be changed before anything else.
ALTER TABLE users ADD COLUMN password_change_required INTEGER NOT NULL DEFAULT 0 CHECK (password_change_required IN (0, 1));

-- Renewals used to leave two unrevoked grants of one role: end all but the newest, at their
-- own expiry if it came first, then let the schema hold the rule.
UPDATE grants SET revoked_at = min(expires_at, (SELECT max(g2.created_at) FROM grants g2
        WHERE g2.partner_org_id = grants.partner_org_id AND g2.customer_id = grants.customer_id AND g2.role = grants.role AND g2.revoked_at IS NULL))
WHERE revoked_at IS NULL AND EXISTS (
    SELECT 1 FROM grants g2 WHERE g2.partner_org_id = grants.partner_org_id AND g2.customer_id = grants.customer_id
      AND g2.role = grants.role AND g2.revoked_at IS NULL AND (g2.created_at, g2.id) > (grants.created_at, grants.id));
CREATE UNIQUE INDEX grants_one_live_role ON grants (partner_org_id, customer_id, role) WHERE revoked_at IS NULL;

CREATE TABLE offers (
    id               BLOB PRIMARY KEY,
    name             TEXT NOT NULL,
    unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents >= 0),
    currency         TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    disabled_at      INTEGER
) STRICT;
CREATE INDEX offers_by_name ON offers (name, id);

CREATE TABLE orders (
    id                 BLOB PRIMARY KEY,
    customer_id        BLOB NOT NULL REFERENCES organizations (id),
    placed_by          BLOB NOT NULL REFERENCES organizations (id),
    placed_by_user     BLOB NOT NULL,
    partner_of_record  BLOB NOT NULL REFERENCES organizations (id),
    relationship_id    BLOB NOT NULL REFERENCES relationships (id),
    created_at         INTEGER NOT NULL
) STRICT;
CREATE INDEX orders_customer ON orders (customer_id, id);

-- `assigned` is kept with the licenses in the same transaction; the CHECK is the last word on
-- "never more seats given than bought".
CREATE TABLE subscriptions (
    id                BLOB PRIMARY KEY,
    order_id          BLOB NOT NULL REFERENCES orders (id),
    customer_id       BLOB NOT NULL REFERENCES organizations (id),
    offer_id          BLOB NOT NULL REFERENCES offers (id),
    placed_by         BLOB NOT NULL REFERENCES organizations (id),
    partner_of_record BLOB NOT NULL REFERENCES organizations (id),
    quantity          INTEGER NOT NULL CHECK (quantity >= 1),
    assigned          INTEGER NOT NULL DEFAULT 0 CHECK (assigned >= 0 AND assigned <= quantity),
    status            TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'cancelled')),
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    CHECK (status <> 'cancelled' OR assigned = 0)
) STRICT;
CREATE INDEX subscriptions_customer ON subscriptions (customer_id, id);
-- An order's subscriptions (without it, every lookup by order reads the whole table).
CREATE INDEX subscriptions_order ON subscriptions (order_id);
-- The removal blockers: open subscriptions per partner of record and per placing partner.
CREATE INDEX subscriptions_open_by_record ON subscriptions (partner_of_record, customer_id) WHERE status <> 'cancelled';
CREATE INDEX subscriptions_open_by_placer ON subscriptions (placed_by, customer_id) WHERE status <> 'cancelled';

CREATE TABLE licenses (
    subscription_id BLOB NOT NULL REFERENCES subscriptions (id),
    user_id         BLOB NOT NULL REFERENCES users (id),
    customer_id     BLOB NOT NULL REFERENCES organizations (id),
    assigned_at     INTEGER NOT NULL,
    PRIMARY KEY (subscription_id, user_id)
) STRICT;
CREATE INDEX licenses_user ON licenses (user_id);
