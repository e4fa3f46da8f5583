-- Matches the Postgres migration of the same name.
ALTER TABLE lead_deliveries ADD COLUMN return_reason TEXT;
ALTER TABLE lead_deliveries ADD COLUMN currency TEXT NOT NULL DEFAULT 'USD';

CREATE UNIQUE INDEX lead_deliveries_org_lead_partner ON lead_deliveries (org_id, lead_id, partner_id);
DROP INDEX lead_deliveries_org_lead;

CREATE INDEX leads_org_person ON leads (org_id, person_id, created_at) WHERE deleted_at IS NULL;
CREATE INDEX lead_deliveries_org_partner_usage ON lead_deliveries (org_id, partner_id, created_at, status);
DROP INDEX lead_deliveries_org_partner;
