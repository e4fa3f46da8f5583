-- A push names its mailbox by address: its integrations are found by provider and account,
-- across orgs.
CREATE INDEX integrations_by_account ON integrations (provider, account);
