-- Postgres lets the call reconciliation job read calls across orgs in the system scope in this
-- migration. SQLite has no RLS: nothing changes here.
SELECT 1;
