-- Responses kept for Idempotency-Key retries, per org; and org existence for first-run checks.
CREATE TABLE idempotency_keys (
    org_id       uuid NOT NULL REFERENCES orgs (id),
    key          text NOT NULL,
    fingerprint  bytea NOT NULL,
    status       integer,
    location     text,
    body         bytea,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (org_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON idempotency_keys
    USING (org_id = (SELECT workos_current_org()) AND (SELECT workos_actor_allowed()))
    WITH CHECK (org_id = (SELECT workos_current_org()) AND (SELECT workos_actor_allowed()));
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO workos_app;

CREATE POLICY system_lookup ON orgs FOR SELECT USING ((SELECT workos_system_scope()));
