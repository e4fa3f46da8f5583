-- Emails from connected accounts. An email's timeline entry is found through interactions.email_id
-- (once per listed email), and a thread's emails by thread_id: both need an index at mailbox volume.
-- No new tables, so no new policies: integrations and emails have had tenant_isolation since init.
CREATE INDEX interactions_org_email ON interactions (org_id, email_id) WHERE email_id IS NOT NULL;
CREATE INDEX emails_org_thread ON emails (org_id, thread_id) WHERE thread_id IS NOT NULL;
