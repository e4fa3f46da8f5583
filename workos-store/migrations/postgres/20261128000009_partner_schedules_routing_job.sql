-- Partner opening hours: weekly periods in the partner's time zone (JSON, as the API shows
-- them); NULL means always open. Routing treats a closed partner like a capped one.
ALTER TABLE fulfillment_partners ADD COLUMN schedule jsonb;

-- The queued-lead job finds, across orgs in the system scope, the orgs with queued leads and
-- with `new` leads a crash left unrouted; it then routes each org's leads in its tenant scope.
CREATE POLICY system_lead_router ON leads FOR SELECT USING ((SELECT workos_system_scope()));
CREATE INDEX leads_new ON leads (created_at) WHERE status = 'new' AND deleted_at IS NULL;
