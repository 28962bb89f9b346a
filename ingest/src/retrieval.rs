//! Handing stored files back: every read re-hashes the bytes against the SHA-256 recorded
//! at upload before anything leaves, and is an audit event; a mismatch is refused and
//! recorded. Deletion waits for the end of the file's retention.

use std::time::Duration;

use caregate_schemas::{EventKind, EvidenceRecord, Sha256Digest, Status};
use caregate_storage::{check_stored, EvidenceIndex, Fixity, ObjectStore, ReadPurpose, StorageError};
use chrono::{DateTime, Utc};
use serde_json::json;

/// Why a file is not handed back. The HTTP edge maps each to its answer (`error.rs`).
#[derive(Debug, thiserror::Error)]
pub enum RetrievalError {
    #[error("an infected file never leaves quarantine and is never read")]
    Infected,
    #[error("the file is not in the evidence store (status {0}): it is held in quarantine or was deleted")]
    NotStored(Status),
    #[error("the stored bytes no longer match the SHA-256 recorded at upload ({0}); the failure is recorded")]
    IntegrityFailure(Sha256Digest),
    #[error("kept until {} (10-year retention of accounting proofs); nothing was deleted", .0.format("%d/%m/%Y"))]
    RetentionActive(DateTime<Utc>),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A file ready to serve.
pub enum Retrieved {
    /// The checked bytes, spooled: what was hashed is exactly what is sent.
    File(tempfile::NamedTempFile),
    /// Too large to pass through: the store's own expiring URL, issued after the check.
    Presigned(String),
}

/// The key of a record's bytes in the evidence store, or why there is none to serve.
fn stored_key(rec: &EvidenceRecord) -> Result<&str, RetrievalError> {
    if rec.status == Status::Infected {
        return Err(RetrievalError::Infected);
    }
    rec.object_key.as_deref().ok_or(RetrievalError::NotStored(rec.status))
}

/// Reads the record's bytes back and checks them ([`check_stored`]); on a mismatch (or a
/// missing object) the `fixity_failed` event is written and the file refused. `presign`: hand out an expiring URL of
/// that lifetime instead of the bytes, when the store can make one. The bytes are spooled
/// in `spool_dir` while they are checked.
pub async fn retrieve(
    store: &dyn ObjectStore,
    index: &dyn EvidenceIndex,
    rec: &EvidenceRecord,
    actor: &str,
    presign: Option<Duration>,
    spool_dir: &std::path::Path,
) -> Result<Retrieved, RetrievalError> {
    let key = stored_key(rec)?;
    let url = match presign {
        Some(ttl) => store.presigned_get(key, ttl).await?,
        None => None,
    };
    let Some(url) = url else {
        let file = checked_spool(store, index, rec, key, actor, spool_dir).await?;
        index.record_event(rec.evidence_id, EventKind::FileRead, json!({"actor": actor, "via": "download", "sha256": rec.sha256})).await?;
        return Ok(Retrieved::File(file));
    };
    if check_stored(store, index, rec, key, None, ReadPurpose::Retrieval, actor).await? != Fixity::Intact {
        return Err(RetrievalError::IntegrityFailure(rec.sha256));
    }
    index.record_event(rec.evidence_id, EventKind::FileRead, json!({"actor": actor, "via": "presigned_url", "sha256": rec.sha256})).await?;
    Ok(Retrieved::Presigned(url))
}

/// The record's bytes read back into a spool file of `spool_dir` and checked on the way
/// ([`check_stored`]): what was hashed is exactly what the file holds.
async fn checked_spool(
    store: &dyn ObjectStore,
    index: &dyn EvidenceIndex,
    rec: &EvidenceRecord,
    key: &str,
    actor: &str,
    spool_dir: &std::path::Path,
) -> Result<tempfile::NamedTempFile, RetrievalError> {
    let spool = tempfile::Builder::new().prefix("spool-").tempfile_in(spool_dir).map_err(StorageError::from)?;
    let mut file = tokio::fs::File::from_std(spool.as_file().try_clone().map_err(StorageError::from)?);
    if check_stored(store, index, rec, key, Some(&mut file), ReadPurpose::Retrieval, actor).await? != Fixity::Intact {
        return Err(RetrievalError::IntegrityFailure(rec.sha256));
    }
    Ok(spool)
}

/// The record's bytes, checked ([`check_stored`]) and spooled in `spool_dir`, for the
/// server itself to show them (a page rendered in the console): an audited read like a
/// download, its event saying `via` and `detail`.
pub async fn read_for_view(
    store: &dyn ObjectStore,
    index: &dyn EvidenceIndex,
    rec: &EvidenceRecord,
    actor: &str,
    spool_dir: &std::path::Path,
    via: &str,
    detail: serde_json::Value,
) -> Result<tempfile::NamedTempFile, RetrievalError> {
    let spool = checked_spool(store, index, rec, stored_key(rec)?, actor, spool_dir).await?;
    index.record_event(rec.evidence_id, EventKind::FileRead, json!({"actor": actor, "via": via, "sha256": rec.sha256, "detail": detail})).await?;
    Ok(spool)
}

/// The extracted text of a file, as an audited read.
pub async fn read_text(index: &dyn EvidenceIndex, rec: &EvidenceRecord, actor: &str) -> Result<String, RetrievalError> {
    if rec.status == Status::Infected {
        return Err(RetrievalError::Infected);
    }
    let text = index.text(rec.evidence_id).await?.unwrap_or_default();
    index.record_event(rec.evidence_id, EventKind::TextRead, json!({"actor": actor, "chars": text.chars().count()})).await?;
    Ok(text)
}

/// Deletes the stored bytes of a record whose retention is over. Before, refuses with 409
/// and records the attempt. Content-addressed bytes shared with a record still retained
/// stay in the store; only this record lets go of them.
pub async fn delete(store: &dyn ObjectStore, index: &dyn EvidenceIndex, rec: &EvidenceRecord, actor: &str, now: DateTime<Utc>) -> Result<(), RetrievalError> {
    let key = stored_key(rec)?.to_owned();
    let until = rec.retained_until();
    if now < until {
        index.record_event(rec.evidence_id, EventKind::DeletionRefused, json!({"actor": actor, "retain_until": until})).await?;
        return Err(RetrievalError::RetentionActive(until));
    }
    // The nil submission excludes none: every record of these bytes.
    let still_needed = index
        .same_documents(caregate_schemas::SubmissionId(uuid::Uuid::nil()), &[rec.sha256], &[])
        .await?
        .iter()
        .any(|other| other.evidence_id != rec.evidence_id && other.object_key.is_some() && other.retained_until() > now);
    if !still_needed {
        store.delete(&key).await?;
    }
    index.mark_deleted(rec.evidence_id, actor).await?;
    Ok(())
}
