-- Matches the Postgres migration of the same name (whose policies have no SQLite counterpart).
ALTER TABLE integrations ADD COLUMN sync_claimed_until TEXT;
CREATE INDEX integrations_due ON integrations (provider, last_synced_at)
    WHERE status NOT IN ('needs_reauth', 'disconnected');

ALTER TABLE emails ADD COLUMN labels TEXT NOT NULL DEFAULT '[]';

CREATE TABLE oauth_states (
    state_hash       BLOB PRIMARY KEY,
    org_id           BLOB NOT NULL REFERENCES orgs (id),
    user_id          BLOB NOT NULL,
    provider         TEXT NOT NULL,
    sealed_verifier  BLOB NOT NULL,
    expires_at       TEXT NOT NULL,
    created_at       TEXT NOT NULL
);
CREATE INDEX oauth_states_expires ON oauth_states (expires_at);
