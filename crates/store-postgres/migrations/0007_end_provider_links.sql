-- Issue 11: a provider declines a pending request, and either side ends a link. The row keeps
-- its history: `state` becomes `declined` or `ended` and `ended_at` says when. Only a live
-- link (pending or active, `ended_at IS NULL`) is unique per pair, so the same two partners
-- may connect again after an end.
ALTER TABLE provider_links DROP CONSTRAINT provider_links_state_check;
ALTER TABLE provider_links ADD CONSTRAINT provider_links_state_check CHECK (state IN ('pending', 'active', 'declined', 'ended'));
ALTER TABLE provider_links ADD COLUMN ended_at timestamptz;
ALTER TABLE provider_links ADD CONSTRAINT provider_links_ended_check CHECK ((state IN ('declined', 'ended')) = (ended_at IS NOT NULL));
DROP INDEX provider_links_pair;
CREATE UNIQUE INDEX provider_links_pair ON provider_links (provider_id, reseller_id) WHERE ended_at IS NULL;
