-- The sending service's account a connection gets events for (builds with `[account]`),
-- its name as shown, and the Teams user (userObjectId) who linked it. NULL without
-- `[account]`. A change of account changes which events a connection matches, so the
-- version trigger (0003) now also fires on it.
ALTER TABLE connections ADD COLUMN account TEXT;
ALTER TABLE connections ADD COLUMN account_name TEXT;
ALTER TABLE connections ADD COLUMN linked_by TEXT;
CREATE INDEX connections_account ON connections (account);

DROP TRIGGER connections_version_raise ON connections;
CREATE TRIGGER connections_version_raise
    AFTER INSERT OR DELETE OR UPDATE OF entity_id, settings, disabled_reason, account ON connections
    FOR EACH STATEMENT EXECUTE FUNCTION connections_version_raise();
