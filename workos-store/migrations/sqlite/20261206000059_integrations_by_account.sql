-- Matches the Postgres migration of the same name.
CREATE INDEX integrations_by_account ON integrations (provider, account);
