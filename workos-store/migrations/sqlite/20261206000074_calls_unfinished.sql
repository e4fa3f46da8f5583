-- Calls not final, by start, for the reconciliation job (see the Postgres migration of the
-- same name).
CREATE INDEX calls_unfinished ON calls (occurred_at)
    WHERE status NOT IN ('completed', 'busy', 'no-answer', 'failed', 'canceled')
        AND deleted_at IS NULL AND call_sid IS NOT NULL;
