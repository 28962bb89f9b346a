//! Signatures validated again, years later: trust changes (a CA is added to the trust
//! list, another is withdrawn), so `caregate signatures --submission ID` reads each
//! kept PDF back through the checked read, validates its signatures with the trust
//! anchors configured today, writes the new validation into the record with a
//! `signatures_validated` event (the one before stays in the history), and judges the
//! dossier again.

use caregate_schemas::FindingCode;
use std::collections::HashSet;

use caregate_schemas::extracted::{Indication, Signature};
use caregate_schemas::{EventKind, EvidenceId, EvidenceRecord, Finding, Status, SubmissionId};
use caregate_storage::{check_stored, Fixity, ReadPurpose, StorageError};
use caregate_workers::read::{ReadFileError, Reader};
use caregate_workers::{Verifier, VerifyError};
use serde_json::json;

use crate::package::{self, RecordsError};
use crate::Stores;

/// Why a new validation of a dossier's signatures did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RevalidateError {
    #[error(transparent)]
    Records(#[from] RecordsError),
    #[error("a directory for the files read back: {0}")]
    Spool(std::io::Error),
    /// The dossier could not be judged again after its files were.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// Files not validated again (the others were, and the dossier judged again): to
    /// run again once what stopped them is mended.
    #[error("{} file(s) not validated again, to run again: {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Incomplete(Vec<NotRevalidated>),
}

/// One file not validated again, and why.
#[derive(Debug, thiserror::Error)]
#[error("{path} ({evidence_id}): {why}")]
pub struct NotRevalidated {
    pub path: String,
    pub evidence_id: EvidenceId,
    pub why: FileError,
}

/// Why one file could not be validated again.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The bytes read back are not the ones received (recorded as `fixity_failed`).
    #[error("stored bytes are not the ones received ({0:?}); not validated")]
    Damaged(Fixity),
    #[error("copying it out to read: {0}")]
    Spool(std::io::Error),
    #[error(transparent)]
    Read(#[from] ReadFileError),
    #[error("its reading stopped: {0}")]
    Interrupted(#[from] tokio::task::JoinError),
    /// Read again, it has no PDF structure any more (what the reader found instead).
    #[error("its PDF structure could not be read again: {0:?}")]
    NoStructure(Vec<Finding>),
}

/// Findings that come from validating signatures, replaced by a new validation.
const SIGNATURE_CODES: [FindingCode; 3] = [FindingCode::SignatureIndeterminate, FindingCode::SignatureInvalid, FindingCode::ModifiedAfterSigning];

/// One file validated again.
#[derive(Debug)]
pub struct Revalidated {
    pub path: String,
    /// Indications before and after, one per signature.
    pub before: Vec<Option<Indication>>,
    pub after: Vec<Option<Indication>>,
}

fn indications(signatures: &[Signature]) -> Vec<Option<Indication>> {
    signatures.iter().map(|s| s.validation.as_ref().map(|v| v.indication)).collect()
}

/// Validates again every signed PDF of a submission; returns what each became.
///
/// Each file's new validation is written with its event as one step, so a run cut
/// short (the store or the database gone) leaves every file either validated again or
/// as it was. A file that cannot be read back does not stop the others; the dossier is
/// judged again on what was done, and the run then fails naming what was not, to be
/// run again once the store answers (a file done twice has two dated events, both
/// true).
///
/// `reader` reads with the trust anchors configured today (its `limits.trust_anchors`,
/// which the event names); `verifier` judges the dossier again.
pub async fn revalidate(stores: Stores<'_>, reader: &Reader, verifier: &Verifier, id: SubmissionId) -> Result<Vec<Revalidated>, RevalidateError> {
    let records = package::final_records(stores.index, id).await?;
    let spool = tempfile::tempdir().map_err(RevalidateError::Spool)?;
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for rec in records.into_iter().filter(|r| matches!(r.status, Status::Stored | Status::NeedsReview)) {
        if rec.fields.document.as_ref().is_none_or(|d| d.signatures.is_empty()) || rec.object_key.is_none() {
            continue;
        }
        match revalidate_one(stores, reader, spool.path(), &rec).await {
            Ok(Some(r)) => done.push(r),
            Ok(None) => {}
            Err(why) => failed.push(NotRevalidated { path: rec.path.clone(), evidence_id: rec.evidence_id, why }),
        }
    }
    if !done.is_empty() {
        verifier.verify(id).await?;
    }
    if !failed.is_empty() {
        return Err(RevalidateError::Incomplete(failed));
    }
    Ok(done)
}

async fn revalidate_one(stores: Stores<'_>, reader: &Reader, spool: &std::path::Path, rec: &EvidenceRecord) -> Result<Option<Revalidated>, FileError> {
    let (Some(doc), Some(key)) = (rec.fields.document.as_ref(), rec.object_key.as_deref()) else { return Ok(None) };
    let before = indications(&doc.signatures);
    let path = spool.join(rec.evidence_id.to_string());
    let mut file = tokio::fs::File::create(&path).await.map_err(FileError::Spool)?;
    match check_stored(stores.evidence, stores.index, rec, key, Some(&mut file), ReadPurpose::SignatureValidation, &package::local_actor()).await? {
        Fixity::Intact => {}
        other => return Err(FileError::Damaged(other)),
    }
    drop(file);
    let name = rec.path.rsplit('/').next().unwrap_or(&rec.path).to_owned();
    let reading = {
        let (path, reader) = (path.clone(), reader.clone());
        tokio::task::spawn_blocking(move || reader.read_file(&path, &name)).await?
    };
    let (_, analysis) = reading?;
    let Some(signatures) = analysis.fields.document.map(|d| d.signatures) else {
        return Err(FileError::NoStructure(analysis.findings));
    };
    let after = indications(&signatures);
    let updated = with_signatures(rec.clone(), signatures, analysis.findings);
    let detail = json!({
        "actor": package::local_actor(),
        "trust_anchors": reader.limits.trust_anchors,
        "before": before,
        "after": after,
        "validation": updated.fields.document.as_ref().map(|d| d.signatures.iter().map(|s| s.validation.clone()).collect::<Vec<_>>()),
    });
    let recorded = stores.index.record_reexamination(&updated, EventKind::SignaturesValidated, detail).await?;
    Ok(recorded.then(|| Revalidated { path: rec.path.clone(), before, after }))
}

/// The record with its new validation: signature findings replaced, the status that
/// follows from them (a file a person had to see keeps needing it for other reasons).
fn with_signatures(mut rec: EvidenceRecord, signatures: Vec<Signature>, findings: Vec<Finding>) -> EvidenceRecord {
    if let Some(doc) = rec.fields.document.as_mut() {
        doc.signatures = signatures;
    }
    rec.findings.retain(|f| !SIGNATURE_CODES.contains(&f.code));
    let known: HashSet<FindingCode> = rec.findings.iter().map(|f| f.code).collect();
    rec.findings.extend(findings.into_iter().filter(|f| SIGNATURE_CODES.contains(&f.code) && !known.contains(&f.code)));
    rec.status = Status::for_findings(&rec.findings);
    rec
}
