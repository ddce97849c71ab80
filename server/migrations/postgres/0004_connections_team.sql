-- The team (tenant and group) a connection was added in, kept across moves to Workflows
-- URLs; NULL for older rows until their next save (read from the URL meanwhile).
ALTER TABLE connections ADD COLUMN team_tenant TEXT;
ALTER TABLE connections ADD COLUMN team_group TEXT;
