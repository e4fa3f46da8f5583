-- Lists sort by `updated_at`, `name`, `due_at` and `occurred_at` (`sort=`). Each index serves
-- one order in both directions (read backwards for `-field`) and is keyed (org_id, key, id)
-- like the keyset condition, so a page reads only its own rows instead of sorting the org.
-- Name keys are exactly the store's expression (`SortExpr::Folded`): ASCII case-folded under
-- the "C" collation. `created_at` is id order and needs none. One statement: Citus sends a
-- DDL command's whole query text to the workers, which refuse several commands in one.
DO $$
BEGIN
    EXECUTE 'CREATE INDEX people_org_updated ON people (org_id, updated_at, id) WHERE deleted_at IS NULL';
    EXECUTE 'CREATE INDEX people_org_name ON people (org_id, lower((coalesce(last_name, '''') || '' '' || coalesce(first_name, '''')) COLLATE "C"), id) WHERE deleted_at IS NULL';
    EXECUTE 'CREATE INDEX companies_org_updated ON companies (org_id, updated_at, id) WHERE deleted_at IS NULL';
    EXECUTE 'CREATE INDEX companies_org_name ON companies (org_id, lower((name) COLLATE "C"), id) WHERE deleted_at IS NULL';
    EXECUTE 'CREATE INDEX deals_org_updated ON deals (org_id, updated_at, id) WHERE deleted_at IS NULL';
    EXECUTE 'CREATE INDEX deals_org_name ON deals (org_id, lower((name) COLLATE "C"), id) WHERE deleted_at IS NULL';
    EXECUTE 'CREATE INDEX tasks_org_updated ON tasks (org_id, updated_at, id) WHERE deleted_at IS NULL';
    EXECUTE 'CREATE INDEX tasks_org_due_id ON tasks (org_id, due_at, id) WHERE deleted_at IS NULL';
    EXECUTE 'CREATE INDEX interactions_org_occurred ON interactions (org_id, occurred_at, id) WHERE deleted_at IS NULL';
    EXECUTE 'CREATE INDEX leads_org_updated ON leads (org_id, updated_at, id) WHERE deleted_at IS NULL';
END
$$;
