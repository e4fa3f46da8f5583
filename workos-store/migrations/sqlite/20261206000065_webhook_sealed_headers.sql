-- Custom endpoint headers often carry the receiver's credentials: their values are now sealed
-- (AEAD, the engine's key, associated data `org:<org id>\0webhooks.headers`) in
-- `sealed_headers`, and `headers` keeps only the names (each value `[redacted]`).
-- SQL cannot seal (the key is not in the database): rows written before this migration keep
-- their plaintext until the engine converts them, which `workos-server serve` does at start
-- (`WebhookService::seal_plaintext_headers`); until then deliveries use the plaintext.
ALTER TABLE webhooks ADD COLUMN sealed_headers BLOB;
