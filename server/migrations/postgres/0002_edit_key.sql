-- The keyed hash of the connection's edit key (NULL until its next save for older rows).
ALTER TABLE connections ADD COLUMN edit_key_hash BYTEA;
