//! The schema's versioned migrations, embedded in the binary and applied at start
//! (`spec/storage.md` 4.1).
//!
//! Written here rather than taken from a migration crate: what the service needs is small (an
//! ordered list of SQL files applied once each), but it must hold while several instances start
//! at once (one PostgreSQL advisory lock around the whole run, which refinery and sqlx's
//! tokio-postgres-less migrator do not take for us), and it must refuse clearly a database that
//! a newer binary migrated, or whose applied files differ from ours.

use tokio_postgres::Client;

use super::pg_error;
use crate::service::store::StoreError;

/// One migration: its version (the file's number), name and SQL.
pub(super) struct Migration {
    pub version: i32,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration this binary knows, in version order.
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "registry",
        sql: include_str!("../../../../migrations/0001_registry.sql"),
    },
    Migration {
        version: 2,
        name: "status_snapshots",
        sql: include_str!("../../../../migrations/0002_status_snapshots.sql"),
    },
];

/// The advisory lock key of migrations (any constant: "trustmark" in ASCII, truncated).
const MIGRATION_LOCK: i64 = 0x7472_7573_746d_6172;

/// The SHA-256 (hex) of a migration's SQL: an applied file that was changed afterwards is found.
fn checksum(sql: &str) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, sql.as_bytes()))
}

/// The schema version of a database, and what `migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaReport {
    /// The version after the run.
    pub version: i32,
    /// The versions applied by this run.
    pub applied: Vec<i32>,
}

/// Brings the database to the newest schema this binary knows, under the migration lock.
/// Refuses a database migrated by a newer binary, or one where an applied migration's SQL is
/// not the one this binary has.
pub(super) async fn migrate(client: &mut Client) -> Result<SchemaReport, StoreError> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg_error("taking the migration lock"))?;
    let result = migrate_locked(client).await;
    // The lock is the session's: released here, or when the connection closes on an error.
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg_error("releasing the migration lock"));
    let report = result?;
    unlocked?;
    Ok(report)
}

async fn migrate_locked(client: &mut Client) -> Result<SchemaReport, StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS trustmark_schema (
                version    integer     PRIMARY KEY,
                name       text        NOT NULL,
                checksum   text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await
        .map_err(pg_error("creating the schema version table"))?;
    let applied = client
        .query(
            "SELECT version, name, checksum FROM trustmark_schema ORDER BY version",
            &[],
        )
        .await
        .map_err(pg_error("reading the schema versions"))?;
    let newest = MIGRATIONS.last().map_or(0, |m| m.version);
    let mut done = Vec::new();
    for row in &applied {
        let version: i32 = row.get(0);
        let name: String = row.get(1);
        let sum: String = row.get(2);
        let Some(known) = MIGRATIONS.iter().find(|m| m.version == version) else {
            return Err(StoreError::new(format!(
                "the database's schema is at version {version} ({name}), newer than this binary, which knows versions up to {newest}: run a newer trustmark-issuer (never an older one) against this database"
            )));
        };
        if sum != checksum(known.sql) {
            return Err(StoreError::new(format!(
                "the database's schema version {version} ({name}) was applied from SQL that differs from this binary's: the database or the binary is not what it claims to be"
            )));
        }
        done.push(version);
    }
    let mut report = SchemaReport {
        version: done.last().copied().unwrap_or(0),
        applied: Vec::new(),
    };
    for migration in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
        let context = format!(
            "applying schema version {} ({})",
            migration.version, migration.name
        );
        let tx = client.transaction().await.map_err(pg_error(&context))?;
        tx.batch_execute(migration.sql)
            .await
            .map_err(pg_error(&context))?;
        tx.execute(
            "INSERT INTO trustmark_schema (version, name, checksum) VALUES ($1, $2, $3)",
            &[
                &migration.version,
                &migration.name,
                &checksum(migration.sql),
            ],
        )
        .await
        .map_err(pg_error(&context))?;
        tx.commit().await.map_err(pg_error(&context))?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "schema migrated"
        );
        report.version = migration.version;
        report.applied.push(migration.version);
    }
    Ok(report)
}
