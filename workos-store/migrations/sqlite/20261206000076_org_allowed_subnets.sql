-- Private subnets the operator allowed one org's outbound deliveries to reach (see the
-- Postgres migration of the same name).
CREATE TABLE org_allowed_subnets (
    org_id      BLOB NOT NULL,
    subnet      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (org_id, subnet)
);
