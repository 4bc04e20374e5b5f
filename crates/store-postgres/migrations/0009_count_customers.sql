-- Issue 9: the total of a partner's customer list, kept as a count per partner instead of
-- counted on every read (a count(*) walks every active relationship of the partner: linear in
-- its customers). A trigger keeps it in the very transaction that changes a relationship, on
-- every path that writes one, so it is never stale; concurrent changes for one partner queue
-- on its row. The same table on both backends.
CREATE TABLE partner_customer_counts (
    partner_org_id uuid PRIMARY KEY,
    customers      bigint NOT NULL
);

INSERT INTO partner_customer_counts (partner_org_id, customers)
    SELECT partner_org_id, count(*) FROM relationships WHERE state = 'active' GROUP BY partner_org_id;

CREATE FUNCTION relationships_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.state IS NOT DISTINCT FROM NEW.state AND OLD.partner_org_id = NEW.partner_org_id THEN
            RETURN NULL;
        END IF;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        IF OLD.state = 'active' THEN
            UPDATE partner_customer_counts SET customers = customers - 1 WHERE partner_org_id = OLD.partner_org_id;
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        IF NEW.state = 'active' THEN
            INSERT INTO partner_customer_counts (partner_org_id, customers) VALUES (NEW.partner_org_id, 1)
                ON CONFLICT (partner_org_id) DO UPDATE SET customers = partner_customer_counts.customers + 1;
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER relationships_count AFTER INSERT OR DELETE OR UPDATE OF state, partner_org_id ON relationships
    FOR EACH ROW EXECUTE FUNCTION relationships_count();
