//! What every archive package carries about one submission, whatever its format
//! (BagIt in [`crate::bag`], SEDA in [`crate::seda`]): its records, each stored file
//! streamed out through the checked read, and its history.
//!
//! The order matters and is the same for every format: the files are copied first
//! (each copy is a `file_read` event), and the history is read after, so a package
//! always carries the record of its own making.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use caregate_schemas::{Decision, EventKind, EvidenceEvent, EvidenceId, EvidenceRecord, Sha256Digest, SubmissionId, Verification};
use caregate_storage::{check_stored, EvidenceIndex, Fixity, ReadPurpose, StorageError};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::seda::ManifestError;
use crate::Stores;

/// Why a submission's records cannot be taken as they are (for a package, or for its
/// signatures to be validated again).
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    #[error("submission {0} has no record")]
    NoRecord(SubmissionId),
    /// A file of it has not reached its final status (its path).
    #[error("{0} is still being processed: export once the submission is complete")]
    Unfinished(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why an export delivered no package; whatever it had written is removed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Records(#[from] RecordsError),
    #[error("{} already exists: a package is written into a new directory", .0.display())]
    Exists(PathBuf),
    #[error("{} names no directory", .0.display())]
    NoName(PathBuf),
    #[error("{path} ({evidence_id}) has no stored object")]
    NoObject { path: String, evidence_id: EvidenceId },
    /// The stored object is gone (recorded as `fixity_failed`).
    #[error("{path} ({evidence_id}): its stored object {key} is missing; not exported")]
    ObjectMissing { path: String, evidence_id: EvidenceId, key: String },
    /// The stored bytes are not the ones received (recorded as `fixity_failed`).
    #[error(
        "{path} ({evidence_id}): stored bytes hash to {actual_sha256} ({actual_size} bytes), not {expected_sha256} ({expected_size} bytes) as received; not exported"
    )]
    Damaged { path: String, evidence_id: EvidenceId, actual_sha256: String, actual_size: u64, expected_sha256: Sha256Digest, expected_size: u64 },
    /// A bag's payload paths could not all be made distinct (a bug: see `bag::payload_paths`).
    #[error("could not give every file of the submission a payload path of its own")]
    NoPayloadPaths,
    /// The package written fails the check an archivist would run on it: every fault.
    #[error("the {format} written does not pass its own check, so it is not exported:\n  {}", .problems.join("\n  "))]
    FailsItsCheck { format: &'static str, problems: Vec<String> },
    #[error("{action} {}: {error}", .path.display())]
    Io { action: &'static str, path: PathBuf, error: std::io::Error },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("writing the package's records as JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

/// An I/O failure on `path` while `action` (`"writing"`, `"creating"`...).
pub(crate) fn io_error<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ExportError + 'a {
    move |error| ExportError::Io { action, path: path.to_owned(), error }
}

/// Writes one file of a package (its directory created first).
pub(crate) fn write_file(dest: &Path, body: &[u8]) -> Result<(), ExportError> {
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir).map_err(io_error("creating", dir))?;
    }
    std::fs::write(dest, body).map_err(io_error("writing", dest))
}

/// The records of a submission that may be packaged: every file has reached its final
/// status (an export of a submission still being read would be incomplete).
pub async fn final_records(index: &dyn EvidenceIndex, id: SubmissionId) -> Result<Vec<EvidenceRecord>, RecordsError> {
    let records = index.submission(id).await?;
    if records.is_empty() {
        return Err(RecordsError::NoRecord(id));
    }
    if let Some(r) = records.iter().find(|r| !r.status.is_terminal()) {
        return Err(RecordsError::Unfinished(r.path.clone()));
    }
    Ok(records)
}

/// A package is written beside its destination and moved there whole once complete:
/// an export cut short (the store or the database gone mid-way, the process killed)
/// leaves no half package an archivist could take for a transfer, and can simply be
/// run again. The staging directory (`.<name>.partiel`) is removed when the export
/// fails, and found and cleared by the next export when the process was killed.
pub struct Staging {
    /// Where the package is being written.
    pub dir: PathBuf,
    out: PathBuf,
    done: bool,
}

impl Staging {
    pub fn new(out: &Path) -> Result<Self, ExportError> {
        if out.exists() {
            return Err(ExportError::Exists(out.to_owned()));
        }
        let name = out.file_name().ok_or_else(|| ExportError::NoName(out.to_owned()))?.to_string_lossy();
        let dir = out.with_file_name(format!(".{name}.partiel"));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io_error("clearing what an interrupted export left in", &dir))?;
        }
        std::fs::create_dir_all(&dir).map_err(io_error("creating", &dir))?;
        Ok(Self { dir, out: out.to_owned(), done: false })
    }

    /// Moves the complete package to its destination.
    pub fn finish(mut self) -> Result<(), ExportError> {
        std::fs::rename(&self.dir, &self.out).map_err(io_error("moving the complete package to", &self.out))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Which package a copy went into, for the `file_read` event it leaves.
pub struct Package<'a> {
    /// `bag` or `seda`.
    pub format: &'static str,
    pub dir: &'a Path,
}

/// Streams a stored file to `dest` through the checked read ([`check_stored`]) and
/// records the disclosure as a `file_read` event. Bytes that are not the ones received
/// (digest or size), or a missing object, are refused and recorded in the file's
/// history; nothing is written in their place.
pub async fn copy_out(stores: Stores<'_>, rec: &EvidenceRecord, dest: &Path, package: &Package<'_>) -> Result<Sha256Digest, ExportError> {
    let Some(key) = rec.object_key.as_deref() else {
        return Err(ExportError::NoObject { path: rec.path.clone(), evidence_id: rec.evidence_id });
    };
    if let Some(dir) = dest.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(io_error("creating", dir))?;
    }
    let mut file = tokio::fs::File::create(dest).await.map_err(io_error("creating", dest))?;
    match check_stored(stores.evidence, stores.index, rec, key, Some(&mut file), ReadPurpose::Export, &local_actor()).await? {
        Fixity::Intact => {}
        Fixity::Missing => return Err(ExportError::ObjectMissing { path: rec.path.clone(), evidence_id: rec.evidence_id, key: key.to_owned() }),
        Fixity::Mismatch { actual_sha256, actual_size } => {
            return Err(ExportError::Damaged {
                path: rec.path.clone(),
                evidence_id: rec.evidence_id,
                actual_sha256,
                actual_size,
                expected_sha256: rec.sha256,
                expected_size: rec.size,
            })
        }
    }
    // Kept under the key the first exports used (`bag`), so old and new histories read alike.
    let place = if package.format == "bag" { "bag" } else { "transfer" };
    let detail = json!({"actor": local_actor(), "via": "export", "format": package.format, place: package.dir.display().to_string(), "sha256": rec.sha256});
    stores.index.record_event(rec.evidence_id, EventKind::FileRead, detail).await?;
    Ok(rec.sha256)
}

/// Refuses a package its own check finds fault with, naming every fault: the staging
/// directory it was written in is then removed, and nothing claims to be an export.
pub(crate) fn checked_before_delivery<P: fmt::Display>(format: &'static str, problems: Vec<P>) -> Result<(), ExportError> {
    if problems.is_empty() {
        return Ok(());
    }
    Err(ExportError::FailsItsCheck { format, problems: problems.iter().map(ToString::to_string).collect() })
}

/// Every file under `root/sub`, as its path from `root` (with `/`) and its size: what a
/// package holds, to compare with what its manifest lists.
pub(crate) fn files_under(root: &Path, sub: &str) -> Vec<(String, u64)> {
    let mut files = Vec::new();
    let mut stack = vec![root.join(sub)];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(root).expect("under the package").to_string_lossy().replace('\\', "/");
            files.push((rel, entry.metadata().map(|m| m.len()).unwrap_or(0)));
        }
    }
    files
}

pub(crate) fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// The submission's history, read once its files are copied.
pub struct History {
    /// Every file's events, by evidence id.
    pub events: BTreeMap<String, Vec<EvidenceEvent>>,
    pub decisions: Vec<Decision>,
    /// The verification as decided: the controllers' decisions laid over the machine's.
    pub decided: Option<Verification>,
    /// The machine's verifications, oldest first.
    pub machine: Vec<Verification>,
}

impl History {
    pub async fn read(index: &dyn EvidenceIndex, id: SubmissionId, records: &[EvidenceRecord]) -> Result<Self, StorageError> {
        let mut events = BTreeMap::new();
        for rec in records {
            events.insert(rec.evidence_id.to_string(), index.events(rec.evidence_id).await?);
        }
        let decisions = index.decisions(id).await?;
        let decided = index.verification(id).await?.map(|v| v.with_decisions(&decisions));
        let machine = index.verification_history(id).await?;
        Ok(Self { events, decisions, decided, machine })
    }
}

/// How audit events name whoever runs a command on the server itself.
pub fn local_actor() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
    format!("{user} (local command line)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_failing_its_own_check_is_refused_naming_each_fault() {
        assert!(checked_before_delivery::<String>("bag", vec![]).is_ok());
        let faults = vec![crate::bag::BagProblem::NotInManifest("data/files/x".into()), crate::bag::BagProblem::NoSignature];
        let err = checked_before_delivery("bag", faults).unwrap_err().to_string();
        assert!(err.starts_with("the bag written does not pass its own check, so it is not exported"), "{err}");
        assert!(err.contains("data/files/x is in the payload but in no manifest") && err.contains(crate::bag::SIGNATURE), "{err}");
    }
}
