-- Mail authd has promised to send, until it is sent (then the row is deleted). A row names
-- what to send, never a token: the sender issues a mail's one-time token as it sends it.
-- `user_id` is empty for "send me a mail" requests, resolved from the recipient when the
-- mail goes out. A claim moves `next_attempt_at` past a lease, so concurrent senders
-- never take the same row; a row given up keeps `gave_up_at` and its last error.
CREATE TABLE mail_outbox (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    user_id         TEXT REFERENCES users (id) ON DELETE CASCADE,
    new_email       TEXT,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    gave_up_at      BIGINT
);
-- Mails still to send, by when they are due.
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE gave_up_at IS NULL;
CREATE INDEX mail_outbox_user ON mail_outbox (user_id);
