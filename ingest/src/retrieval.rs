//! Handing stored files back: every read re-hashes the bytes against the SHA-256 recorded
//! at upload before anything leaves, and is an audit event; a mismatch is refused and
//! recorded. Deletion waits for the end of the file's retention.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use caregate_schemas::{EvidenceRecord, Status};
use caregate_storage::{hash_object, EvidenceIndex, ObjectStore, StorageError};
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::http::ApiError;

/// A file ready to serve.
pub enum Retrieved {
    /// The checked bytes, spooled: what was hashed is exactly what is sent.
    File(tempfile::NamedTempFile),
    /// Too large to pass through: the store's own expiring URL, issued after the check.
    Presigned(String),
}

fn conflict(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, code, message)
}

/// The key of a record's bytes in the evidence store, or why there is none to serve.
fn stored_key(rec: &EvidenceRecord) -> Result<&str, ApiError> {
    if rec.status == Status::Infected {
        return Err(conflict("infected", "an infected file never leaves quarantine"));
    }
    rec.object_key.as_deref().ok_or_else(|| {
        conflict("not_stored", format!("the file is not in the evidence store (status {}): it is held in quarantine or was deleted", rec.status))
    })
}

/// Reads the record's bytes back and checks them; on a mismatch records an
/// `integrity_failure` event and refuses with 409. `presign`: hand out an expiring URL of
/// that lifetime instead of the bytes, when the store can make one. The bytes are spooled
/// in `spool_dir` while they are checked.
pub async fn retrieve(
    store: &dyn ObjectStore,
    index: &dyn EvidenceIndex,
    rec: &EvidenceRecord,
    actor: &str,
    presign: Option<Duration>,
    spool_dir: &std::path::Path,
) -> Result<Retrieved, ApiError> {
    let key = stored_key(rec)?;
    let url = match presign {
        Some(ttl) => store.presigned_get(key, ttl).await?,
        None => None,
    };
    let mut spool = match url {
        Some(_) => None,
        None => Some(tempfile::Builder::new().prefix("download-").tempfile_in(spool_dir).map_err(StorageError::from)?),
    };
    let (actual, size) = match spool.as_mut() {
        Some(f) => {
            let mut file = tokio::fs::File::from_std(f.as_file().try_clone().map_err(StorageError::from)?);
            hash_object(store, key, Some(&mut file)).await?
        }
        None => hash_object(store, key, None).await?,
    };
    if actual != rec.sha256 || size != rec.size {
        let detail = json!({"object_key": key, "expected": rec.sha256, "actual": actual, "size": size, "actor": actor, "during": "retrieval"});
        index.record_event(rec.evidence_id, "integrity_failure", detail).await?;
        tracing::error!(evidence = %rec.evidence_id, key, "stored bytes no longer match their hash; retrieval refused");
        return Err(conflict(
            "integrity_failure",
            format!("the stored bytes no longer match the SHA-256 recorded at upload ({}); the failure is recorded", rec.sha256.hex()),
        ));
    }
    let how = if url.is_some() { "presigned_url" } else { "download" };
    index.record_event(rec.evidence_id, "file_read", json!({"actor": actor, "via": how, "sha256": actual})).await?;
    Ok(match (url, spool) {
        (Some(url), _) => Retrieved::Presigned(url),
        (None, Some(file)) => Retrieved::File(file),
        (None, None) => unreachable!("a spool is made whenever no URL is"),
    })
}

/// The HTTP answer for a checked file: its bytes as an attachment named as uploaded.
pub fn attachment(rec: &EvidenceRecord, file: tempfile::NamedTempFile) -> Response {
    use std::io::Seek;
    // The spool's name goes now; the open handle keeps the bytes until they are sent.
    // It shares its offset with the handle that wrote, hence the rewind.
    let mut std_file = file.into_file();
    if let Err(e) = std_file.rewind() {
        return ApiError::from(StorageError::from(e)).into_response();
    }
    let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(std_file));
    let name = rec.path.rsplit('/').next().unwrap_or("evidence").replace(['"', '\\'], "_");
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", name.replace(|c: char| !c.is_ascii() || c.is_ascii_control(), "_")))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    let media = rec.media_type.as_deref().and_then(|m| HeaderValue::from_str(m).ok()).unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"));
    (
        [
            (header::CONTENT_TYPE, media),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CONTENT_LENGTH, HeaderValue::from(rec.size)),
            (header::HeaderName::from_static("x-content-sha256"), HeaderValue::from_str(&rec.sha256.hex()).unwrap_or_else(|_| HeaderValue::from_static(""))),
            // A stored file is never rendered by the browser as part of caregate's origin.
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox")),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// The extracted text of a file, as an audited read.
pub async fn read_text(index: &dyn EvidenceIndex, rec: &EvidenceRecord, actor: &str) -> Result<String, ApiError> {
    if rec.status == Status::Infected {
        return Err(conflict("infected", "an infected file is never read"));
    }
    let text = index.text(rec.evidence_id).await?.unwrap_or_default();
    index.record_event(rec.evidence_id, "text_read", json!({"actor": actor, "chars": text.chars().count()})).await?;
    Ok(text)
}

/// Deletes the stored bytes of a record whose retention is over. Before, refuses with 409
/// and records the attempt. Content-addressed bytes shared with a record still retained
/// stay in the store; only this record lets go of them.
pub async fn delete(store: &dyn ObjectStore, index: &dyn EvidenceIndex, rec: &EvidenceRecord, actor: &str, now: DateTime<Utc>) -> Result<(), ApiError> {
    let key = stored_key(rec)?.to_owned();
    let until = rec.retained_until();
    if now < until {
        index.record_event(rec.evidence_id, "deletion_refused", json!({"actor": actor, "retain_until": until})).await?;
        return Err(conflict(
            "retention_active",
            format!("kept until {} (10-year retention of accounting proofs); nothing was deleted", until.format("%d/%m/%Y")),
        ));
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
