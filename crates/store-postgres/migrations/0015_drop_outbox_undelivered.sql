-- Issue 9: `outbox_undelivered` indexed the outbox by time for the rows with no `delivered_at`.
-- Nothing sets `delivered_at`: since issue 11, each webhook endpoint keeps its own position in
-- the outbox (`webhooks.position`) and reads `outbox_by_recipient`. So the index held every row,
-- answered no query, and cost one more index entry for every event of every change.
DROP INDEX outbox_undelivered;
