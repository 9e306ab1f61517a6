-- PostgreSQL version of migrations/0013_log_search.sql (conventions: see 0001_initial.sql).
-- The provisioning and sign-in logs page past their newest rows and are searched by user
-- and by status. Every search walks one of these indexes newest first (`id < ?` continues a
-- page), never the whole log. SQLite ends every index with the rowid (here `id`) without
-- saying so; PostgreSQL does not, so each index below ends with `id` explicitly: without it
-- `WHERE org_id = ? AND target_id = ? AND id < ? ORDER BY id DESC LIMIT n` would read and
-- sort every row of that user instead of walking the index.

-- What a SCIM request did, as Entra's provisioning log names it ("Create user", "Disable
-- user", "Add member" …), and whom: the idgate id, the userName or displayName, the
-- externalId. Filled when the request is logged; older rows stay NULL (no backfill: a
-- PostgreSQL database starts empty at this version).
ALTER TABLE scim_requests ADD COLUMN action TEXT COLLATE "C";
ALTER TABLE scim_requests ADD COLUMN target_id TEXT COLLATE "C";
ALTER TABLE scim_requests ADD COLUMN target_name TEXT COLLATE "C";
ALTER TABLE scim_requests ADD COLUMN target_external TEXT COLLATE "C";

CREATE INDEX scim_requests_target_id ON scim_requests(org_id, target_id, id)
    WHERE target_id IS NOT NULL;
-- SQLite: (org_id, target_name COLLATE NOCASE). PostgreSQL has no NOCASE: an index on
-- lower(target_name), which on a COLLATE "C" column folds ASCII only, as NOCASE does. The
-- Rust side queries `lower(target_name) = $n` with the value lowercased in ASCII
-- (str::to_ascii_lowercase), or `= lower($n COLLATE "C")`; `lower($n)` alone would fold
-- non-ASCII letters too (the database's locale) and miss.
CREATE INDEX scim_requests_target_name ON scim_requests(org_id, lower(target_name), id)
    WHERE target_name IS NOT NULL;
CREATE INDEX scim_requests_target_external ON scim_requests(org_id, target_external, id)
    WHERE target_external IS NOT NULL;
-- An org's rows in id order (the unfiltered pages).
CREATE INDEX scim_requests_org ON scim_requests(org_id, id);
-- Status classes (2xx … 5xx); an exact status is filtered within its class. BIGINT division
-- truncates as SQLite's integer division does; a query uses the index when it writes
-- `status / 100` the same way.
CREATE INDEX scim_requests_class ON scim_requests(org_id, (status / 100), id);

CREATE INDEX signin_log_org ON signin_log(org_id, id);
CREATE INDEX signin_log_org_user ON signin_log(org_id, user_id, id) WHERE user_id IS NOT NULL;
-- SQLite: (org_id, email COLLATE NOCASE): lower(email) as for target_name above.
CREATE INDEX signin_log_org_email ON signin_log(org_id, lower(email), id)
    WHERE email IS NOT NULL;
CREATE INDEX signin_log_org_outcome ON signin_log(org_id, outcome, id);
CREATE INDEX signin_log_org_reason ON signin_log(org_id, reason, id) WHERE reason IS NOT NULL;
