-- Calls' dialled leg, bridging, voicemail and transcription; transcription per org; inbound
-- ringing per number (see the Postgres migration of the same name).
ALTER TABLE calls ADD COLUMN dial_call_sid TEXT;
ALTER TABLE calls ADD COLUMN bridged INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN voicemail INTEGER NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN transcription_status TEXT;
ALTER TABLE calls ADD COLUMN transcription_text TEXT;

ALTER TABLE comms_settings ADD COLUMN transcribe_voicemail INTEGER NOT NULL DEFAULT 0;

CREATE TABLE phone_ringing (
    org_id          BLOB NOT NULL,
    phone_id        BLOB NOT NULL,
    strategy        TEXT NOT NULL CHECK (strategy IN ('sequential', 'simultaneous')),
    timeout_seconds INTEGER NOT NULL CHECK (timeout_seconds BETWEEN 5 AND 600),
    members         TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (org_id, phone_id)
);
