//! The two migration sets describe one schema: migrated, a SQLite and a Postgres database
//! define the same tables with the same columns. The store's queries are written once for both
//! backends, so a column added to one set and forgotten in the other would only show where a
//! query touches it; this test shows it at once, naming the table and the column.

use std::collections::{BTreeMap, BTreeSet};

use workos_store::SqlStore;
use workos_tests::db::TestDatabase;

/// Tables and columns (`table.column`, or `table` for a whole table) that one backend has on
/// purpose and the other does not. Each entry says why; an entry no longer needed fails the
/// test, so the list cannot go stale.
const ONLY_IN_POSTGRES: &[(&str, &str)] = &[
    (
        "companies.search_text",
        "search's generated text, indexed with pg_trgm (migration 82); SQLite keeps it in search_fts",
    ),
    (
        "deals.search_text",
        "search's generated text, indexed with pg_trgm (migration 82); SQLite keeps it in search_fts",
    ),
    (
        "people.search_text",
        "search's generated text, indexed with pg_trgm (migration 82); SQLite keeps it in search_fts",
    ),
];
const ONLY_IN_SQLITE: &[(&str, &str)] = &[
    (
        "search_docs",
        "search's index on SQLite (migration 82): maps FTS5 rows to records; Postgres indexes \
         the tables' search_text columns with pg_trgm instead",
    ),
    ("search_fts", "search's FTS5 table on SQLite (migration 82)"),
    ("search_fts_config", "FTS5's own table behind search_fts"),
    ("search_fts_content", "FTS5's own table behind search_fts"),
    ("search_fts_data", "FTS5's own table behind search_fts"),
    ("search_fts_docsize", "FTS5's own table behind search_fts"),
    ("search_fts_idx", "FTS5's own table behind search_fts"),
    (
        "domain_events.seq",
        "SQLite's rowid (INTEGER PRIMARY KEY AUTOINCREMENT), which no query reads since the streams \
     went per org (migration 15); dropping it would mean rebuilding the table, Postgres dropped it",
    ),
];

/// Every table of a schema with its column names.
type Schema = BTreeMap<String, BTreeSet<String>>;

fn schema_of(rows: Vec<(String, String)>) -> Schema {
    let mut schema = Schema::new();
    for (table, column) in rows {
        schema.entry(table).or_default().insert(column);
    }
    schema
}

/// The tables (and their columns) of the migrated SQLite database: its own bookkeeping
/// (`sqlite_*`) aside.
async fn sqlite_schema() -> Schema {
    let db = TestDatabase::sqlite("workos-schema");
    let store = SqlStore::connect(db.url()).await.expect("connect");
    store.migrate().await.expect("migrate");
    store.close().await;
    let pool = sqlx::SqlitePool::connect(db.url()).await.expect("open");
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
    )
    .fetch_all(&pool)
    .await
    .expect("read the SQLite schema");
    pool.close().await;
    schema_of(rows)
}

/// The tables (and their columns) of the migrated Postgres database, read from the catalog
/// (not `information_schema`, which hides what the reading role may not use); partitions of a
/// partitioned table (webhook attempts by week) are its storage, not tables of their own.
async fn postgres_schema(db: &TestDatabase) -> Schema {
    let store = SqlStore::connect(db.url()).await.expect("connect");
    store.migrate().await.expect("migrate");
    let pool = store.pg_pool().expect("Postgres");
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, a.attname::text
         FROM pg_catalog.pg_class c
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
           AND a.attnum > 0 AND NOT a.attisdropped",
    )
    .fetch_all(pool)
    .await
    .expect("read the Postgres schema");
    store.close().await;
    schema_of(rows)
}

/// `table.column` (or `table`) entries of `a` that `b` lacks.
fn missing_from(a: &Schema, b: &Schema) -> BTreeSet<String> {
    let mut missing = BTreeSet::new();
    for (table, columns) in a {
        match b.get(table) {
            None => {
                missing.insert(table.clone());
            }
            Some(theirs) => {
                missing.extend(columns.difference(theirs).map(|c| format!("{table}.{c}")));
            }
        }
    }
    missing
}

fn allowed(list: &[(&str, &str)]) -> BTreeSet<String> {
    list.iter().map(|(name, _why)| (*name).to_owned()).collect()
}

#[tokio::test]
async fn sqlite_and_postgres_define_the_same_tables_and_columns() {
    let Some(pg) = TestDatabase::postgres("workos_schema").await else {
        return;
    };
    let sqlite = sqlite_schema().await;
    let postgres = postgres_schema(&pg).await;
    assert!(
        sqlite.contains_key("webhook_deliveries") && postgres.contains_key("webhook_deliveries"),
        "both schemas were read: {:?} / {:?}",
        sqlite.keys(),
        postgres.keys()
    );
    assert_eq!(
        missing_from(&postgres, &sqlite),
        allowed(ONLY_IN_POSTGRES),
        "Postgres defines these, SQLite does not (add them to the SQLite migrations, or to \
         ONLY_IN_POSTGRES with the reason)"
    );
    assert_eq!(
        missing_from(&sqlite, &postgres),
        allowed(ONLY_IN_SQLITE),
        "SQLite defines these, Postgres does not (add them to the Postgres migrations, or to \
         ONLY_IN_SQLITE with the reason)"
    );
}

/// The comparison itself finds a missing table and a missing column, and nothing else.
#[test]
fn a_missing_table_or_column_is_named() {
    let a = schema_of(vec![
        ("t".into(), "id".into()),
        ("t".into(), "extra".into()),
        ("u".into(), "id".into()),
    ]);
    let b = schema_of(vec![("t".into(), "id".into())]);
    assert_eq!(
        missing_from(&a, &b),
        BTreeSet::from(["t.extra".to_owned(), "u".to_owned()])
    );
    assert!(missing_from(&b, &a).is_empty());
}
