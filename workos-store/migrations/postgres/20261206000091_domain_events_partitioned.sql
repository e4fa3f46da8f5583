-- Domain events, a row for every write of the engine, become range-partitioned by week of
-- `occurred_at`, as webhook attempts are (migration 30), so that retention drops whole weeks
-- instead of deleting events one by one.
--
-- Partitions are named as the attempts' are: `domain_events_pYYYYMMDD` holds the week starting
-- that Monday (UTC), `domain_events_uptoYYYYMMDD` everything before that day (the rows there
-- were before this migration, and any event recorded later with an older `occurred_at`).
--
-- Keys must contain the partition key: the primary key becomes (org_id, pos, occurred_at), and
-- (org_id, id) a plain index. So `webhook_deliveries (org_id, event_id)` can no longer
-- reference the events by foreign key (a partitioned table enforces no unique key without its
-- partition key): the key is dropped. Retention keeps what it guaranteed: it deletes an
-- event's finished deliveries before (or with) the event, and keeps every event that has a
-- pending or retrying delivery (docs/retention.md). Positions stay unique per org by
-- construction (each is handed out once by the org's stream head, migration 15).
--
-- Maintenance is one function for both tables, `workos_week_partitions` (weeks ahead created,
-- weeks past retention dropped when the table's own rule allows it), called as the schema's
-- owner through `workos_attempt_partitions` and `workos_event_partitions`, which fix the table
-- and its rule: the app role may run those, not the generic one with a rule of its choosing.

-- Creates `parent`'s partitions of the weeks from `at`'s to `weeks_ahead` weeks after it, and
-- drops every partition whose rows are all older than `drop_before` for which `may_drop`
-- (a function of the partition's bounds, from inclusive and to exclusive) answers true.
-- Partitions are `<parent>_pYYYYMMDD` (a week) and `<parent>_uptoYYYYMMDD` (everything before).
-- One caller per table at a time; answers how many it created and dropped.
CREATE FUNCTION workos_week_partitions(parent text, at timestamptz, weeks_ahead integer,
                                       drop_before timestamptz, may_drop text)
    RETURNS TABLE (created integer, dropped integer)
    LANGUAGE plpgsql SET search_path = public, pg_temp
    AS $$
DECLARE
    p record;
    wk timestamptz;
    legacy_end timestamptz;
    part_start timestamptz;
    part_end timestamptz;
    name text;
    droppable boolean;
    upto text := '^' || parent || '_upto[0-9]{8}$';
    week text := '^' || parent || '_p[0-9]{8}$';
BEGIN
    created := 0;
    dropped := 0;
    -- The key migration 30's function took for the attempts.
    PERFORM pg_advisory_xact_lock(hashtext(CASE parent WHEN 'webhook_attempts'
        THEN 'workos_attempt_partitions' ELSE 'workos_week_partitions ' || parent END));
    SELECT max(to_date(right(c.relname, 8), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC')
    INTO legacy_end
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = parent::regclass AND c.relname ~ upto;
    FOR n IN 0..weeks_ahead LOOP
        wk := workos_attempt_week(at) + make_interval(weeks => n);
        name := parent || '_p' || to_char(wk AT TIME ZONE 'UTC', 'YYYYMMDD');
        IF (legacy_end IS NULL OR wk >= legacy_end) AND to_regclass(name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                name, parent, wk, wk + interval '7 days');
            PERFORM workos_lock_partition(name);
            created := created + 1;
        END IF;
    END LOOP;
    FOR p IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = parent::regclass
        ORDER BY c.relname
    LOOP
        IF p.relname ~ upto THEN
            part_start := '-infinity';
            part_end := to_date(right(p.relname, 8), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC';
        ELSIF p.relname ~ week THEN
            part_start := to_date(right(p.relname, 8), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC';
            part_end := part_start + interval '7 days';
        ELSE
            CONTINUE;
        END IF;
        IF part_end > drop_before THEN
            CONTINUE;
        END IF;
        EXECUTE format('SELECT %I($1, $2)', may_drop) INTO droppable USING part_start, part_end;
        IF droppable THEN
            EXECUTE format('DROP TABLE %I', p.relname);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    RETURN NEXT;
END
$$;
REVOKE ALL ON FUNCTION workos_week_partitions(text, timestamptz, integer, timestamptz, text) FROM PUBLIC;

-- The rules read through the parents (whose policies the caller's system scope passes),
-- pruned to the partition's range.

-- A week of attempts may go unless one of them belongs to a delivery still pending or
-- retrying (retention then deletes its other rows one by one and drops it later).
CREATE FUNCTION workos_attempt_week_droppable(part_start timestamptz, part_end timestamptz)
    RETURNS boolean
    LANGUAGE plpgsql
    AS $$
DECLARE
    needed integer;
BEGIN
    SELECT 1 INTO needed
    FROM webhook_attempts a JOIN webhook_deliveries d ON d.org_id = a.org_id AND d.id = a.delivery_id
    WHERE a.attempted_at >= part_start AND a.attempted_at < part_end
      AND d.status IN ('pending', 'retrying')
    LIMIT 1;
    RETURN needed IS NULL;
END
$$;
REVOKE ALL ON FUNCTION workos_attempt_week_droppable(timestamptz, timestamptz) FROM PUBLIC;

-- A week of events may go when no webhook delivery of any status refers to one of them
-- (retention deletes the finished deliveries of old events first, org by org; a pending or
-- retrying one keeps its event), and every org with events in it has had them read: each of
-- the org's consumers (`event_cursors`) is at or past the org's last position in the week, and
-- an org with a webhook but no consumer yet (the dispatcher has not reached it) keeps them.
-- These are the rules of retention's row deletes (`purge_org_events`), for a whole week.
CREATE FUNCTION workos_event_week_droppable(part_start timestamptz, part_end timestamptz)
    RETURNS boolean
    LANGUAGE plpgsql
    AS $$
DECLARE
    needed integer;
BEGIN
    -- Cursors first: a consumer moves its cursor in the transaction that makes the deliveries
    -- of what it read, so once a cursor is seen past the week, the next statement sees them.
    SELECT 1 INTO needed
    FROM (SELECT org_id, max(pos) AS top FROM domain_events
          WHERE occurred_at >= part_start AND occurred_at < part_end GROUP BY org_id) e
    LEFT JOIN (SELECT org_id, min(pos) AS low FROM event_cursors GROUP BY org_id) c
        ON c.org_id = e.org_id
    LEFT JOIN (SELECT DISTINCT org_id FROM webhooks) w ON w.org_id = e.org_id
    WHERE e.top > COALESCE(c.low, CASE WHEN w.org_id IS NOT NULL THEN 0 END)
    LIMIT 1;
    IF needed IS NOT NULL THEN
        RETURN false;
    END IF;
    SELECT 1 INTO needed
    FROM domain_events e JOIN webhook_deliveries d ON d.org_id = e.org_id AND d.event_id = e.id
    WHERE e.occurred_at >= part_start AND e.occurred_at < part_end
    LIMIT 1;
    RETURN needed IS NULL;
END
$$;
REVOKE ALL ON FUNCTION workos_event_week_droppable(timestamptz, timestamptz) FROM PUBLIC;

-- Migration 30's function, now the generic one with the attempts' rule (same signature, so a
-- worker of the previous version keeps working).
CREATE OR REPLACE FUNCTION workos_attempt_partitions(at timestamptz, weeks_ahead integer, drop_before timestamptz)
    RETURNS TABLE (created integer, dropped integer)
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT * FROM workos_week_partitions('webhook_attempts', at, weeks_ahead, drop_before,
                                               'workos_attempt_week_droppable') $$;

-- The events' maintenance, run as the schema's owner (the only role that may create and drop
-- partitions) by `workos-server worker`'s retention.
CREATE FUNCTION workos_event_partitions(at timestamptz, weeks_ahead integer, drop_before timestamptz)
    RETURNS TABLE (created integer, dropped integer)
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT * FROM workos_week_partitions('domain_events', at, weeks_ahead, drop_before,
                                               'workos_event_week_droppable') $$;
REVOKE ALL ON FUNCTION workos_event_partitions(timestamptz, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION workos_event_partitions(timestamptz, integer, timestamptz) TO workos_app;

-- The swap, as for the attempts: the table and its rows move aside, the partitioned table
-- takes its name, the rows come back (counted), the old table goes. Statements on distributed
-- tables run one by one (Citus forwards a statement with the text of its whole query).
DO $$
DECLARE
    this_week timestamptz := workos_attempt_week(now());
    legacy text := 'domain_events_upto' || to_char(workos_attempt_week(now()) AT TIME ZONE 'UTC', 'YYYYMMDD');
    fk record;
    before_swap bigint;
    after_swap bigint;
BEGIN
    IF workos_citus() THEN
        EXECUTE 'SET LOCAL citus.multi_shard_modify_mode TO ''sequential''';
        EXECUTE 'SET LOCAL citus.propagate_set_commands = ''local''';
    END IF;
    -- Every org's rows, also for an owner under forced RLS (the system workers' policies).
    EXECUTE 'SET LOCAL workos.scope = ''system''';

    -- webhook_deliveries (org_id, event_id) → domain_events (org_id, id), whatever its name.
    FOR fk IN
        SELECT conrelid::regclass AS tbl, conname FROM pg_constraint
        WHERE contype = 'f' AND confrelid = 'domain_events'::regclass
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tbl, fk.conname);
    END LOOP;

    EXECUTE 'ALTER TABLE domain_events RENAME TO domain_events_unpartitioned';
    EXECUTE 'ALTER INDEX domain_events_pkey RENAME TO domain_events_unpartitioned_pkey';
    EXECUTE 'ALTER INDEX domain_events_org_id_id_key RENAME TO domain_events_unpartitioned_org_id_id_key';
    EXECUTE 'ALTER INDEX domain_events_org_occurred RENAME TO domain_events_unpartitioned_org_occurred';
    EXECUTE 'ALTER INDEX domain_events_org_actor RENAME TO domain_events_unpartitioned_org_actor';

    EXECUTE 'CREATE TABLE domain_events (
        id           uuid NOT NULL,
        org_id       uuid NOT NULL,
        type         text NOT NULL,
        occurred_at  timestamptz NOT NULL,
        subject_kind text NOT NULL,
        subject_id   uuid NOT NULL,
        data         jsonb NOT NULL,
        request_id   text,
        pos          bigint NOT NULL,
        actor_kind   text,
        actor_id     text,
        CONSTRAINT domain_events_pkey PRIMARY KEY (org_id, pos, occurred_at)
    ) PARTITION BY RANGE (occurred_at)';
    -- A lookup by (org, id): an event, a delivery's event.
    EXECUTE 'CREATE INDEX domain_events_org_id_id ON domain_events (org_id, id)';
    EXECUTE 'CREATE INDEX domain_events_org_occurred ON domain_events (org_id, occurred_at)';
    EXECUTE 'CREATE INDEX domain_events_org_actor ON domain_events (org_id, actor_id, id)';
    EXECUTE format('CREATE TABLE %I PARTITION OF domain_events FOR VALUES FROM (MINVALUE) TO (%L)',
        legacy, this_week);
    PERFORM workos_lock_partition(legacy);
    PERFORM workos_event_partitions(now(), 4, '-infinity');

    EXECUTE 'ALTER TABLE domain_events ENABLE ROW LEVEL SECURITY';
    EXECUTE 'ALTER TABLE domain_events FORCE ROW LEVEL SECURITY';
    EXECUTE 'CREATE POLICY tenant_isolation ON domain_events
        USING (org_id = workos_current_org()) WITH CHECK (org_id = workos_current_org())';
    EXECUTE 'CREATE POLICY system_lookup ON domain_events FOR SELECT USING (workos_system_scope())';
    EXECUTE 'CREATE POLICY system_append ON domain_events FOR INSERT WITH CHECK (workos_system_scope())';
    EXECUTE 'CREATE POLICY system_retention ON domain_events FOR DELETE USING (workos_system_scope())';
    EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON domain_events TO workos_app';
    PERFORM workos_distribute('domain_events'::regclass);

    SELECT count(*) INTO before_swap FROM domain_events_unpartitioned;
    EXECUTE 'INSERT INTO domain_events (id, org_id, type, occurred_at, subject_kind, subject_id, data,
                 request_id, pos, actor_kind, actor_id)
             SELECT id, org_id, type, occurred_at, subject_kind, subject_id, data, request_id, pos,
                 actor_kind, actor_id
             FROM domain_events_unpartitioned';
    SELECT count(*) INTO after_swap FROM domain_events;
    IF before_swap <> after_swap THEN
        RAISE EXCEPTION 'domain_events: % rows before the swap, % after', before_swap, after_swap;
    END IF;
    EXECUTE 'DROP TABLE domain_events_unpartitioned';
END
$$;
