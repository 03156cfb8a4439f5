-- Login throttling per (account, client network), replacing per-account streaks: an
-- attacker's failures no longer lock the owner out. Every key is a keyed hash (HMAC with
-- the secret in server_secrets), never an address or a login name.
--
-- login_failures is no longer used. It is emptied (it held login names in the clear) but
-- kept, so that processes of the previous release still running in a rolling upgrade
-- keep working; a later release drops it.
DELETE FROM login_failures;

-- One row per account and client network (an IPv4 address or an IPv6 /64). `failures`
-- counts attempts admitted since the last success, so in-flight attempts count too.
CREATE TABLE login_attempts (
    network_key     TEXT PRIMARY KEY,
    failures        BIGINT NOT NULL,
    last_attempt_at BIGINT NOT NULL,
    locked_until    BIGINT,
    last_success_at BIGINT
);
CREATE INDEX login_attempts_last_attempt_at ON login_attempts (last_attempt_at);

-- Failures of one account from every network within its current hour.
CREATE TABLE account_failures (
    account_key  TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    failures     BIGINT NOT NULL
);
CREATE INDEX account_failures_window_start ON account_failures (window_start);

-- Secrets every authd process on this database shares (sealed with
-- AUTHD_KEY_ENCRYPTION_KEY when it is set).
CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
