-- Issue 9: the audit chain is linked after the change commits, not inside its transaction.
-- Until now every change took one global lock (the chain's) and held it through its commit's
-- WAL flush: one flush at a time for the whole database. Now a change writes its audit records
-- and outbox events as ONE pending row, in its own transaction, with no global lock; a chainer
-- (any server process, under the chain lock, in a transaction of its own) moves the pending rows
-- into `audit_records`, `audit_visibility` and `outbox_events`, hashing each record over the one
-- before and numbering the events, and bumps the organizations' versions: many changes per
-- flush. The request that made a change answers only once its records are linked, so what it
-- answered is in the chain and in the outbox when the client reads them.
CREATE TABLE audit_pending (
    n         bigserial PRIMARY KEY,   -- the order in which the chainer links them
    change_id uuid NOT NULL,
    -- The change's audit records, in chain order: each body split around its seq ("pre", "post"),
    -- with its time (micros), actor organization, action, customer and readers.
    records   jsonb NOT NULL,
    -- Its outbox events: id, type, organization, payload, time (micros).
    events    jsonb NOT NULL,
    -- The organizations whose versions the change bumps (see `Versions`).
    bump      uuid[] NOT NULL
);
-- A queue: every row is deleted soon after it is written. Vacuumed often, so that the dead rows
-- do not pile up between autovacuum's usual rounds (the chainer reads it by its key).
ALTER TABLE audit_pending SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,
                               autovacuum_vacuum_insert_threshold = 1000, autovacuum_vacuum_cost_delay = 0);
