//! The SQL index's own ground: the connection pool and dialect, the schema and its
//! migration, and the row helpers every concern's queries share.

use caregate_schemas::EvidenceRecord;
use sqlx::any::{AnyPoolOptions, AnyRow};
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

const COMMON_DDL: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS evidence (
        evidence_id TEXT PRIMARY KEY,
        submission_id TEXT NOT NULL,
        establishment TEXT NOT NULL,
        campaign TEXT NOT NULL,
        path TEXT NOT NULL,
        status TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        size BIGINT NOT NULL,
        attempts BIGINT NOT NULL DEFAULT 0,
        received_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        record TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS evidence_submission ON evidence (submission_id)",
    // Idempotency keys of uploads (caller, client key, file), each naming its evidence.
    "CREATE TABLE IF NOT EXISTS upload_keys (key TEXT PRIMARY KEY, evidence_id TEXT NOT NULL)",
    // Counting a submission's pending files after every job reads the index only.
    "CREATE INDEX IF NOT EXISTS evidence_submission_status ON evidence (submission_id, status)",
    "CREATE INDEX IF NOT EXISTS evidence_status ON evidence (status, received_at)",
    "CREATE INDEX IF NOT EXISTS evidence_sha256 ON evidence (sha256)",
    // Keys that find the same document in other files (seller SIREN + invoice number).
    "CREATE TABLE IF NOT EXISTS evidence_keys (
        key TEXT NOT NULL,
        evidence_id TEXT NOT NULL,
        submission_id TEXT NOT NULL,
        PRIMARY KEY (key, evidence_id)
    )",
    "CREATE TABLE IF NOT EXISTS verifications (
        submission_id TEXT PRIMARY KEY,
        establishment TEXT NOT NULL,
        campaign TEXT NOT NULL,
        referential_version TEXT NOT NULL,
        basis TEXT NOT NULL,
        conclusions TEXT NOT NULL,
        verdict TEXT NOT NULL,
        pending BIGINT NOT NULL,
        computed_at TEXT NOT NULL,
        document TEXT NOT NULL,
        announced TEXT
    )",
    "CREATE INDEX IF NOT EXISTS verifications_verdict ON verifications (verdict, computed_at)",
    // The head of the events' hash chain: the hash of the last event appended. Every
    // event-writing transaction updates this one row first, which serialises appends.
    "CREATE TABLE IF NOT EXISTS event_chain (id INTEGER PRIMARY KEY, last_hash TEXT NOT NULL)",
    "INSERT INTO event_chain (id, last_hash) VALUES (1, '') ON CONFLICT DO NOTHING",
    "CREATE INDEX IF NOT EXISTS evidence_keys_evidence ON evidence_keys (evidence_id)",
    // Each submission's owner, fixed by its first file (see `submissions`).
    "CREATE TABLE IF NOT EXISTS submissions (
        submission_id TEXT PRIMARY KEY,
        establishment TEXT NOT NULL,
        campaign TEXT NOT NULL,
        created_at TEXT NOT NULL
    )",
    // Databases made before the table: each submission is its first file's.
    "INSERT INTO submissions (submission_id, establishment, campaign, created_at)
     SELECT e.submission_id, e.establishment, e.campaign, e.received_at FROM evidence e
     WHERE NOT EXISTS (SELECT 1 FROM submissions s WHERE s.submission_id = e.submission_id)
       AND NOT EXISTS (SELECT 1 FROM evidence f WHERE f.submission_id = e.submission_id
                       AND (f.received_at < e.received_at OR (f.received_at = e.received_at AND f.evidence_id < e.evidence_id)))
     ON CONFLICT (submission_id) DO NOTHING",
];

/// The events table; only its sequence column is written differently by each engine.
const EVENTS_DDL: &str = "CREATE TABLE IF NOT EXISTS evidence_events (
        seq @SEQ@,
        evidence_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL,
        at TEXT NOT NULL,
        prev_hash TEXT,
        hash TEXT
    )";
const EVENTS_INDEX: &str = "CREATE INDEX IF NOT EXISTS evidence_events_evidence ON evidence_events (evidence_id, seq)";
const HISTORY_DDL: &str = "CREATE TABLE IF NOT EXISTS verification_history (
        seq @SEQ@,
        submission_id TEXT NOT NULL,
        document TEXT NOT NULL,
        at TEXT NOT NULL
    )";
const DECISIONS_DDL: &str = "CREATE TABLE IF NOT EXISTS decisions (
        seq @SEQ@,
        submission_id TEXT NOT NULL,
        objective TEXT NOT NULL,
        document TEXT NOT NULL,
        at TEXT NOT NULL
    )";
// Messages for the broker, written with the change they carry (see `outbox`).
const OUTBOX_DDL: &str = "CREATE TABLE IF NOT EXISTS outbox (
        seq @SEQ@,
        topic TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at TEXT NOT NULL,
        claimed_until TEXT
    )";
const OUTBOX_INDEX: &str = "CREATE INDEX IF NOT EXISTS outbox_claim ON outbox (claimed_until, seq)";
const DECISIONS_INDEX: &str = "CREATE INDEX IF NOT EXISTS decisions_submission ON decisions (submission_id, seq)";
const HISTORY_INDEX: &str = "CREATE INDEX IF NOT EXISTS verification_history_submission ON verification_history (submission_id, seq)";

const POSTGRES_DDL: &[&str] = &[
    // Full text with the French configuration: stemming (`factures` finds `facture`) and
    // French stop words.
    "CREATE TABLE IF NOT EXISTS evidence_text (
        evidence_id TEXT PRIMARY KEY,
        body TEXT NOT NULL,
        tsv tsvector GENERATED ALWAYS AS (to_tsvector('french', body)) STORED
    )",
    "CREATE INDEX IF NOT EXISTS evidence_text_tsv ON evidence_text USING GIN (tsv)",
    "CREATE OR REPLACE FUNCTION caregate_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$",
    "DROP TRIGGER IF EXISTS evidence_events_append_only ON evidence_events",
    "CREATE TRIGGER evidence_events_append_only BEFORE UPDATE OR DELETE ON evidence_events
     FOR EACH ROW EXECUTE FUNCTION caregate_append_only()",
    "DROP TRIGGER IF EXISTS verification_history_append_only ON verification_history",
    "CREATE TRIGGER verification_history_append_only BEFORE UPDATE OR DELETE ON verification_history
     FOR EACH ROW EXECUTE FUNCTION caregate_append_only()",
    "DROP TRIGGER IF EXISTS decisions_append_only ON decisions",
    "CREATE TRIGGER decisions_append_only BEFORE UPDATE OR DELETE ON decisions
     FOR EACH ROW EXECUTE FUNCTION caregate_append_only()",
    // A record names its submission's owner, or is refused: no mixed dossier, whoever
    // writes (check_violation, so it is a refusal, never a retry).
    "CREATE OR REPLACE FUNCTION caregate_submission_owner() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       IF NOT EXISTS (SELECT 1 FROM submissions s WHERE s.submission_id = NEW.submission_id
                      AND s.establishment = NEW.establishment AND s.campaign = NEW.campaign) THEN
         RAISE EXCEPTION 'submission % belongs to another establishment or campaign', NEW.submission_id USING ERRCODE = '23514';
       END IF;
       RETURN NEW;
     END $$",
    "DROP TRIGGER IF EXISTS evidence_submission_owner ON evidence",
    "CREATE TRIGGER evidence_submission_owner BEFORE INSERT OR UPDATE OF submission_id, establishment, campaign ON evidence
     FOR EACH ROW EXECUTE FUNCTION caregate_submission_owner()",
];

const SQLITE_DDL: &[&str] = &[
    // SQLite has no French stemmer: accents and case are folded and words match by
    // prefix instead (see `fts5_query`).
    "CREATE VIRTUAL TABLE IF NOT EXISTS evidence_fts USING fts5(evidence_id UNINDEXED, body, tokenize = 'unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS decisions_no_update BEFORE UPDATE ON decisions
     BEGIN SELECT RAISE(ABORT, 'decisions is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS decisions_no_delete BEFORE DELETE ON decisions
     BEGIN SELECT RAISE(ABORT, 'decisions is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS evidence_events_no_update BEFORE UPDATE ON evidence_events
     BEGIN SELECT RAISE(ABORT, 'evidence_events is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS evidence_events_no_delete BEFORE DELETE ON evidence_events
     BEGIN SELECT RAISE(ABORT, 'evidence_events is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS verification_history_no_update BEFORE UPDATE ON verification_history
     BEGIN SELECT RAISE(ABORT, 'verification_history is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS verification_history_no_delete BEFORE DELETE ON verification_history
     BEGIN SELECT RAISE(ABORT, 'verification_history is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS evidence_submission_owner_insert BEFORE INSERT ON evidence
     WHEN NOT EXISTS (SELECT 1 FROM submissions s WHERE s.submission_id = NEW.submission_id
                      AND s.establishment = NEW.establishment AND s.campaign = NEW.campaign)
     BEGIN SELECT RAISE(ABORT, 'submission belongs to another establishment or campaign'); END",
    "CREATE TRIGGER IF NOT EXISTS evidence_submission_owner_update BEFORE UPDATE OF submission_id, establishment, campaign ON evidence
     WHEN NOT EXISTS (SELECT 1 FROM submissions s WHERE s.submission_id = NEW.submission_id
                      AND s.establishment = NEW.establishment AND s.campaign = NEW.campaign)
     BEGIN SELECT RAISE(ABORT, 'submission belongs to another establishment or campaign'); END",
];

/// Serialises concurrent schema set-up by several workers starting at once, per
/// database: advisory locks are the cluster's, and deployments (or tests) sharing a
/// server must not wait on each other's migrations.
const MIGRATION_LOCK: i32 = 0x6361_7265;

impl SqlIndex {
    /// Connects and brings the schema up to date.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StorageError> {
        sqlx::any::install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            return Err(StorageError::rejected("database", format!("unsupported database URL scheme in {url:?}")));
        };
        let pool = AnyPoolOptions::new().max_connections(max_connections).acquire_timeout(std::time::Duration::from_secs(5)).connect(url).await?;
        let index = Self { pool, dialect, url_redacted: redact(url) };
        index.migrate().await?;
        Ok(index)
    }

    async fn migrate(&self) -> Result<(), StorageError> {
        let mut conn = self.pool.acquire().await?;
        let (seq, extra) = match self.dialect {
            Dialect::Postgres => {
                sqlx::query(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK}, hashtext(current_database()))")).execute(&mut *conn).await?;
                ("BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", POSTGRES_DDL)
            }
            Dialect::Sqlite => {
                // WAL lets readers (status polls) run while the worker writes.
                sqlx::query("PRAGMA journal_mode=WAL").execute(&mut *conn).await?;
                ("INTEGER PRIMARY KEY AUTOINCREMENT", SQLITE_DDL)
            }
        };
        let events = EVENTS_DDL.replace("@SEQ@", seq);
        let history = HISTORY_DDL.replace("@SEQ@", seq);
        let decisions = DECISIONS_DDL.replace("@SEQ@", seq);
        let outbox = OUTBOX_DDL.replace("@SEQ@", seq);
        let statements = COMMON_DDL
            .iter()
            .copied()
            .chain(crate::sql::ACCOUNTS_DDL.iter().copied())
            .chain([crate::logins::LOGINS_DDL])
            .chain([events.as_str(), EVENTS_INDEX, history.as_str(), HISTORY_INDEX, decisions.as_str(), DECISIONS_INDEX, outbox.as_str(), OUTBOX_INDEX])
            .chain(extra.iter().copied());
        let mut result = Ok(());
        for stmt in statements {
            if let Err(e) = sqlx::query(stmt).execute(&mut *conn).await {
                result = Err(e.into());
                break;
            }
        }
        if result.is_ok() {
            result = self.add_chain_columns(&mut conn).await;
        }
        if self.dialect == Dialect::Postgres {
            sqlx::query(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK}, hashtext(current_database()))")).execute(&mut *conn).await?;
        }
        result
    }

    /// Event tables made before the hash chain lack its two columns; their old events
    /// stay unchained (reported as such by the chain check). Account tables made before
    /// OpenID sign-in lack the federated identity's two; their accounts are local.
    async fn add_chain_columns(&self, conn: &mut sqlx::AnyConnection) -> Result<(), StorageError> {
        for (table, column) in [("evidence_events", "prev_hash"), ("evidence_events", "hash"), ("accounts", "issuer"), ("accounts", "subject")] {
            let present: i64 = match self.dialect {
                Dialect::Postgres => sqlx::query("SELECT COUNT(*) AS n FROM information_schema.columns WHERE table_name = $1 AND column_name = $2"),
                Dialect::Sqlite => sqlx::query("SELECT COUNT(*) AS n FROM pragma_table_info($1) WHERE name = $2"),
            }
            .bind(table)
            .bind(column)
            .fetch_one(&mut *conn)
            .await?
            .try_get("n")?;
            if present == 0 {
                sqlx::query(&format!("ALTER TABLE {table} ADD COLUMN {column} TEXT")).execute(&mut *conn).await?;
            }
        }
        Ok(())
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
