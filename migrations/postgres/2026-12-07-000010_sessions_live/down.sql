CREATE INDEX sessions_expires_at ON sessions (expires_at);
DROP INDEX sessions_live_expires_at;
