-- The admin API: its searches by tenant, team and kind, and its audit log.
CREATE INDEX connections_tenant ON connections (tenant_id);
CREATE INDEX connections_team_tenant ON connections (team_tenant);
CREATE INDEX connections_team_group ON connections (team_group);
CREATE INDEX connections_kind ON connections (webhook_kind);
CREATE TABLE admin_audit (
    id BIGSERIAL PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT
);
