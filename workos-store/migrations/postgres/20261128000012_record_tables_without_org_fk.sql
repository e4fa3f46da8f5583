-- The tables that grow with every business event no longer reference `orgs` by foreign key.
--
-- A foreign key makes every insert lock the referenced row (`FOR KEY SHARE`). All of an org's
-- records reference the same `orgs` row, so every concurrent write transaction of a busy org
-- took a share lock on that one row, and Postgres kept the set of lockers as multixacts,
-- rebuilt on each new locker: profiled, foreign-key checks were about 45 % of Postgres's CPU
-- for inbound SMS, and dropping these constraints raised lead capture + routing by a fifth.
--
-- What the constraint guaranteed still holds: orgs are never deleted (only marked
-- `deleted_at`), and every row is written in a transaction whose Row Level Security policy only
-- admits the transaction's org, which the engine takes from an authenticated caller or from
-- an existing record. The composite keys that tie records to each other within an org
-- (`(org_id, person_id)` and the like) stay: they are what keeps a record from pointing into
-- another tenant. Configuration tables (members, keys, phones, integrations, endpoints,
-- partners, settings, forms) keep their foreign key to `orgs`.
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN
        SELECT con.conrelid::regclass AS tbl, con.conname
        FROM pg_constraint con
        WHERE con.contype = 'f'
          AND con.confrelid = 'orgs'::regclass
          AND con.conrelid::regclass::text IN (
              'domain_events', 'people', 'companies', 'deals', 'tasks', 'interactions',
              'emails', 'sms', 'calls', 'leads', 'lead_deliveries', 'partner_cap_usage',
              'webhook_deliveries', 'webhook_attempts', 'idempotency_keys')
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.tbl, c.conname);
    END LOOP;
END
$$;
