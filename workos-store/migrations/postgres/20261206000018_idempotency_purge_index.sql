-- Old idempotency keys are purged per org, by creation time.
CREATE INDEX idempotency_keys_org_created ON idempotency_keys (org_id, created_at);
