-- Partner cap usage as counters: one row per partner and cap window (its local day or month),
-- holding how many deliveries count against the cap in that window (returns excluded).
--
-- Routing used to count a partner's deliveries since its local midnight and month start on
-- every lead, under the partner's row lock: the count grew with the month's history and the
-- lock serialised every routing to that partner for the whole transaction. A counter row is
-- read in one index probe, and taking a slot is one conditional `UPDATE … SET used = used + 1
-- WHERE used < cap` at the very end of the routing transaction, so the row lock is held only
-- while committing. A window's row is created on first use by counting the deliveries already
-- in it, so no backfill is needed and a row that was dropped (caps or time zone changed) is
-- rebuilt exactly.
CREATE TABLE partner_cap_usage (
    org_id      uuid NOT NULL REFERENCES orgs (id),
    partner_id  uuid NOT NULL,
    period      text NOT NULL CHECK (period IN ('day', 'month')),
    -- The window's start: the partner's local midnight (of the 1st, for a month), in UTC.
    starts_at   timestamptz NOT NULL,
    used        integer NOT NULL CHECK (used >= 0),
    PRIMARY KEY (org_id, partner_id, period, starts_at),
    FOREIGN KEY (org_id, partner_id) REFERENCES fulfillment_partners (org_id, id)
);

ALTER TABLE partner_cap_usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE partner_cap_usage FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON partner_cap_usage
    USING (org_id = (SELECT workos_current_org()) AND (SELECT workos_actor_allowed()))
    WITH CHECK (org_id = (SELECT workos_current_org()) AND (SELECT workos_actor_allowed()));

GRANT SELECT, INSERT, UPDATE, DELETE ON partner_cap_usage TO workos_app;
