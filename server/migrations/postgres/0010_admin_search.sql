-- The admin API's search over many connections: each filter's column with entity_id, so a
-- page is read in entity id order from the index (no sort of every match); the names beside
-- the ids, so a name is matched on the index; the disabled ones by themselves.
CREATE INDEX connections_tenant_id ON connections (tenant_id, entity_id);
CREATE INDEX connections_team_tenant_id ON connections (team_tenant, entity_id);
CREATE INDEX connections_team_group_id ON connections (team_group, entity_id);
CREATE INDEX connections_kind_id ON connections (webhook_kind, entity_id);
CREATE INDEX connections_account_id ON connections (account, entity_id);
CREATE INDEX connections_name ON connections (entity_id, config_name);
CREATE INDEX connections_disabled ON connections (entity_id) WHERE disabled_reason IS NOT NULL;
DROP INDEX connections_tenant;
DROP INDEX connections_team_tenant;
DROP INDEX connections_team_group;
DROP INDEX connections_kind;
DROP INDEX connections_account;
