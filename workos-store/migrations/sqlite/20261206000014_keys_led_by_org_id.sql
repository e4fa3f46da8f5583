-- The global lookups (see the Postgres migration of the same name): which org an API key
-- prefix, a phone number or a public form id belongs to, each in its own table whose primary
-- key keeps the value unique across orgs. Postgres also rebuilds its keys to lead with
-- org_id; SQLite keeps its keys (one node, and rebuilding tables is not worth it).
CREATE TABLE api_key_prefixes (
    prefix      TEXT PRIMARY KEY,
    org_id      BLOB NOT NULL REFERENCES orgs (id),
    api_key_id  BLOB NOT NULL
);
INSERT INTO api_key_prefixes (prefix, org_id, api_key_id) SELECT prefix, org_id, id FROM api_keys;

CREATE TABLE phone_numbers (
    number    TEXT PRIMARY KEY,
    org_id    BLOB NOT NULL REFERENCES orgs (id),
    phone_id  BLOB NOT NULL
);
INSERT INTO phone_numbers (number, org_id, phone_id) SELECT number, org_id, id FROM phones;

CREATE TABLE lead_form_ids (
    public_id  TEXT PRIMARY KEY,
    org_id     BLOB NOT NULL REFERENCES orgs (id),
    form_id    BLOB NOT NULL
);
INSERT INTO lead_form_ids (public_id, org_id, form_id) SELECT public_id, org_id, id FROM lead_forms;
