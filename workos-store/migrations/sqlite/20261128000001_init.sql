-- WorkOS engine schema (SQLite, the embedded default). The same tables as the Postgres schema
-- with SQLite's types: ids are 16-byte BLOBs (UUID v7, so byte order is time order), times are
-- RFC 3339 TEXT in UTC at microsecond precision (so text order is time order), JSON is TEXT.
-- SQLite has no Row Level Security: the store scopes every query by org_id itself, and the
-- composite foreign keys keep references inside one org.

CREATE TABLE orgs (
    id          BLOB PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    deleted_at  TEXT
);

CREATE TABLE org_members (
    id          BLOB PRIMARY KEY,
    org_id      BLOB NOT NULL REFERENCES orgs (id),
    user_id     BLOB NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (org_id, user_id),
    UNIQUE (org_id, id)
);
CREATE INDEX org_members_user ON org_members (user_id);

CREATE TABLE api_keys (
    id            BLOB PRIMARY KEY,
    org_id        BLOB NOT NULL REFERENCES orgs (id),
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL UNIQUE,
    hash          BLOB NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    last_used_at  TEXT,
    revoked_at    TEXT,
    UNIQUE (org_id, id)
);

CREATE TABLE phones (
    id            BLOB PRIMARY KEY,
    org_id        BLOB NOT NULL REFERENCES orgs (id),
    number        TEXT NOT NULL UNIQUE,
    provider      TEXT NOT NULL,
    label         TEXT,
    capabilities  TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    UNIQUE (org_id, id)
);

CREATE TABLE companies (
    id          BLOB PRIMARY KEY,
    org_id      BLOB NOT NULL REFERENCES orgs (id),
    name        TEXT NOT NULL,
    domain      TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    deleted_at  TEXT,
    UNIQUE (org_id, id)
);
CREATE INDEX companies_org_domain ON companies (org_id, domain) WHERE deleted_at IS NULL;

CREATE TABLE people (
    id                 BLOB PRIMARY KEY,
    org_id             BLOB NOT NULL REFERENCES orgs (id),
    first_name         TEXT,
    last_name          TEXT,
    email              TEXT,
    additional_emails  TEXT NOT NULL DEFAULT '[]',
    phone              TEXT,
    additional_phones  TEXT NOT NULL DEFAULT '[]',
    title              TEXT,
    company_id         BLOB,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    deleted_at         TEXT,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, company_id) REFERENCES companies (org_id, id)
);
CREATE INDEX people_org_company ON people (org_id, company_id) WHERE deleted_at IS NULL;

-- Every email and phone of every live person, primary or additional, normalised. The primary
-- key makes each unique within the org, so mail to a secondary address finds the one person.
CREATE TABLE person_contacts (
    org_id     BLOB NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('email', 'phone')),
    value      TEXT NOT NULL,
    person_id  BLOB NOT NULL,
    PRIMARY KEY (org_id, kind, value),
    FOREIGN KEY (org_id, person_id) REFERENCES people (org_id, id) ON DELETE CASCADE
);
CREATE INDEX person_contacts_person ON person_contacts (org_id, person_id);

CREATE TABLE deals (
    id            BLOB PRIMARY KEY,
    org_id        BLOB NOT NULL REFERENCES orgs (id),
    name          TEXT NOT NULL,
    amount_minor  INTEGER,
    currency      TEXT,
    stage         TEXT NOT NULL,
    company_id    BLOB,
    person_id     BLOB,
    owner_id      BLOB,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    deleted_at    TEXT,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, company_id) REFERENCES companies (org_id, id),
    FOREIGN KEY (org_id, person_id) REFERENCES people (org_id, id),
    CHECK ((amount_minor IS NULL) = (currency IS NULL))
);
CREATE INDEX deals_org_stage ON deals (org_id, stage) WHERE deleted_at IS NULL;
CREATE INDEX deals_org_owner ON deals (org_id, owner_id) WHERE deleted_at IS NULL;

CREATE TABLE tasks (
    id           BLOB PRIMARY KEY,
    org_id       BLOB NOT NULL REFERENCES orgs (id),
    title        TEXT NOT NULL,
    status       TEXT NOT NULL,
    priority     TEXT NOT NULL,
    due_at       TEXT,
    assignee_id  BLOB,
    person_id    BLOB,
    company_id   BLOB,
    deal_id      BLOB,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    deleted_at   TEXT,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, person_id) REFERENCES people (org_id, id),
    FOREIGN KEY (org_id, company_id) REFERENCES companies (org_id, id),
    FOREIGN KEY (org_id, deal_id) REFERENCES deals (org_id, id)
);
CREATE INDEX tasks_org_assignee ON tasks (org_id, assignee_id, status) WHERE deleted_at IS NULL;
CREATE INDEX tasks_org_due ON tasks (org_id, due_at) WHERE deleted_at IS NULL;

CREATE TABLE integrations (
    id              BLOB PRIMARY KEY,
    org_id          BLOB NOT NULL REFERENCES orgs (id),
    provider        TEXT NOT NULL,
    account         TEXT NOT NULL,
    status          TEXT NOT NULL,
    credentials     BLOB,
    settings        TEXT NOT NULL DEFAULT '{}',
    sync_state      TEXT NOT NULL DEFAULT '{}',
    last_synced_at  TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (org_id, id),
    UNIQUE (org_id, provider, account)
);

CREATE TABLE emails (
    id                BLOB PRIMARY KEY,
    org_id            BLOB NOT NULL REFERENCES orgs (id),
    integration_id    BLOB NOT NULL,
    provider_id       TEXT NOT NULL,
    thread_id         TEXT,
    message_id        TEXT,
    direction         TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    from_address      TEXT NOT NULL,
    to_addresses      TEXT NOT NULL DEFAULT '[]',
    cc_addresses      TEXT NOT NULL DEFAULT '[]',
    subject           TEXT,
    snippet           TEXT,
    headers           TEXT NOT NULL DEFAULT '{}',
    person_id         BLOB,
    occurred_at       TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    deleted_at        TEXT,
    UNIQUE (org_id, id),
    UNIQUE (org_id, integration_id, provider_id),
    FOREIGN KEY (org_id, integration_id) REFERENCES integrations (org_id, id),
    FOREIGN KEY (org_id, person_id) REFERENCES people (org_id, id)
);
CREATE INDEX emails_org_person ON emails (org_id, person_id);

CREATE TABLE sms (
    id           BLOB PRIMARY KEY,
    org_id       BLOB NOT NULL REFERENCES orgs (id),
    phone_id     BLOB,
    message_sid  TEXT,
    direction    TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    from_number  TEXT NOT NULL,
    to_number    TEXT NOT NULL,
    body         TEXT NOT NULL,
    media        TEXT NOT NULL DEFAULT '[]',
    status       TEXT NOT NULL,
    error_code   TEXT,
    person_id    BLOB,
    occurred_at  TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    deleted_at   TEXT,
    UNIQUE (org_id, id),
    UNIQUE (org_id, message_sid),
    FOREIGN KEY (org_id, phone_id) REFERENCES phones (org_id, id),
    FOREIGN KEY (org_id, person_id) REFERENCES people (org_id, id)
);
CREATE INDEX sms_org_person ON sms (org_id, person_id);

CREATE TABLE calls (
    id                  BLOB PRIMARY KEY,
    org_id              BLOB NOT NULL REFERENCES orgs (id),
    phone_id            BLOB,
    call_sid            TEXT,
    direction           TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    from_number         TEXT NOT NULL,
    to_number           TEXT NOT NULL,
    status              TEXT NOT NULL,
    duration_seconds    INTEGER,
    recording_sid       TEXT,
    recording_url       TEXT,
    recording_seconds   INTEGER,
    person_id           BLOB,
    occurred_at         TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    deleted_at          TEXT,
    UNIQUE (org_id, id),
    UNIQUE (org_id, call_sid),
    FOREIGN KEY (org_id, phone_id) REFERENCES phones (org_id, id),
    FOREIGN KEY (org_id, person_id) REFERENCES people (org_id, id)
);
CREATE INDEX calls_org_person ON calls (org_id, person_id);

CREATE TABLE interactions (
    id           BLOB PRIMARY KEY,
    org_id       BLOB NOT NULL REFERENCES orgs (id),
    kind         TEXT NOT NULL,
    occurred_at  TEXT NOT NULL,
    summary      TEXT NOT NULL,
    body         TEXT,
    person_id    BLOB,
    company_id   BLOB,
    deal_id      BLOB,
    email_id     BLOB,
    sms_id       BLOB,
    call_id      BLOB,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    deleted_at   TEXT,
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
    id              BLOB PRIMARY KEY,
    org_id          BLOB NOT NULL REFERENCES orgs (id),
    url             TEXT NOT NULL,
    description     TEXT,
    event_types     TEXT NOT NULL DEFAULT '[]',
    enabled         INTEGER NOT NULL DEFAULT 1,
    secrets         BLOB NOT NULL,
    headers         TEXT NOT NULL DEFAULT '{}',
    rate_limit_per_second INTEGER,
    failing_since   TEXT,
    disabled_reason TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (org_id, id)
);

CREATE TABLE domain_events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           BLOB NOT NULL UNIQUE,
    org_id       BLOB NOT NULL REFERENCES orgs (id),
    type         TEXT NOT NULL,
    occurred_at  TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id   BLOB NOT NULL,
    data         TEXT NOT NULL,
    request_id   TEXT,
    UNIQUE (org_id, id)
);
CREATE INDEX domain_events_org ON domain_events (org_id, id);

-- Consumers' positions in the global event log. Not tenant data.
CREATE TABLE event_consumers (
    name        TEXT PRIMARY KEY,
    tx          INTEGER NOT NULL,
    seq         INTEGER NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id               BLOB PRIMARY KEY,
    org_id           BLOB NOT NULL REFERENCES orgs (id),
    webhook_id       BLOB NOT NULL,
    event_id         BLOB NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT,
    locked_until     TEXT,
    last_status_code INTEGER,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (org_id, id),
    UNIQUE (webhook_id, event_id),
    FOREIGN KEY (org_id, webhook_id) REFERENCES webhooks (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, event_id) REFERENCES domain_events (org_id, id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status IN ('pending', 'retrying');
CREATE INDEX webhook_deliveries_org_webhook ON webhook_deliveries (org_id, webhook_id, id);

CREATE TABLE webhook_attempts (
    id              BLOB PRIMARY KEY,
    org_id          BLOB NOT NULL,
    delivery_id     BLOB NOT NULL,
    attempted_at    TEXT NOT NULL,
    status_code     INTEGER,
    error_kind      TEXT,
    latency_ms      INTEGER NOT NULL,
    response_body   TEXT,
    next_attempt_at TEXT,
    FOREIGN KEY (org_id, delivery_id) REFERENCES webhook_deliveries (org_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_attempts_org_delivery ON webhook_attempts (org_id, delivery_id, attempted_at);

CREATE TABLE fulfillment_partners (
    id            BLOB PRIMARY KEY,
    org_id        BLOB NOT NULL REFERENCES orgs (id),
    name          TEXT NOT NULL,
    delivery      TEXT NOT NULL,
    verticals     TEXT NOT NULL DEFAULT '[]',
    regions       TEXT NOT NULL DEFAULT '[]',
    priority      INTEGER NOT NULL DEFAULT 0,
    weight        INTEGER NOT NULL DEFAULT 1,
    price_minor   INTEGER NOT NULL DEFAULT 0,
    currency      TEXT NOT NULL DEFAULT 'USD',
    daily_cap     INTEGER,
    monthly_cap   INTEGER,
    timezone      TEXT NOT NULL DEFAULT 'UTC',
    exclusive     INTEGER NOT NULL DEFAULT 1,
    active        INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    deleted_at    TEXT,
    UNIQUE (org_id, id)
);

CREATE TABLE leads (
    id            BLOB PRIMARY KEY,
    org_id        BLOB NOT NULL REFERENCES orgs (id),
    person_id     BLOB,
    first_name    TEXT,
    last_name     TEXT,
    email         TEXT,
    phone         TEXT,
    postal_code   TEXT,
    region        TEXT,
    country       TEXT,
    vertical      TEXT,
    answers       TEXT NOT NULL DEFAULT '{}',
    consent       TEXT,
    utm_source    TEXT,
    utm_medium    TEXT,
    utm_campaign  TEXT,
    utm_term      TEXT,
    utm_content   TEXT,
    gclid         TEXT,
    fbclid        TEXT,
    landing_page  TEXT,
    referrer      TEXT,
    first_touch   TEXT,
    status        TEXT NOT NULL,
    duplicate_of  BLOB,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    deleted_at    TEXT,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, person_id) REFERENCES people (org_id, id),
    FOREIGN KEY (org_id, duplicate_of) REFERENCES leads (org_id, id)
);
CREATE INDEX leads_org_email ON leads (org_id, email, created_at);
CREATE INDEX leads_org_phone ON leads (org_id, phone, created_at);

CREATE TABLE lead_deliveries (
    id           BLOB PRIMARY KEY,
    org_id       BLOB NOT NULL REFERENCES orgs (id),
    lead_id      BLOB NOT NULL,
    partner_id   BLOB NOT NULL,
    rule         TEXT,
    price_minor  INTEGER NOT NULL DEFAULT 0,
    status       TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    response     TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    UNIQUE (org_id, id),
    FOREIGN KEY (org_id, lead_id) REFERENCES leads (org_id, id),
    FOREIGN KEY (org_id, partner_id) REFERENCES fulfillment_partners (org_id, id)
);
CREATE INDEX lead_deliveries_org_partner ON lead_deliveries (org_id, partner_id, created_at);
CREATE INDEX lead_deliveries_org_lead ON lead_deliveries (org_id, lead_id);
