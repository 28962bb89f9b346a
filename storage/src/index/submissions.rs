//! Submissions: who each belongs to (the establishment and campaign of its first file,
//! fixed forever) and their records. Every record is written against the owner's row in
//! the same transaction, and the database itself refuses a record naming another
//! establishment or campaign than its submission's (a trigger), so a mixed dossier cannot
//! exist whatever the caller.

use async_trait::async_trait;
use caregate_schemas::{EvidenceRecord, SubmissionId};
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::core::{SqlIndex, RECORD_COLUMNS};
use crate::sql::{parse_ts, ts};
use crate::StorageError;

/// The owner of a submission, as fixed when its first file was received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmissionOwner {
    pub submission_id: SubmissionId,
    /// FINESS of the establishment.
    pub establishment: String,
    pub campaign: String,
    pub created_at: DateTime<Utc>,
}

/// A dossier as a whole: its owner and its records.
///
/// Contract: reads only (the owner is fixed by [`Records::record_received`](super::Records::record_received),
/// in the record's transaction); they may be interrupted anywhere and retried at will.
#[async_trait]
pub trait Submissions: Send + Sync {
    /// Every record of the submission, in receipt order.
    async fn submission(&self, id: SubmissionId) -> Result<Vec<EvidenceRecord>, StorageError>;
    /// Who the submission belongs to: the establishment and campaign of its first file,
    /// never changed. Every record of it names them ([`Records::record_received`](super::Records::record_received)
    /// refuses another with [`StorageError::ForeignSubmission`]). `None`: no file yet.
    async fn submission_owner(&self, id: SubmissionId) -> Result<Option<SubmissionOwner>, StorageError>;
    /// Every submission with at least one record, oldest first.
    async fn submission_ids(&self) -> Result<Vec<SubmissionId>, StorageError>;
}

#[caregate_macros::bounded]
#[async_trait]
impl Submissions for SqlIndex {
    async fn submission(&self, id: SubmissionId) -> Result<Vec<EvidenceRecord>, StorageError> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM evidence WHERE submission_id = $1 ORDER BY received_at, evidence_id");
        self.select_records(&sql, id.to_string()).await
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

    async fn submission_owner(&self, id: SubmissionId) -> Result<Option<SubmissionOwner>, StorageError> {
        let mut conn = self.pool.acquire().await?;
        owner(&mut conn, id).await
    }
}

async fn owner(conn: &mut sqlx::AnyConnection, id: SubmissionId) -> Result<Option<SubmissionOwner>, StorageError> {
    let row = sqlx::query("SELECT establishment, campaign, created_at FROM submissions WHERE submission_id = $1")
        .bind(id.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|row| {
        Ok(SubmissionOwner {
            submission_id: id,
            establishment: row.try_get("establishment")?,
            campaign: row.try_get("campaign")?,
            created_at: parse_ts(&row.try_get::<String, _>("created_at")?)?,
        })
    })
    .transpose()
}

/// Makes the submission `establishment`'s in `campaign` if it is nobody's yet, in the
/// caller's transaction; refuses ([`StorageError::ForeignSubmission`]) when it already
/// belongs to another establishment or campaign.
pub(super) async fn claim(
    conn: &mut sqlx::AnyConnection,
    id: SubmissionId,
    establishment: &str,
    campaign: &str,
    at: DateTime<Utc>,
) -> Result<(), StorageError> {
    sqlx::query("INSERT INTO submissions (submission_id, establishment, campaign, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (submission_id) DO NOTHING")
        .bind(id.to_string())
        .bind(establishment.to_owned())
        .bind(campaign.to_owned())
        .bind(ts(at))
        .execute(&mut *conn)
        .await?;
    match owner(conn, id).await? {
        Some(o) if o.establishment == establishment && o.campaign == campaign => Ok(()),
        _ => Err(StorageError::ForeignSubmission(id.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The database itself refuses a record whose establishment or campaign is not its
    /// submission's, whoever writes it: the constraint, not only the index's code.
    #[tokio::test]
    async fn the_database_refuses_a_record_of_another_establishment() {
        let index = SqlIndex::connect("sqlite::memory:", 1).await.expect("in-memory index");
        let id = SubmissionId::new();
        let mut conn = index.pool.acquire().await.unwrap();
        claim(&mut conn, id, "750000001", "care-d1-2024", Utc::now()).await.unwrap();
        let insert = |establishment: &'static str| {
            sqlx::query(
                "INSERT INTO evidence (evidence_id, submission_id, establishment, campaign, path, status, sha256, size, attempts, received_at, updated_at, record)
                 VALUES ($1, $2, $3, 'care-d1-2024', 'x.pdf', 'received', '00', 1, 0, '2024-06-12T00:00:00Z', '2024-06-12T00:00:00Z', '{}')",
            )
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(id.to_string())
            .bind(establishment)
        };
        insert("750000001").execute(&mut *conn).await.expect("the owner's record");
        let refused = insert("690781810").execute(&mut *conn).await;
        assert!(refused.is_err(), "another establishment's record in the dossier");
        let moved = sqlx::query("UPDATE evidence SET establishment = '690781810' WHERE submission_id = $1").bind(id.to_string()).execute(&mut *conn).await;
        assert!(moved.is_err(), "a record moved to another establishment");
        assert!(matches!(claim(&mut conn, id, "690781810", "care-d1-2024", Utc::now()).await, Err(StorageError::ForeignSubmission(_))));
        assert!(matches!(claim(&mut conn, id, "750000001", "care-d2-2025", Utc::now()).await, Err(StorageError::ForeignSubmission(_))));
    }
}
