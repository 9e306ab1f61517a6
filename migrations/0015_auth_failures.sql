-- Failed password attempts (per account and per client address), kept in the store so that
-- every instance sharing a PostgreSQL store counts the same failures. Used on PostgreSQL;
-- a single SQLite process keeps them in memory (src/signin/ratelimit.rs). Pruned hourly.
CREATE TABLE auth_failures (
    key TEXT NOT NULL,                          -- 'a:' account or 'i:' client address
    at  TEXT NOT NULL                           -- RFC 3339 UTC, fixed width: sorts as text
);
CREATE INDEX auth_failures_key_at ON auth_failures(key, at);
