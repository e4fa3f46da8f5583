-- On Postgres webhook attempts become partitioned by week (retention drops whole weeks). SQLite
-- has no partitions: retention deletes old attempts in batches, found by this index.
CREATE INDEX webhook_attempts_attempted ON webhook_attempts (org_id, attempted_at);
