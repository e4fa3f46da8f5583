-- `workos_ensure_partitions_ahead` is granted to the app role, and took any `at`: a caller
-- could create weeks of any year, 13 at a time, and clutter the catalog without bound. The
-- store only ever asks for the weeks from its own clock's week on, so `at` is now held within
-- a week of the database's clock: at most the weeks from last week to 13 weeks ahead exist
-- because of it, whatever the caller passes. Creation-only, as before.
CREATE OR REPLACE FUNCTION workos_ensure_partitions_ahead(at timestamptz, weeks_ahead integer)
    RETURNS TABLE (created integer, skipped integer)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
DECLARE
    t record;
    done record;
    ahead integer := LEAST(GREATEST(weeks_ahead, 0), 12);
    near timestamptz := LEAST(GREATEST(at, now() - interval '7 days'), now() + interval '7 days');
BEGIN
    created := 0;
    skipped := 0;
    FOR t IN SELECT * FROM (VALUES ('webhook_attempts', 'workos_attempt_week_droppable'),
                                   ('domain_events', 'workos_event_week_droppable')) AS v (parent, rule)
    LOOP
        IF EXISTS (SELECT 1 FROM workos_missing_weeks(t.parent, near, ahead)) THEN
            SELECT * INTO done FROM workos_week_partitions(t.parent, near, ahead, '-infinity', t.rule);
            created := created + done.created;
            skipped := skipped + done.skipped;
        END IF;
    END LOOP;
    RETURN NEXT;
END
$$;
