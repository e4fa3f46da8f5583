-- Matches the Postgres migration of the same name.
CREATE INDEX interactions_org_email ON interactions (org_id, email_id) WHERE email_id IS NOT NULL;
CREATE INDEX emails_org_thread ON emails (org_id, thread_id) WHERE thread_id IS NOT NULL;
