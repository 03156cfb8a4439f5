-- The user a device is linked to (POST /api/auth/device/link); NULL for a device of
-- nobody in particular. A user's deletion unlinks their devices first.
ALTER TABLE devices ADD COLUMN user_id TEXT REFERENCES users (id);
CREATE INDEX devices_user ON devices (user_id) WHERE user_id IS NOT NULL;
