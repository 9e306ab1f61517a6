-- Webhook endpoints (Standard Webhooks) and their delivery state.
--
-- An endpoint receives the events committed after `start_after` (its creation's head, or an
-- earlier seq to backfill) whose type matches `types` (comma-separated names or `x.*`
-- patterns; empty: every type), of the orgs in `org_ids` (comma-separated; NULL: every org).
-- Its secret is sealed (AES-256-GCM with the data directory's key): it must be used to sign,
-- so it cannot be hashed. During a rotation the previous secret signs too, until
-- `old_secret_until`.
CREATE TABLE webhook_endpoints (
    id               INTEGER PRIMARY KEY,
    public_id        TEXT NOT NULL UNIQUE,
    url              TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    types            TEXT NOT NULL DEFAULT '',
    org_ids          TEXT,
    secret           BLOB NOT NULL,
    old_secret       BLOB,
    old_secret_until TEXT,
    state            TEXT NOT NULL DEFAULT 'enabled'
                     CHECK (state IN ('enabled', 'paused', 'disabled')),
    state_reason     TEXT,
    start_after      INTEGER NOT NULL,
    created          TEXT NOT NULL,
    updated          TEXT NOT NULL
);

-- One lane per (endpoint, org): events are delivered in seq order, one request in flight.
-- `delivered` is the lane's cursor: every event of the lane up to it is done (delivered, or
-- skipped by an admin). `attempts` counts the failed attempts of the next event; when they
-- run out the lane stalls (`stalled` is when) and waits: nothing is ever dropped.
CREATE TABLE webhook_lanes (
    endpoint_id INTEGER NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    org_id      INTEGER NOT NULL,
    delivered   INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     TEXT,
    stalled     TEXT,
    last_error  TEXT,
    PRIMARY KEY (endpoint_id, org_id)
) WITHOUT ROWID;

-- Every delivery attempt (and test event, and resend), for the admin's delivery log.
CREATE TABLE webhook_attempts (
    id          INTEGER PRIMARY KEY,
    endpoint_id INTEGER NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    org_id      INTEGER,
    seq         INTEGER,
    event_id    TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    at          TEXT NOT NULL,
    trigger     TEXT NOT NULL CHECK (trigger IN ('delivery', 'resend', 'test')),
    attempt     INTEGER NOT NULL,
    status      INTEGER,
    latency_ms  INTEGER NOT NULL,
    ok          INTEGER NOT NULL,
    error       TEXT,
    response    TEXT
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id);
