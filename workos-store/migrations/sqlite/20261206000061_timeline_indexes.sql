-- Timelines read a record's tasks by person, company and deal (interactions have had these
-- indexes since the first migration).
CREATE INDEX tasks_org_person ON tasks (org_id, person_id) WHERE deleted_at IS NULL;
CREATE INDEX tasks_org_company ON tasks (org_id, company_id) WHERE deleted_at IS NULL;
CREATE INDEX tasks_org_deal ON tasks (org_id, deal_id) WHERE deleted_at IS NULL;
