-- Gmail across processes: the scheduler's claims on integrations, the labels of stored emails,
-- and the OAuth states of started connects (so Google's redirect may reach any process).

-- A scheduler claims a due integration until sync_claimed_until; other schedulers skip it
-- until then (a scheduler that died is replaced when the lease runs out).
ALTER TABLE integrations ADD COLUMN sync_claimed_until timestamptz;
CREATE INDEX integrations_due ON integrations (provider, last_synced_at)
    WHERE status NOT IN ('needs_reauth', 'disconnected');

-- Schedulers claim across orgs in the system scope: they read and lease integrations only.
CREATE POLICY system_scheduler_read ON integrations FOR SELECT USING ((SELECT workos_system_scope()));
CREATE POLICY system_scheduler_claim ON integrations FOR UPDATE
    USING ((SELECT workos_system_scope())) WITH CHECK ((SELECT workos_system_scope()));

-- The provider's labels of an email (Gmail: INBOX, UNREAD, STARRED, …), kept current by the sync.
ALTER TABLE emails ADD COLUMN labels jsonb NOT NULL DEFAULT '[]';

-- Started OAuth connects: looked up by a hash of the state (the state itself is a bearer
-- secret), used once (DELETE … RETURNING), expiring; the PKCE verifier is sealed by the engine.
-- The callback that takes a state is unauthenticated, so only the system scope reaches the table.
CREATE TABLE oauth_states (
    state_hash       bytea PRIMARY KEY,
    org_id           uuid NOT NULL REFERENCES orgs (id),
    user_id          uuid NOT NULL,
    provider         text NOT NULL,
    sealed_verifier  bytea NOT NULL,
    expires_at       timestamptz NOT NULL,
    created_at       timestamptz NOT NULL
);
CREATE INDEX oauth_states_expires ON oauth_states (expires_at);
ALTER TABLE oauth_states ENABLE ROW LEVEL SECURITY;
ALTER TABLE oauth_states FORCE ROW LEVEL SECURITY;
CREATE POLICY system_only ON oauth_states FOR ALL
    USING ((SELECT workos_system_scope())) WITH CHECK ((SELECT workos_system_scope()));
GRANT SELECT, INSERT, UPDATE, DELETE ON oauth_states TO workos_app;
