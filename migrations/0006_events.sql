-- The event log: every change the product behind idgate must learn of, appended in the same
-- transaction (the same savepoint of the same group-commit batch) as the change itself, so
-- that an event exists exactly when its change committed. `seq` is the commit order:
-- AUTOINCREMENT never reuses a number, also after old rows are pruned. `envelope` holds the
-- exact bytes that are served and signed. No foreign key to orgs: an org's events outlive it.

CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    org_id     INTEGER NOT NULL,
    type       TEXT NOT NULL,
    created    TEXT NOT NULL,
    request_id TEXT,
    envelope   TEXT NOT NULL
);

CREATE INDEX events_org_seq ON events (org_id, seq);
CREATE INDEX events_created ON events (created);
CREATE INDEX events_request ON events (request_id) WHERE request_id IS NOT NULL;
