-- Whether the user has shown they receive mail at their address (a mailed link, or a
-- password reset by mail).
ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT FALSE;

-- One-time tokens mailed to people (verifying an email, resetting a password, confirming
-- a new email), stored only as SHA-256 hashes. At most one per user and purpose: issuing
-- the next replaces it, which the unique index makes atomic. A used token is deleted with
-- the change it makes; an expired one stays until the purge, so it is refused as expired
-- rather than unknown.
CREATE TABLE one_time_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    new_email  TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX one_time_tokens_user_purpose ON one_time_tokens (user_id, purpose);
CREATE INDEX one_time_tokens_expires_at ON one_time_tokens (expires_at);
