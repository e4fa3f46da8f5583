-- SMS consent per org and phone number (STOP/START replies, and Twilio's 21610 answers), and
-- the org's communication settings (the HELP reply, whether calls are recorded). Keys lead with org_id (Citus distributes by it); no
-- foreign key to orgs, as for the other record tables.
CREATE TABLE sms_opt_outs (
    org_id      uuid NOT NULL,
    id          uuid NOT NULL,
    number      text NOT NULL,
    opted_out   boolean NOT NULL,
    keyword     text,
    source      text NOT NULL CHECK (source IN ('inbound_keyword', 'twilio_error_21610')),
    sms_id      uuid,
    changed_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, number)
);

CREATE TABLE comms_settings (
    org_id      uuid NOT NULL PRIMARY KEY,
    help_text   text,
    record_calls boolean NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL
);

-- The phone each member takes click-to-call calls on.
CREATE TABLE member_phones (
    org_id      uuid NOT NULL,
    member_id   uuid NOT NULL,
    number      text NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (org_id, member_id)
);

ALTER TABLE member_phones ENABLE ROW LEVEL SECURITY;
ALTER TABLE member_phones FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON member_phones
    USING (org_id = workos_current_org()) WITH CHECK (org_id = workos_current_org());
GRANT SELECT, INSERT, UPDATE, DELETE ON member_phones TO workos_app;

ALTER TABLE sms_opt_outs ENABLE ROW LEVEL SECURITY;
ALTER TABLE sms_opt_outs FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sms_opt_outs
    USING (org_id = workos_current_org()) WITH CHECK (org_id = workos_current_org());
GRANT SELECT, INSERT, UPDATE ON sms_opt_outs TO workos_app;

ALTER TABLE comms_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE comms_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON comms_settings
    USING (org_id = workos_current_org()) WITH CHECK (org_id = workos_current_org());
GRANT SELECT, INSERT, UPDATE ON comms_settings TO workos_app;

SELECT workos_distribute('sms_opt_outs');
SELECT workos_distribute('comms_settings');
SELECT workos_distribute('member_phones');
