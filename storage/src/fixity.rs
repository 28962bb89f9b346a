//! The one way stored bytes are read back to leave caregate or to be vouched for: a
//! download, a presigned URL, an export and a fixity check all stream the object through
//! SHA-256 (copying it on the way when asked) and compare digest and size with the
//! record made at intake. A mismatch or a missing object is written into the file's
//! history as one event kind, `fixity_failed`, with one detail shape.

use caregate_schemas::{EventKind, EvidenceRecord};
use serde::Serialize;
use serde_json::json;

use crate::{hash_object, EvidenceIndex, ObjectStore, StorageError};

/// What reading a stored object back found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Fixity {
    Intact,
    /// The object's bytes no longer hash to the recorded digest, or not to its size.
    Mismatch {
        actual_sha256: String,
        actual_size: u64,
    },
    Missing,
}

/// Why the bytes were read back, as the history records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadPurpose {
    Retrieval,
    FixityCheck,
    Export,
    /// Its PDF signatures validated again (`caregate signatures`).
    SignatureValidation,
    /// Its scanned pages read by the OCR pool.
    Ocr,
}

/// Reads `key` (the record's object) back, copying it into `copy` when given, and checks
/// it; anything but [`Fixity::Intact`] is recorded as a `fixity_failed` event naming
/// `actor` and `purpose`. A partial copy is the caller's to discard.
pub async fn check_stored(
    store: &dyn ObjectStore,
    index: &dyn EvidenceIndex,
    rec: &EvidenceRecord,
    key: &str,
    copy: Option<&mut tokio::fs::File>,
    purpose: ReadPurpose,
    actor: &str,
) -> Result<Fixity, StorageError> {
    let fixity = match hash_object(store, key, copy).await {
        Ok((actual, size)) if actual == rec.sha256 && size == rec.size => return Ok(Fixity::Intact),
        Ok((actual, size)) => Fixity::Mismatch { actual_sha256: actual.hex(), actual_size: size },
        Err(StorageError::NotFound(_)) => Fixity::Missing,
        Err(e) => return Err(e),
    };
    let detail = json!({
        "object_key": key,
        "expected_sha256": rec.sha256,
        "expected_size": rec.size,
        "found": fixity,
        "during": purpose,
        "actor": actor,
    });
    tracing::error!(evidence = %rec.evidence_id, key, ?purpose, "stored bytes no longer match their record");
    index.record_event(rec.evidence_id, EventKind::FixityFailed, detail).await?;
    Ok(fixity)
}
