-- The event log: every change the product behind idgate must learn of, appended in the same
-- transaction (the same savepoint of the same group-commit batch) as the change itself, so
-- that an event exists exactly when its change committed. `seq` is the commit order:
-- AUTOINCREMENT never reuses a number, also after old rows are pruned. `envelope` holds the
-- exact bytes that are served and signed. No foreign key to orgs: an org's events outlive it.

CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL,
    org_id     INTEGER NOT NULL,
    type       TEXT NOT NULL,
    created    TEXT NOT NULL,
    request_id TEXT,
    envelope   TEXT NOT NULL
);

-- One index besides the rowid: every other index would be one more B-tree insert in every
-- SCIM write. Pruning walks seq order (times grow with seq); ids are random 128-bit values.
CREATE INDEX events_org_seq ON events (org_id, seq);
