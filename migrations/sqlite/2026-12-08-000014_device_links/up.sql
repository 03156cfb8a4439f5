-- The user a device is linked to (POST /api/auth/device/link); NULL for a device of
-- nobody in particular. A user's deletion unlinks their devices first. (No REFERENCES
-- here: SQLite cannot drop a column that has one, which the down migration needs.)
ALTER TABLE devices ADD COLUMN user_id TEXT;
CREATE INDEX devices_user ON devices (user_id) WHERE user_id IS NOT NULL;
