-- The provisioning and sign-in logs page past their newest rows and are searched by user
-- and by status. Every search walks one of these indexes newest first (the rowid ends each
-- index, so `id < ?` continues a page), never the whole log.

-- What a SCIM request did, as Entra's provisioning log names it ("Create user", "Disable
-- user", "Add member" …), and whom: the idgate id, the userName or displayName, the
-- externalId. Filled when the request is logged; older rows stay NULL.
ALTER TABLE scim_requests ADD COLUMN action TEXT;
ALTER TABLE scim_requests ADD COLUMN target_id TEXT;
ALTER TABLE scim_requests ADD COLUMN target_name TEXT;
ALTER TABLE scim_requests ADD COLUMN target_external TEXT;

CREATE INDEX scim_requests_target_id ON scim_requests(org_id, target_id)
    WHERE target_id IS NOT NULL;
CREATE INDEX scim_requests_target_name ON scim_requests(org_id, target_name COLLATE NOCASE)
    WHERE target_name IS NOT NULL;
CREATE INDEX scim_requests_target_external ON scim_requests(org_id, target_external)
    WHERE target_external IS NOT NULL;
-- An org's rows in row-id order (the unfiltered pages).
CREATE INDEX scim_requests_org ON scim_requests(org_id);
-- Status classes (2xx … 5xx); an exact status is filtered within its class.
CREATE INDEX scim_requests_class ON scim_requests(org_id, status / 100);

CREATE INDEX signin_log_org ON signin_log(org_id);
CREATE INDEX signin_log_org_user ON signin_log(org_id, user_id) WHERE user_id IS NOT NULL;
CREATE INDEX signin_log_org_email ON signin_log(org_id, email COLLATE NOCASE)
    WHERE email IS NOT NULL;
CREATE INDEX signin_log_org_outcome ON signin_log(org_id, outcome);
CREATE INDEX signin_log_org_reason ON signin_log(org_id, reason) WHERE reason IS NOT NULL;
