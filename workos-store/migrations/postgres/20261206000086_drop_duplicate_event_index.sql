-- `domain_events_org (org_id, id)` duplicates the unique constraint on the same columns
-- (`UNIQUE (org_id, id)`, which every lookup by (org, id) uses): every event written (one per
-- write of the engine) paid for maintaining both. The constraint's index stays.
DROP INDEX IF EXISTS domain_events_org;
