-- SAML sign-in: per-org IdP configuration and sign-in settings.

ALTER TABLE orgs ADD COLUMN idp_initiated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orgs ADD COLUMN jit INTEGER NOT NULL DEFAULT 0;
ALTER TABLE orgs ADD COLUMN clock_skew_secs INTEGER NOT NULL DEFAULT 180;

-- The org's identity provider, replaced as a whole on every upload.
CREATE TABLE idp_configs (
    org_id    INTEGER PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
    entity_id TEXT NOT NULL,
    sso_url   TEXT NOT NULL,
    source    TEXT NOT NULL,                      -- 'metadata' | 'manual'
    updated   TEXT NOT NULL
);

-- Every signing certificate of the IdP (Entra keeps several during a rollover).
CREATE TABLE idp_certificates (
    org_id      INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    fingerprint TEXT NOT NULL,                    -- SHA-256, AA:BB:… upper case
    der         BLOB NOT NULL,
    subject     TEXT NOT NULL,
    not_before  TEXT NOT NULL,
    not_after   TEXT NOT NULL,
    PRIMARY KEY (org_id, fingerprint)
);
