-- Responses kept for Idempotency-Key retries, per org.
CREATE TABLE idempotency_keys (
    org_id       BLOB NOT NULL REFERENCES orgs (id),
    key          TEXT NOT NULL,
    fingerprint  BLOB NOT NULL,
    status       INTEGER,
    location     TEXT,
    body         BLOB,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (org_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
