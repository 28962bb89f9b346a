//! Verifications: the current one per submission, its append-only history, and what
//! has been announced.

use async_trait::async_trait;
use caregate_schemas::{SubmissionId, Verdict, Verification};
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::core::SqlIndex;
use super::outbox::enqueue;
use crate::queue::{Outgoing, Queued};
use crate::sql::{parse_ts, ts};
use crate::StorageError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubmissionProgress {
    pub files: u64,
    pub pending: u64,
    pub verified_at: Option<DateTime<Utc>>,
}

/// Each submission's current verification, its history, and what was announced of it.
///
/// Contract: [`Verifications::put_verification`] keeps the newest view: it stores nothing
/// when the current verification was judged on a newer view of the submission or
/// concludes the same, so calling it again (a redelivered job, a retry after an
/// `Unavailable` error) writes nothing twice. [`Verifications::announce_verification`]
/// marks the verification announced and queues its announcements in one transaction:
/// called again, it queues them again (announcements are at least once; each carries the
/// verification it announces, so a consumer knows a repeat). Reads may be interrupted
/// anywhere and retried at will.
#[async_trait]
pub trait Verifications: Send + Sync {
    /// Complete submissions (no file still `received`) with a record changed after their
    /// current verification was computed from (its `basis`): a re-examination (OCR, a
    /// rescan, signatures validated again) whose judging did not happen, the process
    /// stopped or the database gone between the two. At most `limit`.
    async fn unjudged_submissions(&self, limit: u32) -> Result<Vec<SubmissionId>, StorageError>;
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
}

#[caregate_macros::bounded]
#[async_trait]
impl Verifications for SqlIndex {
    async fn unjudged_submissions(&self, limit: u32) -> Result<Vec<SubmissionId>, StorageError> {
        // Timestamps are written in one fixed RFC 3339 form (`basis` is a record's
        // `updated_at`), so text order is time order.
        let sql = format!(
            "SELECT DISTINCT e.submission_id FROM evidence e JOIN verifications v ON v.submission_id = e.submission_id
             WHERE e.updated_at > v.basis
               AND NOT EXISTS (SELECT 1 FROM evidence r WHERE r.submission_id = e.submission_id AND r.status = 'received')
             LIMIT {limit}"
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("submission_id")?;
                id.parse().map_err(|e| StorageError::Corrupt(format!("submission id {id}: {e}")))
            })
            .collect()
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
            super::review::refresh_items(&mut tx, v.submission_id).await?;
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

    async fn announce_verification(&self, id: SubmissionId, conclusions: &str, announcements: Vec<Outgoing>) -> Result<Vec<Queued>, StorageError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE verifications SET announced = $1 WHERE submission_id = $2")
            .bind(conclusions.to_owned())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        let mut queued = Vec::with_capacity(announcements.len());
        for m in announcements {
            queued.push(enqueue(&mut tx, m).await?);
        }
        tx.commit().await?;
        Ok(queued)
    }

    async fn verification_history(&self, id: SubmissionId) -> Result<Vec<Verification>, StorageError> {
        self.select_documents("SELECT document FROM verification_history WHERE submission_id = $1 ORDER BY seq", vec![id.to_string()]).await
    }

    async fn verifications_with(&self, verdict: Verdict, limit: u32) -> Result<Vec<Verification>, StorageError> {
        let sql = format!("SELECT document FROM verifications WHERE verdict = $1 ORDER BY computed_at, submission_id LIMIT {limit}");
        self.select_documents(&sql, vec![verdict.as_str().to_owned()]).await
    }
}
