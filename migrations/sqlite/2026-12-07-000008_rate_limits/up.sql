-- Per-network rate limits shared by every authd process on this database: one GCRA
-- bucket per (route family, client network), its key a keyed hash (never an address),
-- its value the instant in microseconds at which the bucket is full again. A bucket past
-- that instant is as good as none, and the purge job deletes it.
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    tat BIGINT NOT NULL
);
CREATE INDEX rate_limits_tat ON rate_limits (tat);
