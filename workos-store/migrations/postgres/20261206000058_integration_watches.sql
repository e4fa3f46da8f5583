-- Push notifications (Gmail's users.watch to a Pub/Sub topic): until when the provider publishes
-- the account's changes, and its history id when the watch was made. (One statement per file:
-- Citus propagates a DDL statement with the text of its whole query.)
ALTER TABLE integrations ADD COLUMN watch_expires_at timestamptz, ADD COLUMN watch_history_id text;
