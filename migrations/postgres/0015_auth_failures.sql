-- Failed password attempts (per account and per client address): every instance sharing
-- this store counts the same failures (src/signin/ratelimit.rs). Pruned hourly.
CREATE TABLE auth_failures (
    key TEXT COLLATE "C" NOT NULL,              -- 'a:' account or 'i:' client address
    at  TEXT COLLATE "C" NOT NULL               -- RFC 3339 UTC, fixed width: sorts as text
);
CREATE INDEX auth_failures_key_at ON auth_failures(key, at);
