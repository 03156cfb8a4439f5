-- Devices authenticate with a client-chosen id and a platform; the pair is the identity.
CREATE TABLE devices (
    id           TEXT PRIMARY KEY,
    device_id    TEXT NOT NULL,
    platform     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    UNIQUE (platform, device_id)
);
CREATE INDEX devices_last_seen_at ON devices (last_seen_at);
