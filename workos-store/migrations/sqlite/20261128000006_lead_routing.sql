-- Matches the Postgres migration of the same name (without RLS: the queries filter by org).
CREATE TABLE routing_settings (
    org_id              BLOB NOT NULL REFERENCES orgs (id),
    vertical            TEXT NOT NULL DEFAULT '',
    strategy            TEXT NOT NULL CHECK (strategy IN ('priority', 'weighted', 'round_robin')),
    when_full           TEXT NOT NULL CHECK (when_full IN ('queue', 'unrouted')),
    distribution        TEXT NOT NULL CHECK (distribution IN ('exclusive', 'shared')),
    max_partners        INTEGER NOT NULL CHECK (max_partners BETWEEN 1 AND 20),
    dedupe              TEXT NOT NULL,
    return_window_days  INTEGER NOT NULL CHECK (return_window_days BETWEEN 0 AND 365),
    rr_last_partner_id  BLOB,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    PRIMARY KEY (org_id, vertical)
);

CREATE TABLE lead_forms (
    id               BLOB PRIMARY KEY,
    org_id           BLOB NOT NULL REFERENCES orgs (id),
    public_id        TEXT NOT NULL UNIQUE,
    name             TEXT NOT NULL,
    vertical         TEXT,
    honeypot_field   TEXT NOT NULL DEFAULT 'website',
    required_fields  TEXT NOT NULL DEFAULT '[]',
    secret           BLOB,
    active           INTEGER NOT NULL DEFAULT 1,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    deleted_at       TEXT,
    UNIQUE (org_id, id)
);

CREATE INDEX leads_org_queued ON leads (org_id, created_at) WHERE status = 'queued' AND deleted_at IS NULL;
