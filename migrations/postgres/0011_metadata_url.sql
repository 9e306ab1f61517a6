-- PostgreSQL version of migrations/0011_metadata_url.sql (conventions: see 0001_initial.sql).
-- The IdP metadata URL (Entra's App Federation Metadata URL) an org's SAML configuration is
-- fetched from and refreshed periodically, with the outcome of the last refresh.
CREATE TABLE idp_metadata_urls (
    org_id       BIGINT PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
    url          TEXT COLLATE "C" NOT NULL,
    next_refresh TEXT COLLATE "C" NOT NULL,       -- when the schedule fetches it next
    last_at      TEXT COLLATE "C",                -- the last fetch
    last_ok      BIGINT,                          -- 1: applied or unchanged, 0: failed
    last_result  TEXT COLLATE "C"                 -- what changed, or the error
);

CREATE INDEX idp_metadata_urls_next ON idp_metadata_urls (next_refresh);
