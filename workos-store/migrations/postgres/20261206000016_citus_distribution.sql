-- Citus: when the database has the `citus` extension, every table with org_id is distributed by
-- org_id, all co-located (an org's rows of every table live on one shard group, so a tenant's
-- statements and joins run on one node), and the small global lookups are reference tables
-- (copied to every node). Without Citus nothing here changes anything; later migrations call
-- `workos_distribute` / `workos_reference` for the tables they add.

CREATE FUNCTION workos_citus() RETURNS boolean
    LANGUAGE sql STABLE
    AS $$ SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') $$;

-- Distributes `tbl` by org_id, co-located with org_members (the first table distributed).
CREATE FUNCTION workos_distribute(tbl regclass) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF workos_citus() THEN
        EXECUTE format('SELECT create_distributed_table(%L, %L, colocate_with => %L)',
            tbl, 'org_id', CASE WHEN tbl = 'org_members'::regclass THEN 'none' ELSE 'org_members' END);
    END IF;
END
$$;

CREATE FUNCTION workos_reference(tbl regclass) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF workos_citus() THEN
        EXECUTE format('SELECT create_reference_table(%L)', tbl);
    END IF;
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    IF NOT workos_citus() THEN
        RETURN;
    END IF;
    -- DDL on distributed tables in the same transaction as their distribution must run over one
    -- connection per node.
    SET LOCAL citus.multi_shard_modify_mode TO 'sequential';
    -- Citus opens its connections to the workers as the transaction's current role: the role
    -- tenant transactions switch to must be able to log in there. (Inter-node authentication
    -- is the cluster's: see docs/deploy.md.)
    ALTER ROLE workos_app LOGIN;
    PERFORM workos_stash_foreign_keys();
    FOREACH t IN ARRAY ARRAY['orgs', 'api_key_prefixes', 'phone_numbers', 'lead_form_ids', 'oauth_states'] LOOP
        PERFORM workos_reference(t::regclass);
    END LOOP;
    FOREACH t IN ARRAY ARRAY[
        'org_members', 'api_keys', 'phones', 'companies', 'people', 'person_contacts', 'deals',
        'tasks', 'integrations', 'emails', 'sms', 'calls', 'interactions', 'webhooks',
        'domain_events', 'event_streams', 'event_cursors', 'webhook_deliveries',
        'webhook_attempts', 'fulfillment_partners', 'leads', 'lead_deliveries',
        'idempotency_keys', 'routing_settings', 'lead_forms', 'partner_cap_usage'
    ] LOOP
        PERFORM workos_distribute(t::regclass);
    END LOOP;
    PERFORM workos_restore_foreign_keys();
END
$$;
