-- PostgreSQL version of migrations/0002_saml.sql (conventions: see 0001_initial.sql).
-- SAML sign-in: per-org IdP configuration and sign-in settings.

ALTER TABLE orgs ADD COLUMN idp_initiated BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orgs ADD COLUMN jit BIGINT NOT NULL DEFAULT 0;
ALTER TABLE orgs ADD COLUMN clock_skew_secs BIGINT NOT NULL DEFAULT 180;

-- The org's identity provider, replaced as a whole on every upload.
CREATE TABLE idp_configs (
    org_id    BIGINT PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
    entity_id TEXT COLLATE "C" NOT NULL,
    sso_url   TEXT COLLATE "C" NOT NULL,
    source    TEXT COLLATE "C" NOT NULL,          -- 'metadata' | 'manual'
    updated   TEXT COLLATE "C" NOT NULL
);

-- Every signing certificate of the IdP (Entra keeps several during a rollover).
CREATE TABLE idp_certificates (
    org_id      BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    fingerprint TEXT COLLATE "C" NOT NULL,        -- SHA-256, AA:BB:… upper case
    der         BYTEA NOT NULL,
    subject     TEXT COLLATE "C" NOT NULL,
    not_before  TEXT COLLATE "C" NOT NULL,
    not_after   TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (org_id, fingerprint)
);
