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
mod outbox;
mod records;
mod search;
mod submissions;
mod verifications;

use async_trait::async_trait;
use caregate_schemas::{
    Decision, EventKind, EvidenceEvent, EvidenceId, EvidenceRecord, FindingCode, Sha256Digest, Status, SubmissionId, Verdict, Verification,
};
use chrono::{DateTime, Utc};
use serde_json::Value;

pub use self::chain::{event_hash, ChainProblem, ChainReport};
use self::core::Dialect;
pub use self::core::SqlIndex;
pub use self::outbox::OutboxBacklog;
pub use self::search::SearchQuery;
pub use self::submissions::SubmissionOwner;
pub use self::verifications::SubmissionProgress;
use crate::queue::{Outgoing, Queued};
use crate::sql::bounded;
use crate::StorageError;

/// What [`EvidenceIndex::record_received_once`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum KeyedReceipt {
    /// The key was free: the record is written with its job (`None`: the record was
    /// already there, and so was its job).
    Recorded(Option<Queued>),
    /// The key names this earlier evidence; nothing was written.
    Repeat(EvidenceId),
}

/// Records and their history.
///
/// Contract: every write that changes a record appends its event in the same
/// transaction, so the history never disagrees with the record. Moving a record to a
/// terminal state happens at most once ([`EvidenceIndex::finish`] returns `false` on a
/// second call and changes nothing), which is what makes a redelivered job harmless.
/// Every call is bounded in time (see [`crate::sql::bounded`]) but the chain's check.
/// Every write that must reach the broker (a job, an announcement) puts its message in
/// the outbox in that same transaction and returns it [`Queued`], for the caller to send
/// at once; the [`crate::Outbox`] relay sends whatever a caller could not.
#[async_trait]
pub trait EvidenceIndex: Send + Sync + 'static {
    /// Records a file just received in quarantine, and queues its job. Calling it again
    /// with the same evidence id changes nothing (and returns `None`).
    async fn record_received(&self, rec: &EvidenceRecord) -> Result<Option<Queued>, StorageError>;
    /// The same under an uploader's idempotency key, atomically: when the key is already
    /// taken nothing is written and the evidence it names is returned, so a client that
    /// retries an upload it got no answer to never makes a second record.
    async fn record_received_once(&self, rec: &EvidenceRecord, key: &str) -> Result<KeyedReceipt, StorageError>;
    async fn get(&self, id: EvidenceId) -> Result<Option<EvidenceRecord>, StorageError>;
    /// Moves a `received` record to the terminal state `rec.status` with its results, and
    /// appends an event of that name with `detail`. Returns `false` if the record was
    /// already terminal (nothing is written then).
    async fn finish(&self, rec: &EvidenceRecord, detail: Value) -> Result<bool, StorageError>;
    /// Writes what examining a kept file again found (a rescan with newer signatures,
    /// its PDF signatures validated again): `rec` as it now stands (still kept with its
    /// new scan report or validation, or `infected` and back in quarantine) and its
    /// event, in one transaction. Only a kept record (`stored`, `needs_review`) changes;
    /// `false` when it was not kept any more (re-examined meanwhile by another process).
    async fn record_reexamination(&self, rec: &EvidenceRecord, kind: EventKind, detail: Value) -> Result<bool, StorageError>;
    /// Kept records carrying the finding `code` ([`FindingCode::OcrPending`]: files
    /// whose pages wait for OCR), oldest first. They are `needs_review` (a warning), so
    /// the search reads that status only.
    async fn with_finding(&self, code: FindingCode, limit: u32) -> Result<Vec<EvidenceRecord>, StorageError>;
    /// As [`EvidenceIndex::record_reexamination`], but only while the stored record still
    /// carries the finding `code`: of two processes resolving it (two OCR pools reading
    /// the same scan), one writes; `false` for the other.
    async fn resolve_finding(&self, rec: &EvidenceRecord, code: FindingCode, kind: EventKind, detail: Value) -> Result<bool, StorageError>;
    /// Complete submissions (no file still `received`) with a record changed after their
    /// current verification was computed from (its `basis`): a re-examination (OCR, a
    /// rescan, signatures validated again) whose judging did not happen, the process
    /// stopped or the database gone between the two. At most `limit`.
    async fn unjudged_submissions(&self, limit: u32) -> Result<Vec<SubmissionId>, StorageError>;
    /// Notes a failed attempt that will be retried.
    async fn record_retry(&self, id: EvidenceId, attempts: u32, reason: &str) -> Result<(), StorageError>;
    async fn submission(&self, id: SubmissionId) -> Result<Vec<EvidenceRecord>, StorageError>;
    /// Who the submission belongs to: the establishment and campaign of its first file,
    /// never changed. Every record of it names them ([`Self::record_received`] refuses
    /// another with [`StorageError::ForeignSubmission`]). `None`: no file yet.
    async fn submission_owner(&self, id: SubmissionId) -> Result<Option<SubmissionOwner>, StorageError>;
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
    /// Notes that the verification concluding `conclusions` is announced, and queues
    /// its announcements in the same transaction (so it is announced at least once).
    async fn announce_verification(&self, id: SubmissionId, conclusions: &str, announcements: Vec<Outgoing>) -> Result<Vec<Queued>, StorageError>;
    /// Every verification stored for the submission, oldest first.
    async fn verification_history(&self, id: SubmissionId) -> Result<Vec<Verification>, StorageError>;
    /// Current verifications with this overall verdict, oldest first (the controllers'
    /// work list when `NeedsReview`).
    async fn verifications_with(&self, verdict: Verdict, limit: u32) -> Result<Vec<Verification>, StorageError>;
    /// Records a controller's decision, appends it to the audit log (under the
    /// submission's id) and queues its announcements, in one transaction.
    async fn put_decision(&self, d: &Decision, announcements: Vec<Outgoing>) -> Result<Vec<Queued>, StorageError>;
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
    /// Queues messages that go with no other change (a job queued again).
    async fn enqueue(&self, messages: Vec<Outgoing>) -> Result<Vec<Queued>, StorageError>;
    /// Takes up to `limit` outbox messages nobody holds, oldest first, and holds them for
    /// `lease`: sent in that time they are [`Self::outbox_sent`], otherwise free again.
    async fn outbox_claim(&self, lease: std::time::Duration, limit: u32) -> Result<Vec<Queued>, StorageError>;
    /// The broker confirmed these: they leave the outbox.
    async fn outbox_sent(&self, seqs: &[i64]) -> Result<(), StorageError>;
    /// These could not be sent: free for the next attempt, by anyone.
    async fn outbox_release(&self, seqs: &[i64]) -> Result<(), StorageError>;
    async fn outbox_backlog(&self) -> Result<OutboxBacklog, StorageError>;
    fn describe(&self) -> String;
}

#[async_trait]
impl EvidenceIndex for SqlIndex {
    async fn record_received(&self, rec: &EvidenceRecord) -> Result<Option<Queued>, StorageError> {
        bounded(SqlIndex::record_received(self, rec)).await
    }

    async fn record_received_once(&self, rec: &EvidenceRecord, key: &str) -> Result<KeyedReceipt, StorageError> {
        bounded(SqlIndex::record_received_once(self, rec, key)).await
    }

    async fn get(&self, id: EvidenceId) -> Result<Option<EvidenceRecord>, StorageError> {
        bounded(SqlIndex::get(self, id)).await
    }

    async fn finish(&self, rec: &EvidenceRecord, detail: Value) -> Result<bool, StorageError> {
        bounded(SqlIndex::finish(self, rec, detail)).await
    }

    async fn record_reexamination(&self, rec: &EvidenceRecord, kind: EventKind, detail: Value) -> Result<bool, StorageError> {
        bounded(SqlIndex::record_reexamination(self, rec, kind, detail)).await
    }

    async fn with_finding(&self, code: FindingCode, limit: u32) -> Result<Vec<EvidenceRecord>, StorageError> {
        bounded(SqlIndex::with_finding(self, code, limit)).await
    }

    async fn resolve_finding(&self, rec: &EvidenceRecord, code: FindingCode, kind: EventKind, detail: Value) -> Result<bool, StorageError> {
        bounded(SqlIndex::resolve_finding(self, rec, code, kind, detail)).await
    }

    async fn unjudged_submissions(&self, limit: u32) -> Result<Vec<SubmissionId>, StorageError> {
        bounded(SqlIndex::unjudged_submissions(self, limit)).await
    }

    async fn record_retry(&self, id: EvidenceId, attempts: u32, reason: &str) -> Result<(), StorageError> {
        bounded(SqlIndex::record_retry(self, id, attempts, reason)).await
    }

    async fn submission(&self, id: SubmissionId) -> Result<Vec<EvidenceRecord>, StorageError> {
        bounded(SqlIndex::submission(self, id)).await
    }

    async fn submission_owner(&self, id: SubmissionId) -> Result<Option<SubmissionOwner>, StorageError> {
        bounded(SqlIndex::submission_owner(self, id)).await
    }

    async fn events(&self, id: EvidenceId) -> Result<Vec<EvidenceEvent>, StorageError> {
        bounded(SqlIndex::events(self, id)).await
    }

    async fn unfinished(&self, limit: u32) -> Result<Vec<EvidenceRecord>, StorageError> {
        bounded(SqlIndex::unfinished(self, limit)).await
    }

    async fn stale(&self, idle: std::time::Duration, limit: u32) -> Result<Vec<EvidenceRecord>, StorageError> {
        bounded(SqlIndex::stale(self, idle, limit)).await
    }

    async fn count_by_status(&self) -> Result<Vec<(Status, u64)>, StorageError> {
        bounded(SqlIndex::count_by_status(self)).await
    }

    async fn submission_ids(&self) -> Result<Vec<SubmissionId>, StorageError> {
        bounded(SqlIndex::submission_ids(self)).await
    }

    async fn same_documents(&self, exclude: SubmissionId, hashes: &[Sha256Digest], invoice_keys: &[String]) -> Result<Vec<EvidenceRecord>, StorageError> {
        bounded(SqlIndex::same_documents(self, exclude, hashes, invoice_keys)).await
    }

    async fn stored_records(&self, since: Option<DateTime<Utc>>, after: Option<&EvidenceRecord>, limit: u32) -> Result<Vec<EvidenceRecord>, StorageError> {
        bounded(SqlIndex::stored_records(self, since, after, limit)).await
    }

    async fn record_event(&self, id: EvidenceId, kind: EventKind, detail: Value) -> Result<(), StorageError> {
        bounded(SqlIndex::record_event(self, id, kind, detail)).await
    }

    async fn check_chain(&self) -> Result<ChainReport, StorageError> {
        SqlIndex::check_chain(self).await
    }

    async fn submission_progress(&self, id: SubmissionId) -> Result<SubmissionProgress, StorageError> {
        bounded(SqlIndex::submission_progress(self, id)).await
    }

    async fn put_verification(&self, v: &Verification) -> Result<bool, StorageError> {
        bounded(SqlIndex::put_verification(self, v)).await
    }

    async fn verification(&self, id: SubmissionId) -> Result<Option<Verification>, StorageError> {
        bounded(SqlIndex::verification(self, id)).await
    }

    async fn unannounced(&self, id: SubmissionId) -> Result<Option<Verification>, StorageError> {
        bounded(SqlIndex::unannounced(self, id)).await
    }

    async fn announce_verification(&self, id: SubmissionId, conclusions: &str, announcements: Vec<Outgoing>) -> Result<Vec<Queued>, StorageError> {
        bounded(SqlIndex::announce_verification(self, id, conclusions, announcements)).await
    }

    async fn verification_history(&self, id: SubmissionId) -> Result<Vec<Verification>, StorageError> {
        bounded(SqlIndex::verification_history(self, id)).await
    }

    async fn verifications_with(&self, verdict: Verdict, limit: u32) -> Result<Vec<Verification>, StorageError> {
        bounded(SqlIndex::verifications_with(self, verdict, limit)).await
    }

    async fn put_decision(&self, d: &Decision, announcements: Vec<Outgoing>) -> Result<Vec<Queued>, StorageError> {
        bounded(SqlIndex::put_decision(self, d, announcements)).await
    }

    async fn decisions(&self, id: SubmissionId) -> Result<Vec<Decision>, StorageError> {
        bounded(SqlIndex::decisions(self, id)).await
    }

    async fn put_text(&self, id: EvidenceId, text: &str) -> Result<(), StorageError> {
        bounded(SqlIndex::put_text(self, id, text)).await
    }

    async fn text(&self, id: EvidenceId) -> Result<Option<String>, StorageError> {
        bounded(SqlIndex::text(self, id)).await
    }

    async fn search(&self, q: &SearchQuery) -> Result<Vec<EvidenceRecord>, StorageError> {
        bounded(SqlIndex::search(self, q)).await
    }

    async fn mark_deleted(&self, id: EvidenceId, actor: &str) -> Result<(), StorageError> {
        bounded(SqlIndex::mark_deleted(self, id, actor)).await
    }

    async fn enqueue(&self, messages: Vec<Outgoing>) -> Result<Vec<Queued>, StorageError> {
        bounded(SqlIndex::enqueue(self, messages)).await
    }

    async fn outbox_claim(&self, lease: std::time::Duration, limit: u32) -> Result<Vec<Queued>, StorageError> {
        bounded(SqlIndex::outbox_claim(self, lease, limit)).await
    }

    async fn outbox_sent(&self, seqs: &[i64]) -> Result<(), StorageError> {
        bounded(SqlIndex::outbox_sent(self, seqs)).await
    }

    async fn outbox_release(&self, seqs: &[i64]) -> Result<(), StorageError> {
        bounded(SqlIndex::outbox_release(self, seqs)).await
    }

    async fn outbox_backlog(&self) -> Result<OutboxBacklog, StorageError> {
        bounded(SqlIndex::outbox_backlog(self)).await
    }

    fn describe(&self) -> String {
        let engine = match self.dialect {
            Dialect::Postgres => "PostgreSQL",
            Dialect::Sqlite => "SQLite",
        };
        format!("{engine} {}", self.url_redacted)
    }
}
