-- PostgreSQL version of migrations/0009_oidc.sql (conventions: see 0001_initial.sql).
-- OpenID Connect sign-in with Microsoft Entra (DESIGN "OpenID Connect sign-in").

-- An org's OIDC connection. `active` = 1: the org signs in through OIDC instead of SAML
-- (one active connection; switching keeps the users). Mode 'customer': the customer's own
-- Entra app (client id, and a client secret or a certificate credential idgate made).
-- Mode 'idgate_app': the operator's multi-tenant app from the configuration; the tenant is
-- bound at Connect, from the `tid` of a verified ID token. Secrets and private keys are
-- sealed (AES-256-GCM, data directory key): they must be used, so they cannot be hashed.
CREATE TABLE oidc_connections (
    org_id         BIGINT PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
    mode           TEXT COLLATE "C" NOT NULL CHECK (mode IN ('customer', 'idgate_app')),
    active         BIGINT NOT NULL DEFAULT 1,
    tenant_id      TEXT COLLATE "C",
    client_id      TEXT COLLATE "C",
    credential     TEXT COLLATE "C" NOT NULL CHECK (credential IN ('secret', 'certificate', 'app')),
    secret         BYTEA,
    secret_expires TEXT COLLATE "C",
    private_key    BYTEA,
    certificate    TEXT COLLATE "C",
    created        TEXT COLLATE "C" NOT NULL,
    updated        TEXT COLLATE "C" NOT NULL
);
-- A tenant joined through the idgate app belongs to one org only.
CREATE UNIQUE INDEX oidc_connections_app_tenant ON oidc_connections(tenant_id)
    WHERE mode = 'idgate_app' AND tenant_id IS NOT NULL;

-- The stable identity of a person signed in over OIDC: (org, tid, oid) -> user. A user is
-- linked to one Entra object only.
CREATE TABLE oidc_links (
    org_id    BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    tenant_id TEXT COLLATE "C" NOT NULL,
    object_id TEXT COLLATE "C" NOT NULL,
    user_id   TEXT COLLATE "C" NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    rule      TEXT COLLATE "C" NOT NULL,
    created   TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (org_id, tenant_id, object_id)
);

-- Authorization requests in flight: single use (`used` set when the browser comes back),
-- ten minutes, bound to the browser by a cookie (its SHA-256 here). Kept after use until
-- they expire, so that a replayed state is told apart from an unknown one.
CREATE TABLE oidc_pending (
    state     TEXT COLLATE "C" PRIMARY KEY,
    org_id    BIGINT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    kind      TEXT COLLATE "C" NOT NULL CHECK (kind IN ('signin', 'consent')),
    browser   BYTEA NOT NULL,
    nonce     TEXT COLLATE "C" NOT NULL,
    verifier  TEXT COLLATE "C" NOT NULL,
    tenant_id TEXT COLLATE "C",
    return_to TEXT COLLATE "C" NOT NULL,
    purpose   TEXT COLLATE "C" NOT NULL,
    created   TEXT COLLATE "C" NOT NULL,
    expires   TEXT COLLATE "C" NOT NULL,
    used      TEXT COLLATE "C"
);
CREATE INDEX oidc_pending_expires ON oidc_pending(expires);

-- An OIDC sign-in's checks and decoded claims (JSON), for the admin's Test sign-in.
ALTER TABLE signin_log ADD COLUMN report TEXT COLLATE "C";
