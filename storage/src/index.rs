//! The evidence index: one row per evidence (the current record) and an append-only table
//! of events (its history). PostgreSQL in production, SQLite embedded; both through
//! sqlx's `Any` driver, so the queries are written once and only the DDL differs.

use async_trait::async_trait;
use caregate_schemas::{Decision, EventKind, EvidenceEvent, EvidenceId, EvidenceRecord, Sha256Digest, Status, SubmissionId, Verdict, Verification};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use crate::sql::{parse_ts, ts};
use crate::StorageError;

/// Records and their history.
///
/// Contract: every write that changes a record appends its event in the same
/// transaction, so the history never disagrees with the record. Moving a record to a
/// terminal state happens at most once ([`EvidenceIndex::finish`] returns `false` on a
/// second call and changes nothing), which is what makes a redelivered job harmless.
#[async_trait]
pub trait EvidenceIndex: Send + Sync + 'static {
    /// Records a file just received in quarantine. Calling it again with the same
    /// evidence id changes nothing.
    async fn record_received(&self, rec: &EvidenceRecord) -> Result<(), StorageError>;
    async fn get(&self, id: EvidenceId) -> Result<Option<EvidenceRecord>, StorageError>;
    /// Moves a `received` record to the terminal state `rec.status` with its results, and
    /// appends an event of that name with `detail`. Returns `false` if the record was
    /// already terminal (nothing is written then).
    async fn finish(&self, rec: &EvidenceRecord, detail: Value) -> Result<bool, StorageError>;
    /// Notes a failed attempt that will be retried.
    async fn record_retry(&self, id: EvidenceId, attempts: u32, reason: &str) -> Result<(), StorageError>;
    async fn submission(&self, id: SubmissionId) -> Result<Vec<EvidenceRecord>, StorageError>;
    async fn events(&self, id: EvidenceId) -> Result<Vec<EvidenceEvent>, StorageError>;
    /// Records still `received`, oldest first.
    async fn unfinished(&self, limit: u32) -> Result<Vec<EvidenceRecord>, StorageError>;
    /// Records still `received` with nothing recorded on them for `idle` (no upload, no
    /// retry): their job was most likely lost.
    async fn stale(&self, idle: std::time::Duration, limit: u32) -> Result<Vec<EvidenceRecord>, StorageError>;
    /// How many records stand in each status.
    async fn count_by_status(&self) -> Result<Vec<(Status, u64)>, StorageError>;
    /// Every submission with at least one record, oldest first.
    async fn submission_ids(&self) -> Result<Vec<SubmissionId>, StorageError>;
    /// Finished records of *other* submissions than `exclude` that hold one of these
    /// contents or one of these invoice keys ([`EvidenceRecord::invoice_key`]).
    async fn same_documents(&self, exclude: SubmissionId, hashes: &[Sha256Digest], invoice_keys: &[String]) -> Result<Vec<EvidenceRecord>, StorageError>;
    /// Records `stored` or `needs_review` (the latter may be held in quarantine: no
    /// `object_key`), received at or after `since`, in receipt order, `limit` at a time
    /// after the record `after` (keyset paging).
    async fn stored_records(&self, since: Option<DateTime<Utc>>, after: Option<&EvidenceRecord>, limit: u32) -> Result<Vec<EvidenceRecord>, StorageError>;
    /// Appends an event to an evidence's history (a fixity failure, a decision...).
    async fn record_event(&self, id: EvidenceId, kind: EventKind, detail: Value) -> Result<(), StorageError>;
    /// Walks the whole history recomputing its hash chain: every event carries the hash
    /// of the one before, and the chain's head the hash of the last.
    async fn verify_event_chain(&self) -> Result<ChainReport, StorageError>;
    /// How far a submission is: its files, those still pending, and when it was last
    /// judged. Two small queries, for deciding whether to judge it now.
    async fn submission_progress(&self, id: SubmissionId) -> Result<SubmissionProgress, StorageError>;
    /// Makes `v` the submission's current verification, and appends it to its history in
    /// the same transaction, unless the current one was judged on a newer view of the
    /// submission (a later `basis`) or concludes the same. Returns whether it was stored;
    /// so two workers finishing files of one submission at once cannot leave the older
    /// view in place, and a redelivery stores nothing.
    async fn put_verification(&self, v: &Verification) -> Result<bool, StorageError>;
    async fn verification(&self, id: SubmissionId) -> Result<Option<Verification>, StorageError>;
    /// The current verification when it is final (no file pending) and has not been
    /// announced yet.
    async fn unannounced(&self, id: SubmissionId) -> Result<Option<Verification>, StorageError>;
    /// Notes that the verification concluding `conclusions` was announced.
    async fn mark_announced(&self, id: SubmissionId, conclusions: &str) -> Result<(), StorageError>;
    /// Every verification stored for the submission, oldest first.
    async fn verification_history(&self, id: SubmissionId) -> Result<Vec<Verification>, StorageError>;
    /// Current verifications with this overall verdict, oldest first (the controllers'
    /// work list when `NeedsReview`).
    async fn verifications_with(&self, verdict: Verdict, limit: u32) -> Result<Vec<Verification>, StorageError>;
    /// Records a controller's decision, and appends it to the audit log (under the
    /// submission's id) in the same transaction.
    async fn put_decision(&self, d: &Decision) -> Result<(), StorageError>;
    /// Every decision on the submission, oldest first.
    async fn decisions(&self, id: SubmissionId) -> Result<Vec<Decision>, StorageError>;
    /// Keeps the text extracted from a file, for full-text search and the console's
    /// preview. Writing it again replaces it (a redelivered job).
    async fn put_text(&self, id: EvidenceId, text: &str) -> Result<(), StorageError>;
    async fn text(&self, id: EvidenceId) -> Result<Option<String>, StorageError>;
    /// Finished records matching every criterion of `q`, in receipt order.
    async fn search(&self, q: &SearchQuery) -> Result<Vec<EvidenceRecord>, StorageError>;
    /// Notes that the record's stored object was deleted (after its retention), by whom.
    async fn mark_deleted(&self, id: EvidenceId, actor: &str) -> Result<(), StorageError>;
    fn describe(&self) -> String;
}

/// What archivists search by; every criterion given must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchQuery {
    /// FINESS number.
    pub establishment: Option<String>,
    /// Keys of [`EvidenceRecord::search_keys`] (`siren:…`, `siret:…`, `invoice_number:…`,
    /// `objective:…`, `kind:…`).
    pub keys: Vec<String>,
    pub status: Option<Status>,
    pub received_from: Option<DateTime<Utc>>,
    pub received_before: Option<DateTime<Utc>>,
    /// Words to find in the extracted text (French stemming on PostgreSQL, accent- and
    /// case-blind prefix match on SQLite).
    pub text: Option<String>,
    /// Limits results to establishments of these départements (a controller's regions).
    pub departements: Option<Vec<String>>,
    pub limit: u32,
}

/// What the hash chain check found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainReport {
    /// Events checked.
    pub events: u64,
    /// Events written before the chain existed (no hash).
    pub unchained: u64,
    pub problems: Vec<ChainProblem>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainProblem {
    /// The event's content no longer gives its hash: it was changed.
    Changed { seq: i64 },
    /// The event does not follow the one before it: events between were removed or
    /// reordered.
    Broken { seq: i64 },
    /// The chain's head names a later event than the last one found: the newest events
    /// were removed.
    TailMissing,
}

impl std::fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainProblem::Changed { seq } => write!(f, "event {seq} was changed after it was written"),
            ChainProblem::Broken { seq } => write!(f, "the chain breaks before event {seq}: an event before it was removed or moved"),
            ChainProblem::TailMissing => write!(f, "the newest events were removed (the chain's head names an event that is not there)"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubmissionProgress {
    pub files: u64,
    pub pending: u64,
    pub verified_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dialect {
    Postgres,
    Sqlite,
}

/// [`EvidenceIndex`] over PostgreSQL or SQLite.
#[derive(Clone, Debug)]
pub struct SqlIndex {
    pool: AnyPool,
    dialect: Dialect,
    url_redacted: String,
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
];

/// Serialises concurrent schema set-up by several workers starting at once.
const MIGRATION_LOCK: i64 = 0x6361_7265_6761_7465;

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
        let pool = AnyPoolOptions::new().max_connections(max_connections).acquire_timeout(std::time::Duration::from_secs(10)).connect(url).await?;
        let index = Self { pool, dialect, url_redacted: redact(url) };
        index.migrate().await?;
        Ok(index)
    }

    async fn migrate(&self) -> Result<(), StorageError> {
        let mut conn = self.pool.acquire().await?;
        let (seq, extra) = match self.dialect {
            Dialect::Postgres => {
                sqlx::query(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).execute(&mut *conn).await?;
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
        let statements = COMMON_DDL
            .iter()
            .copied()
            .chain(crate::sql::ACCOUNTS_DDL.iter().copied())
            .chain([events.as_str(), EVENTS_INDEX, history.as_str(), HISTORY_INDEX, decisions.as_str(), DECISIONS_INDEX])
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
            sqlx::query(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).execute(&mut *conn).await?;
        }
        result
    }

    /// Event tables made before the hash chain lack its two columns; their old events
    /// stay unchained (reported as such by the chain check).
    async fn add_chain_columns(&self, conn: &mut sqlx::AnyConnection) -> Result<(), StorageError> {
        for column in ["prev_hash", "hash"] {
            let present: i64 = match self.dialect {
                Dialect::Postgres => {
                    sqlx::query("SELECT COUNT(*) AS n FROM information_schema.columns WHERE table_name = 'evidence_events' AND column_name = $1")
                }
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

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    fn row_to_record(row: &AnyRow) -> Result<EvidenceRecord, StorageError> {
        let json: String = row.try_get("record")?;
        let mut rec: EvidenceRecord = serde_json::from_str(&json).map_err(|e| StorageError::Corrupt(format!("record: {e}")))?;
        // Columns updated on their own (retries) win over the JSON snapshot.
        let status: String = row.try_get("status")?;
        rec.status = status.parse().map_err(|e| StorageError::Corrupt(format!("{e}")))?;
        rec.attempts = row.try_get::<i64, _>("attempts")? as u32;
        rec.updated_at = parse_ts(&row.try_get::<String, _>("updated_at")?)?;
        Ok(rec)
    }

    async fn select_records(&self, sql: &str, arg: String) -> Result<Vec<EvidenceRecord>, StorageError> {
        self.select_records_by(sql, [arg]).await
    }

    async fn select_records_by(&self, sql: &str, args: impl IntoIterator<Item = String>) -> Result<Vec<EvidenceRecord>, StorageError> {
        let mut query = sqlx::query(sql);
        for a in args {
            query = query.bind(a);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(Self::row_to_record).collect()
    }

    /// Rows of a `document` column holding JSON (verifications, decisions).
    async fn select_documents<T: serde::de::DeserializeOwned>(&self, sql: &str, args: Vec<String>) -> Result<Vec<T>, StorageError> {
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

/// The words of a user's query as an FTS5 expression: each word quoted (FTS5 syntax in
/// the input is not interpreted) and matched as a prefix, all required.
fn fts5_query(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(|w| format!("\"{w}\"*")).collect::<Vec<_>>().join(" ")
}

/// `$first, $first+1, ...`: `n` numbered placeholders.
fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

fn to_json(rec: &EvidenceRecord) -> Result<String, StorageError> {
    serde_json::to_string(rec).map_err(|e| StorageError::Corrupt(format!("record: {e}")))
}

/// The hash of one event in the chain: it covers the previous event's hash, so changing,
/// removing or reordering an event breaks every hash after it.
pub fn event_hash(prev_hash: &str, evidence_id: &str, kind: &str, detail: &str, at: &str) -> String {
    Sha256Digest::of(format!("{prev_hash}\n{evidence_id}\n{kind}\n{detail}\n{at}").as_bytes()).hex()
}

/// Appends an event inside the caller's transaction, chained to the one before. Taking
/// the chain head's row first makes concurrent appends wait their turn, so sequence order
/// is chain order. The subject is an evidence's id, or a submission's for what concerns
/// the whole dossier (decisions); both are UUIDs that never collide.
async fn append_event(
    conn: &mut sqlx::AnyConnection,
    id: impl std::fmt::Display,
    kind: EventKind,
    detail: &Value,
    at: DateTime<Utc>,
) -> Result<(), StorageError> {
    let kind = kind.as_str();
    sqlx::query("UPDATE event_chain SET last_hash = last_hash WHERE id = 1").execute(&mut *conn).await?;
    let prev: String = sqlx::query("SELECT last_hash FROM event_chain WHERE id = 1").fetch_one(&mut *conn).await?.try_get("last_hash")?;
    let (id, detail, at) = (id.to_string(), detail.to_string(), ts(at));
    let hash = event_hash(&prev, &id, kind, &detail, &at);
    sqlx::query("INSERT INTO evidence_events (evidence_id, kind, detail, at, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id)
        .bind(kind.to_owned())
        .bind(detail)
        .bind(at)
        .bind(prev)
        .bind(hash.clone())
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE event_chain SET last_hash = $1 WHERE id = 1").bind(hash).execute(&mut *conn).await?;
    Ok(())
}
const RECORD_COLUMNS: &str = "record, status, attempts, updated_at";

#[async_trait]
impl EvidenceIndex for SqlIndex {
    async fn record_received(&self, rec: &EvidenceRecord) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO evidence (evidence_id, submission_id, establishment, campaign, path, status,
                                   sha256, size, attempts, received_at, updated_at, record)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (evidence_id) DO NOTHING",
        )
        .bind(rec.evidence_id.to_string())
        .bind(rec.submission.submission_id.to_string())
        .bind(rec.submission.establishment.clone())
        .bind(rec.submission.campaign.clone())
        .bind(rec.path.clone())
        .bind(rec.status.as_str())
        .bind(rec.sha256.hex())
        .bind(rec.size as i64)
        .bind(rec.attempts as i64)
        .bind(ts(rec.received_at))
        .bind(ts(rec.updated_at))
        .bind(to_json(rec)?)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 1 {
            let detail = json!({"path": rec.path, "sha256": rec.sha256, "size": rec.size,
                                "quarantine_key": rec.quarantine_key, "actor": rec.uploaded_by});
            append_event(&mut tx, rec.evidence_id, EventKind::Received, &detail, rec.received_at).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn get(&self, id: EvidenceId) -> Result<Option<EvidenceRecord>, StorageError> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM evidence WHERE evidence_id = $1");
        Ok(self.select_records(&sql, id.to_string()).await?.pop())
    }

    async fn finish(&self, rec: &EvidenceRecord, detail: Value) -> Result<bool, StorageError> {
        if !rec.status.is_terminal() {
            return Err(StorageError::rejected("index", "finish needs a terminal status"));
        }
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE evidence SET status = $1, attempts = $2, updated_at = $3, record = $4
             WHERE evidence_id = $5 AND status = 'received'",
        )
        .bind(rec.status.as_str())
        .bind(rec.attempts as i64)
        .bind(ts(now))
        .bind(to_json(rec)?)
        .bind(rec.evidence_id.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 1 {
            append_event(&mut tx, rec.evidence_id, EventKind::Finished(rec.status), &detail, now).await?;
            for key in rec.search_keys() {
                sqlx::query("INSERT INTO evidence_keys (key, evidence_id, submission_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                    .bind(key)
                    .bind(rec.evidence_id.to_string())
                    .bind(rec.submission.submission_id.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(changed == 1)
    }

    async fn record_retry(&self, id: EvidenceId, attempts: u32, reason: &str) -> Result<(), StorageError> {
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query("UPDATE evidence SET attempts = $1, updated_at = $2 WHERE evidence_id = $3 AND status = 'received'")
            .bind(attempts as i64)
            .bind(ts(now))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed == 1 {
            append_event(&mut tx, id, EventKind::Retry, &json!({"attempt": attempts, "reason": reason}), now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn submission(&self, id: SubmissionId) -> Result<Vec<EvidenceRecord>, StorageError> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM evidence WHERE submission_id = $1 ORDER BY received_at, evidence_id");
        self.select_records(&sql, id.to_string()).await
    }

    async fn events(&self, id: EvidenceId) -> Result<Vec<EvidenceEvent>, StorageError> {
        let rows = sqlx::query("SELECT seq, kind, detail, at FROM evidence_events WHERE evidence_id = $1 ORDER BY seq")
            .bind(id.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let detail: String = row.try_get("detail")?;
                Ok(EvidenceEvent {
                    seq: row.try_get("seq")?,
                    evidence_id: id,
                    kind: row.try_get("kind")?,
                    detail: serde_json::from_str(&detail).map_err(|e| StorageError::Corrupt(format!("event: {e}")))?,
                    at: parse_ts(&row.try_get::<String, _>("at")?)?,
                })
            })
            .collect()
    }

    async fn unfinished(&self, limit: u32) -> Result<Vec<EvidenceRecord>, StorageError> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM evidence WHERE status = $1 ORDER BY received_at, evidence_id LIMIT {limit}");
        self.select_records(&sql, Status::Received.as_str().to_owned()).await
    }

    async fn stale(&self, idle: std::time::Duration, limit: u32) -> Result<Vec<EvidenceRecord>, StorageError> {
        let cutoff = Utc::now() - chrono::Duration::from_std(idle).unwrap_or(chrono::Duration::zero());
        // Timestamps are written in one fixed RFC 3339 form, so text order is time order.
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM evidence WHERE status = 'received' AND updated_at <= $1
             ORDER BY updated_at LIMIT {limit}"
        );
        self.select_records(&sql, ts(cutoff)).await
    }

    async fn count_by_status(&self) -> Result<Vec<(Status, u64)>, StorageError> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM evidence GROUP BY status ORDER BY status").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let st: String = row.try_get("status")?;
                let n: i64 = row.try_get("n")?;
                Ok((st.parse().map_err(|e| StorageError::Corrupt(format!("{e}")))?, n as u64))
            })
            .collect()
    }

    async fn submission_ids(&self) -> Result<Vec<SubmissionId>, StorageError> {
        let rows = sqlx::query("SELECT submission_id, MIN(received_at) AS first FROM evidence GROUP BY submission_id ORDER BY first, submission_id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("submission_id")?;
                id.parse().map_err(|e| StorageError::Corrupt(format!("submission id {id:?}: {e}")))
            })
            .collect()
    }

    async fn same_documents(&self, exclude: SubmissionId, hashes: &[Sha256Digest], invoice_keys: &[String]) -> Result<Vec<EvidenceRecord>, StorageError> {
        let mut found: Vec<EvidenceRecord> = Vec::new();
        let lookups = [
            (
                format!("SELECT {RECORD_COLUMNS} FROM evidence WHERE submission_id <> $1 AND status <> 'received' AND sha256 IN"),
                hashes.iter().map(Sha256Digest::hex).collect::<Vec<_>>(),
            ),
            (
                "SELECT e.record, e.status, e.attempts, e.updated_at FROM evidence_keys k
                 JOIN evidence e ON e.evidence_id = k.evidence_id WHERE k.submission_id <> $1 AND k.key IN"
                    .to_owned(),
                invoice_keys.to_vec(),
            ),
        ];
        for (select, values) in lookups {
            // A few hundred values per statement: one round trip for a whole dossier.
            for chunk in values.chunks(200) {
                let sql = format!("{select} ({})", placeholders(2, chunk.len()));
                found.extend(self.select_records_by(&sql, std::iter::once(exclude.to_string()).chain(chunk.iter().cloned())).await?);
            }
        }
        found.sort_by_key(|r| (r.received_at, r.evidence_id));
        found.dedup_by_key(|r| r.evidence_id);
        Ok(found)
    }

    async fn stored_records(&self, since: Option<DateTime<Utc>>, after: Option<&EvidenceRecord>, limit: u32) -> Result<Vec<EvidenceRecord>, StorageError> {
        // Timestamps are written in one fixed RFC 3339 form, so text order is time order.
        let (from_ts, from_id) = match after {
            Some(rec) => (ts(rec.received_at), rec.evidence_id.to_string()),
            None => (since.map(ts).unwrap_or_default(), String::new()),
        };
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM evidence
             WHERE status IN ('stored', 'needs_review') AND (received_at > $1 OR (received_at = $1 AND evidence_id > $2))
             ORDER BY received_at, evidence_id LIMIT {limit}"
        );
        self.select_records_by(&sql, [from_ts, from_id]).await
    }

    async fn record_event(&self, id: EvidenceId, kind: EventKind, detail: Value) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
        append_event(&mut tx, id, kind, &detail, Utc::now()).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn verify_event_chain(&self) -> Result<ChainReport, StorageError> {
        let mut report = ChainReport::default();
        let mut prev: Option<String> = None;
        let mut after = 0i64;
        // Page by sequence: memory stays flat however long the history.
        loop {
            let rows = sqlx::query("SELECT seq, evidence_id, kind, detail, at, prev_hash, hash FROM evidence_events WHERE seq > $1 ORDER BY seq LIMIT 1000")
                .bind(after)
                .fetch_all(&self.pool)
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("seq")?;
            for row in &rows {
                let seq: i64 = row.try_get("seq")?;
                let (Some(prev_hash), Some(hash)) = (row.try_get::<Option<String>, _>("prev_hash")?, row.try_get::<Option<String>, _>("hash")?) else {
                    report.unchained += 1;
                    continue;
                };
                report.events += 1;
                if let Some(expected) = &prev {
                    if &prev_hash != expected {
                        report.problems.push(ChainProblem::Broken { seq });
                    }
                }
                let recomputed = event_hash(
                    &prev_hash,
                    &row.try_get::<String, _>("evidence_id")?,
                    &row.try_get::<String, _>("kind")?,
                    &row.try_get::<String, _>("detail")?,
                    &row.try_get::<String, _>("at")?,
                );
                if recomputed != hash {
                    report.problems.push(ChainProblem::Changed { seq });
                }
                prev = Some(hash);
            }
        }
        let head: String = sqlx::query("SELECT last_hash FROM event_chain WHERE id = 1").fetch_one(&self.pool).await?.try_get("last_hash")?;
        if prev.as_deref().unwrap_or("") != head {
            report.problems.push(ChainProblem::TailMissing);
        }
        Ok(report)
    }

    async fn submission_progress(&self, id: SubmissionId) -> Result<SubmissionProgress, StorageError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS files, COALESCE(SUM(CASE WHEN status = 'received' THEN 1 ELSE 0 END), 0) AS pending
             FROM evidence WHERE submission_id = $1",
        )
        .bind(id.to_string())
        .fetch_one(&self.pool)
        .await?;
        let verified_at = sqlx::query("SELECT computed_at FROM verifications WHERE submission_id = $1")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get::<String, _>("computed_at"))
            .transpose()?
            .map(|t| parse_ts(&t))
            .transpose()?;
        Ok(SubmissionProgress { files: row.try_get::<i64, _>("files")? as u64, pending: row.try_get::<i64, _>("pending")? as u64, verified_at })
    }

    async fn put_verification(&self, v: &Verification) -> Result<bool, StorageError> {
        let document = serde_json::to_string(v).map_err(|e| StorageError::Corrupt(format!("verification: {e}")))?;
        let mut tx = self.pool.begin().await?;
        // One statement decides, so concurrent writers cannot both think they are newer.
        let changed = sqlx::query(
            "INSERT INTO verifications (submission_id, establishment, campaign, referential_version, basis,
                                        conclusions, verdict, pending, computed_at, document)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (submission_id) DO UPDATE SET
                establishment = excluded.establishment, campaign = excluded.campaign,
                referential_version = excluded.referential_version, basis = excluded.basis,
                conclusions = excluded.conclusions, verdict = excluded.verdict, pending = excluded.pending,
                computed_at = excluded.computed_at, document = excluded.document
             WHERE verifications.basis < excluded.basis
                OR (verifications.basis = excluded.basis AND verifications.conclusions <> excluded.conclusions)",
        )
        .bind(v.submission_id.to_string())
        .bind(v.establishment.clone())
        .bind(v.campaign.clone())
        .bind(v.referential_version.clone())
        .bind(v.basis.clone())
        .bind(v.conclusions_digest())
        .bind(v.verdict.as_str())
        .bind(v.pending as i64)
        .bind(ts(v.computed_at))
        .bind(document.clone())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 1 {
            sqlx::query("INSERT INTO verification_history (submission_id, document, at) VALUES ($1, $2, $3)")
                .bind(v.submission_id.to_string())
                .bind(document)
                .bind(ts(v.computed_at))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(changed == 1)
    }

    async fn verification(&self, id: SubmissionId) -> Result<Option<Verification>, StorageError> {
        Ok(self.select_documents("SELECT document FROM verifications WHERE submission_id = $1", vec![id.to_string()]).await?.pop())
    }

    async fn unannounced(&self, id: SubmissionId) -> Result<Option<Verification>, StorageError> {
        let sql = "SELECT document FROM verifications
                   WHERE submission_id = $1 AND pending = 0 AND (announced IS NULL OR announced <> conclusions)";
        Ok(self.select_documents(sql, vec![id.to_string()]).await?.pop())
    }

    async fn mark_announced(&self, id: SubmissionId, conclusions: &str) -> Result<(), StorageError> {
        sqlx::query("UPDATE verifications SET announced = $1 WHERE submission_id = $2")
            .bind(conclusions.to_owned())
            .bind(id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn verification_history(&self, id: SubmissionId) -> Result<Vec<Verification>, StorageError> {
        self.select_documents("SELECT document FROM verification_history WHERE submission_id = $1 ORDER BY seq", vec![id.to_string()]).await
    }

    async fn verifications_with(&self, verdict: Verdict, limit: u32) -> Result<Vec<Verification>, StorageError> {
        let sql = format!("SELECT document FROM verifications WHERE verdict = $1 ORDER BY computed_at, submission_id LIMIT {limit}");
        self.select_documents(&sql, vec![verdict.as_str().to_owned()]).await
    }

    async fn put_decision(&self, d: &Decision) -> Result<(), StorageError> {
        let document = serde_json::to_value(d).map_err(|e| StorageError::Corrupt(format!("decision: {e}")))?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO decisions (submission_id, objective, document, at) VALUES ($1, $2, $3, $4)")
            .bind(d.submission_id.to_string())
            .bind(d.objective.clone())
            .bind(document.to_string())
            .bind(ts(d.decided_at))
            .execute(&mut *tx)
            .await?;
        append_event(&mut tx, d.submission_id, EventKind::Decision, &document, d.decided_at).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn decisions(&self, id: SubmissionId) -> Result<Vec<Decision>, StorageError> {
        self.select_documents("SELECT document FROM decisions WHERE submission_id = $1 ORDER BY seq", vec![id.to_string()]).await
    }

    async fn put_text(&self, id: EvidenceId, text: &str) -> Result<(), StorageError> {
        // NUL bytes are refused by PostgreSQL text and mean nothing to a reader.
        let body = text.replace('\0', " ");
        match self.dialect {
            Dialect::Postgres => {
                sqlx::query("INSERT INTO evidence_text (evidence_id, body) VALUES ($1, $2) ON CONFLICT (evidence_id) DO UPDATE SET body = excluded.body")
                    .bind(id.to_string())
                    .bind(body)
                    .execute(&self.pool)
                    .await?;
            }
            Dialect::Sqlite => {
                let mut tx = self.pool.begin().await?;
                // A write first takes SQLite's write lock (waiting its turn); the FTS
                // delete reads before it writes, and a read-then-write transaction fails
                // at once when another writer committed in between.
                sqlx::query("UPDATE event_chain SET last_hash = last_hash WHERE id = 1").execute(&mut *tx).await?;
                sqlx::query("DELETE FROM evidence_fts WHERE evidence_id = $1").bind(id.to_string()).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO evidence_fts (evidence_id, body) VALUES ($1, $2)").bind(id.to_string()).bind(body).execute(&mut *tx).await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    async fn text(&self, id: EvidenceId) -> Result<Option<String>, StorageError> {
        let sql = match self.dialect {
            Dialect::Postgres => "SELECT body FROM evidence_text WHERE evidence_id = $1",
            Dialect::Sqlite => "SELECT body FROM evidence_fts WHERE evidence_id = $1",
        };
        Ok(sqlx::query(sql).bind(id.to_string()).fetch_optional(&self.pool).await?.map(|r| r.try_get("body")).transpose()?)
    }

    async fn search(&self, q: &SearchQuery) -> Result<Vec<EvidenceRecord>, StorageError> {
        let mut sql = format!("SELECT {RECORD_COLUMNS} FROM evidence e WHERE e.status <> 'received'");
        let mut args: Vec<String> = Vec::new();
        let arg = |args: &mut Vec<String>, v: String| {
            args.push(v);
            format!("${}", args.len())
        };
        if let Some(finess) = &q.establishment {
            let p = arg(&mut args, finess.clone());
            sql += &format!(" AND e.establishment = {p}");
        }
        if let Some(status) = q.status {
            let p = arg(&mut args, status.as_str().to_owned());
            sql += &format!(" AND e.status = {p}");
        }
        // Timestamps are written in one fixed RFC 3339 form, so text order is time order.
        if let Some(from) = q.received_from {
            let p = arg(&mut args, ts(from));
            sql += &format!(" AND e.received_at >= {p}");
        }
        if let Some(before) = q.received_before {
            let p = arg(&mut args, ts(before));
            sql += &format!(" AND e.received_at < {p}");
        }
        for key in &q.keys {
            let p = arg(&mut args, key.clone());
            sql += &format!(" AND e.evidence_id IN (SELECT evidence_id FROM evidence_keys WHERE key = {p})");
        }
        if let Some(deps) = &q.departements {
            if deps.is_empty() {
                return Ok(Vec::new());
            }
            let likes: Vec<String> = deps
                .iter()
                .map(|d| {
                    // Overseas FINESS numbers write département 974 as `9704…`.
                    let prefix = match d.strip_prefix("97") {
                        Some(last) if !last.is_empty() => format!("970{last}%"),
                        _ => format!("{d}%"),
                    };
                    format!("e.establishment LIKE {}", arg(&mut args, prefix))
                })
                .collect();
            sql += &format!(" AND ({})", likes.join(" OR "));
        }
        if let Some(text) = q.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            match self.dialect {
                Dialect::Postgres => {
                    let p = arg(&mut args, text.to_owned());
                    sql += &format!(" AND e.evidence_id IN (SELECT evidence_id FROM evidence_text WHERE tsv @@ websearch_to_tsquery('french', {p}))");
                }
                Dialect::Sqlite => {
                    let expr = fts5_query(text);
                    if expr.is_empty() {
                        return Ok(Vec::new());
                    }
                    let p = arg(&mut args, expr);
                    sql += &format!(" AND e.evidence_id IN (SELECT evidence_id FROM evidence_fts WHERE evidence_fts MATCH {p})");
                }
            }
        }
        sql += &format!(" ORDER BY e.received_at, e.evidence_id LIMIT {}", q.limit.clamp(1, 10_000));
        self.select_records_by(&sql, args).await
    }

    async fn mark_deleted(&self, id: EvidenceId, actor: &str) -> Result<(), StorageError> {
        let Some(mut rec) = self.get(id).await? else {
            return Err(StorageError::NotFound(format!("evidence {id}")));
        };
        let key = rec.object_key.take();
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE evidence SET record = $1, updated_at = $2 WHERE evidence_id = $3")
            .bind(to_json(&rec)?)
            .bind(ts(now))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        append_event(&mut tx, id, EventKind::Deleted, &json!({"object_key": key, "actor": actor, "retain_until": rec.retain_until}), now).await?;
        tx.commit().await?;
        Ok(())
    }

    fn describe(&self) -> String {
        let engine = match self.dialect {
            Dialect::Postgres => "PostgreSQL",
            Dialect::Sqlite => "SQLite",
        };
        format!("{engine} {}", self.url_redacted)
    }
}
