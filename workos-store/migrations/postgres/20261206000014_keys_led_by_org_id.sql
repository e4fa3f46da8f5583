-- Every primary key, unique constraint and foreign key of a tenant table includes org_id, and
-- what must be unique across orgs lives in small lookup tables of its own. On one node this
-- keeps each org's rows together in every index; on Citus (distributed by org_id) it is what
-- lets a table be distributed at all, since a shard can only enforce keys that contain the
-- distribution column.

-- Foreign keys are set aside while the keys they rest on change, and put back as they were.
-- The pair of functions is kept for later migrations (Citus distribution needs it too).
CREATE FUNCTION workos_stash_foreign_keys() RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    c record;
BEGIN
    CREATE TEMP TABLE workos_stashed_fks ON COMMIT DROP AS
        SELECT conrelid::regclass AS tbl, conname, pg_get_constraintdef(oid) AS def
        FROM pg_constraint
        WHERE contype = 'f' AND connamespace = 'public'::regnamespace;
    FOR c IN SELECT * FROM workos_stashed_fks LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.tbl, c.conname);
    END LOOP;
END
$$;

CREATE FUNCTION workos_restore_foreign_keys() RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT * FROM workos_stashed_fks ORDER BY tbl::text, conname LOOP
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.tbl, c.conname, c.def);
    END LOOP;
    DROP TABLE workos_stashed_fks;
END
$$;

SELECT workos_stash_foreign_keys();

-- Primary keys (org_id, id) in place of (id) and the separate UNIQUE (org_id, id).
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'org_members', 'api_keys', 'phones', 'companies', 'people', 'deals', 'tasks',
        'integrations', 'emails', 'sms', 'calls', 'interactions', 'webhooks',
        'webhook_deliveries', 'fulfillment_partners', 'leads', 'lead_deliveries', 'lead_forms'
    ] LOOP
        EXECUTE format(
            'ALTER TABLE %I DROP CONSTRAINT %I, DROP CONSTRAINT %I, ADD CONSTRAINT %I PRIMARY KEY (org_id, id)',
            t, t || '_pkey', t || '_org_id_id_key', t || '_pkey');
    END LOOP;
END
$$;
ALTER TABLE webhook_attempts
    DROP CONSTRAINT webhook_attempts_pkey,
    ADD CONSTRAINT webhook_attempts_pkey PRIMARY KEY (org_id, id);

-- Uniques within an org; their global counterparts move to the lookup tables below.
ALTER TABLE api_keys DROP CONSTRAINT api_keys_prefix_key, ADD UNIQUE (org_id, prefix);
ALTER TABLE phones DROP CONSTRAINT phones_number_key, ADD UNIQUE (org_id, number);
ALTER TABLE lead_forms DROP CONSTRAINT lead_forms_public_id_key, ADD UNIQUE (org_id, public_id);
ALTER TABLE webhook_deliveries
    DROP CONSTRAINT webhook_deliveries_webhook_id_event_id_key,
    ADD UNIQUE (org_id, webhook_id, event_id);

SELECT workos_restore_foreign_keys();

-- The global lookups: which org an API key prefix, a phone number or a public form id belongs
-- to. Written in the same transaction as the row they point at; their primary keys are what
-- keeps a prefix, a number or a form id unique across orgs. Readable across orgs only in the
-- system scope (the requests they serve carry no tenant yet); each org writes only its own.
CREATE TABLE api_key_prefixes (
    prefix      text PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES orgs (id),
    api_key_id  uuid NOT NULL
);
INSERT INTO api_key_prefixes (prefix, org_id, api_key_id) SELECT prefix, org_id, id FROM api_keys;

CREATE TABLE phone_numbers (
    number    text PRIMARY KEY,
    org_id    uuid NOT NULL REFERENCES orgs (id),
    phone_id  uuid NOT NULL
);
INSERT INTO phone_numbers (number, org_id, phone_id) SELECT number, org_id, id FROM phones;

CREATE TABLE lead_form_ids (
    public_id  text PRIMARY KEY,
    org_id     uuid NOT NULL REFERENCES orgs (id),
    form_id    uuid NOT NULL
);
INSERT INTO lead_form_ids (public_id, org_id, form_id) SELECT public_id, org_id, id FROM lead_forms;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['api_key_prefixes', 'phone_numbers', 'lead_form_ids'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I
                 USING (org_id = workos_current_org()) WITH CHECK (org_id = workos_current_org())',
            t);
        EXECUTE format('CREATE POLICY system_lookup ON %I FOR SELECT USING (workos_system_scope())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO workos_app', t);
    END LOOP;
END
$$;
