-- Row Level Security that holds on every deployment: a superuser pool, an ordinary owner role
-- (managed Postgres), and Citus, whose workers evaluate each shard's policy themselves.
--
-- * Policies compare a row's org with the transaction's tenant and nothing else: no subqueries
--   (Citus cannot carry them to the shards) and no lookups in other tables. The old policies
--   called `is_member_of()` on every statement; with an ordinary owner, FORCE'd RLS on
--   org_members made that function recurse into its own policy (stack depth exceeded).
-- * A user actor's membership is checked once, when its transaction begins, by
--   `workos_assert_member()`: the engine's BEGIN calls it, and a transaction whose user is not a
--   member of the org aborts before any statement runs. API keys and system jobs carry no user.
-- * The settings are read through STABLE SQL functions, which the planner inlines: an index
--   scan compares with the setting once, not per row.

DO $$
DECLARE
    p record;
BEGIN
    FOR p IN SELECT tablename, policyname FROM pg_policies WHERE schemaname = 'public' LOOP
        EXECUTE format('DROP POLICY %I ON %I', p.policyname, p.tablename);
    END LOOP;
END
$$;

DROP FUNCTION workos_actor_allowed();

-- The seed's membership check, kept for embedders' own policies and queries. No longer
-- SECURITY DEFINER: it reads org_members as the caller, under org_members' own policy.
CREATE OR REPLACE FUNCTION is_member_of(org uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY INVOKER
    AS $$ SELECT EXISTS (SELECT 1 FROM org_members WHERE org_id = org AND user_id = workos_current_user()) $$;

-- Called by the engine when a user actor's transaction begins (after the settings): aborts it
-- unless the user is a member of the org. Arguments rather than settings, so that on Citus the
-- lookup is routed to the one shard that holds the org.
CREATE FUNCTION workos_assert_member(org uuid, usr uuid) RETURNS void
    LANGUAGE plpgsql STABLE
    AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM org_members WHERE org_id = org AND user_id = usr) THEN
        RAISE EXCEPTION 'workos: the acting user is not a member of the org'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'org_members', 'api_keys', 'phones', 'companies', 'people', 'person_contacts', 'deals',
        'tasks', 'integrations', 'emails', 'sms', 'calls', 'interactions', 'webhooks',
        'domain_events', 'webhook_deliveries', 'webhook_attempts', 'fulfillment_partners',
        'leads', 'lead_deliveries', 'idempotency_keys', 'routing_settings', 'lead_forms',
        'partner_cap_usage'
    ] LOOP
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I
                 USING (org_id = workos_current_org()) WITH CHECK (org_id = workos_current_org())',
            t);
    END LOOP;
END
$$;

CREATE POLICY tenant_isolation ON orgs
    USING (id = workos_current_org()) WITH CHECK (id = workos_current_org());

-- The system scope: the lookups that establish a tenant and the trusted cross-org workers,
-- each only on the tables and commands it needs (as before, without the sub-selects).
CREATE POLICY system_lookup ON orgs FOR SELECT USING (workos_system_scope());
CREATE POLICY system_lookup ON org_members FOR SELECT USING (workos_system_scope());
CREATE POLICY system_lookup ON api_keys FOR SELECT USING (workos_system_scope());
CREATE POLICY system_touch ON api_keys FOR UPDATE USING (workos_system_scope());
CREATE POLICY system_lookup ON phones FOR SELECT USING (workos_system_scope());
CREATE POLICY system_lookup ON lead_forms FOR SELECT USING (workos_system_scope());
CREATE POLICY system_lookup ON domain_events FOR SELECT USING (workos_system_scope());
CREATE POLICY system_append ON domain_events FOR INSERT WITH CHECK (workos_system_scope());
CREATE POLICY system_worker ON webhooks FOR ALL
    USING (workos_system_scope()) WITH CHECK (workos_system_scope());
CREATE POLICY system_worker ON webhook_deliveries FOR ALL
    USING (workos_system_scope()) WITH CHECK (workos_system_scope());
CREATE POLICY system_worker ON webhook_attempts FOR ALL
    USING (workos_system_scope()) WITH CHECK (workos_system_scope());
CREATE POLICY system_sender ON lead_deliveries FOR ALL
    USING (workos_system_scope()) WITH CHECK (workos_system_scope());
CREATE POLICY system_reader ON leads FOR SELECT USING (workos_system_scope());
CREATE POLICY system_reader ON fulfillment_partners FOR SELECT USING (workos_system_scope());
CREATE POLICY system_scheduler_read ON integrations FOR SELECT USING (workos_system_scope());
CREATE POLICY system_scheduler_claim ON integrations FOR UPDATE
    USING (workos_system_scope()) WITH CHECK (workos_system_scope());
CREATE POLICY system_only ON oauth_states FOR ALL
    USING (workos_system_scope()) WITH CHECK (workos_system_scope());

GRANT EXECUTE ON FUNCTION is_member_of(uuid), workos_assert_member(uuid, uuid) TO workos_app;
-- Servers that run with the app's privileges only check that the schema is current.
GRANT SELECT ON _sqlx_migrations TO workos_app;
