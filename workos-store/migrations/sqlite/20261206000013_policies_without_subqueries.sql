-- Postgres rewrites its Row Level Security policies in this migration (no subqueries, the
-- user's membership checked once when a transaction begins). SQLite has no RLS: the queries
-- filter by org themselves, so nothing changes here.
SELECT 1;
