-- WorkOS engine schema (Postgres). Every tenant table carries org_id, is indexed by it first,
-- references other tenant rows through (org_id, id) so a row can never point into another org,
-- and is protected by Row Level Security, enabled and FORCED so even the owner is subject to it.

-- The role tenant operations run as (SET LOCAL ROLE): not a superuser, not the owner, no
-- BYPASSRLS. Roles are cluster-wide, so creation tolerates an existing role (or a concurrent
-- migration of another database creating it at the same moment).
DO $$
BEGIN
    CREATE ROLE workos_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

DO $$
BEGIN
    EXECUTE format('GRANT workos_app TO %I', current_user);
EXCEPTION WHEN duplicate_object OR unique_violation OR invalid_grant_operation THEN
    NULL;
END
$$;

-- The tenant of the current transaction, from `SET LOCAL workos.org_id`.
CREATE FUNCTION workos_current_org() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('workos.org_id', true), '')::uuid $$;

-- The acting user, when the actor is a user (API keys and system jobs leave it unset).
CREATE FUNCTION workos_current_user() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('workos.user_id', true), '')::uuid $$;

-- Cross-tenant lookups (API key by prefix, inbound number, event log) set workos.scope.
CREATE FUNCTION workos_system_scope() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(current_setting('workos.scope', true), '') = 'system' $$;

CREATE TABLE orgs (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    deleted_at  timestamptz
);

CREATE TABLE org_members (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES orgs (id),
    user_id     uuid NOT NULL,
    role        text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    UNIQUE (org_id, user_id),
    UNIQUE (org_id, id)
);
CREATE INDEX org_members_user ON org_members (user_id);

-- The seed's membership check, for user actors. SECURITY DEFINER so the lookup itself is not
-- filtered by org_members' own policy.
CREATE FUNCTION is_member_of(org uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
    AS $$ SELECT EXISTS (SELECT 1 FROM org_members WHERE org_id = org AND user_id = workos_current_user()) $$;

-- True when the transaction may see rows of `workos_current_org()`: always for the engine's
-- own actors, and only for members when the actor is a user.
CREATE FUNCTION workos_actor_allowed() RETURNS boolean
    LANGUAGE sql STABLE
    AS $$ SELECT workos_current_user() IS NULL OR is_member_of(workos_current_org()) $$;

CREATE TABLE api_keys (
    id            uuid PRIMARY KEY,
    org_id        uuid NOT NULL REFERENCES orgs (id),
    name          text NOT NULL,
    prefix        text NOT NULL UNIQUE,
    hash          bytea NOT NULL,
    role          text NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    UNIQUE (org_id, id)
);

CREATE TABLE phones (
    id            uuid PRIMARY KEY,
    org_id        uuid NOT NULL REFERENCES orgs (id),
    number        text NOT NULL UNIQUE,
    provider      text NOT NULL,
    label         text,
    capabilities  jsonb NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    UNIQUE (org_id, id)
);

CREATE TABLE companies (
    id          uuid PRIMARY KEY,
    org_id      uuid NOT NULL REFERENCES orgs (id),
    name        text NOT NULL,
    domain      text,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    deleted_at  timestamptz,
    UNIQUE (org_id, id)
);
CREATE INDEX companies_org_domain ON companies (org_id, domain) WHERE deleted_at IS NULL;

CREATE TABLE people (
    id                 uuid PRIMARY KEY,
    org_id             uuid NOT NULL REFERENCES orgs (id),
    first_name         text,
    last_name          text,
    email              text,
    additional_emails  jsonb NOT NULL DEFAULT '[]',
    phone              text,
    additional_phones  jsonb NOT NULL DEFAULT '[]',
    title              text,
    company_id         uuid,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    deleted_at         timestamptz,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, company_id) REFERENCES companies (org_id, id)
);
CREATE INDEX people_org_company ON people (org_id, company_id) WHERE deleted_at IS NULL;

-- Every email and phone of every live person, primary or additional, normalised. The primary
-- key makes each unique within the org, so mail to a secondary address finds the one person.
CREATE TABLE person_contacts (
    org_id     uuid NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('email', 'phone')),
    value      text NOT NULL,
    person_id  uuid NOT NULL,
    PRIMARY KEY (org_id, kind, value),
    FOREIGN KEY (org_id, person_id) REFERENCES people (org_id, id) ON DELETE CASCADE
);
CREATE INDEX person_contacts_person ON person_contacts (org_id, person_id);

CREATE TABLE deals (
    id            uuid PRIMARY KEY,
    org_id        uuid NOT NULL REFERENCES orgs (id),
    name          text NOT NULL,
    amount_minor  bigint,
    currency      text,
    stage         text NOT NULL,
    company_id    uuid,
    person_id     uuid,
    owner_id      uuid,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    deleted_at    timestamptz,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, company_id) REFERENCES companies (org_id, id),
    FOREIGN KEY (org_id, person_id) REFERENCES people (org_id, id),
    CHECK ((amount_minor IS NULL) = (currency IS NULL))
);
CREATE INDEX deals_org_stage ON deals (org_id, stage) WHERE deleted_at IS NULL;
CREATE INDEX deals_org_owner ON deals (org_id, owner_id) WHERE deleted_at IS NULL;

CREATE TABLE tasks (
    id           uuid PRIMARY KEY,
    org_id       uuid NOT NULL REFERENCES orgs (id),
    title        text NOT NULL,
    status       text NOT NULL,
    priority     text NOT NULL,
    due_at       timestamptz,
    assignee_id  uuid,
    person_id    uuid,
    company_id   uuid,
    deal_id      uuid,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    deleted_at   timestamptz,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, person_id) REFERENCES people (org_id, id),
    FOREIGN KEY (org_id, company_id) REFERENCES companies (org_id, id),
    FOREIGN KEY (org_id, deal_id) REFERENCES deals (org_id, id)
);
CREATE INDEX tasks_org_assignee ON tasks (org_id, assignee_id, status) WHERE deleted_at IS NULL;
CREATE INDEX tasks_org_due ON tasks (org_id, due_at) WHERE deleted_at IS NULL;

CREATE TABLE integrations (
    id              uuid PRIMARY KEY,
    org_id          uuid NOT NULL REFERENCES orgs (id),
    provider        text NOT NULL,
    account         text NOT NULL,
    status          text NOT NULL,
    credentials     bytea,
    settings        jsonb NOT NULL DEFAULT '{}',
    sync_state      jsonb NOT NULL DEFAULT '{}',
    last_synced_at  timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    UNIQUE (org_id, id),
    UNIQUE (org_id, provider, account)
);

CREATE TABLE emails (
    id                uuid PRIMARY KEY,
    org_id            uuid NOT NULL REFERENCES orgs (id),
    integration_id    uuid NOT NULL,
    provider_id       text NOT NULL,
    thread_id         text,
    message_id        text,
    direction         text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    from_address      text NOT NULL,
    to_addresses      jsonb NOT NULL DEFAULT '[]',
    cc_addresses      jsonb NOT NULL DEFAULT '[]',
    subject           text,
    snippet           text,
    headers           jsonb NOT NULL DEFAULT '{}',
    person_id         uuid,
    occurred_at       timestamptz NOT NULL,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    deleted_at        timestamptz,
    UNIQUE (org_id, id),
    UNIQUE (org_id, integration_id, provider_id),
    FOREIGN KEY (org_id, integration_id) REFERENCES integrations (org_id, id),
    FOREIGN KEY (org_id, person_id) REFERENCES people (org_id, id)
);
CREATE INDEX emails_org_person ON emails (org_id, person_id);

CREATE TABLE sms (
    id           uuid PRIMARY KEY,
    org_id       uuid NOT NULL REFERENCES orgs (id),
    phone_id     uuid,
    message_sid  text,
    direction    text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    from_number  text NOT NULL,
    to_number    text NOT NULL,
    body         text NOT NULL,
    media        jsonb NOT NULL DEFAULT '[]',
    status       text NOT NULL,
    error_code   text,
    person_id    uuid,
    occurred_at  timestamptz NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    deleted_at   timestamptz,
    UNIQUE (org_id, id),
    UNIQUE (org_id, message_sid),
    FOREIGN KEY (org_id, phone_id) REFERENCES phones (org_id, id),
    FOREIGN KEY (org_id, person_id) REFERENCES people (org_id, id)
);
CREATE INDEX sms_org_person ON sms (org_id, person_id);

CREATE TABLE calls (
    id                  uuid PRIMARY KEY,
    org_id              uuid NOT NULL REFERENCES orgs (id),
    phone_id            uuid,
    call_sid            text,
    direction           text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    from_number         text NOT NULL,
    to_number           text NOT NULL,
    status              text NOT NULL,
    duration_seconds    integer,
    recording_sid       text,
    recording_url       text,
    recording_seconds   integer,
    person_id           uuid,
    occurred_at         timestamptz NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    deleted_at          timestamptz,
    UNIQUE (org_id, id),
    UNIQUE (org_id, call_sid),
    FOREIGN KEY (org_id, phone_id) REFERENCES phones (org_id, id),
    FOREIGN KEY (org_id, person_id) REFERENCES people (org_id, id)
);
CREATE INDEX calls_org_person ON calls (org_id, person_id);

CREATE TABLE interactions (
    id           uuid PRIMARY KEY,
    org_id       uuid NOT NULL REFERENCES orgs (id),
    kind         text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    summary      text NOT NULL,
    body         text,
    person_id    uuid,
    company_id   uuid,
    deal_id      uuid,
    email_id     uuid,
    sms_id       uuid,
    call_id      uuid,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    deleted_at   timestamptz,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, person_id) REFERENCES people (org_id, id),
    FOREIGN KEY (org_id, company_id) REFERENCES companies (org_id, id),
    FOREIGN KEY (org_id, deal_id) REFERENCES deals (org_id, id),
    FOREIGN KEY (org_id, email_id) REFERENCES emails (org_id, id),
    FOREIGN KEY (org_id, sms_id) REFERENCES sms (org_id, id),
    FOREIGN KEY (org_id, call_id) REFERENCES calls (org_id, id)
);
CREATE INDEX interactions_org_person ON interactions (org_id, person_id, occurred_at) WHERE deleted_at IS NULL;
CREATE INDEX interactions_org_company ON interactions (org_id, company_id, occurred_at) WHERE deleted_at IS NULL;
CREATE INDEX interactions_org_deal ON interactions (org_id, deal_id, occurred_at) WHERE deleted_at IS NULL;

CREATE TABLE webhooks (
    id              uuid PRIMARY KEY,
    org_id          uuid NOT NULL REFERENCES orgs (id),
    url             text NOT NULL,
    description     text,
    event_types     jsonb NOT NULL DEFAULT '[]',
    enabled         boolean NOT NULL DEFAULT true,
    secrets         bytea NOT NULL,
    headers         jsonb NOT NULL DEFAULT '{}',
    rate_limit_per_second integer,
    failing_since   timestamptz,
    disabled_reason text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    UNIQUE (org_id, id)
);

CREATE TABLE domain_events (
    seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The writing transaction, so readers of the log can wait for every earlier transaction to
    -- finish before moving past it (sequence order is not commit order).
    tx           xid8 NOT NULL DEFAULT pg_current_xact_id(),
    id           uuid NOT NULL UNIQUE,
    org_id       uuid NOT NULL REFERENCES orgs (id),
    type         text NOT NULL,
    occurred_at  timestamptz NOT NULL,
    subject_kind text NOT NULL,
    subject_id   uuid NOT NULL,
    data         jsonb NOT NULL,
    request_id   text,
    UNIQUE (org_id, id)
);
CREATE INDEX domain_events_org ON domain_events (org_id, id);
CREATE INDEX domain_events_tx ON domain_events (tx, seq);

-- Consumers' positions in the global event log. Not tenant data.
CREATE TABLE event_consumers (
    name        text PRIMARY KEY,
    tx          bigint NOT NULL,
    seq         bigint NOT NULL,
    updated_at  timestamptz NOT NULL
);

CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    org_id           uuid NOT NULL REFERENCES orgs (id),
    webhook_id       uuid NOT NULL,
    event_id         uuid NOT NULL,
    status           text NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    locked_until     timestamptz,
    last_status_code integer,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    UNIQUE (org_id, id),
    UNIQUE (webhook_id, event_id),
    FOREIGN KEY (org_id, webhook_id) REFERENCES webhooks (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, event_id) REFERENCES domain_events (org_id, id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status IN ('pending', 'retrying');
CREATE INDEX webhook_deliveries_org_webhook ON webhook_deliveries (org_id, webhook_id, id);

CREATE TABLE webhook_attempts (
    id              uuid PRIMARY KEY,
    org_id          uuid NOT NULL,
    delivery_id     uuid NOT NULL,
    attempted_at    timestamptz NOT NULL,
    status_code     integer,
    error_kind      text,
    latency_ms      integer NOT NULL,
    response_body   text,
    next_attempt_at timestamptz,
    FOREIGN KEY (org_id, delivery_id) REFERENCES webhook_deliveries (org_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_attempts_org_delivery ON webhook_attempts (org_id, delivery_id, attempted_at);

CREATE TABLE fulfillment_partners (
    id            uuid PRIMARY KEY,
    org_id        uuid NOT NULL REFERENCES orgs (id),
    name          text NOT NULL,
    delivery      jsonb NOT NULL,
    verticals     jsonb NOT NULL DEFAULT '[]',
    regions       jsonb NOT NULL DEFAULT '[]',
    priority      integer NOT NULL DEFAULT 0,
    weight        integer NOT NULL DEFAULT 1,
    price_minor   bigint NOT NULL DEFAULT 0,
    currency      text NOT NULL DEFAULT 'USD',
    daily_cap     integer,
    monthly_cap   integer,
    timezone      text NOT NULL DEFAULT 'UTC',
    exclusive     boolean NOT NULL DEFAULT true,
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    deleted_at    timestamptz,
    UNIQUE (org_id, id)
);

CREATE TABLE leads (
    id            uuid PRIMARY KEY,
    org_id        uuid NOT NULL REFERENCES orgs (id),
    person_id     uuid,
    first_name    text,
    last_name     text,
    email         text,
    phone         text,
    postal_code   text,
    region        text,
    country       text,
    vertical      text,
    answers       jsonb NOT NULL DEFAULT '{}',
    consent       jsonb,
    utm_source    text,
    utm_medium    text,
    utm_campaign  text,
    utm_term      text,
    utm_content   text,
    gclid         text,
    fbclid        text,
    landing_page  text,
    referrer      text,
    first_touch   jsonb,
    status        text NOT NULL,
    duplicate_of  uuid,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    deleted_at    timestamptz,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, person_id) REFERENCES people (org_id, id),
    FOREIGN KEY (org_id, duplicate_of) REFERENCES leads (org_id, id)
);
CREATE INDEX leads_org_email ON leads (org_id, email, created_at);
CREATE INDEX leads_org_phone ON leads (org_id, phone, created_at);

CREATE TABLE lead_deliveries (
    id           uuid PRIMARY KEY,
    org_id       uuid NOT NULL REFERENCES orgs (id),
    lead_id      uuid NOT NULL,
    partner_id   uuid NOT NULL,
    rule         text,
    price_minor  bigint NOT NULL DEFAULT 0,
    status       text NOT NULL,
    attempts     integer NOT NULL DEFAULT 0,
    response     jsonb,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, lead_id) REFERENCES leads (org_id, id),
    FOREIGN KEY (org_id, partner_id) REFERENCES fulfillment_partners (org_id, id)
);
CREATE INDEX lead_deliveries_org_partner ON lead_deliveries (org_id, partner_id, created_at);
CREATE INDEX lead_deliveries_org_lead ON lead_deliveries (org_id, lead_id);

-- Row Level Security on every tenant table. The sub-selects let Postgres evaluate the settings
-- and the membership check once per statement (an InitPlan), not once per row.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'org_members', 'api_keys', 'phones', 'companies', 'people', 'person_contacts', 'deals',
        'tasks', 'integrations', 'emails', 'sms', 'calls', 'interactions', 'webhooks',
        'domain_events', 'webhook_deliveries', 'webhook_attempts', 'fulfillment_partners',
        'leads', 'lead_deliveries'
    ] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I
                 USING (org_id = (SELECT workos_current_org()) AND (SELECT workos_actor_allowed()))
                 WITH CHECK (org_id = (SELECT workos_current_org()) AND (SELECT workos_actor_allowed()))',
            t);
    END LOOP;
END
$$;

ALTER TABLE orgs ENABLE ROW LEVEL SECURITY;
ALTER TABLE orgs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON orgs
    USING (id = (SELECT workos_current_org()) AND (SELECT workos_actor_allowed()))
    WITH CHECK (id = (SELECT workos_current_org()));

-- Cross-tenant reads for the lookups that establish a tenant and for log consumers; only the
-- engine's system scope sets workos.scope, and these policies only allow reading.
CREATE POLICY system_lookup ON api_keys FOR SELECT USING ((SELECT workos_system_scope()));
CREATE POLICY system_lookup ON org_members FOR SELECT USING ((SELECT workos_system_scope()));
CREATE POLICY system_lookup ON phones FOR SELECT USING ((SELECT workos_system_scope()));
CREATE POLICY system_lookup ON domain_events FOR SELECT USING ((SELECT workos_system_scope()));
CREATE POLICY system_touch ON api_keys FOR UPDATE USING ((SELECT workos_system_scope()));

GRANT USAGE ON SCHEMA public TO workos_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO workos_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO workos_app;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO workos_app;
-- The migrations table is the owner's business alone.
REVOKE ALL ON _sqlx_migrations FROM workos_app;
