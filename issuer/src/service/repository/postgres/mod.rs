//! The registry on PostgreSQL (`spec/storage.md` 4): real tables with types and constraints,
//! migrated at start, several service instances on one database.
//!
//! The repository traits are synchronous (the writer is a thread; sled answers in
//! microseconds), so the store drives its asynchronous client on a runtime of its own and
//! blocks the caller until the database answers. Callers on the service's asynchronous workers
//! must not call it there: [`super::Registry::may_block`] says so, and the handlers then read
//! on a blocking thread.

mod rows;
mod schema;
mod unit;

use std::future::Future;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use futures_util::TryStreamExt;
use tokio_postgres::NoTls;
use trustmark_domain::{AssessmentId, CertifierId, IssuerKey, MarkId};

pub use schema::SchemaReport;

use super::{
    AnswerVisit, ApiKeyVisit, AssessmentVisit, AuditVisit, Counters, MarkVisit, Registry,
    Repository, StatusSlot, StatusVisit, UnitOfWork,
};
use crate::service::audit::AuditEntry;
use crate::service::idempotency::StoredAnswer;
use crate::service::records::{AssessmentRecord, Certifier, MarkRecord};
use crate::service::store::StoreError;
use rows::unsigned;

/// How long a request waits for a pooled connection, and a connection attempt for the server:
/// past it, the request fails (503) instead of hanging.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Connection settings every session gets: a write is acknowledged only once its commit is
/// durable (`synchronous_commit` on, whatever the server's default), and no statement runs
/// forever.
const SESSION_OPTIONS: &str = "-c synchronous_commit=on -c statement_timeout=30s";

/// The columns of a mark, in the order [`rows::mark`] reads them.
const MARK_COLUMNS: &str = "id, certifier_id, issuer, status_list, status_index, status, \
     status_reason, assessment_digests, token, vendor, model, kid, issued_at, expires_at";

/// The registry in a PostgreSQL database.
pub struct PgStore {
    /// Drives the client's connections; `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
    /// The runtime's handle, which callers block on.
    handle: tokio::runtime::Handle,
    pool: Pool,
    /// Where it is, for messages (never the password).
    target: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("target", &self.target)
            .finish()
    }
}

/// A client error as a store error, with what was being done; a lost or refused connection,
/// a server shutting down or starting, or a cancelled statement make the store unavailable
/// (503, retry later) rather than failed.
pub(super) fn pg_error(context: &str) -> impl Fn(tokio_postgres::Error) -> StoreError + '_ {
    move |e| {
        let message = format!("PostgreSQL, {context}: {}", describe(&e));
        if is_unavailable(&e) {
            StoreError::unavailable(message)
        } else {
            StoreError::new(message)
        }
    }
}

/// Whether `e` says the server could not be reached or is not serving: the connection closed,
/// an I/O error, or SQLSTATE class 08 (connection exception), 53 (insufficient resources) or
/// 57 (operator intervention: shutdown, starting up, statement cancelled).
fn is_unavailable(e: &tokio_postgres::Error) -> bool {
    use std::error::Error as _;
    match e.as_db_error() {
        Some(db) => ["08", "53", "57"]
            .iter()
            .any(|class| db.code().code().starts_with(class)),
        None => e.is_closed() || e.source().is_some_and(|s| s.is::<std::io::Error>()),
    }
}

/// The database's own message when there is one (the client's top-level text is often only
/// "db error").
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// Where a connection string points: hosts, port and database, without user or password.
fn describe_target(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}:{port}/{}",
        hosts.join(","),
        config.get_dbname().unwrap_or("(default database)")
    )
}

impl PgStore {
    /// Connects to the database at `url` (a `postgres://` URL or a libpq key=value string) with
    /// a pool of up to `pool_size` connections, and brings its schema to this binary's version
    /// (refusing a database a newer binary migrated).
    pub fn connect(url: &str, pool_size: usize) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            StoreError::new(format!("the database URL does not parse: {}", describe(&e)))
        })?;
        config.options(SESSION_OPTIONS);
        config.application_name("trustmark-issuer");
        config.connect_timeout(CONNECT_TIMEOUT);
        // A server that vanished without closing the connection is noticed in about 25 s.
        config.keepalives_idle(Duration::from_secs(10));
        config.keepalives_interval(Duration::from_secs(5));
        config.keepalives_retries(3);
        let target = describe_target(&config);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("trustmark-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::new(format!("starting the database client's runtime: {e}")))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(2))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::new(format!("the database connection pool: {e}")))?;
        let store = Self {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            pool,
            target,
        };
        let report = store.block_on(async {
            let mut client = store.client().await?;
            schema::migrate(&mut client).await
        })?;
        tracing::info!(
            database = %store.target,
            schema_version = report.version,
            applied = ?report.applied,
            "PostgreSQL store opened"
        );
        Ok(store)
    }

    /// Where the database is (hosts, port, database name).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Runs `future` on the store's runtime and waits for it. Must not be called on an
    /// asynchronous worker thread (see the module's documentation).
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// A pooled connection.
    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| {
            StoreError::unavailable(format!(
                "PostgreSQL at {} is not reachable: {e}",
                self.target
            ))
        })
    }

    /// Runs one query and returns its rows.
    fn query(
        &self,
        context: &str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        self.block_on(async {
            let client = self.client().await?;
            let statement = client
                .prepare_cached(sql)
                .await
                .map_err(pg_error(context))?;
            client
                .query(&statement, params)
                .await
                .map_err(pg_error(context))
        })
    }

    /// Runs one query of at most one row.
    fn query_opt(
        &self,
        context: &str,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Option<tokio_postgres::Row>, StoreError> {
        let rows = self.query(context, sql, params)?;
        if rows.len() > 1 {
            return Err(StoreError::new(format!(
                "PostgreSQL, {context}: {} rows where one was expected",
                rows.len()
            )));
        }
        Ok(rows.into_iter().next())
    }

    /// Calls `visit` with each row of `sql`, streamed (never all in memory); stops at the
    /// first error.
    fn for_each_row(
        &self,
        context: &str,
        sql: &str,
        visit: &mut dyn FnMut(&tokio_postgres::Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.block_on(async {
            let client = self.client().await?;
            let statement = client
                .prepare_cached(sql)
                .await
                .map_err(pg_error(context))?;
            let no_params: [&(dyn tokio_postgres::types::ToSql + Sync); 0] = [];
            let rows = client
                .query_raw(&statement, no_params)
                .await
                .map_err(pg_error(context))?;
            futures_util::pin_mut!(rows);
            while let Some(row) = rows.try_next().await.map_err(pg_error(context))? {
                visit(&row)?;
            }
            Ok(())
        })
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which is refused on an asynchronous worker thread, where
        // the service's last handle may go: let its threads stop in the background.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Registry for PgStore {
    fn may_block(&self) -> bool {
        true
    }

    fn kind(&self) -> &'static str {
        "postgresql"
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.query("checking the connection", "SELECT 1", &[])
            .map(drop)
    }

    fn certifier(&self, id: &CertifierId) -> Result<Option<Certifier>, StoreError> {
        self.query_opt(
            "reading a certifier",
            "SELECT id, name, assurance, created_at FROM certifiers WHERE id = $1",
            &[&id.as_str()],
        )?
        .map(|row| rows::certifier(&row))
        .transpose()
    }

    fn certifiers(&self) -> Result<Vec<Certifier>, StoreError> {
        self.query(
            "listing certifiers",
            "SELECT id, name, assurance, created_at FROM certifiers ORDER BY id COLLATE \"C\"",
            &[],
        )?
        .iter()
        .map(rows::certifier)
        .collect()
    }

    fn assessment(&self, id: &AssessmentId) -> Result<Option<AssessmentRecord>, StoreError> {
        self.query_opt(
            "reading an assessment",
            "SELECT id, certifier_id, framework, target_class, decision, responses, created_at \
             FROM assessments WHERE id = $1",
            &[&id.as_str()],
        )?
        .map(|row| rows::assessment(&row))
        .transpose()
    }

    fn mark(&self, id: &MarkId) -> Result<Option<MarkRecord>, StoreError> {
        self.query_opt(
            "reading a mark",
            &format!("SELECT {MARK_COLUMNS} FROM marks WHERE id = $1"),
            &[&id.as_str()],
        )?
        .map(|row| rows::mark(&row))
        .transpose()
    }

    fn mark_issuer(&self, id: &MarkId) -> Result<Option<String>, StoreError> {
        self.query_opt(
            "reading a mark's issuer",
            "SELECT issuer FROM marks WHERE id = $1",
            &[&id.as_str()],
        )?
        .map(|row| rows::column(&row, "marks", id.as_str(), "issuer"))
        .transpose()
    }

    fn idempotent_answer(&self, key: &[u8]) -> Result<Option<StoredAnswer>, StoreError> {
        self.query_opt(
            "reading an idempotent answer",
            "SELECT key, request_hash, status, body, created_at, expires_at \
             FROM idempotent_answers WHERE key = $1",
            &[&key],
        )?
        .map(|row| rows::answer(&row))
        .transpose()
    }

    fn trust_list(&self) -> Result<Option<Vec<u8>>, StoreError> {
        match self.query_opt(
            "reading the trust list",
            "SELECT trust_list FROM registry_head",
            &[],
        )? {
            Some(row) => rows::column(&row, "registry_head", "", "trust_list"),
            None => Err(rows::no_head()),
        }
    }
}

impl Repository for PgStore {
    fn begin(&self) -> Box<dyn UnitOfWork + '_> {
        Box::new(unit::PgUnit::new(self))
    }

    fn counters(&self) -> Result<Counters, StoreError> {
        self.block_on(async {
            let client = self.client().await?;
            rows::counters(&client, false).await
        })
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn lease_indexes(
        &self,
        list: u32,
        count: u32,
        capacity: u32,
    ) -> Result<std::ops::Range<u32>, StoreError> {
        let (list, count, capacity) = (i64::from(list), i64::from(count), i64::from(capacity));
        self.query(
            "leasing status indexes",
            "INSERT INTO status_lists (number, next_index) VALUES ($1, 0) \
             ON CONFLICT (number) DO NOTHING",
            &[&list],
        )?;
        // One statement: the row lock makes concurrent leases of the list take turns.
        let row = self
            .query_opt(
                "leasing status indexes",
                "UPDATE status_lists SET next_index = GREATEST(leased.start, \
                 LEAST(leased.start + $2, $3)) \
                 FROM (SELECT next_index AS start FROM status_lists WHERE number = $1 \
                       FOR UPDATE) AS leased \
                 WHERE number = $1 RETURNING leased.start, status_lists.next_index",
                &[&list, &count, &capacity],
            )?
            .ok_or_else(|| {
                StoreError::new(format!("status list {list} has no row to lease from"))
            })?;
        let key = list.to_string();
        let start: i64 = rows::column(&row, "status_lists", &key, "start")?;
        let end: i64 = rows::column(&row, "status_lists", &key, "next_index")?;
        Ok(unsigned(start, "status_lists", &key, "next_index")?
            ..unsigned(end, "status_lists", &key, "next_index")?)
    }

    fn audit_entries_from(&self, from: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let from = i64::try_from(from).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query(
            "reading the audit log",
            "SELECT seq, time, actor, action, subject, details, prev_hash, hash, version \
             FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2",
            &[&from, &limit],
        )?
        .iter()
        .map(rows::audit_entry)
        .collect()
    }

    fn for_each_api_key(&self, visit: &mut ApiKeyVisit<'_>) -> Result<(), StoreError> {
        self.for_each_row(
            "listing API keys",
            "SELECT hash, certifier_id, created_at, expires_at, revoked_at, revocation_reason \
             FROM api_keys ORDER BY hash COLLATE \"C\"",
            &mut |row| {
                let (hash, record) = rows::api_key(row)?;
                visit(hash, record)
            },
        )
    }

    fn issuer_keys(&self) -> Result<Vec<IssuerKey>, StoreError> {
        self.query(
            "listing issuer keys",
            "SELECT kid, certifier_id, alg, public_key, status_list, created_at, certificate, \
             activated_at, activated_by, retired_at FROM issuer_keys ORDER BY kid COLLATE \"C\"",
            &[],
        )?
        .iter()
        .map(rows::issuer_key)
        .collect()
    }

    fn for_each_mark_status(&self, visit: &mut StatusVisit<'_>) -> Result<(), StoreError> {
        self.for_each_row(
            "reading mark statuses",
            "SELECT id, status_list, status_index, status FROM marks",
            &mut |row| {
                let id: String = rows::column(row, "marks", "", "id")?;
                let list: i64 = rows::column(row, "marks", &id, "status_list")?;
                let index: i64 = rows::column(row, "marks", &id, "status_index")?;
                let status: i16 = rows::column(row, "marks", &id, "status")?;
                let slot = StatusSlot {
                    list: unsigned(list, "marks", &id, "status_list")?,
                    index: unsigned(index, "marks", &id, "status_index")?,
                    status: rows::status(status, &id)?,
                };
                visit(&id, slot)
            },
        )
    }

    fn for_each_mark(&self, visit: &mut MarkVisit<'_>) -> Result<(), StoreError> {
        self.for_each_row(
            "reading marks",
            &format!("SELECT {MARK_COLUMNS} FROM marks"),
            &mut |row| visit(rows::mark(row)?),
        )
    }

    fn for_each_assessment(&self, visit: &mut AssessmentVisit<'_>) -> Result<(), StoreError> {
        self.for_each_row(
            "reading assessments",
            "SELECT id, certifier_id, framework, target_class, decision, responses, created_at \
             FROM assessments",
            &mut |row| visit(rows::assessment(row)?),
        )
    }

    fn for_each_idempotent_answer(&self, visit: &mut AnswerVisit<'_>) -> Result<(), StoreError> {
        self.for_each_row(
            "reading idempotent answers",
            "SELECT key, request_hash, status, body, created_at, expires_at \
             FROM idempotent_answers",
            &mut |row| {
                let key: Vec<u8> = rows::column(row, "idempotent_answers", "", "key")?;
                visit(key, rows::answer(row)?)
            },
        )
    }

    fn for_each_audit_entry(&self, visit: &mut AuditVisit<'_>) -> Result<(), StoreError> {
        self.for_each_row(
            "reading the audit log",
            "SELECT seq, time, actor, action, subject, details, prev_hash, hash, version \
             FROM audit_log ORDER BY seq",
            &mut |row| {
                let seq: i64 = rows::column(row, "audit_log", "", "seq")?;
                let position = unsigned(seq, "audit_log", "", "seq")?;
                visit(position, rows::audit_entry(row).ok())
            },
        )
    }

    fn status_snapshots(&self) -> Result<Vec<super::StatusSnapshot>, StoreError> {
        self.query(
            "reading status list snapshots",
            "SELECT number, audit_entries, len, bits FROM status_snapshots ORDER BY number",
            &[],
        )?
        .iter()
        .map(rows::status_snapshot)
        .collect()
    }

    fn expired_answers(&self, now: u64, limit: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query(
            "listing expired idempotent answers",
            "SELECT key FROM idempotent_answers WHERE expires_at <= $1 \
             ORDER BY expires_at LIMIT $2",
            &[&now, &limit],
        )?
        .iter()
        .map(|row| rows::column(row, "idempotent_answers", "", "key"))
        .collect()
    }
}

/// Fresh databases on the test cluster (`scripts/postgres-cluster`).
#[cfg(test)]
pub(crate) mod testing {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

    use std::sync::atomic::{AtomicU32, Ordering};

    /// The variable naming the test cluster: a libpq key=value connection string of a
    /// superuser (`scripts/test-all` starts a cluster and sets it).
    pub(crate) const CLUSTER_VAR: &str = "TRUSTMARK_TEST_POSTGRES";

    /// The test cluster's connection string. Without it the PostgreSQL tests fail (never pass
    /// unseen) unless `TRUSTMARK_SKIP_POSTGRES=1` says to skip them; then `None`.
    pub(crate) fn cluster() -> Option<String> {
        match std::env::var(CLUSTER_VAR) {
            Ok(cluster) => Some(cluster),
            Err(_) if std::env::var_os("TRUSTMARK_SKIP_POSTGRES").is_some() => None,
            Err(_) => panic!(
                "{CLUSTER_VAR} is not set: start a throwaway cluster with \
                 `scripts/postgres-cluster start DIR` and set it to the string that prints \
                 (scripts/test-all does both), or set TRUSTMARK_SKIP_POSTGRES=1 to skip the \
                 PostgreSQL tests"
            ),
        }
    }

    /// A new empty database on the test cluster, if there is one ([`cluster`]).
    pub(crate) fn fresh() -> Option<String> {
        cluster().map(|cluster| fresh_database(&cluster))
    }

    /// A new empty database on `cluster`; its connection string.
    pub(crate) fn fresh_database(cluster: &str) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "unit_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        execute(cluster, &format!("CREATE DATABASE {name}"));
        format!("{cluster} dbname={name}")
    }

    /// Runs `sql` on the database at `url`, on a connection of its own.
    pub(crate) fn execute(url: &str, sql: &str) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .unwrap();
            let driver = tokio::spawn(connection);
            client.batch_execute(sql).await.unwrap();
            drop(client);
            drop(driver.await);
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

    use super::super::conformance::{self, Backend};
    use super::*;

    struct Postgres(String);

    impl Backend for Postgres {
        fn open(&self) -> Box<dyn Repository> {
            Box::new(PgStore::connect(&self.0, 4).unwrap())
        }
    }

    use testing::execute;

    #[test]
    fn stored_values_that_do_not_make_a_record_are_refused_naming_table_key_and_column() {
        let Some(url) = testing::fresh() else {
            return;
        };
        let store = PgStore::connect(&url, 2).unwrap();
        let mark = crate::service::records::sample_record(3);
        let mut unit = store.begin();
        unit.put_certifier(&Certifier {
            id: crate::service::records::sample_certifier(),
            name: "Lab".into(),
            assurance: "third-party".into(),
            created_at: 1,
        })
        .unwrap();
        let key = IssuerKey::pending(
            &crate::service::records::sample_certifier(),
            trustmark_format::Algorithm::EdDsa,
            &[1; 32],
            &[1, 2, 3, 4],
            1,
            1,
        )
        .unwrap();
        unit.put_issuer_key(&key).unwrap();
        unit.put_mark(crate::service::records::SignedMark::new(mark.clone()))
            .unwrap();
        unit.commit().unwrap();
        assert_eq!(store.mark(&mark.mark_id).unwrap(), Some(mark.clone()));
        let id = mark.mark_id.as_str();
        execute(
            &url,
            &format!("UPDATE marks SET vendor = 'Other' WHERE id = '{id}'"),
        );
        assert_eq!(
            store.mark(&mark.mark_id).unwrap_err().to_string(),
            format!(
                "storage: table marks, key {id:?}, column vendor: stored value does not decode: it disagrees with the token"
            )
        );
        execute(
            &url,
            &format!(
                "UPDATE marks SET vendor = '{}', token = '\\x00' WHERE id = '{id}'",
                mark.vendor
            ),
        );
        let error = store.mark(&mark.mark_id).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("storage: table marks, key {id:?}, column token: stored value does not decode: unreadable mark record: token:")),
            "{error}"
        );
        // The database refuses what its constraints forbid.
        execute(&url, "ALTER TABLE marks DROP CONSTRAINT marks_status_check");
        execute(
            &url,
            &format!("UPDATE marks SET status = 7 WHERE id = '{id}'"),
        );
        assert_eq!(
            store.for_each_mark_status(&mut |_, _| Ok(())).unwrap_err().to_string(),
            format!("storage: table marks, key {id:?}, column status: stored value does not decode: no status 7")
        );
        execute(&url, "DELETE FROM registry_head");
        assert_eq!(
            store.counters().unwrap_err().to_string(),
            "storage: the registry_head row is missing: this database was not made by the service's migrations"
        );
    }

    #[test]
    fn a_database_migrated_by_a_newer_binary_or_from_other_sql_is_refused() {
        let Some(url) = testing::fresh() else {
            return;
        };
        drop(PgStore::connect(&url, 2).unwrap());
        // Opened again: nothing to apply.
        drop(PgStore::connect(&url, 2).unwrap());
        execute(
            &url,
            "INSERT INTO trustmark_schema (version, name, checksum) VALUES (99, 'future', 'x')",
        );
        assert_eq!(
            PgStore::connect(&url, 2).unwrap_err().to_string(),
            "storage: the database's schema is at version 99 (future), newer than this binary, which knows versions up to 2: run a newer trustmark-issuer (never an older one) against this database"
        );
        execute(
            &url,
            "DELETE FROM trustmark_schema WHERE version = 99; \
             UPDATE trustmark_schema SET checksum = 'edited' WHERE version = 1",
        );
        assert_eq!(
            PgStore::connect(&url, 2).unwrap_err().to_string(),
            "storage: the database's schema version 1 (registry) was applied from SQL that differs from this binary's: the database or the binary is not what it claims to be"
        );
    }

    #[test]
    fn several_stores_started_at_once_migrate_once() {
        let Some(url) = testing::fresh() else {
            return;
        };
        let started: Vec<_> = (0..4)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || PgStore::connect(&url, 2).map(drop))
            })
            .collect();
        for thread in started {
            thread.join().unwrap().unwrap();
        }
    }

    #[test]
    fn the_postgres_store_passes_the_store_conformance_suite() {
        let Some(cluster) = testing::cluster() else {
            return;
        };
        conformance::run(&|| Box::new(Postgres(testing::fresh_database(&cluster))));
    }
}
