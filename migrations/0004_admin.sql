-- The admin web UI: operator admin accounts, admin sessions (a purpose of their own), where
-- an audited change came from, and what a SAML request was for.

CREATE TABLE admins (
    id         INTEGER PRIMARY KEY,
    email      TEXT NOT NULL UNIQUE,              -- lowercased
    hash       TEXT NOT NULL,                     -- argon2id PHC string
    created    TEXT NOT NULL,
    last_login TEXT
);

-- An admin UI session: an operator admin (admin_id) or an org admin (org_id + user_id).
-- The cookie holds a random token; only its SHA-256 is stored.
CREATE TABLE admin_sessions (
    token_hash BLOB PRIMARY KEY,
    admin_id   INTEGER REFERENCES admins(id) ON DELETE CASCADE,
    org_id     INTEGER REFERENCES orgs(id) ON DELETE CASCADE,
    user_id    TEXT,
    email      TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created    TEXT NOT NULL,
    expires    TEXT NOT NULL,
    ip         TEXT
) WITHOUT ROWID;
CREATE INDEX admin_sessions_user ON admin_sessions(user_id);

ALTER TABLE audit_log ADD COLUMN ip TEXT;

-- 'session' (a product sign-in), 'admin' (an org admin signing in to the admin UI) or
-- 'test' (the admin UI's "Test sign-in").
ALTER TABLE saml_requests ADD COLUMN purpose TEXT NOT NULL DEFAULT 'session';
