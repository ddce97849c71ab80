-- A version raised by every change of which connections an event can match, so each
-- instance can keep the enabled connections' settings (store/subscribers.rs). Sixteen
-- shards, one raised at random per statement, so that saves on many instances do not queue
-- on one row; readers take the sum, which every committed change raises.
CREATE TABLE connections_version (shard INTEGER PRIMARY KEY, v BIGINT NOT NULL);
INSERT INTO connections_version SELECT s, 0 FROM generate_series(0, 15) AS s;

CREATE FUNCTION connections_version_raise() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    one INTEGER := floor(random() * 16)::int;
BEGIN
    UPDATE connections_version SET v = v + 1 WHERE shard = one;
    RETURN NULL;
END
$$;

CREATE TRIGGER connections_version_raise
    AFTER INSERT OR DELETE OR UPDATE OF entity_id, settings, disabled_reason ON connections
    FOR EACH STATEMENT EXECUTE FUNCTION connections_version_raise();
