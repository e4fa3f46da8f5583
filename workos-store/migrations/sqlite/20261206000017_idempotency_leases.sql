-- A reservation is a lease: a request whose process died leaves a key that the retry takes over
-- once `lease_until` has passed. (One statement per file: Citus propagates a DDL statement with
-- the text of its whole query.)
ALTER TABLE idempotency_keys ADD COLUMN lease_until TEXT;
