-- Webhook attempts, the table that grows fastest (a row per attempt, with the receiver's
-- response body), become range-partitioned by week of `attempted_at`, so that retention drops
-- whole partitions instead of deleting rows one by one.
--
-- Native partitioning maintained by the engine rather than pg_partman: many managed Postgres
-- offerings do not have the extension, and on Citus a partitioned table is distributed like any
-- other (partitions created later are distributed with it). `workos_attempt_partitions` creates
-- the weeks ahead and drops weeks past retention; `workos-server worker` calls it
-- (docs/retention.md).
--
-- Partitions are named for their bounds, which is what maintenance reads back:
-- `webhook_attempts_pYYYYMMDD` holds the week starting that Monday (UTC), and
-- `webhook_attempts_uptoYYYYMMDD` everything before that day (the rows there were before this
-- migration). Primary keys must contain the partition key: (org_id, id, attempted_at).

-- The Monday (UTC) starting the week of `at`.
CREATE FUNCTION workos_attempt_week(at timestamptz) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT date_trunc('week', at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' $$;

-- A partition is read and written through its parent, whose policies apply; read directly, its
-- own forced RLS without policies shows nothing to anyone but a superuser.
CREATE FUNCTION workos_lock_partition(part text) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', part);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', part);
END
$$;

-- Creates the partitions of the weeks from `at`'s to `weeks_ahead` weeks after it, and drops
-- every partition whose rows are all older than `drop_before`, unless one of its attempts
-- belongs to a delivery still pending or retrying (retention then deletes its other rows one
-- by one and drops it later). Runs as the schema's owner (the only role that may create and
-- drop partitions), one caller at a time; answers how many it created and dropped.
CREATE FUNCTION workos_attempt_partitions(at timestamptz, weeks_ahead integer, drop_before timestamptz)
    RETURNS TABLE (created integer, dropped integer)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
DECLARE
    p record;
    wk timestamptz;
    legacy_end timestamptz;
    part_start timestamptz;
    part_end timestamptz;
    name text;
    pending integer;
BEGIN
    created := 0;
    dropped := 0;
    PERFORM pg_advisory_xact_lock(hashtext('workos_attempt_partitions'));
    SELECT max(to_date(substr(c.relname, 22), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC')
    INTO legacy_end
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'webhook_attempts'::regclass AND c.relname LIKE 'webhook_attempts\_upto%';
    FOR n IN 0..weeks_ahead LOOP
        wk := workos_attempt_week(at) + make_interval(weeks => n);
        name := 'webhook_attempts_p' || to_char(wk AT TIME ZONE 'UTC', 'YYYYMMDD');
        IF (legacy_end IS NULL OR wk >= legacy_end) AND to_regclass(name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF webhook_attempts FOR VALUES FROM (%L) TO (%L)',
                name, wk, wk + interval '7 days');
            PERFORM workos_lock_partition(name);
            created := created + 1;
        END IF;
    END LOOP;
    FOR p IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'webhook_attempts'::regclass
        ORDER BY c.relname
    LOOP
        IF p.relname LIKE 'webhook_attempts\_upto%' THEN
            part_start := '-infinity';
            part_end := to_date(substr(p.relname, 22), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC';
        ELSIF p.relname LIKE 'webhook_attempts\_p%' THEN
            part_start := to_date(substr(p.relname, 19), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC';
            part_end := part_start + interval '7 days';
        ELSE
            CONTINUE;
        END IF;
        IF part_end > drop_before THEN
            CONTINUE;
        END IF;
        pending := NULL;
        -- Read through the parent (whose policies the caller's system scope passes), pruned to
        -- the partition's range.
        SELECT 1 INTO pending
        FROM webhook_attempts a JOIN webhook_deliveries d ON d.org_id = a.org_id AND d.id = a.delivery_id
        WHERE a.attempted_at >= part_start AND a.attempted_at < part_end
          AND d.status IN ('pending', 'retrying')
        LIMIT 1;
        IF pending IS NULL THEN
            EXECUTE format('DROP TABLE %I', p.relname);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    RETURN NEXT;
END
$$;
REVOKE ALL ON FUNCTION workos_attempt_partitions(timestamptz, integer, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION workos_attempt_partitions(timestamptz, integer, timestamptz) TO workos_app;

-- The swap: the table and its rows move aside, the partitioned table takes its name, the rows
-- come back, the old table goes. Statements on distributed tables run one by one (Citus
-- forwards a statement with the text of its whole query).
DO $$
DECLARE
    this_week timestamptz := workos_attempt_week(now());
    before_swap bigint;
    after_swap bigint;
BEGIN
    IF workos_citus() THEN
        EXECUTE 'SET LOCAL citus.multi_shard_modify_mode TO ''sequential''';
        EXECUTE 'SET LOCAL citus.propagate_set_commands = ''local''';
    END IF;
    -- Every org's rows, also for an owner under forced RLS (the system workers' policy).
    EXECUTE 'SET LOCAL workos.scope = ''system''';

    EXECUTE 'ALTER TABLE webhook_attempts RENAME TO webhook_attempts_unpartitioned';
    EXECUTE 'ALTER INDEX webhook_attempts_pkey RENAME TO webhook_attempts_unpartitioned_pkey';
    EXECUTE 'ALTER INDEX webhook_attempts_org_delivery RENAME TO webhook_attempts_unpartitioned_org_delivery';

    EXECUTE 'CREATE TABLE webhook_attempts (
        id              uuid NOT NULL,
        org_id          uuid NOT NULL,
        delivery_id     uuid NOT NULL,
        attempted_at    timestamptz NOT NULL,
        status_code     integer,
        error_kind      text,
        latency_ms      integer NOT NULL,
        response_body   text,
        next_attempt_at timestamptz,
        CONSTRAINT webhook_attempts_pkey PRIMARY KEY (org_id, id, attempted_at)
    ) PARTITION BY RANGE (attempted_at)';
    EXECUTE 'CREATE INDEX webhook_attempts_org_delivery ON webhook_attempts (org_id, delivery_id, attempted_at)';
    EXECUTE format('CREATE TABLE %I PARTITION OF webhook_attempts FOR VALUES FROM (MINVALUE) TO (%L)',
        'webhook_attempts_upto' || to_char(this_week AT TIME ZONE 'UTC', 'YYYYMMDD'), this_week);
    PERFORM workos_lock_partition('webhook_attempts_upto' || to_char(this_week AT TIME ZONE 'UTC', 'YYYYMMDD'));
    PERFORM workos_attempt_partitions(now(), 4, '-infinity');

    EXECUTE 'ALTER TABLE webhook_attempts ENABLE ROW LEVEL SECURITY';
    EXECUTE 'ALTER TABLE webhook_attempts FORCE ROW LEVEL SECURITY';
    EXECUTE 'CREATE POLICY tenant_isolation ON webhook_attempts
        USING (org_id = workos_current_org()) WITH CHECK (org_id = workos_current_org())';
    EXECUTE 'CREATE POLICY system_worker ON webhook_attempts FOR ALL
        USING (workos_system_scope()) WITH CHECK (workos_system_scope())';
    EXECUTE 'GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_attempts TO workos_app';
    PERFORM workos_distribute('webhook_attempts'::regclass);

    SELECT count(*) INTO before_swap FROM webhook_attempts_unpartitioned;
    EXECUTE 'INSERT INTO webhook_attempts (id, org_id, delivery_id, attempted_at, status_code, error_kind,
                 latency_ms, response_body, next_attempt_at)
             SELECT id, org_id, delivery_id, attempted_at, status_code, error_kind, latency_ms,
                 response_body, next_attempt_at
             FROM webhook_attempts_unpartitioned';
    SELECT count(*) INTO after_swap FROM webhook_attempts;
    IF before_swap <> after_swap THEN
        RAISE EXCEPTION 'webhook_attempts: % rows before the swap, % after', before_swap, after_swap;
    END IF;
    EXECUTE 'DROP TABLE webhook_attempts_unpartitioned';
    EXECUTE 'ALTER TABLE webhook_attempts ADD CONSTRAINT webhook_attempts_delivery_fkey
        FOREIGN KEY (org_id, delivery_id) REFERENCES webhook_deliveries (org_id, id) ON DELETE CASCADE';
END
$$;
