-- Private subnets the operator allowed one org's outbound deliveries (webhook endpoints and
-- partner lead webhooks) to reach, on top of the deployment-wide WORKOS_WEBHOOK_ALLOWED_SUBNETS.
-- Written only by `workos-server admin allow-subnets` / `revoke-subnets`; no API reads or writes
-- it. CIDR text with the host bits cleared. The key leads with org_id (Citus distributes by it).
CREATE TABLE org_allowed_subnets (
    org_id      uuid NOT NULL,
    subnet      text NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (org_id, subnet)
);

ALTER TABLE org_allowed_subnets ENABLE ROW LEVEL SECURITY;
ALTER TABLE org_allowed_subnets FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON org_allowed_subnets
    USING (org_id = workos_current_org()) WITH CHECK (org_id = workos_current_org());
GRANT SELECT, INSERT, DELETE ON org_allowed_subnets TO workos_app;

SELECT workos_distribute('org_allowed_subnets');
