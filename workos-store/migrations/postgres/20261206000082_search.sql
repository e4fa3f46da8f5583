-- Search (GET /api/v1/search): each record's search text (its words lowercased, each preceded
-- by a space) as a stored generated column, and a GIN index over (org_id, trigrams of it), which
-- finds one org's records containing a pattern (see workos_store's repos/search.rs). Postgres
-- computes the column and keeps the index in the transaction of every write; adding the column
-- fills it for existing rows (a rewrite of each table, under its lock) and CREATE INDEX indexes
-- them. pg_trgm and btree_gin (for org_id in a GIN index) are trusted extensions (Postgres 13+):
-- the database owner may create them without being a superuser; on Citus they are created on
-- every node, and the column and index on every shard. One statement: Citus sends a DDL
-- command's whole query text to the workers, which refuse several commands in one.
DO $$
BEGIN
    EXECUTE 'CREATE EXTENSION IF NOT EXISTS pg_trgm';
    EXECUTE 'CREATE EXTENSION IF NOT EXISTS btree_gin';
    EXECUTE $s$ALTER TABLE people ADD COLUMN search_text text GENERATED ALWAYS AS (' ' || regexp_replace(lower(coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' || coalesce(email, '') || ' ' || coalesce(phone, '') || ' ' || additional_emails::text || ' ' || additional_phones::text), '[^[:alnum:]]+', ' ', 'g')) STORED$s$;
    EXECUTE $s$ALTER TABLE companies ADD COLUMN search_text text GENERATED ALWAYS AS (' ' || regexp_replace(lower(name || ' ' || coalesce(domain, '')), '[^[:alnum:]]+', ' ', 'g')) STORED$s$;
    EXECUTE $s$ALTER TABLE deals ADD COLUMN search_text text GENERATED ALWAYS AS (' ' || regexp_replace(lower(name), '[^[:alnum:]]+', ' ', 'g')) STORED$s$;
    EXECUTE 'CREATE INDEX people_search ON people USING gin (org_id, search_text gin_trgm_ops) WHERE deleted_at IS NULL';
    EXECUTE 'CREATE INDEX companies_search ON companies USING gin (org_id, search_text gin_trgm_ops) WHERE deleted_at IS NULL';
    EXECUTE 'CREATE INDEX deals_search ON deals USING gin (org_id, search_text gin_trgm_ops) WHERE deleted_at IS NULL';
END
$$;
