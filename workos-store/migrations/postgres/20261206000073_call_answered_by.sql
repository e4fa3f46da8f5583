-- The member who took an inbound call that rang members (their dialled leg's `answered`
-- callback names them). No foreign key, as for the calls' other references: a member removed
-- later leaves the call's history as it was.
ALTER TABLE calls ADD COLUMN answered_by_member_id uuid;
