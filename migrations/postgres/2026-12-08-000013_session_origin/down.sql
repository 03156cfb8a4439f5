ALTER TABLE sessions DROP COLUMN ip_address;
ALTER TABLE sessions DROP COLUMN user_agent;
