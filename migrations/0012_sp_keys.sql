-- SAML SP key pairs idgate generates per org: one use each (signing AuthnRequests,
-- decrypting assertions), with the private key sealed (src/seal.rs). A rotation keeps the
-- replaced key live until `retire_after` (the grace period), then it is neither used nor
-- published. And the org's switches for signed AuthnRequests and encrypted assertions.

CREATE TABLE saml_sp_options (
    org_id             INTEGER PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
    sign_requests      INTEGER NOT NULL DEFAULT 0,
    encrypt_assertions INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE saml_sp_keys (
    id           INTEGER PRIMARY KEY,
    org_id       INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    key_use      TEXT NOT NULL CHECK (key_use IN ('signing', 'encryption')),
    fingerprint  TEXT NOT NULL,                   -- SHA-256 of the certificate, AA:BB:…
    certificate  BLOB NOT NULL,                   -- DER, self-signed
    sealed_key   BLOB NOT NULL,                   -- PKCS#8 DER, sealed
    not_before   TEXT NOT NULL,
    not_after    TEXT NOT NULL,
    created      TEXT NOT NULL,
    retire_after TEXT                             -- NULL: the current key of its use
);

CREATE INDEX saml_sp_keys_org ON saml_sp_keys (org_id, key_use, created);
