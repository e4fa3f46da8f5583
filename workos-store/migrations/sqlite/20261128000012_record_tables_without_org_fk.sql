-- Postgres drops the foreign keys from record tables to `orgs` in this migration (they made
-- every insert share-lock the org's one row). SQLite has no such lock (a single writer), and
-- rebuilding its tables to drop a constraint is not worth it: nothing changes here.
SELECT 1;
