-- Live sessions by expiry, revoked ones left out: the purge finds sessions past their
-- lifetime along it, and authd_active_sessions is counted from it alone (with the index
-- on all sessions, counting the live ones read every session's row: 30 s on SQLite at
-- ten million sessions). Revoked sessions are purged by sessions_revoked_at.
CREATE INDEX sessions_live_expires_at ON sessions (expires_at) WHERE revoked_at IS NULL;
DROP INDEX sessions_expires_at;
