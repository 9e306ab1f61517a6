-- PostgreSQL version of migrations/0014_saml_slo.sql (conventions: see 0001_initial.sql).
-- SAML single logout: the IdP's logout endpoint, what the IdP said about each SAML
-- session (NameID and SessionIndex, to end it when the IdP asks), and the LogoutRequests
-- we sent (their IDs, to match the LogoutResponse's InResponseTo).
ALTER TABLE idp_configs ADD COLUMN slo_url TEXT COLLATE "C";
ALTER TABLE sessions ADD COLUMN saml_name_id TEXT COLLATE "C";
ALTER TABLE sessions ADD COLUMN saml_name_id_format TEXT COLLATE "C";
ALTER TABLE sessions ADD COLUMN saml_session_index TEXT COLLATE "C";
CREATE INDEX sessions_saml_name_id ON sessions(org_id, saml_name_id)
    WHERE saml_name_id IS NOT NULL;
CREATE TABLE saml_logout_requests (
    id      TEXT COLLATE "C" PRIMARY KEY,
    org_id  BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    created TEXT COLLATE "C" NOT NULL,
    expires TEXT COLLATE "C" NOT NULL
);
CREATE INDEX saml_logout_requests_expires ON saml_logout_requests(expires);
