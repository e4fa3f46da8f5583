-- Matches the Postgres migration of the same name (whose policies have no SQLite counterpart).
CREATE INDEX webhook_deliveries_org_webhook_status ON webhook_deliveries (org_id, webhook_id, status, created_at);
