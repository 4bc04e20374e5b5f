-- Issue 9: the total of a partner's customer list, kept as a count per partner instead of
-- counted on every read (a count(*) walks every active relationship of the partner: linear in
-- its customers). Triggers keep it in the very transaction that changes a relationship, on
-- every path that writes one, so it is never stale. The same table on both backends.
CREATE TABLE partner_customer_counts (
    partner_org_id BLOB PRIMARY KEY,
    customers      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

INSERT INTO partner_customer_counts (partner_org_id, customers)
    SELECT partner_org_id, count(*) FROM relationships WHERE state = 'active' GROUP BY partner_org_id;

CREATE TRIGGER relationships_count_insert AFTER INSERT ON relationships WHEN NEW.state = 'active'
BEGIN
    INSERT INTO partner_customer_counts (partner_org_id, customers) VALUES (NEW.partner_org_id, 1)
        ON CONFLICT (partner_org_id) DO UPDATE SET customers = customers + 1;
END;

CREATE TRIGGER relationships_count_update AFTER UPDATE OF state, partner_org_id ON relationships
    WHEN OLD.state IS NOT NEW.state OR OLD.partner_org_id IS NOT NEW.partner_org_id
BEGIN
    UPDATE partner_customer_counts SET customers = customers - 1
        WHERE OLD.state = 'active' AND partner_org_id = OLD.partner_org_id;
    INSERT INTO partner_customer_counts (partner_org_id, customers) SELECT NEW.partner_org_id, 1 WHERE NEW.state = 'active'
        ON CONFLICT (partner_org_id) DO UPDATE SET customers = customers + 1;
END;

CREATE TRIGGER relationships_count_delete AFTER DELETE ON relationships WHEN OLD.state = 'active'
BEGIN
    UPDATE partner_customer_counts SET customers = customers - 1 WHERE partner_org_id = OLD.partner_org_id;
END;
