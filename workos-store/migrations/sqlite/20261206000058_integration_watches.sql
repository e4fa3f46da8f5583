-- Matches the Postgres migration of the same name.
ALTER TABLE integrations ADD COLUMN watch_expires_at TEXT;
ALTER TABLE integrations ADD COLUMN watch_history_id TEXT;
