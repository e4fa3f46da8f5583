-- Delivery workers and the dispatcher work across orgs in the system scope: they fan events out
-- into deliveries, claim due deliveries, record attempts, and disable failing endpoints (which
-- records a webhook_endpoint.disabled event).
CREATE POLICY system_worker ON webhooks FOR ALL
    USING ((SELECT workos_system_scope())) WITH CHECK ((SELECT workos_system_scope()));
CREATE POLICY system_worker ON webhook_deliveries FOR ALL
    USING ((SELECT workos_system_scope())) WITH CHECK ((SELECT workos_system_scope()));
CREATE POLICY system_worker ON webhook_attempts FOR ALL
    USING ((SELECT workos_system_scope())) WITH CHECK ((SELECT workos_system_scope()));
CREATE POLICY system_append ON domain_events FOR INSERT WITH CHECK ((SELECT workos_system_scope()));

CREATE INDEX webhook_deliveries_org_webhook_status ON webhook_deliveries (org_id, webhook_id, status, created_at);
