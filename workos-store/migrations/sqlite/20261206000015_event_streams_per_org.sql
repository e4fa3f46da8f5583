-- The event log is ordered per org (see the Postgres migration of the same name): each org's
-- events have gapless positions from its stream's head, and consumers keep a cursor per org.
-- SQLite keeps `seq` (its rowid) but nothing reads it any more.
ALTER TABLE domain_events ADD COLUMN pos INTEGER NOT NULL DEFAULT 0;
UPDATE domain_events
SET pos = (SELECT count(*) FROM domain_events e
           WHERE e.org_id = domain_events.org_id AND e.seq <= domain_events.seq);
CREATE UNIQUE INDEX domain_events_org_pos ON domain_events (org_id, pos);

CREATE TABLE event_streams (
    org_id  BLOB PRIMARY KEY,
    head    INTEGER NOT NULL CHECK (head >= 0)
);
INSERT INTO event_streams (org_id, head) SELECT org_id, max(pos) FROM domain_events GROUP BY org_id;

CREATE TABLE event_cursors (
    org_id      BLOB NOT NULL,
    consumer    TEXT NOT NULL,
    pos         INTEGER NOT NULL CHECK (pos >= 0),
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (org_id, consumer)
);
INSERT INTO event_cursors (org_id, consumer, pos, updated_at)
SELECT e.org_id, c.name, max(e.pos), c.updated_at
FROM event_consumers c JOIN domain_events e ON e.seq <= c.seq
GROUP BY e.org_id, c.name, c.updated_at;
DROP TABLE event_consumers;
