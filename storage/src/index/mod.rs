//! The evidence index: one row per evidence (the current record) and an append-only table
//! of events (its history). PostgreSQL in production, SQLite embedded; both through
//! sqlx's `Any` driver, so the queries are written once and only the first migration
//! differs (`storage/migrations/`).
//!
//! One file per concern, each with its own small trait and [`SqlIndex`]'s implementation
//! of it: `records` ([`Records`]), `submissions` ([`Submissions`]), `chain` (the
//! hash-chained history, [`AuditLog`]), `verifications` ([`Verifications`]), `decisions`
//! ([`Decisions`]), `search` ([`TextSearch`]), `outbox` ([`OutboxStore`]) and `mail` (the e-mails of
//! decisions, [`MailOutbox`]); `core` holds
//! the pool, the migrations and the row helpers. [`EvidenceIndex`] is all of them at once,
//! the one boundary the other crates hold (`Arc<dyn EvidenceIndex>`).

mod chain;
mod core;
mod decisions;
mod establishments;
mod mail;
mod outbox;
mod records;
mod review;
mod search;
mod submissions;
mod verifications;

pub use self::chain::{event_hash, AuditLog, ChainProblem, ChainReport};
pub use self::core::SqlIndex;
pub use self::decisions::{DecisionRecorded, Decisions};
pub use self::establishments::{known_identifiers, Establishments};
pub use self::mail::{Letter, MailBacklog, MailDraft, MailOutbox, PendingMail};
pub use self::outbox::{OutboxBacklog, OutboxStore};
pub use self::records::{KeyedReceipt, Records};
pub use self::review::{Assignment, DashboardFigures, QueueItem, QueuePage, QueueQuery, QueueSort, ReviewQueue, Taken};
pub use self::search::{SearchQuery, TextSearch};
pub use self::submissions::{SubmissionOwner, Submissions};
pub use self::verifications::{SubmissionProgress, Verifications};

/// Records, their history, verifications, decisions, text and the outbox: every concern
/// of the index, as one trait object.
///
/// Contract common to every concern:
/// - Every write that changes a record appends its event in the same transaction, so the
///   history never disagrees with the record; every write that must reach the broker (a
///   job, an announcement) puts its message in the outbox in that same transaction and
///   returns it [`Queued`](crate::Queued), for the caller to send at once (the
///   [`crate::Outbox`] relay sends whatever a caller could not).
/// - Every call is bounded in time (`#[caregate_macros::bounded]` on each concern's
///   implementation runs it inside [`crate::sql::bounded`]; the chain's check is the one
///   exception): a database that does not answer ends the call in
///   [`StorageError::Unavailable`](crate::StorageError::Unavailable), a 503 the client can
///   retry, never a hang. The call is then interrupted wherever it was: a transaction not
///   yet committed is rolled back (nothing of it is written), but one whose commit was
///   sent may be in place. An `Unavailable` error from a write therefore means "perhaps
///   written": each concern's trait says what calling it again does.
///
/// Implemented by whatever implements every concern (the blanket impl below); code that
/// needs one concern only may ask for that trait alone.
pub trait EvidenceIndex:
    Records + Submissions + AuditLog + Verifications + Decisions + Establishments + TextSearch + OutboxStore + MailOutbox + ReviewQueue
{
}

impl<T: Records + Submissions + AuditLog + Verifications + Decisions + Establishments + TextSearch + OutboxStore + MailOutbox + ReviewQueue + ?Sized>
    EvidenceIndex for T
{
}

#[cfg(test)]
mod tests {
    use super::{Records, SqlIndex};
    use crate::conformance;

    /// The index suites on SQLite, with no service: the fast loop while changing the
    /// index (PostgreSQL runs them in tests/it/conformance.rs).
    #[tokio::test]
    async fn sqlite_index_conforms() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("index.sqlite").display());
        let index = SqlIndex::connect(&url, 4).await.expect("connect");
        conformance::evidence_index(&index).await;
        conformance::verifications(&index).await;
        conformance::archive_index(&index).await;
        conformance::outbox(&index).await;
        conformance::review_queue(&index).await;
        conformance::establishment_identifiers(&index).await;
        // Opening again (a second worker starting) must find the schema in place.
        let again = SqlIndex::connect(&url, 2).await.expect("connect again");
        assert!(!again.count_by_status().await.unwrap().is_empty());
    }
}
