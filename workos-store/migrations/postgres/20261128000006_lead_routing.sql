-- Lead routing: per-org (and per-vertical) routing settings, and the public lead forms leads are
-- submitted through. Both are tenant tables under the same forced RLS policy as the rest; forms
-- are also readable in the system scope, to find the org of an anonymous submission.

CREATE TABLE routing_settings (
    org_id              uuid NOT NULL REFERENCES orgs (id),
    -- '' holds the org-wide settings; any other value one vertical's (lower-cased).
    vertical            text NOT NULL DEFAULT '',
    strategy            text NOT NULL CHECK (strategy IN ('priority', 'weighted', 'round_robin')),
    when_full           text NOT NULL CHECK (when_full IN ('queue', 'unrouted')),
    distribution        text NOT NULL CHECK (distribution IN ('exclusive', 'shared')),
    max_partners        integer NOT NULL CHECK (max_partners BETWEEN 1 AND 20),
    dedupe              jsonb NOT NULL,
    return_window_days  integer NOT NULL CHECK (return_window_days BETWEEN 0 AND 365),
    -- Round robin's pointer: the partner chosen last.
    rr_last_partner_id  uuid,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    PRIMARY KEY (org_id, vertical)
);

CREATE TABLE lead_forms (
    id               uuid PRIMARY KEY,
    org_id           uuid NOT NULL REFERENCES orgs (id),
    public_id        text NOT NULL UNIQUE,
    name             text NOT NULL,
    vertical         text,
    honeypot_field   text NOT NULL DEFAULT 'website',
    required_fields  jsonb NOT NULL DEFAULT '[]',
    -- The HMAC secret, sealed by the application's cipher; NULL when submissions are unsigned.
    secret           bytea,
    active           boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    deleted_at       timestamptz,
    UNIQUE (org_id, id)
);

-- Queued leads are picked up oldest first.
CREATE INDEX leads_org_queued ON leads (org_id, created_at) WHERE status = 'queued' AND deleted_at IS NULL;

ALTER TABLE routing_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE routing_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON routing_settings
    USING (org_id = (SELECT workos_current_org()) AND (SELECT workos_actor_allowed()))
    WITH CHECK (org_id = (SELECT workos_current_org()) AND (SELECT workos_actor_allowed()));

ALTER TABLE lead_forms ENABLE ROW LEVEL SECURITY;
ALTER TABLE lead_forms FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON lead_forms
    USING (org_id = (SELECT workos_current_org()) AND (SELECT workos_actor_allowed()))
    WITH CHECK (org_id = (SELECT workos_current_org()) AND (SELECT workos_actor_allowed()));
CREATE POLICY system_lookup ON lead_forms FOR SELECT USING ((SELECT workos_system_scope()));

GRANT SELECT, INSERT, UPDATE, DELETE ON routing_settings, lead_forms TO workos_app;
