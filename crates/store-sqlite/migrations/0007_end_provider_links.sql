-- Issue 11: a provider declines a pending request, and either side ends a link. The row keeps
-- its history: `state` becomes `declined` or `ended` and `ended_at` says when. Only a live
-- link (pending or active, `ended_at IS NULL`) is unique per pair, so the same two partners
-- may connect again after an end. SQLite cannot change a CHECK in place: the table is made
-- again and the rows copied (nothing references provider_links).
CREATE TABLE provider_links_new (
    id           BLOB PRIMARY KEY,
    provider_id  BLOB NOT NULL REFERENCES organizations (id),
    reseller_id  BLOB NOT NULL REFERENCES organizations (id),
    state        TEXT NOT NULL CHECK (state IN ('pending', 'active', 'declined', 'ended')),
    created_at   INTEGER NOT NULL,
    activated_at INTEGER,
    ended_at     INTEGER,
    CHECK (provider_id <> reseller_id),
    CHECK ((state IN ('declined', 'ended')) = (ended_at IS NOT NULL))
) STRICT;
INSERT INTO provider_links_new (id, provider_id, reseller_id, state, created_at, activated_at)
    SELECT id, provider_id, reseller_id, state, created_at, activated_at FROM provider_links;
DROP TABLE provider_links;
ALTER TABLE provider_links_new RENAME TO provider_links;
CREATE UNIQUE INDEX provider_links_pair ON provider_links (provider_id, reseller_id) WHERE ended_at IS NULL;
CREATE INDEX provider_links_reseller ON provider_links (reseller_id);
