-- Sending lead deliveries to partners. A delivery is due while it is `pending` (from when it was
-- routed, or from `next_attempt_at` once set) or `failed` with a `next_attempt_at` (a retry); a
-- `failed` delivery without one has failed for good. `lease_until` is a sender's claim: no other
-- sender takes the delivery before it ends (so a sender that died is replaced after it).
ALTER TABLE lead_deliveries ADD COLUMN next_attempt_at timestamptz;
ALTER TABLE lead_deliveries ADD COLUMN lease_until timestamptz;
CREATE INDEX lead_deliveries_due ON lead_deliveries ((COALESCE(next_attempt_at, created_at)))
    WHERE status = 'pending' OR (status = 'failed' AND next_attempt_at IS NOT NULL);

-- A webhook partner's signing secret, sealed with the engine's AEAD cipher (associated data
-- binding the org and the partner); NULL for email partners. Never part of a partner's JSON.
ALTER TABLE fulfillment_partners ADD COLUMN signing_secret bytea;

-- Senders work across orgs in the system scope: they claim and settle deliveries, read the
-- delivery's lead and partner, and record lead.delivered / lead.delivery_failed (domain_events
-- already has system_append).
CREATE POLICY system_sender ON lead_deliveries FOR ALL
    USING ((SELECT workos_system_scope())) WITH CHECK ((SELECT workos_system_scope()));
CREATE POLICY system_sender ON leads FOR SELECT USING ((SELECT workos_system_scope()));
CREATE POLICY system_sender ON fulfillment_partners FOR SELECT USING ((SELECT workos_system_scope()));
