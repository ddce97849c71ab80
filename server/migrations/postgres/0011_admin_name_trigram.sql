-- The admin API's search by part of a name, from a trigram index of the lower-case names
-- (`LIKE '%part%'`) where the pg_trgm extension can be had; where it cannot (not installed,
-- or no privilege to create it) the search reads every name, as before.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm is not available (%): the admin search by name reads every name', SQLERRM;
END $$;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX connections_name_trigram ON connections USING gin (lower(config_name) gin_trgm_ops);
    END IF;
END $$;
