//! What every archive package carries about one submission, whatever its format
//! (BagIt in [`crate::bag`], SEDA in [`crate::seda`]): its records, each stored file
//! streamed out through the checked read, and its history.
//!
//! The order matters and is the same for every format: the files are copied first
//! (each copy is a `file_read` event), and the history is read after, so a package
//! always carries the record of its own making.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use caregate_schemas::{Decision, EventKind, EvidenceEvent, EvidenceRecord, Sha256Digest, SubmissionId, Verification};
use caregate_storage::{check_stored, EvidenceIndex, Fixity, ReadPurpose};
use serde_json::json;

use crate::Stores;

/// The records of a submission that may be packaged: every file has reached its final
/// status (an export of a submission still being read would be incomplete).
pub async fn final_records(index: &dyn EvidenceIndex, id: SubmissionId) -> anyhow::Result<Vec<EvidenceRecord>> {
    let records = index.submission(id).await?;
    if records.is_empty() {
        bail!("submission {id} has no record");
    }
    if let Some(r) = records.iter().find(|r| !r.status.is_terminal()) {
        bail!("{} is still being processed: export once the submission is complete", r.path);
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
    pub fn new(out: &Path) -> anyhow::Result<Self> {
        if out.exists() {
            bail!("{} already exists: a package is written into a new directory", out.display());
        }
        let name = out.file_name().with_context(|| format!("{} names no directory", out.display()))?.to_string_lossy();
        let dir = out.with_file_name(format!(".{name}.partiel"));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {} left by an interrupted export", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self { dir, out: out.to_owned(), done: false })
    }

    /// Moves the complete package to its destination.
    pub fn finish(mut self) -> anyhow::Result<()> {
        std::fs::rename(&self.dir, &self.out).with_context(|| format!("moving {} to {}", self.dir.display(), self.out.display()))?;
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
pub async fn copy_out(stores: Stores<'_>, rec: &EvidenceRecord, dest: &Path, package: &Package<'_>) -> anyhow::Result<Sha256Digest> {
    let Some(key) = rec.object_key.as_deref() else {
        bail!("{} ({}) has no stored object", rec.path, rec.evidence_id);
    };
    tokio::fs::create_dir_all(dest.parent().context("a package file has a directory")?).await?;
    let mut file = tokio::fs::File::create(dest).await.with_context(|| format!("creating {}", dest.display()))?;
    match check_stored(stores.evidence, stores.index, rec, key, Some(&mut file), ReadPurpose::Export, &local_actor()).await? {
        Fixity::Intact => {}
        Fixity::Missing => bail!("{} ({}): its stored object {key} is missing; not exported", rec.path, rec.evidence_id),
        Fixity::Mismatch { actual_sha256, actual_size } => bail!(
            "{} ({}): stored bytes hash to {actual_sha256} ({actual_size} bytes), not {} ({} bytes) as received; not exported",
            rec.path,
            rec.evidence_id,
            rec.sha256,
            rec.size
        ),
    }
    // Kept under the key the first exports used (`bag`), so old and new histories read alike.
    let place = if package.format == "bag" { "bag" } else { "transfer" };
    let detail = json!({"actor": local_actor(), "via": "export", "format": package.format, place: package.dir.display().to_string(), "sha256": rec.sha256});
    stores.index.record_event(rec.evidence_id, EventKind::FileRead, detail).await?;
    Ok(rec.sha256)
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
    pub async fn read(index: &dyn EvidenceIndex, id: SubmissionId, records: &[EvidenceRecord]) -> anyhow::Result<Self> {
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
