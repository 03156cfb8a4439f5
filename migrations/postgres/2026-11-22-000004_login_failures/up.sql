-- Consecutive login failures per account key ("user:<email>", "wallet:<app>:<name>"),
-- shared by every process on the database. Keys exist for unknown accounts too.
CREATE TABLE login_failures (
    account         TEXT PRIMARY KEY,
    failures        BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL,
    locked_until    BIGINT
);
CREATE INDEX login_failures_last_failure_at ON login_failures (last_failure_at);
