-- Product API keys: how the product behind idgate reads the directory and the event feed.
-- The key is shown once; only its SHA-256 is kept. `scopes` is a comma-separated list
-- (directory:read, events:read, webhooks:write); `org_ids` a comma-separated list of the orgs
-- the key may see, or NULL for every org.

CREATE TABLE api_keys (
    id        INTEGER PRIMARY KEY,
    name      TEXT NOT NULL UNIQUE,
    key_hash  BLOB NOT NULL UNIQUE,
    scopes    TEXT NOT NULL,
    org_ids   TEXT,
    created   TEXT NOT NULL,
    expires   TEXT,
    last_used TEXT,
    revoked   TEXT
);
