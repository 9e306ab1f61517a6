-- The IdP metadata URL (Entra's App Federation Metadata URL) an org's SAML configuration is
-- fetched from and refreshed periodically, with the outcome of the last refresh.
CREATE TABLE idp_metadata_urls (
    org_id       INTEGER PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
    url          TEXT NOT NULL,
    next_refresh TEXT NOT NULL,                   -- when the schedule fetches it next
    last_at      TEXT,                            -- the last fetch
    last_ok      INTEGER,                         -- 1: applied or unchanged, 0: failed
    last_result  TEXT                             -- what changed, or the error
);

CREATE INDEX idp_metadata_urls_next ON idp_metadata_urls (next_refresh);
