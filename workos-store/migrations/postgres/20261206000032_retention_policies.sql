-- The retention job (`workos-server worker`) deletes old events org by org in the system scope,
-- which could read the log but not delete from it. (Deliveries and attempts the system workers
-- may change already; idempotency keys are purged in each org's own scope.)
CREATE POLICY system_retention ON domain_events FOR DELETE USING (workos_system_scope());
