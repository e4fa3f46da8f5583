-- The event log is ordered per org, not cluster-wide.
--
-- Before, events were ordered by their writing transaction's id (xid8) and readers waited for
-- the cluster's oldest running transaction: one slow or idle transaction anywhere held back
-- every org's webhooks, and on Citus there is no cluster-wide transaction order at all.
--
-- Now each org has a stream: `event_streams.head` is the position of the org's last event, and
-- a transaction that writes events of an org takes the next positions by incrementing it, as
-- its last statement before COMMIT. The increment locks the org's stream row until the
-- transaction ends, so an org's positions are handed out in commit order and no position can
-- commit after a later one: a reader that has seen position n of an org has seen 1..n. Other
-- orgs are not involved (on Citus the row lives on the org's shard).
--
-- Consumers keep a cursor per org (`event_cursors`) and claim an org's batch by locking that
-- org's cursor row, so consumers of different orgs never wait on each other.

ALTER TABLE domain_events ADD COLUMN pos bigint;
UPDATE domain_events d
SET pos = o.pos
FROM (SELECT seq, row_number() OVER (PARTITION BY org_id ORDER BY tx, seq) AS pos FROM domain_events) o
WHERE d.seq = o.seq;

CREATE TABLE event_streams (
    org_id  uuid PRIMARY KEY,
    head    bigint NOT NULL CHECK (head >= 0)
);
INSERT INTO event_streams (org_id, head) SELECT org_id, max(pos) FROM domain_events GROUP BY org_id;

CREATE TABLE event_cursors (
    org_id      uuid NOT NULL,
    consumer    text NOT NULL,
    pos         bigint NOT NULL CHECK (pos >= 0),
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (org_id, consumer)
);
-- A global cursor covered a prefix of the log; its part in each org is a prefix of that org's
-- stream, so the org's cursor is the last position within it.
INSERT INTO event_cursors (org_id, consumer, pos, updated_at)
SELECT e.org_id, c.name, max(e.pos), c.updated_at
FROM event_consumers c
JOIN domain_events e ON (e.tx::text::bigint, e.seq) <= (c.tx, c.seq)
GROUP BY e.org_id, c.name, c.updated_at;
DROP TABLE event_consumers;

ALTER TABLE domain_events
    ALTER COLUMN pos SET NOT NULL,
    DROP CONSTRAINT domain_events_pkey,
    DROP CONSTRAINT domain_events_id_key,
    DROP COLUMN seq,
    DROP COLUMN tx,
    ADD CONSTRAINT domain_events_pkey PRIMARY KEY (org_id, pos);

ALTER TABLE event_streams ENABLE ROW LEVEL SECURITY;
ALTER TABLE event_streams FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON event_streams
    USING (org_id = workos_current_org()) WITH CHECK (org_id = workos_current_org());
CREATE POLICY system_worker ON event_streams FOR ALL
    USING (workos_system_scope()) WITH CHECK (workos_system_scope());

ALTER TABLE event_cursors ENABLE ROW LEVEL SECURITY;
ALTER TABLE event_cursors FORCE ROW LEVEL SECURITY;
CREATE POLICY system_worker ON event_cursors FOR ALL
    USING (workos_system_scope()) WITH CHECK (workos_system_scope());

GRANT SELECT, INSERT, UPDATE, DELETE ON event_streams, event_cursors TO workos_app;
