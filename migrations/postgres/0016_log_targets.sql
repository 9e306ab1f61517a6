-- PostgreSQL version of migrations/0016_log_targets.sql (conventions: see 0001_initial.sql).
-- The names and externalIds each logged target has had, so that the provisioning log's rows
-- that name a target by id need no index on its name or externalId. A search by name or
-- externalId finds the ids here, then their rows through scim_requests_target_id. Written
-- when a logged request shows a target id with a name or externalId not seen together
-- before; removed when its id's last log row is pruned.
CREATE TABLE scim_targets (
    org_id    BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    target_id TEXT COLLATE "C" NOT NULL,
    name      TEXT COLLATE "C" NOT NULL,      -- '' when the request named none
    external  TEXT COLLATE "C" NOT NULL,      -- '' when the request carried none
    PRIMARY KEY (org_id, target_id, name, external)
);
-- SQLite: (org_id, name COLLATE NOCASE); lower(name) as for 0013's target_name.
CREATE INDEX scim_targets_name ON scim_targets(org_id, lower(name)) WHERE name <> '';
CREATE INDEX scim_targets_external ON scim_targets(org_id, external) WHERE external <> '';

INSERT INTO scim_targets (org_id, target_id, name, external)
    SELECT DISTINCT org_id, target_id, COALESCE(target_name, ''), COALESCE(target_external, '')
    FROM scim_requests
    WHERE org_id IS NOT NULL AND target_id IS NOT NULL
      AND (target_name IS NOT NULL OR target_external IS NOT NULL)
    ON CONFLICT DO NOTHING;

-- Names and externalIds stay indexed on the log's rows only where no id says whom.
DROP INDEX scim_requests_target_name;
DROP INDEX scim_requests_target_external;
CREATE INDEX scim_requests_target_name ON scim_requests(org_id, lower(target_name), id)
    WHERE target_name IS NOT NULL AND target_id IS NULL;
CREATE INDEX scim_requests_target_external ON scim_requests(org_id, target_external, id)
    WHERE target_external IS NOT NULL AND target_id IS NULL;

-- Status classes are searched for failures only; successes walk the org's rows.
DROP INDEX scim_requests_class;
CREATE INDEX scim_requests_class ON scim_requests(org_id, (status / 100), id) WHERE status >= 400;

-- Pruning walks each org's rows on scim_requests_org_at.
DROP INDEX scim_requests_at;
