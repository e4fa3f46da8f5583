-- Each message or call finds its timeline entry through interactions.sms_id / call_id; without
-- these, every inbound SMS scanned all of the org's interactions.
CREATE INDEX interactions_org_sms ON interactions (org_id, sms_id) WHERE sms_id IS NOT NULL;
CREATE INDEX interactions_org_call ON interactions (org_id, call_id) WHERE call_id IS NOT NULL;
