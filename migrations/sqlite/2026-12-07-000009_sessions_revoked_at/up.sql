-- The purge finds sessions revoked over a day ago by this index; without it, each batch
-- scanned the sessions table from its start (quadratic in the sessions to purge).
-- Partial: only revoked sessions are in it.
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
