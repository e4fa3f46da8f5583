-- Calls: the leg the engine dialled (the customer's in a click-to-call; the member's who took an
-- inbound call), whether a click-to-call's first leg was bridged (then only the dialled leg
-- decides how the call ended), and voicemail with its transcription. The org's choice to
-- transcribe voicemail. Which members an inbound call to a number rings, and how. Keys lead
-- with org_id (Citus distributes by it); no foreign key to orgs, as for the other record tables.
ALTER TABLE calls ADD COLUMN dial_call_sid text;
ALTER TABLE calls ADD COLUMN bridged boolean NOT NULL DEFAULT false;
ALTER TABLE calls ADD COLUMN voicemail boolean NOT NULL DEFAULT false;
ALTER TABLE calls ADD COLUMN transcription_status text;
ALTER TABLE calls ADD COLUMN transcription_text text;

ALTER TABLE comms_settings ADD COLUMN transcribe_voicemail boolean NOT NULL DEFAULT false;

CREATE TABLE phone_ringing (
    org_id          uuid NOT NULL,
    phone_id        uuid NOT NULL,
    strategy        text NOT NULL CHECK (strategy IN ('sequential', 'simultaneous')),
    timeout_seconds integer NOT NULL CHECK (timeout_seconds BETWEEN 5 AND 600),
    -- The members to ring, in order (a JSON array of member ids).
    members         jsonb NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (org_id, phone_id)
);

ALTER TABLE phone_ringing ENABLE ROW LEVEL SECURITY;
ALTER TABLE phone_ringing FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON phone_ringing
    USING (org_id = workos_current_org()) WITH CHECK (org_id = workos_current_org());
GRANT SELECT, INSERT, UPDATE, DELETE ON phone_ringing TO workos_app;

SELECT workos_distribute('phone_ringing');
