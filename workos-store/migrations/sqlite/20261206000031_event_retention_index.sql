-- Retention deletes an org's events by age: an index on (org_id, occurred_at) finds the old
-- ones without reading the org's whole stream.
CREATE INDEX domain_events_org_occurred ON domain_events (org_id, occurred_at);
