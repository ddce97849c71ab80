-- Every attempt at a delivery (the admin API's history and its per-minute chart), gone with
-- its delivery (pruned, or its connection deleted).
CREATE TABLE delivery_attempts (
    id BIGSERIAL PRIMARY KEY,
    delivery_id BIGINT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    at_ms BIGINT NOT NULL,
    code INTEGER,
    outcome TEXT NOT NULL CHECK (outcome IN ('delivered', 'retried', 'dead')),
    error TEXT
);
CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id);
-- The per-minute counts of the last day read this index only.
CREATE INDEX delivery_attempts_at ON delivery_attempts (at_ms, outcome);
