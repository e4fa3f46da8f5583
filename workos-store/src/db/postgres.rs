//! What a [`Tx`] does on Postgres only: its connection for Postgres-only statements, the fast
//! path that writes the transaction's events together with other `WITH` items in one
//! statement, and the wake-ups that follow a commit (the portable code is in the parent
//! module; SQLite's wake-ups are in-process broadcasts there).

use sqlx::AssertSqlSafe;
use sqlx::postgres::PgRow;
use workos_core::events::{DomainEvent, EventNotice};
use workos_core::ids::OrgId;
use workos_core::{Error, Result};

use super::{Paths, PgArgs, Tx, Wake, args, db_error};

impl Tx {
    /// The Postgres connection, for statements only Postgres can run (array binds, `unnest`);
    /// `None` on SQLite.
    pub(crate) fn pg(&mut self) -> Option<&mut sqlx::PgConnection> {
        match &mut self.conn {
            super::Conn::Pg(c) => Some(&mut **c),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// The Postgres connection when this transaction may take a single statement only Postgres
    /// runs (arrays, `LATERAL`) where the portable code runs several: on one node and on Citus,
    /// which routes it to the org's shard. `None` on SQLite (and in a parity test's portable run).
    pub(crate) fn pg_path(&mut self) -> Option<&mut sqlx::PgConnection> {
        if self.paths == Paths::Portable {
            None
        } else {
            self.pg()
        }
    }

    /// The Postgres connection when this transaction may take a fast path: one statement of
    /// data-modifying `WITH` items where the portable code runs several. `None` on SQLite and
    /// on Citus, where such a statement is planned in steps across the workers (intermediate
    /// results, two-phase commit) while the portable statements are each routed to one shard.
    pub(crate) fn fast_pg(&mut self) -> Option<&mut sqlx::PgConnection> {
        if self.fast_path() { self.pg() } else { None }
    }

    /// Notes that a statement of this transaction wrote events of `org` itself, outside
    /// [`Tx::record`], so the commit wakes their consumers.
    pub(crate) fn wrote_events_of(&mut self, org: OrgId) {
        self.wrote_events = Some(org);
    }

    /// [`Tx::write_events`] on one node, for events of one org: one statement.
    pub(super) async fn write_events_in_one(&mut self) -> Result<()> {
        let _: (i32,) = self.fetch_with_events(&[], "1", PgArgs::default()).await?;
        Ok(())
    }

    /// Postgres: runs the data-modifying `WITH` items `ctes` (`name AS (INSERT …)`, their
    /// placeholders bound on `args`) together with the events recorded and not yet written, in
    /// one statement, and answers the row of `select` (expressions over the items'
    /// `RETURNING`). One round trip where a write and the commit's event insert were two.
    pub(crate) async fn fetch_with_events<R>(
        &mut self,
        ctes: &[String],
        select: &str,
        mut args: PgArgs,
    ) -> Result<R>
    where
        R: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
    {
        let mut items: Vec<String> = ctes.to_vec();
        // Events of several orgs (rare: system jobs) are appended at commit, org by org.
        let unwritten = if crate::outbox::postgres::single_org(&self.events[self.written..]) {
            self.events.len() - self.written
        } else {
            0
        };
        if unwritten > 0 {
            items.extend(crate::outbox::postgres::append_items(
                &self.events[self.written..],
                &mut args,
            )?);
        }
        let sql = if items.is_empty() {
            format!("SELECT {select}")
        } else {
            format!("WITH {} SELECT {select}", items.join(", "))
        };
        let Some(pg) = self.fast_pg() else {
            return Err(Error::internal(
                "fast-path statement on a backend without fast paths",
                std::io::Error::other("fetch_with_events"),
            ));
        };
        let row = sqlx::query_as_with::<_, R, _>(AssertSqlSafe(sql), args.0)
            .fetch_one(pg)
            .await
            .map_err(db_error)?;
        if unwritten > 0 {
            self.written = self.events.len();
        }
        Ok(row)
    }

    /// Before the commit: tells every process to drop the cached records `stale` (rare
    /// administrative writes), notified in the transaction so delivered exactly at commit.
    pub(super) async fn notify_stale(&mut self, stale: &[crate::Invalidation]) -> Result<()> {
        if !matches!(self.wake, Wake::Notify { .. }) || stale.is_empty() {
            return Ok(());
        }
        let payloads: Vec<String> = stale
            .iter()
            .filter_map(crate::Invalidation::payload)
            .collect();
        self.execute(
            &format!(
                "SELECT pg_notify('{}', p) FROM jsonb_array_elements_text($1::jsonb) AS p",
                crate::invalidation::CHANNEL
            ),
            args![serde_json::json!(payloads)],
        )
        .await?;
        Ok(())
    }
}

impl Wake {
    /// After the commit: tells this process's subscribers, the `events` written through
    /// `record` by id (readable at once), or the org alone for events a statement wrote itself;
    /// and the delivery workers when deliveries were made due.
    pub(super) fn tell_this_process(&self, events: &[DomainEvent], org: Option<OrgId>, due: bool) {
        if let Self::Notify { local, .. } = self
            && let Some(buses) = local.get()
        {
            // No receivers is fine: nobody is waiting.
            if let Some(org) = org {
                let _ = buses.events.send(EventNotice {
                    org_id: Some(org),
                    events: events.iter().map(|e| e.id).collect(),
                });
            }
            if due {
                let _ = buses.due.send(EventNotice::default());
            }
        }
    }
}
