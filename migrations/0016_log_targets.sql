-- The provisioning log's rows go into fewer indexes (docs/PERFORMANCE.md, "The provisioning
-- log's indexes"): before this, every SCIM request's row went into seven, three of them keyed
-- by random values (the target's id, name and externalId), so each PATCH dirtied three
-- random index pages.
--
-- The names and externalIds each logged target has had, so that the rows that name a target
-- by id need no index on its name or externalId. A search by name or externalId finds the
-- ids here, then their rows through scim_requests_target_id. A row is written when a logged
-- request shows a target id with a name or externalId not seen together before (a create, a
-- rename), and removed when its id's last log row is pruned.
CREATE TABLE scim_targets (
    org_id    INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    target_id TEXT NOT NULL,
    name      TEXT NOT NULL,                  -- '' when the request named none
    external  TEXT NOT NULL,                  -- '' when the request carried none
    PRIMARY KEY (org_id, target_id, name, external)
) WITHOUT ROWID;
CREATE INDEX scim_targets_name ON scim_targets(org_id, name COLLATE NOCASE) WHERE name <> '';
CREATE INDEX scim_targets_external ON scim_targets(org_id, external) WHERE external <> '';

INSERT OR IGNORE INTO scim_targets (org_id, target_id, name, external)
    SELECT DISTINCT org_id, target_id, COALESCE(target_name, ''), COALESCE(target_external, '')
    FROM scim_requests
    WHERE org_id IS NOT NULL AND target_id IS NOT NULL
      AND (target_name IS NOT NULL OR target_external IS NOT NULL);

-- Names and externalIds stay indexed on the log's rows only where no id says whom (Entra's
-- lookups before a create, a refused create).
DROP INDEX scim_requests_target_name;
DROP INDEX scim_requests_target_external;
CREATE INDEX scim_requests_target_name ON scim_requests(org_id, target_name COLLATE NOCASE)
    WHERE target_name IS NOT NULL AND target_id IS NULL;
CREATE INDEX scim_requests_target_external ON scim_requests(org_id, target_external)
    WHERE target_external IS NOT NULL AND target_id IS NULL;

-- Status classes are searched for failures; a success (nearly every row) writes no entry,
-- and a search for successes walks the org's rows, which nearly all are.
DROP INDEX scim_requests_class;
CREATE INDEX scim_requests_class ON scim_requests(org_id, status / 100) WHERE status >= 400;

-- Pruning walks each org's rows on scim_requests_org_at; an index on the time alone would
-- be one more entry for every row.
DROP INDEX scim_requests_at;
