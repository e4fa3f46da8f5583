-- Lead generation: why a partner returned a lead, the currency a delivery was priced in (the
-- partner's at the time, so a later currency change does not rewrite history), one delivery per
-- (lead, partner), and the lookups capture and listing use. No new tables, so the init
-- migration's RLS policies and grants still cover everything.
ALTER TABLE lead_deliveries ADD COLUMN return_reason text;
ALTER TABLE lead_deliveries ADD COLUMN currency text NOT NULL DEFAULT 'USD';

-- A lead is sold to a partner at most once; its prefix also serves lookups by lead.
CREATE UNIQUE INDEX lead_deliveries_org_lead_partner ON lead_deliveries (org_id, lead_id, partner_id);
DROP INDEX lead_deliveries_org_lead;

-- First-touch lookup: a person's earliest lead.
CREATE INDEX leads_org_person ON leads (org_id, person_id, created_at) WHERE deleted_at IS NULL;
-- Cap usage: a partner's deliveries since a time (the init index also covers it; this one keeps
-- the count index-only by including the status).
CREATE INDEX lead_deliveries_org_partner_usage ON lead_deliveries (org_id, partner_id, created_at, status);
DROP INDEX lead_deliveries_org_partner;
