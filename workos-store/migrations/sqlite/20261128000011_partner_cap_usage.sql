-- Partner cap usage as counters (see the Postgres migration of the same name): one row per
-- partner and cap window, created on first use by counting the window's deliveries.
CREATE TABLE partner_cap_usage (
    org_id      BLOB NOT NULL REFERENCES orgs (id),
    partner_id  BLOB NOT NULL,
    period      TEXT NOT NULL CHECK (period IN ('day', 'month')),
    starts_at   TEXT NOT NULL,
    used        INTEGER NOT NULL CHECK (used >= 0),
    PRIMARY KEY (org_id, partner_id, period, starts_at),
    FOREIGN KEY (org_id, partner_id) REFERENCES fulfillment_partners (org_id, id)
);
