//! The SQL index's own ground: the connection pool and dialect, the schema's migrations
//! (`storage/migrations/`, one set per database), and the row helpers every concern's
//! queries share.

use caregate_schemas::EvidenceRecord;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::{AnyPool, Row};

use crate::sql::parse_ts;
use crate::StorageError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Dialect {
    Postgres,
    Sqlite,
}

/// [`EvidenceIndex`](super::EvidenceIndex) over PostgreSQL or SQLite.
#[derive(Clone, Debug)]
pub struct SqlIndex {
    pub(super) pool: AnyPool,
    pub(super) dialect: Dialect,
    pub(super) url_redacted: String,
}

/// The schema of each database, as versioned migrations (`storage/migrations/`), embedded
/// in the binary and applied in order at start-up: what is applied is recorded, with a
/// checksum, in the `_sqlx_migrations` table.
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Serialises concurrent schema set-up by several workers starting at once, per
/// database: advisory locks are the cluster's, and deployments (or tests) sharing a
/// server must not wait on each other's migrations.
const MIGRATION_LOCK: i32 = 0x6361_7265;

impl SqlIndex {
    /// Connects and brings the schema up to date.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StorageError> {
        let index = Self::open(url, max_connections).await?;
        index.migrate().await?;
        index.fill_review_items().await?;
        Ok(index)
    }

    /// Connects, and leaves the schema as it finds it.
    pub(crate) async fn open(url: &str, max_connections: u32) -> Result<Self, StorageError> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            return Err(StorageError::rejected("database", format!("unsupported database URL scheme in {url:?}")));
        };
        let pool = AnyPoolOptions::new().max_connections(max_connections).acquire_timeout(std::time::Duration::from_secs(5)).connect(url).await?;
        Ok(Self { pool, dialect, url_redacted: redact(url) })
    }

    /// Applies the migrations not applied yet, on one connection.
    ///
    /// A database created before migrations existed has the tables but no
    /// `_sqlx_migrations`: its events table may lack the hash chain's two columns, which
    /// the code of that time added by probing (no `ADD COLUMN IF NOT EXISTS` in SQLite),
    /// and that probe runs here one last time. Migration 1 is today's schema written
    /// idempotently, so it then runs over such a database as over an empty one, and is
    /// recorded as applied like anywhere else; from there on every database is the same.
    async fn migrate(&self) -> Result<(), StorageError> {
        let mut conn = self.pool.acquire().await?;
        let migrator = match self.dialect {
            Dialect::Postgres => {
                sqlx::query(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK}, hashtext(current_database()))")).execute(&mut *conn).await?;
                &POSTGRES_MIGRATIONS
            }
            Dialect::Sqlite => {
                // WAL lets readers (status polls) run while the worker writes.
                sqlx::query("PRAGMA journal_mode=WAL").execute(&mut *conn).await?;
                &SQLITE_MIGRATIONS
            }
        };
        let mut result = self.upgrade_unversioned(&mut conn).await;
        if result.is_ok() {
            result = migrator.run(&mut *conn).await.map_err(migration_error);
            // SQLite has no lock for the migrator: of two processes creating one file at
            // once, one records migration 1 and the other fails to; the second attempt
            // finds it applied.
            if result.is_err() && self.dialect == Dialect::Sqlite {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                result = migrator.run(&mut *conn).await.map_err(migration_error);
            }
        }
        if self.dialect == Dialect::Postgres {
            sqlx::query(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK}, hashtext(current_database()))")).execute(&mut *conn).await?;
        }
        result
    }

    /// A database from before migrations: the hash chain's columns, where missing.
    async fn upgrade_unversioned(&self, conn: &mut sqlx::AnyConnection) -> Result<(), StorageError> {
        if self.has_table(conn, "_sqlx_migrations").await? || !self.has_table(conn, "evidence_events").await? {
            return Ok(());
        }
        // Event tables made before the hash chain lack its two columns; their old events
        // stay unchained (reported as such by the chain check).
        for column in ["prev_hash", "hash"] {
            let present: i64 = match self.dialect {
                Dialect::Postgres => sqlx::query(
                    "SELECT COUNT(*) AS n FROM information_schema.columns
                     WHERE table_schema = current_schema() AND table_name = 'evidence_events' AND column_name = $1",
                ),
                Dialect::Sqlite => sqlx::query("SELECT COUNT(*) AS n FROM pragma_table_info('evidence_events') WHERE name = $1"),
            }
            .bind(column)
            .fetch_one(&mut *conn)
            .await?
            .try_get("n")?;
            if present == 0 {
                sqlx::query(&format!("ALTER TABLE evidence_events ADD COLUMN {column} TEXT")).execute(&mut *conn).await?;
            }
        }
        Ok(())
    }

    async fn has_table(&self, conn: &mut sqlx::AnyConnection, table: &str) -> Result<bool, StorageError> {
        let sql = match self.dialect {
            Dialect::Postgres => "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1",
            Dialect::Sqlite => "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = $1",
        };
        let n: i64 = sqlx::query(sql).bind(table.to_owned()).fetch_one(&mut *conn).await?.try_get("n")?;
        Ok(n > 0)
    }

    /// The migrations this code applies, by version.
    #[cfg(any(test, feature = "testsuite"))]
    pub(crate) fn migrations(&self) -> Vec<i64> {
        let migrator = match self.dialect {
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
        };
        migrator.iter().map(|m| m.version).collect()
    }

    /// The migrations recorded as applied: version, when, and how long it took.
    #[cfg(any(test, feature = "testsuite"))]
    pub(crate) async fn applied_migrations(&self) -> Result<Vec<(i64, String, i64)>, StorageError> {
        if !self.has_table(&mut *self.pool.acquire().await?, "_sqlx_migrations").await? {
            return Ok(Vec::new());
        }
        let rows =
            sqlx::query("SELECT version, CAST(installed_on AS TEXT) AS installed_on, execution_time FROM _sqlx_migrations WHERE success ORDER BY version")
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|r| Ok((r.try_get("version")?, r.try_get("installed_on")?, r.try_get("execution_time")?))).collect()
    }

    /// The schema as a sorted list of its parts (each table's columns with their types,
    /// indexes, triggers): two databases with the same list have the same shape, however
    /// their statements were written.
    #[cfg(any(test, feature = "testsuite"))]
    pub(crate) async fn schema_shape(&self) -> Result<Vec<String>, StorageError> {
        let sql = match self.dialect {
            Dialect::Postgres => {
                "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable AS item
                   FROM information_schema.columns WHERE table_schema = current_schema()
                 UNION ALL SELECT 'index ' || tablename || '.' || indexname || ' ' || indexdef FROM pg_indexes WHERE schemaname = current_schema()
                 UNION ALL SELECT 'trigger ' || event_object_table || '.' || trigger_name || ' ' || event_manipulation || ' ' || action_timing
                   FROM information_schema.triggers WHERE trigger_schema = current_schema()
                 UNION ALL SELECT 'function ' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = current_schema()
                 ORDER BY item"
            }
            Dialect::Sqlite => {
                "SELECT m.type || ' ' || m.name || COALESCE(' ' || p.name || ' ' || p.type || ' ' || p.\"notnull\" || ' ' || p.pk, '') AS item
                   FROM sqlite_master m LEFT JOIN pragma_table_info(m.name) p ON m.type = 'table'
                 ORDER BY item"
            }
        };
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok(r.try_get("item")?)).collect()
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub(super) fn row_to_record(row: &AnyRow) -> Result<EvidenceRecord, StorageError> {
        let json: String = row.try_get("record")?;
        let mut rec: EvidenceRecord = serde_json::from_str(&json).map_err(|e| StorageError::Corrupt(format!("record: {e}")))?;
        // Columns updated on their own (retries) win over the JSON snapshot.
        let status: String = row.try_get("status")?;
        rec.status = status.parse().map_err(|e| StorageError::Corrupt(format!("{e}")))?;
        rec.attempts = row.try_get::<i64, _>("attempts")? as u32;
        rec.updated_at = parse_ts(&row.try_get::<String, _>("updated_at")?)?;
        Ok(rec)
    }

    pub(super) async fn select_records(&self, sql: &str, arg: String) -> Result<Vec<EvidenceRecord>, StorageError> {
        self.select_records_by(sql, [arg]).await
    }

    pub(super) async fn select_records_by(&self, sql: &str, args: impl IntoIterator<Item = String>) -> Result<Vec<EvidenceRecord>, StorageError> {
        let mut query = sqlx::query(sql);
        for a in args {
            query = query.bind(a);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(Self::row_to_record).collect()
    }

    /// Rows of a `document` column holding JSON (verifications, decisions).
    pub(super) async fn select_documents<T: serde::de::DeserializeOwned>(&self, sql: &str, args: Vec<String>) -> Result<Vec<T>, StorageError> {
        let mut query = sqlx::query(sql);
        for a in args {
            query = query.bind(a);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let doc: String = row.try_get("document")?;
                serde_json::from_str(&doc).map_err(|e| StorageError::Corrupt(format!("{}: {e}", std::any::type_name::<T>())))
            })
            .collect()
    }
}

/// A migration that failed is the database's answer (a refusal, or an outage while it
/// ran), as any query's would be.
fn migration_error(e: MigrateError) -> StorageError {
    match e {
        MigrateError::Execute(e) | MigrateError::ExecuteMigration(e, _) => e.into(),
        other => StorageError::rejected("database", format!("schema migration: {other}")),
    }
}

fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***{}", &url[..s], &url[at..]),
        _ => url.to_owned(),
    }
}

/// `$first, $first+1, ...`: `n` numbered placeholders.
pub(super) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

pub(super) fn to_json(rec: &EvidenceRecord) -> Result<String, StorageError> {
    serde_json::to_string(rec).map_err(|e| StorageError::Corrupt(format!("record: {e}")))
}

pub(super) const RECORD_COLUMNS: &str = "record, status, attempts, updated_at";

#[cfg(test)]
mod tests {
    use caregate_schemas::{EventKind, EvidenceId};

    use super::SqlIndex;
    use crate::{conformance, AuditLog};

    /// A SQLite database from before migrations upgrades in place (the PostgreSQL case is
    /// in tests/it/conformance.rs).
    #[tokio::test]
    async fn a_sqlite_database_from_before_migrations_upgrades() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = |name: &str| format!("sqlite://{}?mode=rwc", dir.path().join(name).display());
        conformance::upgrade_from_before_migrations(&url("old.sqlite"), &url("new.sqlite")).await;
    }

    /// Older still: an events table from before the hash chain (no `prev_hash`, `hash`)
    /// gets the chain's columns before migration 1 runs; its old events stay unchained,
    /// the new ones are chained.
    #[tokio::test]
    async fn an_events_table_from_before_the_chain_gets_its_columns() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.sqlite").display());
        let id = EvidenceId::new();
        let old = SqlIndex::open(&url, 1).await.expect("open");
        sqlx::raw_sql(conformance::PRE_MIGRATIONS_SQLITE).execute(old.pool()).await.expect("the schema of before migrations");
        sqlx::raw_sql(&format!(
            "ALTER TABLE evidence_events DROP COLUMN prev_hash;
             ALTER TABLE evidence_events DROP COLUMN hash;
             INSERT INTO evidence_events (evidence_id, kind, detail, at) VALUES ('{id}', 'received', '{{}}', '2024-06-12T08:00:00.000000Z')"
        ))
        .execute(old.pool())
        .await
        .expect("an events table from before the chain");
        old.pool().close().await;

        let index = SqlIndex::connect(&url, 1).await.expect("upgraded");
        let report = index.check_chain().await.expect("chain");
        assert_eq!((report.events, report.unchained, report.problems), (0, 1, vec![]));
        index.record_event(id, EventKind::Retry, serde_json::json!({"attempt": 1})).await.expect("a new event");
        let report = index.check_chain().await.expect("chain");
        assert_eq!((report.events, report.unchained, report.problems), (1, 1, vec![]));
        assert_eq!(index.events(id).await.expect("events").len(), 2);
    }
}
