-- Sign-in: SAML requests in flight, the assertion replay cache, the sign-in log, local
-- passwords, session signing keys, server-side sessions, OAuth clients for SCIM.

-- Where a user came from: 'scim' (provisioned), 'jit' (created at first SAML sign-in) or
-- 'local' (a password account made with `idgate user set-password`).
ALTER TABLE users ADD COLUMN source TEXT NOT NULL DEFAULT 'scim';

-- AuthnRequests sent and not yet answered: single use, ten minutes.
CREATE TABLE saml_requests (
    id          TEXT PRIMARY KEY,                 -- the AuthnRequest ID (InResponseTo)
    org_id      INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    relay_state TEXT NOT NULL UNIQUE,             -- random, opaque
    return_to   TEXT NOT NULL,
    created     TEXT NOT NULL,
    expires     TEXT NOT NULL
);
CREATE INDEX saml_requests_expires ON saml_requests(expires);

-- Assertion IDs accepted, kept until the assertion could no longer be accepted anyway.
CREATE TABLE saml_assertions (
    assertion_id TEXT PRIMARY KEY,
    org_id       INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    expires      TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX saml_assertions_expires ON saml_assertions(expires);

-- One row per sign-in attempt (SAML or password), for the admin's sign-in log.
CREATE TABLE signin_log (
    id          INTEGER PRIMARY KEY,
    org_id      INTEGER REFERENCES orgs(id) ON DELETE CASCADE,
    at          TEXT NOT NULL,
    reference   TEXT NOT NULL,                    -- shown to the browser on failure
    method      TEXT NOT NULL,                    -- 'saml' | 'password'
    outcome     TEXT NOT NULL,                    -- 'success' | 'failure'
    reason      TEXT,                             -- reason code on failure
    detail      TEXT,
    expected    TEXT,
    received    TEXT,
    email       TEXT,
    user_id     TEXT,
    ip          TEXT,
    user_agent  TEXT
);
CREATE INDEX signin_log_org_at ON signin_log(org_id, at);
CREATE INDEX signin_log_reference ON signin_log(reference);
CREATE INDEX signin_log_at ON signin_log(at);
CREATE INDEX signin_log_user ON signin_log(user_id, at);

-- Local password accounts (argon2id PHC strings).
CREATE TABLE local_passwords (
    user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    hash    TEXT NOT NULL,
    updated TEXT NOT NULL
);

-- Session signing keys (ES256). The newest unretired key signs; a retired key still
-- verifies until every token it signed has expired.
CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    private_pem TEXT NOT NULL,                    -- PKCS#8
    created     TEXT NOT NULL,
    retired     TEXT
);

-- Server-side sessions: revocation is immediate.
CREATE TABLE sessions (
    id       TEXT PRIMARY KEY,
    org_id   INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL,
    created  TEXT NOT NULL,
    expires  TEXT NOT NULL,
    revoked  TEXT,
    ip       TEXT,
    user_agent TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expires ON sessions(expires);

-- OAuth 2.0 clients (client credentials grant) that may call the SCIM API of one org.
CREATE TABLE oauth_clients (
    client_id   TEXT PRIMARY KEY,
    org_id      INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    secret_hash BLOB NOT NULL,                    -- SHA-256 of the secret
    created     TEXT NOT NULL,
    last_used   TEXT,
    revoked     TEXT,
    UNIQUE (org_id, name)
);
