//! Controllers' decisions: append-only, each an event of the chain under the
//! submission's id.

use caregate_schemas::{Decision, EventKind, SubmissionId};

use super::chain::append_event;
use super::core::SqlIndex;
use super::outbox::enqueue;
use crate::queue::{Outgoing, Queued};
use crate::sql::ts;
use crate::StorageError;

impl SqlIndex {
    pub(super) async fn put_decision(&self, d: &Decision, announcements: Vec<Outgoing>) -> Result<Vec<Queued>, StorageError> {
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
        let mut queued = Vec::with_capacity(announcements.len());
        for m in announcements {
            queued.push(enqueue(&mut tx, m).await?);
        }
        tx.commit().await?;
        Ok(queued)
    }

    pub(super) async fn decisions(&self, id: SubmissionId) -> Result<Vec<Decision>, StorageError> {
        self.select_documents("SELECT document FROM decisions WHERE submission_id = $1 ORDER BY seq", vec![id.to_string()]).await
    }
}
