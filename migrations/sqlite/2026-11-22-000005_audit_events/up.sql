-- One row per authentication event. Never a password, a token or a token hash.
CREATE TABLE audit_events (
    id          TEXT PRIMARY KEY,
    at          BIGINT NOT NULL,
    event       TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    code        TEXT,
    principal   TEXT,
    actor       TEXT,
    client_addr TEXT,
    user_agent  TEXT
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_principal_at ON audit_events (principal, at);
