-- Issue 9: a version per organization, bumped in the very transaction of every change that can
-- alter what the organization reads (every reader of the change's audit records, and what the
-- store adds: `Change::affected`), under the audit chain's lock. A cached answer is served only
-- while the version read with the session equals the one it was rendered at, so a change through
-- any server process is seen by the next read through every other. No row: version 0. The same
-- table on both backends.
CREATE TABLE org_versions (
    organization_id uuid PRIMARY KEY,
    version         bigint NOT NULL
);
