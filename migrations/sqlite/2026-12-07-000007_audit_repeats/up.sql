-- Repeated identical failures (same event, code and principal from the same client
-- network within a minute) are one row with a count, so a flood of failures cannot grow
-- the trail without bound.
ALTER TABLE audit_events ADD COLUMN count BIGINT NOT NULL DEFAULT 1;
