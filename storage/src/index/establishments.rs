//! What establishments do on their own dossiers (their space, `/espace`): answer a
//! controller's request for information, and take a file out of a dossier (replaced or
//! withdrawn). Both append-only, each an event of the chain: an answer under the
//! submission's id, a withdrawal under the file's.

use async_trait::async_trait;
use caregate_schemas::{Answer, EstablishmentIdentifiers, EventKind, IdentifiersChange, SubmissionId, Withdrawal};

use super::chain::append_event;
use super::core::SqlIndex;
use super::records::Records;
use crate::sql::ts;
use crate::StorageError;

/// Establishments' answers and withdrawals.
///
/// Contract: each write and its event are one transaction: interrupted, nothing of it is
/// written. [`Establishments::withdraw`] is idempotent (a file is withdrawn once; again,
/// nothing is written and `false` says so); [`Establishments::put_answer`] is not (called
/// again after an `Unavailable` error, the answer may be there twice). A withdrawal also
/// touches the file's record (`updated_at`), so that the dossier is judged again on a newer
/// view ([`super::Verifications::unjudged_submissions`]). Reads may be interrupted anywhere
/// and retried at will.
#[async_trait]
pub trait Establishments: Send + Sync {
    async fn put_answer(&self, a: &Answer) -> Result<(), StorageError>;
    /// Every answer on the submission, oldest first.
    async fn answers(&self, id: SubmissionId) -> Result<Vec<Answer>, StorageError>;
    /// Takes the file out of its dossier; `false` when it already was.
    async fn withdraw(&self, w: &Withdrawal) -> Result<bool, StorageError>;
    /// Every file taken out of the submission, oldest first.
    async fn withdrawals(&self, id: SubmissionId) -> Result<Vec<Withdrawal>, StorageError>;
    /// Records a change of an establishment's own identifiers (its FINESS is
    /// `change.identifiers.finess`): added at an upload, or set by a controller. Not
    /// idempotent, harmlessly: an addition made twice adds nothing more.
    async fn change_identifiers(&self, change: &IdentifiersChange) -> Result<(), StorageError>;
    /// What is known of the establishment's own identifiers now (its FINESS at least):
    /// the last setting, and every addition since.
    async fn establishment_identifiers(&self, finess: &str) -> Result<EstablishmentIdentifiers, StorageError>;
    /// Every change of them, oldest first.
    async fn identifier_changes(&self, finess: &str) -> Result<Vec<IdentifiersChange>, StorageError>;
}

#[caregate_macros::bounded]
#[async_trait]
impl Establishments for SqlIndex {
    async fn put_answer(&self, a: &Answer) -> Result<(), StorageError> {
        let document = serde_json::to_value(a).map_err(|e| StorageError::Corrupt(format!("answer: {e}")))?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO answers (submission_id, objective, document, at) VALUES ($1, $2, $3, $4)")
            .bind(a.submission_id.to_string())
            .bind(a.objective.clone())
            .bind(document.to_string())
            .bind(ts(a.answered_at))
            .execute(&mut *tx)
            .await?;
        append_event(&mut tx, a.submission_id, EventKind::InformationAnswered, &document, a.answered_at).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn answers(&self, id: SubmissionId) -> Result<Vec<Answer>, StorageError> {
        self.select_documents("SELECT document FROM answers WHERE submission_id = $1 ORDER BY seq", vec![id.to_string()]).await
    }

    async fn withdraw(&self, w: &Withdrawal) -> Result<bool, StorageError> {
        if self.get(w.evidence_id).await?.is_none() {
            return Err(StorageError::NotFound(format!("evidence {}", w.evidence_id)));
        }
        let document = serde_json::to_value(w).map_err(|e| StorageError::Corrupt(format!("withdrawal: {e}")))?;
        let mut tx = self.pool.begin().await?;
        let inserted =
            sqlx::query("INSERT INTO withdrawals (evidence_id, submission_id, document, at) VALUES ($1, $2, $3, $4) ON CONFLICT (evidence_id) DO NOTHING")
                .bind(w.evidence_id.to_string())
                .bind(w.submission_id.to_string())
                .bind(document.to_string())
                .bind(ts(w.withdrawn_at))
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if inserted == 0 {
            return Ok(false);
        }
        // Only the row's date moves (the dossier is then due to be judged again); the
        // record itself is the worker's to write: a withdrawal racing the file's last
        // stage never overwrites what the stage found.
        sqlx::query("UPDATE evidence SET updated_at = $1 WHERE evidence_id = $2")
            .bind(ts(w.withdrawn_at))
            .bind(w.evidence_id.to_string())
            .execute(&mut *tx)
            .await?;
        append_event(&mut tx, w.evidence_id, EventKind::Withdrawn, &document, w.withdrawn_at).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn withdrawals(&self, id: SubmissionId) -> Result<Vec<Withdrawal>, StorageError> {
        self.select_documents("SELECT document FROM withdrawals WHERE submission_id = $1 ORDER BY at", vec![id.to_string()]).await
    }

    async fn change_identifiers(&self, change: &IdentifiersChange) -> Result<(), StorageError> {
        if !caregate_schemas::is_finess(&change.identifiers.finess) {
            return Err(StorageError::Rejected { service: "index", reason: format!("{:?} is not a FINESS number", change.identifiers.finess) });
        }
        let document = serde_json::to_string(change).map_err(|e| StorageError::Corrupt(format!("identifiers change: {e}")))?;
        sqlx::query("INSERT INTO establishment_identifiers (finess, document, at) VALUES ($1, $2, $3)")
            .bind(change.identifiers.finess.clone())
            .bind(document)
            .bind(ts(change.at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn establishment_identifiers(&self, finess: &str) -> Result<EstablishmentIdentifiers, StorageError> {
        let changes = self.identifier_changes(finess).await?;
        Ok(known_identifiers(finess, &changes))
    }

    async fn identifier_changes(&self, finess: &str) -> Result<Vec<IdentifiersChange>, StorageError> {
        self.select_documents("SELECT document FROM establishment_identifiers WHERE finess = $1 ORDER BY seq", vec![finess.to_owned()]).await
    }
}

/// What the changes, oldest first, leave known: the last setting and every addition after
/// it (an addition never undoes a controller's setting; a later setting replaces all).
pub fn known_identifiers(finess: &str, changes: &[IdentifiersChange]) -> EstablishmentIdentifiers {
    let mut known = EstablishmentIdentifiers::of_finess(finess);
    for change in changes {
        if change.replace {
            known = EstablishmentIdentifiers::of_finess(finess);
        }
        known.add(&change.identifiers);
    }
    known
}
