-- Matches the Postgres migration of the same name (whose policies have no SQLite counterpart).
ALTER TABLE lead_deliveries ADD COLUMN next_attempt_at TEXT;
ALTER TABLE lead_deliveries ADD COLUMN lease_until TEXT;
CREATE INDEX lead_deliveries_due ON lead_deliveries (COALESCE(next_attempt_at, created_at))
    WHERE status = 'pending' OR (status = 'failed' AND next_attempt_at IS NOT NULL);

ALTER TABLE fulfillment_partners ADD COLUMN signing_secret BLOB;
