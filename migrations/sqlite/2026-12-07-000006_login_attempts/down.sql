DROP TABLE server_secrets;
DROP TABLE account_failures;
DROP TABLE login_attempts;
CREATE TABLE login_failures (
    account         TEXT PRIMARY KEY,
    failures        BIGINT NOT NULL,
    last_failure_at BIGINT NOT NULL,
    locked_until    BIGINT
);
CREATE INDEX login_failures_last_failure_at ON login_failures (last_failure_at);
