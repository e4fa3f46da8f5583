-- Postgres distributes its tables over a Citus cluster in this migration when the extension is
-- there. Nothing to do on SQLite.
SELECT 1;
