//! [`PgArgs`]: the arguments of a Postgres-only statement, and renumbering a fixed statement's
//! placeholders to follow arguments already bound.

use sqlx::Postgres;
use sqlx::types::Json;
use workos_core::{Error, Result};

use super::Arg;

/// Arguments for a Postgres-only statement (arrays, data-modifying `WITH`), numbered as they
/// are added: [`PgArgs::bind`] answers the placeholder to write in the SQL text.
#[derive(Default)]
pub(crate) struct PgArgs(pub(super) sqlx::postgres::PgArguments);

impl PgArgs {
    /// Adds `args` in order.
    fn bind_all(&mut self, args: Vec<Arg>) -> Result<()> {
        for a in args {
            match a {
                Arg::Uuid(v) => self.bind(v)?,
                Arg::Text(v) => self.bind(v)?,
                Arg::Int(v) => self.bind(v)?,
                Arg::Bool(v) => self.bind(v)?,
                Arg::Time(v) => self.bind(v)?,
                Arg::Json(v) => self.bind(Json(v))?,
                Arg::Bytes(v) => self.bind(v)?,
            };
        }
        Ok(())
    }

    /// Adds the arguments of `sql`, a fixed statement numbered from `$1` (with no `$` but its
    /// placeholders), and answers `sql` renumbered after the arguments already bound: so a
    /// statement written for its own round trip can also be one item of a larger one.
    pub(crate) fn append(&mut self, sql: &str, args: Vec<Arg>) -> Result<String> {
        use sqlx::Arguments as _;
        let offset = self.0.len();
        self.bind_all(args)?;
        Ok(renumber(sql, offset))
    }

    /// Adds `value`; answers its placeholder (`$n`).
    pub(crate) fn bind<T>(&mut self, value: T) -> Result<String>
    where
        T: 'static + sqlx::Encode<'static, Postgres> + sqlx::Type<Postgres> + Send,
    {
        use sqlx::Arguments as _;
        self.0
            .add(value)
            .map_err(|e| Error::internal("cannot bind argument", std::io::Error::other(e)))?;
        Ok(format!("${}", self.0.len()))
    }
}

/// `sql` with each placeholder `$n` made `$(n + offset)`.
fn renumber(sql: &str, offset: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        debug_assert!(digits > 0, "a `$` that is not a placeholder in {sql:?}");
        match rest[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::renumber;

    #[test]
    fn renumber_shifts_every_placeholder_and_nothing_else() {
        assert_eq!(
            renumber(
                "VALUES ($1, $2, NULLIF($13, 'null')) ON CONFLICT (a) WHERE a = $1",
                4
            ),
            "VALUES ($5, $6, NULLIF($17, 'null')) ON CONFLICT (a) WHERE a = $5"
        );
        assert_eq!(renumber("SELECT $9", 0), "SELECT $9");
        assert_eq!(renumber("SELECT 1", 3), "SELECT 1");
    }
}
