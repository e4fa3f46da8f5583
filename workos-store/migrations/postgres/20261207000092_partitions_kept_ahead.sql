-- Writes no longer depend on the retention job for their partitions, and partition DDL no
-- longer stalls writers.
--
-- * `workos_ensure_partitions_ahead` creates the weeks ahead of webhook attempts and events,
--   and never drops anything: the app role may run it, and the store does, whenever the weeks
--   it knows to exist run short (`crate::partitions`), whoever embeds it. It looks first without
--   a lock (the weeks are nearly always there) and takes the table's maintenance lock only to
--   create what is missing, so any number of processes may call it at once.
-- * Creating or dropping a partition locks its parent ACCESS EXCLUSIVE, and every writer queues
--   behind the DDL while it waits for that lock. Each CREATE and DROP now waits at most the
--   caller's `lock_timeout` (the store and the retention job set a short one); a week whose lock
--   is not granted in time is skipped, counted in `skipped`, and tried again on the next call.
--   Maintainers still wait for each other as long as it takes (they hold no lock writers need).
--
-- The functions answer one more column, `skipped`; a caller of the previous version selects
-- `created, dropped` by name and keeps working.

DROP FUNCTION workos_attempt_partitions(timestamptz, integer, timestamptz);
DROP FUNCTION workos_event_partitions(timestamptz, integer, timestamptz);
DROP FUNCTION workos_week_partitions(text, timestamptz, integer, timestamptz, text);

-- The Mondays (UTC) of the weeks from `at`'s to `weeks_ahead` weeks after it that `parent` has
-- no partition for (a week before the end of its `<parent>_uptoYYYYMMDD` partition has one).
CREATE FUNCTION workos_missing_weeks(parent text, at timestamptz, weeks_ahead integer)
    RETURNS SETOF timestamptz
    LANGUAGE sql STABLE SET search_path = public, pg_temp
    AS $$
    SELECT w.wk
    FROM generate_series(0, weeks_ahead) AS n,
         LATERAL (SELECT workos_attempt_week(at) + make_interval(weeks => n) AS wk) AS w
    WHERE to_regclass(parent || '_p' || to_char(w.wk AT TIME ZONE 'UTC', 'YYYYMMDD')) IS NULL
      AND w.wk >= COALESCE(
          (SELECT max(to_date(right(c.relname, 8), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC')
           FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = parent::regclass AND c.relname ~ ('^' || parent || '_upto[0-9]{8}$')),
          '-infinity')
    ORDER BY w.wk
$$;
REVOKE ALL ON FUNCTION workos_missing_weeks(text, timestamptz, integer) FROM PUBLIC;

-- Creates `parent`'s missing partitions of the weeks from `at`'s to `weeks_ahead` weeks after
-- it, and drops every partition whose rows are all older than `drop_before` for which
-- `may_drop` (a function of the partition's bounds, from inclusive and to exclusive) answers
-- true. Each CREATE and DROP waits for its locks at most the caller's `lock_timeout`; one not
-- granted in time is skipped. One caller per table at a time; answers how many partitions it
-- created, dropped and skipped.
CREATE FUNCTION workos_week_partitions(parent text, at timestamptz, weeks_ahead integer,
                                       drop_before timestamptz, may_drop text)
    RETURNS TABLE (created integer, dropped integer, skipped integer)
    LANGUAGE plpgsql SET search_path = public, pg_temp
    AS $$
DECLARE
    p record;
    wk timestamptz;
    part_start timestamptz;
    part_end timestamptz;
    name text;
    droppable boolean;
    wait text := current_setting('lock_timeout');
    upto text := '^' || parent || '_upto[0-9]{8}$';
    week text := '^' || parent || '_p[0-9]{8}$';
BEGIN
    created := 0;
    dropped := 0;
    skipped := 0;
    -- The key migration 30's function took for the attempts; other maintainers are waited for.
    PERFORM set_config('lock_timeout', '0', true);
    PERFORM pg_advisory_xact_lock(hashtext(CASE parent WHEN 'webhook_attempts'
        THEN 'workos_attempt_partitions' ELSE 'workos_week_partitions ' || parent END));
    PERFORM set_config('lock_timeout', wait, true);
    -- On Citus, DDL on a table with a foreign key to a reference table runs over one
    -- connection per node once the transaction has touched that table.
    IF workos_citus() THEN
        PERFORM set_config('citus.multi_shard_modify_mode', 'sequential', true);
    END IF;
    FOR wk IN SELECT * FROM workos_missing_weeks(parent, at, weeks_ahead) LOOP
        name := parent || '_p' || to_char(wk AT TIME ZONE 'UTC', 'YYYYMMDD');
        BEGIN
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                name, parent, wk, wk + interval '7 days');
            PERFORM workos_lock_partition(name);
            created := created + 1;
        EXCEPTION WHEN lock_not_available THEN
            RAISE WARNING '%: not created, its lock was not granted within lock_timeout', name;
            skipped := skipped + 1;
        END;
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
            BEGIN
                EXECUTE format('DROP TABLE %I', p.relname);
                dropped := dropped + 1;
            EXCEPTION WHEN lock_not_available THEN
                RAISE WARNING '%: not dropped, its lock was not granted within lock_timeout', p.relname;
                skipped := skipped + 1;
            END;
        END IF;
    END LOOP;
    RETURN NEXT;
END
$$;
REVOKE ALL ON FUNCTION workos_week_partitions(text, timestamptz, integer, timestamptz, text) FROM PUBLIC;

-- The attempts' and the events' maintenance, run as the schema's owner (the only role that may
-- create and drop partitions) by the retention job.
CREATE FUNCTION workos_attempt_partitions(at timestamptz, weeks_ahead integer, drop_before timestamptz)
    RETURNS TABLE (created integer, dropped integer, skipped integer)
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT * FROM workos_week_partitions('webhook_attempts', at, weeks_ahead, drop_before,
                                               'workos_attempt_week_droppable') $$;
REVOKE ALL ON FUNCTION workos_attempt_partitions(timestamptz, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION workos_attempt_partitions(timestamptz, integer, timestamptz) TO workos_app;

CREATE FUNCTION workos_event_partitions(at timestamptz, weeks_ahead integer, drop_before timestamptz)
    RETURNS TABLE (created integer, dropped integer, skipped integer)
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT * FROM workos_week_partitions('domain_events', at, weeks_ahead, drop_before,
                                               'workos_event_week_droppable') $$;
REVOKE ALL ON FUNCTION workos_event_partitions(timestamptz, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION workos_event_partitions(timestamptz, integer, timestamptz) TO workos_app;

-- Creates the partitions of webhook attempts and events of the weeks from `at`'s to
-- `weeks_ahead` (at most 12) weeks after it that are missing; drops nothing. Answers how many
-- it created, and how many it skipped (their lock not granted within `lock_timeout`).
CREATE FUNCTION workos_ensure_partitions_ahead(at timestamptz, weeks_ahead integer)
    RETURNS TABLE (created integer, skipped integer)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
DECLARE
    t record;
    done record;
    ahead integer := LEAST(GREATEST(weeks_ahead, 0), 12);
BEGIN
    created := 0;
    skipped := 0;
    FOR t IN SELECT * FROM (VALUES ('webhook_attempts', 'workos_attempt_week_droppable'),
                                   ('domain_events', 'workos_event_week_droppable')) AS v (parent, rule)
    LOOP
        IF EXISTS (SELECT 1 FROM workos_missing_weeks(t.parent, at, ahead)) THEN
            SELECT * INTO done FROM workos_week_partitions(t.parent, at, ahead, '-infinity', t.rule);
            created := created + done.created;
            skipped := skipped + done.skipped;
        END IF;
    END LOOP;
    RETURN NEXT;
END
$$;
REVOKE ALL ON FUNCTION workos_ensure_partitions_ahead(timestamptz, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION workos_ensure_partitions_ahead(timestamptz, integer) TO workos_app;
