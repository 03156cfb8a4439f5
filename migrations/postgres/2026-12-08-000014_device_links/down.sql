DROP INDEX devices_user;
ALTER TABLE devices DROP COLUMN user_id;
