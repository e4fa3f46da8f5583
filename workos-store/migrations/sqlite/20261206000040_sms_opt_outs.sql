-- SMS consent per org and phone number, and the org's communication settings (see the Postgres
-- migration of the same name).
CREATE TABLE sms_opt_outs (
    org_id      BLOB NOT NULL,
    id          BLOB NOT NULL,
    number      TEXT NOT NULL,
    opted_out   INTEGER NOT NULL,
    keyword     TEXT,
    source      TEXT NOT NULL CHECK (source IN ('inbound_keyword', 'twilio_error_21610')),
    sms_id      BLOB,
    changed_at  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, number)
);

CREATE TABLE comms_settings (
    org_id      BLOB NOT NULL PRIMARY KEY,
    help_text   TEXT,
    record_calls INTEGER NOT NULL DEFAULT 0,
    updated_at  TEXT NOT NULL
);

CREATE TABLE member_phones (
    org_id      BLOB NOT NULL,
    member_id   BLOB NOT NULL,
    number      TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (org_id, member_id)
);
