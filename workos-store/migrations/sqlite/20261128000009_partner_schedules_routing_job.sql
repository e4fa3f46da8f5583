-- Partner opening hours: weekly periods in the partner's time zone (JSON, as the API shows
-- them); NULL means always open. Routing treats a closed partner like a capped one.
ALTER TABLE fulfillment_partners ADD COLUMN schedule TEXT;

-- The queued-lead job's lookup of `new` leads a crash left unrouted (see the Postgres file).
CREATE INDEX leads_new ON leads (created_at) WHERE status = 'new' AND deleted_at IS NULL;
