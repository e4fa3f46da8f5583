-- On Postgres the retention job gets a row-level policy to delete events in the system scope.
-- SQLite has no row-level security: nothing to change.
SELECT 1;
