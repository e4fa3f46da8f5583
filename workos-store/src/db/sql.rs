//! [`Sql`], the builder of statements whose shape depends on a filter, and `LIKE` patterns.

use uuid::Uuid;
use workos_core::Result;
use workos_core::ids::OrgId;
use workos_core::page::PageRequest;

use super::Arg;

/// SQL text with numbered placeholders (`$1`, `$2`, …, which both backends accept) and the
/// arguments that fill them, for queries whose shape depends on a filter.
#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub(super) text: String,
    pub(super) args: Vec<Arg>,
}

impl Sql {
    pub(crate) fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            args: Vec::new(),
        }
    }

    /// A query of one org's rows: `<text> WHERE <org_column> = $1`, the org bound. Tenant
    /// queries built here start with it, so none can leave the tenant filter out (on SQLite,
    /// which has no Row Level Security, that filter is the only wall between tenants); more
    /// conditions follow with `AND`.
    pub(crate) fn tenant(text: &str, org_column: &'static str, org: OrgId) -> Self {
        let mut sql = Self::new(text);
        sql.push(" WHERE ").push(org_column).push(" = ").bind(org);
        sql
    }

    /// One org's rows of `table`: `SELECT <columns> FROM <table> WHERE org_id = $1` (as
    /// [`Self::tenant`], on the table's own `org_id`).
    pub(crate) fn select(columns: &str, table: &'static str, org: OrgId) -> Self {
        Self::tenant(&format!("SELECT {columns} FROM {table}"), "org_id", org)
    }

    /// One org's live (not soft-deleted) rows of `table`: [`Self::select`] and
    /// `AND deleted_at IS NULL`.
    pub(crate) fn live(columns: &str, table: &'static str, org: OrgId) -> Self {
        let mut sql = Self::select(columns, table, org);
        sql.push(" AND deleted_at IS NULL");
        sql
    }

    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder for `arg`.
    pub(crate) fn bind(&mut self, arg: impl Into<Arg>) -> &mut Self {
        self.args.push(arg.into());
        self.text.push_str(&format!("${}", self.args.len()));
        self
    }

    /// Appends `($n, …)`, a placeholder for each of `ids` (for `<column> IN`).
    pub(crate) fn push_in(&mut self, ids: impl IntoIterator<Item = Uuid>) -> &mut Self {
        self.push("(");
        for (i, id) in ids.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(id);
        }
        self.push(")")
    }

    /// Appends ` AND <column> <op> $n` when `value` is present. Identifiers and operators are
    /// the engine's own (`'static`), never request text.
    pub(crate) fn and<T: Into<Arg>>(
        &mut self,
        column: &'static str,
        op: &'static str,
        value: Option<T>,
    ) -> &mut Self {
        if let Some(v) = value {
            self.push(" AND ")
                .push(column)
                .push(" ")
                .push(op)
                .push(" ")
                .bind(v);
        }
        self
    }

    /// Appends the page condition, order and limit of a list kept in creation (id) order.
    ///
    /// # Errors
    /// As [`Self::sorted_page`] with no sort keys.
    pub(crate) fn page(
        &mut self,
        id_column: &'static str,
        page: &PageRequest,
    ) -> Result<&mut Self> {
        self.sorted_page(id_column, &[], page, false)
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern and wraps it for "contains".
pub(crate) fn contains_pattern(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('%');
    for c in s.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}
