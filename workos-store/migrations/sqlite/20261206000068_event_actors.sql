-- The audit trail: every event records who caused it (a user, an API key or a system job,
-- taken from the authenticated principal) next to the request id it already carries. Events
-- recorded before this migration have no actor (NULL).
ALTER TABLE domain_events ADD COLUMN actor_kind text;
ALTER TABLE domain_events ADD COLUMN actor_id text;
