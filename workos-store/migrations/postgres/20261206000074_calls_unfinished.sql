-- Calls not final, by start: the reconciliation job reads, across orgs, the ones whose last
-- callbacks never came. Partial, so it holds only calls in flight (and stuck ones). One
-- statement: Citus sends a DDL command's whole query text to the workers.
CREATE INDEX calls_unfinished ON calls (occurred_at)
    WHERE status NOT IN ('completed', 'busy', 'no-answer', 'failed', 'canceled')
        AND deleted_at IS NULL AND call_sid IS NOT NULL;
