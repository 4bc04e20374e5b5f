-- Issue 11: the audit records and outbox events of one change share one id, `change_id`
-- (a change may write several records: a customer creation records the organization, each
-- relationship and each grant). It is also in the hashed body of each record. NULL in the
-- rows written before. The same columns on both backends (a test compares the two schemas).
-- Adding a nullable column rewrites no row, so the append-only triggers are not involved.
ALTER TABLE audit_records ADD COLUMN change_id uuid;
ALTER TABLE outbox_events ADD COLUMN change_id uuid;
