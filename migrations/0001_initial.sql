-- Organizations, their domains, settings, SCIM tokens, role mappings; SCIM users and groups;
-- the SCIM request log.

CREATE TABLE orgs (
    id                INTEGER PRIMARY KEY,
    slug              TEXT NOT NULL UNIQUE,
    name              TEXT NOT NULL,
    scim_enabled      INTEGER NOT NULL DEFAULT 1,
    group_sync        INTEGER NOT NULL DEFAULT 1,
    strict_attributes INTEGER NOT NULL DEFAULT 0,
    role_attribute    TEXT NOT NULL DEFAULT 'roles',
    default_role      TEXT,
    required_attrs    TEXT NOT NULL DEFAULT '[]',   -- JSON array of attribute paths
    created           TEXT NOT NULL,
    user_count        INTEGER NOT NULL DEFAULT 0,   -- kept by triggers: unfiltered totals
    group_count       INTEGER NOT NULL DEFAULT 0    -- without counting rows
);

-- A domain belongs to at most one org across the gateway.
CREATE TABLE org_domains (
    domain   TEXT PRIMARY KEY,                    -- lowercased
    org_id   INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    sso_only INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX org_domains_org ON org_domains(org_id);

CREATE TABLE role_mappings (
    org_id    INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    idp_value TEXT NOT NULL,                      -- trimmed, lowercased
    role      TEXT NOT NULL,
    PRIMARY KEY (org_id, idp_value)
);

CREATE TABLE scim_tokens (
    id         INTEGER PRIMARY KEY,
    org_id     INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    hash       BLOB NOT NULL UNIQUE,              -- SHA-256 of the token
    created    TEXT NOT NULL,
    last_used  TEXT,
    revoked    TEXT,
    UNIQUE (org_id, name)
);

-- SCIM users. `data` is the canonical JSON document (core attributes at the top level,
-- extension attributes under their URN key) without id, meta and schemas, which are derived.
-- The key columns are derived from `data` on every write for indexed lookups.
CREATE TABLE users (
    seq             INTEGER PRIMARY KEY,          -- insertion order: stable paging
    id              TEXT NOT NULL UNIQUE,         -- UUID, the SCIM id
    org_id          INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_name       TEXT NOT NULL,
    user_name_key   TEXT NOT NULL,                -- case-folded userName
    external_id     TEXT,                         -- caseExact
    display_name_key TEXT,                        -- case-folded displayName
    active          INTEGER NOT NULL,
    role_raw        TEXT,                         -- role value as the IdP sent it
    role            TEXT,                         -- resolved role
    data            TEXT NOT NULL,
    version         INTEGER NOT NULL,
    created         TEXT NOT NULL,                -- RFC 3339 UTC, fixed width: sorts as text
    last_modified   TEXT NOT NULL
);
CREATE UNIQUE INDEX users_org_user_name ON users(org_id, user_name_key);
CREATE UNIQUE INDEX users_org_external_id ON users(org_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX users_org_display_name ON users(org_id, display_name_key);
CREATE INDEX users_org_seq ON users(org_id, seq);
CREATE TRIGGER users_count_insert AFTER INSERT ON users BEGIN
    UPDATE orgs SET user_count = user_count + 1 WHERE id = NEW.org_id;
END;
CREATE TRIGGER users_count_delete AFTER DELETE ON users BEGIN
    UPDATE orgs SET user_count = user_count - 1 WHERE id = OLD.org_id;
END;

-- One row per email value of a user, for indexed `emails.value` lookups. Not unique:
-- two accounts may share a mailbox.
CREATE TABLE user_emails (
    user_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    value_key TEXT NOT NULL                       -- case-folded email value
);
CREATE INDEX user_emails_value ON user_emails(value_key);
CREATE INDEX user_emails_user ON user_emails(user_id);

CREATE TABLE groups (
    seq              INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    org_id           INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    display_name     TEXT NOT NULL,
    display_name_key TEXT NOT NULL,
    external_id      TEXT,
    data             TEXT NOT NULL,               -- canonical JSON without members
    version          INTEGER NOT NULL,
    created          TEXT NOT NULL,
    last_modified    TEXT NOT NULL
);
CREATE UNIQUE INDEX groups_org_display_name ON groups(org_id, display_name_key);
CREATE UNIQUE INDEX groups_org_external_id ON groups(org_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX groups_org_seq ON groups(org_id, seq);
CREATE TRIGGER groups_count_insert AFTER INSERT ON groups BEGIN
    UPDATE orgs SET group_count = group_count + 1 WHERE id = NEW.org_id;
END;
CREATE TRIGGER groups_count_delete AFTER DELETE ON groups BEGIN
    UPDATE orgs SET group_count = group_count - 1 WHERE id = OLD.org_id;
END;

-- Group membership. A member is a user or a group of the same org.
CREATE TABLE group_members (
    group_id    TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    member_id   TEXT NOT NULL,
    member_type TEXT NOT NULL,                    -- 'User' | 'Group'
    display     TEXT,                             -- as the client sent it, if it did
    PRIMARY KEY (group_id, member_id)
) WITHOUT ROWID;
CREATE INDEX group_members_member ON group_members(member_id);

-- One row per SCIM request, for the admin's provisioning log.
CREATE TABLE scim_requests (
    id          INTEGER PRIMARY KEY,
    org_id      INTEGER REFERENCES orgs(id) ON DELETE CASCADE,
    at          TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    method      TEXT NOT NULL,
    path        TEXT NOT NULL,
    status      INTEGER NOT NULL,
    scim_type   TEXT,
    detail      TEXT,
    duration_us INTEGER NOT NULL,
    token_name  TEXT,
    request_body  TEXT,
    response_body TEXT
);
CREATE INDEX scim_requests_org_at ON scim_requests(org_id, at);
CREATE INDEX scim_requests_at ON scim_requests(at);

-- Trace of deletions and other security-relevant events.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    org_id  INTEGER,
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT,
    detail  TEXT
);
CREATE INDEX audit_log_org_at ON audit_log(org_id, at);
