-- The connector's schema on PostgreSQL: the same tables as the SQLite store, plus the
-- fencing-token sequence. Times are unix milliseconds (BIGINT) except the RFC 3339 texts
-- shown to people.

CREATE TABLE connections (
    entity_id TEXT PRIMARY KEY,
    webhook_hash BYTEA NOT NULL,
    -- nonce and AES-256-GCM ciphertext of the webhook URL, and the id of the key that sealed it
    webhook_secret BYTEA NOT NULL,
    webhook_key_id TEXT NOT NULL,
    config_name TEXT NOT NULL,
    settings TEXT NOT NULL,
    app_type TEXT,
    user_object_id TEXT,
    tenant_id TEXT,
    owner_oid TEXT,
    disabled_reason TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX connections_webhook_hash ON connections (webhook_hash);

-- A keyed hash of a constant per key: tells at start whether an instance's keys are the
-- database's.
CREATE TABLE key_checks (name TEXT PRIMARY KEY, value BYTEA NOT NULL);

CREATE TABLE events (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    received_at TEXT NOT NULL,
    received_ms BIGINT NOT NULL
);

CREATE TABLE deliveries (
    id BIGSERIAL PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES events (id),
    entity_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at BIGINT NOT NULL,
    claimed_until BIGINT NOT NULL DEFAULT 0,
    -- The fencing token of the current claim; a finish with another token changes nothing.
    claim_token BIGINT,
    last_error TEXT,
    delivered_at BIGINT,
    dead_at BIGINT,
    UNIQUE (event_id, entity_id)
) WITH (
    -- room for the claim's update to stay on its page (HOT)
    fillfactor = 80,
    -- a queue: vacuum and analyze it often, so claims do not wade through dead rows
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.02
);
-- Claims read due rows in (next_at, id) order.
CREATE INDEX deliveries_due ON deliveries (next_at, id) WHERE status = 'pending';
CREATE INDEX deliveries_entity ON deliveries (entity_id, status);
CREATE INDEX deliveries_delivered ON deliveries (delivered_at) WHERE status = 'delivered';
CREATE INDEX deliveries_dead ON deliveries (dead_at) WHERE status = 'dead';

CREATE SEQUENCE claim_tokens;

-- Post times of the last day per webhook (by its keyed hash), shared by every instance.
-- A claim locks the rows of the webhooks it reserves (FOR UPDATE SKIP LOCKED).
CREATE TABLE webhook_windows (
    hash BYTEA PRIMARY KEY,
    posts BIGINT[] NOT NULL DEFAULT '{}'
);
