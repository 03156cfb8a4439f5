-- Where a session was started from, shown to its owner in their list of sessions: the
-- client's User-Agent (at most 256 bytes) and address. NULL for sessions from before.
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN ip_address TEXT;
