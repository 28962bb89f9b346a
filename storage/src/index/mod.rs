//! The evidence index: one row per evidence (the current record) and an append-only table
//! of events (its history). PostgreSQL in production, SQLite embedded; both through
//! sqlx's `Any` driver, so the queries are written once and only the DDL differs.

//!
//! One file per concern: `core` (pool, schema, row helpers), `records`, `chain` (the
//! hash-chained history), `verifications`, `decisions` and `search`. The trait below is
//! the one boundary; [`SqlIndex`] implements it by handing each method to its concern.

mod chain;
mod core;
mod decisions;
mod records;
mod search;
mod verifications;

use async_trait::async_trait;
use caregate_schemas::{Decision, EventKind, EvidenceEvent, EvidenceId, EvidenceRecord, Sha256Digest, Status, SubmissionId, Verdict, Verification};
use chrono::{DateTime, Utc};
use serde_json::Value;

pub use self::chain::{event_hash, ChainProblem, ChainReport};
use self::core::Dialect;
pub use self::core::SqlIndex;
pub use self::search::SearchQuery;
pub use self::verifications::SubmissionProgress;
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
    /// The same under an uploader's idempotency key, atomically: when the key is already
    /// taken nothing is written and the evidence it names is returned, so a client that
    /// retries an upload it got no answer to never makes a second record.
    async fn record_received_once(&self, rec: &EvidenceRecord, key: &str) -> Result<Option<EvidenceId>, StorageError>;
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
    async fn check_chain(&self) -> Result<ChainReport, StorageError>;
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

#[async_trait]
impl EvidenceIndex for SqlIndex {
    async fn record_received(&self, rec: &EvidenceRecord) -> Result<(), StorageError> {
        SqlIndex::record_received(self, rec).await
    }

    async fn record_received_once(&self, rec: &EvidenceRecord, key: &str) -> Result<Option<EvidenceId>, StorageError> {
        SqlIndex::record_received_once(self, rec, key).await
    }

    async fn get(&self, id: EvidenceId) -> Result<Option<EvidenceRecord>, StorageError> {
        SqlIndex::get(self, id).await
    }

    async fn finish(&self, rec: &EvidenceRecord, detail: Value) -> Result<bool, StorageError> {
        SqlIndex::finish(self, rec, detail).await
    }

    async fn record_retry(&self, id: EvidenceId, attempts: u32, reason: &str) -> Result<(), StorageError> {
        SqlIndex::record_retry(self, id, attempts, reason).await
    }

    async fn submission(&self, id: SubmissionId) -> Result<Vec<EvidenceRecord>, StorageError> {
        SqlIndex::submission(self, id).await
    }

    async fn events(&self, id: EvidenceId) -> Result<Vec<EvidenceEvent>, StorageError> {
        SqlIndex::events(self, id).await
    }

    async fn unfinished(&self, limit: u32) -> Result<Vec<EvidenceRecord>, StorageError> {
        SqlIndex::unfinished(self, limit).await
    }

    async fn stale(&self, idle: std::time::Duration, limit: u32) -> Result<Vec<EvidenceRecord>, StorageError> {
        SqlIndex::stale(self, idle, limit).await
    }

    async fn count_by_status(&self) -> Result<Vec<(Status, u64)>, StorageError> {
        SqlIndex::count_by_status(self).await
    }

    async fn submission_ids(&self) -> Result<Vec<SubmissionId>, StorageError> {
        SqlIndex::submission_ids(self).await
    }

    async fn same_documents(&self, exclude: SubmissionId, hashes: &[Sha256Digest], invoice_keys: &[String]) -> Result<Vec<EvidenceRecord>, StorageError> {
        SqlIndex::same_documents(self, exclude, hashes, invoice_keys).await
    }

    async fn stored_records(&self, since: Option<DateTime<Utc>>, after: Option<&EvidenceRecord>, limit: u32) -> Result<Vec<EvidenceRecord>, StorageError> {
        SqlIndex::stored_records(self, since, after, limit).await
    }

    async fn record_event(&self, id: EvidenceId, kind: EventKind, detail: Value) -> Result<(), StorageError> {
        SqlIndex::record_event(self, id, kind, detail).await
    }

    async fn check_chain(&self) -> Result<ChainReport, StorageError> {
        SqlIndex::check_chain(self).await
    }

    async fn submission_progress(&self, id: SubmissionId) -> Result<SubmissionProgress, StorageError> {
        SqlIndex::submission_progress(self, id).await
    }

    async fn put_verification(&self, v: &Verification) -> Result<bool, StorageError> {
        SqlIndex::put_verification(self, v).await
    }

    async fn verification(&self, id: SubmissionId) -> Result<Option<Verification>, StorageError> {
        SqlIndex::verification(self, id).await
    }

    async fn unannounced(&self, id: SubmissionId) -> Result<Option<Verification>, StorageError> {
        SqlIndex::unannounced(self, id).await
    }

    async fn mark_announced(&self, id: SubmissionId, conclusions: &str) -> Result<(), StorageError> {
        SqlIndex::mark_announced(self, id, conclusions).await
    }

    async fn verification_history(&self, id: SubmissionId) -> Result<Vec<Verification>, StorageError> {
        SqlIndex::verification_history(self, id).await
    }

    async fn verifications_with(&self, verdict: Verdict, limit: u32) -> Result<Vec<Verification>, StorageError> {
        SqlIndex::verifications_with(self, verdict, limit).await
    }

    async fn put_decision(&self, d: &Decision) -> Result<(), StorageError> {
        SqlIndex::put_decision(self, d).await
    }

    async fn decisions(&self, id: SubmissionId) -> Result<Vec<Decision>, StorageError> {
        SqlIndex::decisions(self, id).await
    }

    async fn put_text(&self, id: EvidenceId, text: &str) -> Result<(), StorageError> {
        SqlIndex::put_text(self, id, text).await
    }

    async fn text(&self, id: EvidenceId) -> Result<Option<String>, StorageError> {
        SqlIndex::text(self, id).await
    }

    async fn search(&self, q: &SearchQuery) -> Result<Vec<EvidenceRecord>, StorageError> {
        SqlIndex::search(self, q).await
    }

    async fn mark_deleted(&self, id: EvidenceId, actor: &str) -> Result<(), StorageError> {
        SqlIndex::mark_deleted(self, id, actor).await
    }

    fn describe(&self) -> String {
        let engine = match self.dialect {
            Dialect::Postgres => "PostgreSQL",
            Dialect::Sqlite => "SQLite",
        };
        format!("{engine} {}", self.url_redacted)
    }
}
