-- The member who took an inbound call that rang members (see the Postgres migration of the
-- same name).
ALTER TABLE calls ADD COLUMN answered_by_member_id BLOB;
