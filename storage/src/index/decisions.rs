//! Controllers' decisions: append-only, each an event of the chain under the
//! submission's id.

use async_trait::async_trait;
use caregate_schemas::{Decision, EventKind, SubmissionId};

use super::chain::append_event;
use super::core::SqlIndex;
use super::mail::{enqueue_mail, MailDraft};
use super::outbox::enqueue;
use crate::queue::{Outgoing, Queued};
use crate::sql::ts;
use crate::StorageError;

/// What recording a decision queued: its announcements, for the caller to send at once,
/// and how many e-mails wait for the mail relay.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DecisionRecorded {
    pub queued: Vec<Queued>,
    pub mails: usize,
}

/// Controllers' decisions on dossiers.
///
/// Contract: the decisions of one form (one or several objectives of one dossier), their
/// events in the history, their announcements and their e-mails (one per recipient, in
/// the mail outbox) are one transaction: interrupted, nothing of it is written; no
/// dossier is ever left with half a form decided. It is not idempotent: calling
/// [`Decisions::put_decisions`] again after an `Unavailable` error may record the
/// decisions twice (two identical entries in the dossier's decisions and history). Reads
/// may be interrupted anywhere and retried at will.
#[async_trait]
pub trait Decisions: Send + Sync {
    /// Records a controller's decisions on one dossier, appends each to the audit log
    /// (under the submission's id), queues the announcements and, given a draft, one
    /// e-mail to each enabled submitter of the establishment who gave an address, in one
    /// transaction. Refused (nothing written) when `decisions` is empty or spans dossiers,
    /// and ([`StorageError::HeldByOther`]) when another controller than a decision's
    /// actor holds the dossier ([`crate::ReviewQueue::take`]), checked in that transaction.
    async fn put_decisions(&self, decisions: &[Decision], announcements: Vec<Outgoing>, mail: Option<&MailDraft>) -> Result<DecisionRecorded, StorageError>;
    /// Every decision on the submission, oldest first.
    async fn decisions(&self, id: SubmissionId) -> Result<Vec<Decision>, StorageError>;
}

#[caregate_macros::bounded]
#[async_trait]
impl Decisions for SqlIndex {
    async fn put_decisions(&self, decisions: &[Decision], announcements: Vec<Outgoing>, mail: Option<&MailDraft>) -> Result<DecisionRecorded, StorageError> {
        let Some(first) = decisions.first() else {
            return Err(StorageError::rejected("index", "no decision to record"));
        };
        if decisions.iter().any(|d| d.submission_id != first.submission_id) {
            return Err(StorageError::rejected("index", "one form's decisions are on one dossier"));
        }
        let mut tx = self.pool.begin().await?;
        for d in decisions {
            let document = serde_json::to_value(d).map_err(|e| StorageError::Corrupt(format!("decision: {e}")))?;
            sqlx::query("INSERT INTO decisions (submission_id, objective, document, at) VALUES ($1, $2, $3, $4)")
                .bind(d.submission_id.to_string())
                .bind(d.objective.clone())
                .bind(document.to_string())
                .bind(ts(d.decided_at))
                .execute(&mut *tx)
                .await?;
            append_event(&mut tx, d.submission_id, EventKind::Decision, &document, d.decided_at).await?;
        }
        // Checked here, in the transaction that writes, not only before it: a dossier taken
        // by another controller between a form's checks and its writing is not decided
        // (dropping the transaction takes back what it wrote). After the first write, not
        // before: SQLite cannot turn a reading transaction into a writing one while another
        // connection writes ("database is locked", without waiting), and a write first
        // waits its turn.
        if let Some(held) = super::review::assignment_in(&mut tx, first.submission_id).await? {
            if let Some(d) = decisions.iter().find(|d| d.actor != held.holder) {
                tracing::info!(submission = %d.submission_id, actor = %d.actor, holder = %held.holder, "decision refused: the dossier is held by another controller");
                return Err(StorageError::HeldByOther(held.holder));
            }
        }
        super::review::refresh_items(&mut tx, first.submission_id).await?;
        let mut queued = Vec::with_capacity(announcements.len());
        for m in announcements {
            queued.push(enqueue(&mut tx, m).await?);
        }
        let mails = match mail {
            Some(draft) => enqueue_mail(&mut tx, draft).await?,
            None => 0,
        };
        tx.commit().await?;
        Ok(DecisionRecorded { queued, mails })
    }

    async fn decisions(&self, id: SubmissionId) -> Result<Vec<Decision>, StorageError> {
        self.select_documents("SELECT document FROM decisions WHERE submission_id = $1 ORDER BY seq", vec![id.to_string()]).await
    }
}
