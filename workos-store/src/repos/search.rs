//! Search across people, companies and deals: each backend's index finds at most
//! [`SearchQuery::CANDIDATES`] candidates of each type searched, and [`SearchQuery::score`]
//! (the same on every backend) decides which match and in what order.
//!
//! A record's search text is its words lowercased, each preceded by a space; the query's
//! [`SearchQuery::patterns`] are looked for in it.
//! - **Postgres**: a stored generated column `search_text` and a GIN index over `org_id` and its
//!   trigrams (`btree_gin`, `pg_trgm`; migration 082), queried with `LIKE '%pattern%'`;
//!   candidates sharing the most patterns come first.
//! - **SQLite**: an FTS5 table with the trigram tokenizer (`search_fts`, kept by triggers, and
//!   `search_docs`, which maps its rows to records), queried with `MATCH` on the patterns of
//!   three characters or more (best `bm25` rank first); a query of one-letter words only reads
//!   the index's text with `LIKE`.

use async_trait::async_trait;
use uuid::Uuid;
use workos_core::Result;
use workos_core::domain::{SearchFields, SearchHit, SearchKind, SearchQuery, SearchResults};
use workos_core::repo::SearchRepo;
use workos_core::tenant::{Access, TenantContext};

use crate::SqlStore;
use crate::db::{Sql, Tx};

/// A candidate as read: what [`SearchQuery::score`] and the result row need.
#[derive(sqlx::FromRow)]
struct CandidateRow {
    id: Uuid,
    name: String,
    other: String,
    phones: String,
    /// A person's email, a company's domain, a deal's stage.
    detail: Option<String>,
    /// A person's phone.
    detail2: Option<String>,
}

/// How one type of record is searched.
struct Source {
    kind: SearchKind,
    table: &'static str,
    /// The columns of a [`CandidateRow`].
    columns: &'static str,
}

const PEOPLE: Source = Source {
    kind: SearchKind::Person,
    table: "people",
    columns: "id, COALESCE(first_name, '') || ' ' || COALESCE(last_name, '') AS name, \
        COALESCE(email, '') || ' ' || CAST(additional_emails AS TEXT) AS other, \
        COALESCE(phone, '') || ' ' || CAST(additional_phones AS TEXT) AS phones, \
        email AS detail, phone AS detail2",
};

const COMPANIES: Source = Source {
    kind: SearchKind::Company,
    table: "companies",
    columns: "id, name, COALESCE(domain, '') AS other, '' AS phones, domain AS detail, \
        CAST(NULL AS TEXT) AS detail2",
};

const DEALS: Source = Source {
    kind: SearchKind::Deal,
    table: "deals",
    columns: "id, name, '' AS other, '' AS phones, stage AS detail, CAST(NULL AS TEXT) AS detail2",
};

/// Postgres: live records of the org whose search text contains a pattern, those containing
/// the most first.
fn trigram_candidates(sql: &mut Sql, patterns: &[String]) {
    sql.push("(");
    for (i, p) in patterns.iter().enumerate() {
        if i > 0 {
            sql.push(" OR ");
        }
        sql.push("search_text LIKE ").bind(format!("%{p}%"));
    }
    sql.push(") ORDER BY ");
    for (i, p) in patterns.iter().enumerate() {
        if i > 0 {
            sql.push(" + ");
        }
        sql.push("(search_text LIKE ")
            .bind(format!("%{p}%"))
            .push(")::int");
    }
    sql.push(" DESC LIMIT ");
}

/// SQLite: records of the org whose index row matches a pattern (best rank first); with no
/// pattern of three characters, those whose text contains one.
fn fts_candidates(sql: &mut Sql, source: &Source, patterns: &[String]) {
    sql.push(
        "id IN (SELECT d.id FROM search_fts t JOIN search_docs d ON d.doc = t.rowid \
         WHERE d.org_id = $1 AND d.kind = ",
    )
    .bind(source.kind.as_str());
    // Patterns are letters, digits and spaces: safe inside an FTS5 phrase.
    let phrases: Vec<String> = patterns
        .iter()
        .filter(|p| p.chars().count() >= 3)
        .map(|p| format!("\"{p}\""))
        .collect();
    if phrases.is_empty() {
        sql.push(" AND (");
        for (i, p) in patterns.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            sql.push("t.body LIKE ").bind(format!("%{p}%"));
        }
        sql.push(") LIMIT ");
    } else {
        sql.push(" AND search_fts MATCH ")
            .bind(phrases.join(" OR "))
            .push(" ORDER BY t.rank LIMIT ");
    }
    sql.bind(i64::from(SearchQuery::CANDIDATES)).push(")");
}

/// The scored candidates of one type.
async fn search_source(
    tx: &mut Tx,
    ctx: &TenantContext,
    query: &SearchQuery,
    source: &Source,
    postgres: bool,
) -> Result<Vec<SearchHit>> {
    let patterns = query.patterns();
    let mut sql = Sql::tenant(
        &format!("SELECT {} FROM {}", source.columns, source.table),
        "org_id",
        ctx.org_id(),
    );
    sql.push(" AND deleted_at IS NULL AND ");
    if postgres {
        trigram_candidates(&mut sql, &patterns);
        sql.bind(i64::from(SearchQuery::CANDIDATES));
    } else {
        fts_candidates(&mut sql, source, &patterns);
    }
    let rows: Vec<CandidateRow> = tx.fetch_sql(sql).await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let score = query.score(SearchFields {
                name: &r.name,
                other: &r.other,
                phones: &r.phones,
            })?;
            Some(hit(source.kind, r, score))
        })
        .collect())
}

/// The result row: a person without a name shows their email (or phone) as its title.
fn hit(kind: SearchKind, r: CandidateRow, score: f64) -> SearchHit {
    let name = r.name.trim();
    let mut details = [r.detail, r.detail2].into_iter().flatten();
    let title = if name.is_empty() {
        details.next().unwrap_or_default()
    } else {
        name.to_owned()
    };
    SearchHit {
        kind,
        id: r.id,
        title,
        subtitle: details.next(),
        score,
    }
}

#[async_trait]
impl SearchRepo for SqlStore {
    #[tracing::instrument(skip_all, fields(org_id = %ctx.org_id()))]
    async fn search(&self, ctx: &TenantContext, query: SearchQuery) -> Result<SearchResults> {
        let postgres = super::leads::is_postgres(self);
        let mut tx = self.tenant_tx(ctx, Access::Read).await?;
        let mut hits = Vec::new();
        for source in [&PEOPLE, &COMPANIES, &DEALS] {
            if query.searches(source.kind) {
                hits.extend(search_source(&mut tx, ctx, &query, source, postgres).await?);
            }
        }
        Ok(SearchResults::ranked(&query, hits))
    }
}
