-- Apps own wallets; a wallet logs in as username@app_id (username unique per app,
-- ignoring ASCII case).
CREATE TABLE apps (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    status     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX apps_created_at ON apps (created_at);

CREATE TABLE wallets (
    id                  TEXT PRIMARY KEY,
    app_id              TEXT NOT NULL REFERENCES apps (id),
    username            TEXT NOT NULL,
    username_normalized TEXT NOT NULL,
    password_hash       TEXT NOT NULL,
    role                TEXT NOT NULL,
    status              TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    UNIQUE (app_id, username_normalized)
);
CREATE INDEX wallets_app_created ON wallets (app_id, created_at);
