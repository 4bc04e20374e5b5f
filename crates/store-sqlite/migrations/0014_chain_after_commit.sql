-- Issue 9: on PostgreSQL the audit chain is now linked after the change commits, from a pending
-- row (`audit_pending`), by a chainer per process. SQLite has one writer, which appends to the
-- chain inside each change's transaction as before: nothing changes here. This migration is
-- kept so that both backends apply the same migrations in the same order (the schema test).
SELECT 1;
