-- Search (GET /api/v1/search): trigram indexes over each record's search text, its words
-- lowercased, each preceded by a space (see workos_store's repos/search.rs, whose queries repeat
-- these expressions exactly so the planner uses the indexes). Expression indexes are kept by
-- Postgres itself in the transaction of every write, and CREATE INDEX indexes existing rows.
-- pg_trgm is a trusted extension (Postgres 13+): the database owner may create it without
-- being a superuser; on Citus it is created on every node and the indexes on every shard.
-- One statement: Citus sends a DDL command's whole query text to the workers, which refuse
-- several commands in one.
DO $$
BEGIN
    EXECUTE 'CREATE EXTENSION IF NOT EXISTS pg_trgm';
    EXECUTE $i$CREATE INDEX people_search ON people USING gin ((' ' || regexp_replace(lower(coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' || coalesce(email, '') || ' ' || coalesce(phone, '') || ' ' || additional_emails::text || ' ' || additional_phones::text), '[^[:alnum:]]+', ' ', 'g')) gin_trgm_ops) WHERE deleted_at IS NULL$i$;
    EXECUTE $i$CREATE INDEX companies_search ON companies USING gin ((' ' || regexp_replace(lower(name || ' ' || coalesce(domain, '')), '[^[:alnum:]]+', ' ', 'g')) gin_trgm_ops) WHERE deleted_at IS NULL$i$;
    EXECUTE $i$CREATE INDEX deals_search ON deals USING gin ((' ' || regexp_replace(lower(name), '[^[:alnum:]]+', ' ', 'g')) gin_trgm_ops) WHERE deleted_at IS NULL$i$;
END
$$;
