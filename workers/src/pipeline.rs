//! The stages a received file goes through, and their order.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use caregate_extract::{Analysis, Limits};
use caregate_schemas::extracted::{Member, MemberEvidence};
use caregate_schemas::{EvidenceReceived, EvidenceRecord, Finding, ScanReport, ScanResult, Severity, Sha256Digest, Status};
use caregate_storage::{EvidenceIndex, JobQueue, ObjectStore, StorageError};
use chrono::Utc;
use futures::StreamExt;
use serde_json::json;
use sha2::{Digest, Sha256};
use tempfile::TempPath;
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

use crate::clamd::{Clamd, ClamdReply};
use crate::extract::{ExtractInput, ExtractStage};
use crate::identify::{identify_file, Identity};
use crate::stage::{Hold, Outcome, Stage, Stop};
use crate::verify::Verifier;

/// How a job ended, as far as the queue is concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobOutcome {
    /// The record reached this terminal status and is durably written.
    Finished(Status),
    /// The record was already terminal: this was a redelivery, nothing was redone.
    AlreadyDone(Status),
    Retry(String),
    DeadLetter(String),
}

/// The bytes of one file after the scan: a local working copy (deleted when dropped),
/// its digest recomputed on the way to clamd, and clamd's report.
pub struct Scanned {
    pub spool: TempPath,
    pub sha256: Sha256Digest,
    pub size: u64,
    pub report: ScanReport,
}

const CHUNK: usize = 256 * 1024;

/// Streams the quarantined object to clamd once, hashing it and keeping a local working
/// copy on the way, so later stages never read the quarantine again.
pub struct ScanStage {
    clamd: Arc<Clamd>,
    quarantine: Arc<dyn ObjectStore>,
    spool_dir: PathBuf,
}

#[async_trait]
impl Stage for ScanStage {
    type Input = String;
    type Output = Scanned;

    fn name(&self) -> &'static str {
        "scan"
    }

    async fn run(&self, quarantine_key: String) -> Outcome<Scanned> {
        let engine = match self.clamd.version().await {
            Ok(v) => v,
            Err(e) => return Outcome::Retry(format!("scan: {e}")),
        };
        let reader = match self.quarantine.open(&quarantine_key).await {
            Ok(r) => r,
            Err(StorageError::NotFound(k)) => return Outcome::DeadLetter(format!("scan: quarantined object {k} is missing")),
            Err(e) => return Outcome::from_storage("scan: reading quarantine", e),
        };
        let (spool_file, spool) = match tempfile::Builder::new().prefix("spool-").tempfile_in(&self.spool_dir) {
            Ok(f) => f.into_parts(),
            Err(e) => return Outcome::Retry(format!("scan: cannot create working copy: {e}")),
        };
        let mut file = tokio::fs::File::from_std(spool_file);
        let mut chunks = ReaderStream::with_capacity(reader, CHUNK);
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let reply = {
            let tee = futures::stream::unfold((&mut chunks, &mut file, &mut hasher, &mut size), |(chunks, file, hasher, size)| async move {
                let item = match chunks.next().await? {
                    Ok(chunk) => {
                        hasher.update(&chunk);
                        *size += chunk.len() as u64;
                        file.write_all(&chunk).await.map(|_| chunk)
                    }
                    Err(e) => Err(e),
                };
                Some((item, (chunks, file, hasher, size)))
            });
            self.clamd.scan(tee).await
        };
        let reply = match reply {
            Ok(r) => r,
            // Never "clean": the file waits in quarantine for clamd to come back.
            Err(e) => return Outcome::Retry(format!("scan: {e}")),
        };
        let report = |result, signature| ScanReport { engine: engine.clone(), result, signature, scanned_at: Utc::now() };
        match reply {
            ClamdReply::Found(sig) => Outcome::Quarantine(Hold {
                status: Status::Infected,
                findings: vec![Finding::new("infected", Severity::Critical, format!("l'antivirus a détecté {sig}"))],
                scan: Some(report(ScanResult::Infected, Some(sig))),
            }),
            ClamdReply::LimitsExceeded(limit) => Outcome::Quarantine(Hold {
                status: Status::NeedsReview,
                findings: vec![Finding::new(
                    "scan_incomplete",
                    Severity::Error,
                    format!("l'antivirus s'est arrêté avant la fin ({limit}) : le fichier n'est pas réputé sain"),
                )],
                scan: Some(report(ScanResult::Incomplete, Some(limit))),
            }),
            ClamdReply::Clean => {
                if let Err(e) = file.flush().await {
                    return Outcome::Retry(format!("scan: writing working copy: {e}"));
                }
                Outcome::Continue(Scanned { spool, sha256: hasher.into(), size, report: report(ScanResult::Clean, None) })
            }
        }
    }
}

/// The bytes scanned must be the bytes uploaded.
pub struct VerifyHashStage;

#[async_trait]
impl Stage for VerifyHashStage {
    type Input = (Scanned, Sha256Digest, u64);
    type Output = Scanned;

    fn name(&self) -> &'static str {
        "hash"
    }

    async fn run(&self, (scanned, expected, expected_size): Self::Input) -> Outcome<Scanned> {
        if scanned.sha256 == expected && scanned.size == expected_size {
            return Outcome::Continue(scanned);
        }
        Outcome::Quarantine(Hold {
            status: Status::Failed,
            findings: vec![Finding::new(
                "hash_mismatch",
                Severity::Critical,
                format!(
                    "les octets en quarantaine ({} octets, sha256 {}) diffèrent du dépôt ({expected_size} octets, sha256 {expected})",
                    scanned.size, scanned.sha256
                ),
            )],
            scan: Some(scanned.report),
        })
    }
}

/// Media type from magic bytes, extension and XML root.
pub struct IdentifyStage;

#[async_trait]
impl Stage for IdentifyStage {
    type Input = (PathBuf, String);
    type Output = Identity;

    fn name(&self) -> &'static str {
        "identify"
    }

    async fn run(&self, (path, name): Self::Input) -> Outcome<Identity> {
        match tokio::task::spawn_blocking(move || identify_file(&path, &name)).await {
            Ok(Ok(identity)) => Outcome::Continue(identity),
            Ok(Err(e)) => Outcome::Retry(format!("identify: reading working copy: {e}")),
            Err(e) => Outcome::Retry(format!("identify: {e}")),
        }
    }
}

/// What the store stage needs: the quarantined object, the local working copy of the same
/// (verified) bytes, and their digest and size.
pub struct StoreInput {
    pub quarantine_key: String,
    pub working_copy: TempPath,
    pub sha256: Sha256Digest,
    pub size: u64,
}

/// Copies the clean file into the evidence store under its content address; the store
/// checks the SHA-256. Inside one S3 service the copy is made in place (the bytes do not
/// travel again); otherwise they are streamed from the working copy. Bytes already there
/// (the same file sent twice) are not copied again.
///
/// The output is the key and the date before which the object may not be deleted; the
/// store is asked to enforce it too (S3 Object Lock) where it can.
pub struct StoreStage {
    quarantine: Arc<dyn ObjectStore>,
    evidence: Arc<dyn ObjectStore>,
    retention: chrono::Duration,
}

#[async_trait]
impl Stage for StoreStage {
    type Input = StoreInput;
    type Output = (String, chrono::DateTime<chrono::Utc>);

    fn name(&self) -> &'static str {
        "store"
    }

    async fn run(&self, input: StoreInput) -> Outcome<(String, chrono::DateTime<chrono::Utc>)> {
        let key = input.sha256.object_key();
        let until = chrono::Utc::now() + self.retention;
        let present = match self.evidence.size(&key).await {
            Ok(size) => size == Some(input.size),
            Err(e) => return Outcome::from_storage("store: checking evidence store", e),
        };
        if !present {
            match self.write(input, &key).await {
                Outcome::Continue(()) => {}
                Outcome::Quarantine(h) => return Outcome::Quarantine(h),
                Outcome::Retry(r) => return Outcome::Retry(r),
                Outcome::DeadLetter(r) => return Outcome::DeadLetter(r),
            }
        }
        // The same bytes sent again later extend the object's retention (S3 only ever
        // lengthens a compliance-mode lock).
        match self.evidence.retain(&key, until).await {
            Ok(_) => Outcome::Continue((key, until)),
            Err(e) => Outcome::from_storage("store: setting the object's retention", e),
        }
    }
}

impl StoreStage {
    async fn write(&self, input: StoreInput, key: &str) -> Outcome<()> {
        let copied = self.evidence.copy_from(self.quarantine.as_ref(), &input.quarantine_key, key, &input.sha256).await;
        let written = match copied {
            Ok(true) => Ok(()),
            Ok(false) => self.evidence.put_owned(key, input.working_copy, &input.sha256).await,
            Err(e) => Err(e),
        };
        match written {
            Ok(()) => Outcome::Continue(()),
            // Our copy was verified; different bytes at the store mean damage in transit.
            Err(e @ StorageError::ChecksumMismatch { .. }) => Outcome::Retry(format!("store: {e}")),
            Err(e) => Outcome::from_storage("store: writing evidence", e),
        }
    }
}

/// Writes what reading the file found into its record.
fn apply(rec: &mut EvidenceRecord, analysis: Analysis) {
    let c = analysis.classification;
    rec.kind = Some(c.kind);
    rec.confidence = Some(c.confidence);
    rec.kind_reasons = c.reasons;
    rec.fields = caregate_schemas::Fields { format: Some(analysis.format.to_owned()), ..analysis.fields };
    rec.findings.extend(analysis.findings);
}

enum UnpackError {
    Limits(caregate_extract::ExtractError),
    Io(std::io::Error),
}

/// Inflates the members of an archive into working files, each hashed on the way and
/// bounded by the limits whatever its header declared.
fn unpack(
    archive: &std::path::Path,
    dir: &std::path::Path,
    members: &[Member],
    limits: &Limits,
) -> Result<Vec<(Member, TempPath, Sha256Digest, u64)>, UnpackError> {
    use caregate_extract::archive;
    struct Hashing<W> {
        inner: W,
        hasher: Sha256,
    }
    impl<W: std::io::Write> std::io::Write for Hashing<W> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = self.inner.write(buf)?;
            self.hasher.update(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.inner.flush()
        }
    }
    let file = std::fs::File::open(archive).map_err(UnpackError::Io)?;
    let (mut zip, _) = archive::open(file, limits).map_err(UnpackError::Limits)?;
    let mut out = Vec::new();
    let mut total = 0u64;
    for m in members {
        let (tmp, path) = tempfile::Builder::new().prefix("member-").tempfile_in(dir).map_err(UnpackError::Io)?.into_parts();
        let mut w = Hashing { inner: std::io::BufWriter::new(tmp), hasher: Sha256::new() };
        let size = archive::copy_member(&mut zip, m.index, limits.max_member_bytes, &mut w).map_err(UnpackError::Limits)?;
        std::io::Write::flush(&mut w).map_err(UnpackError::Io)?;
        total += size;
        if total > limits.max_archive_bytes {
            return Err(UnpackError::Limits(caregate_extract::ExtractError::ArchiveLimits(format!("members inflate past {} bytes", limits.max_archive_bytes))));
        }
        out.push((m.clone(), path, w.hasher.into(), size));
    }
    Ok(out)
}

/// The pipeline: scan → hash → identify → extract and classify → store → index → verify.
///
/// Checking against the objectives comes after the index, not before the store: a
/// verdict belongs to the submission, not to one file, and it must be recomputable from
/// the stored records alone (when the referential changes) without touching the bytes.
pub struct Pipeline {
    index: Arc<dyn EvidenceIndex>,
    quarantine: Arc<dyn ObjectStore>,
    queue: Arc<dyn JobQueue>,
    spool_dir: PathBuf,
    limits: Limits,
    scan: ScanStage,
    identify: IdentifyStage,
    extract: ExtractStage,
    store: StoreStage,
    verifier: Arc<Verifier>,
}

/// Runs a stage; anything but `Continue` ends the job through [`Pipeline::conclude`].
macro_rules! step {
    ($pipeline:expr, $rec:expr, $stage:expr, $input:expr) => {
        match $stage.run($input).await.into_result() {
            Ok(v) => v,
            Err(stop) => return $pipeline.conclude($rec, $stage.name(), stop).await,
        }
    };
}

impl Pipeline {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        clamd: Arc<Clamd>,
        quarantine: Arc<dyn ObjectStore>,
        evidence: Arc<dyn ObjectStore>,
        index: Arc<dyn EvidenceIndex>,
        queue: Arc<dyn JobQueue>,
        spool_dir: PathBuf,
        limits: Limits,
        extract_threads: usize,
        retention_days: u32,
        verifier: Arc<Verifier>,
    ) -> Self {
        Self {
            verifier,
            scan: ScanStage { clamd, quarantine: quarantine.clone(), spool_dir: spool_dir.clone() },
            identify: IdentifyStage,
            extract: ExtractStage::new(limits.clone(), extract_threads),
            queue,
            spool_dir,
            limits,
            store: StoreStage { quarantine: quarantine.clone(), evidence, retention: chrono::Duration::days(retention_days.into()) },
            quarantine,
            index,
        }
    }

    /// Runs one job from the start. Safe to call again for the same job at any time.
    pub async fn run(&self, job: &EvidenceReceived, attempt: u32) -> JobOutcome {
        let mut rec = match self.index.get(job.evidence_id).await {
            Ok(Some(rec)) => rec,
            Ok(None) => return JobOutcome::DeadLetter(format!("no record for evidence {}", job.evidence_id)),
            Err(e) if e.is_transient() => return JobOutcome::Retry(format!("index: {e}")),
            Err(e) => return JobOutcome::DeadLetter(format!("index: {e}")),
        };
        if rec.status.is_terminal() {
            self.clean_quarantine(&rec).await;
            // The verification may be what an earlier attempt did not finish.
            return self.verify(&rec, JobOutcome::AlreadyDone(rec.status)).await;
        }
        rec.attempts = attempt;

        let scanned = step!(self, rec, self.scan, job.quarantine_key.clone());
        rec.scan = Some(scanned.report.clone());
        let scanned = step!(self, rec, VerifyHashStage, (scanned, job.sha256, job.size));
        let identity = step!(self, rec, self.identify, (scanned.spool.to_path_buf(), rec.path.clone()));
        rec.media_type = Some(identity.media_type.clone());
        rec.findings.extend(identity.findings.iter().cloned());
        let read = ExtractInput { working_copy: scanned.spool.to_path_buf(), name: rec.path.clone(), identity: identity.clone() };
        let mut analysis = step!(self, rec, self.extract, read);
        let members = analysis.members.clone();
        let text = std::mem::take(&mut analysis.text);
        apply(&mut rec, analysis);
        if !members.is_empty() {
            if let Err(stop) = self.expand_archive(&mut rec, &scanned.spool, members).await.into_result() {
                return self.conclude(rec, "extract", stop).await;
            }
        }
        let stored = StoreInput { quarantine_key: job.quarantine_key.clone(), working_copy: scanned.spool, sha256: scanned.sha256, size: scanned.size };
        let (key, retain_until) = step!(self, rec, self.store, stored);
        if !text.is_empty() {
            if let Err(stop) = self.keep_text(rec.evidence_id, &text).await.into_result() {
                return self.conclude(rec, "index", stop).await;
            }
        }

        rec.object_key = Some(key.clone());
        rec.retain_until = Some(retain_until);
        rec.quarantine_key = None;
        rec.status = Status::for_findings(&rec.findings);
        let detail = json!({
            "object_key": key,
            "media_type": identity.media_type,
            "xml_root": identity.xml_root,
            "engine": scanned.report.engine,
            "findings": rec.findings.iter().map(|f| &f.code).collect::<Vec<_>>(),
        });
        self.record(rec, detail).await
    }

    /// Makes each member of a submitted zip its own evidence, linked to the archive: its
    /// bytes go to quarantine, its record is written, its job is queued. Member ids are
    /// derived from the archive's, so running this again (a redelivery) adds nothing.
    async fn expand_archive(&self, rec: &mut EvidenceRecord, archive: &std::path::Path, members: Vec<Member>) -> Outcome<()> {
        let mut depth = 0;
        let mut up = rec.parent;
        while let Some(parent) = up {
            depth += 1;
            up = match self.index.get(parent).await {
                Ok(p) => p.and_then(|p| p.parent),
                Err(e) => return Outcome::from_storage("extract: reading the enclosing archive", e),
            };
        }
        if depth >= self.limits.max_archive_depth {
            rec.findings.push(Finding::new(
                "archive_limits",
                Severity::Warning,
                format!("archive imbriquée sur {depth} niveaux : ses fichiers ne sont pas extraits (limite {})", self.limits.max_archive_depth),
            ));
            return Outcome::Continue(());
        }
        let wanted: Vec<Member> = members.into_iter().filter(|m| !m.encrypted).collect();
        let (path, dir, limits) = (archive.to_path_buf(), self.spool_dir.clone(), self.limits.clone());
        let unpacked = tokio::task::spawn_blocking(move || unpack(&path, &dir, &wanted, &limits)).await;
        let unpacked = match unpacked {
            Ok(Ok(files)) => files,
            Ok(Err(UnpackError::Limits(e))) => {
                rec.findings.push(e.finding());
                return Outcome::Continue(());
            }
            Ok(Err(UnpackError::Io(e))) => return Outcome::Retry(format!("extract: unpacking archive: {e}")),
            Err(e) => return Outcome::Retry(format!("extract: unpacking archive: {e}")),
        };
        let mut listed = Vec::new();
        for (member, file, sha256, size) in unpacked {
            let id = rec.evidence_id.member(&member.name);
            listed.push(MemberEvidence { name: member.name.clone(), evidence_id: id });
            match self.index.get(id).await {
                Ok(Some(existing)) if existing.status.is_terminal() => continue,
                Ok(Some(_)) => {}
                Ok(None) => {
                    if let Err(e) = self.quarantine.put_owned(&id.quarantine_key(), file, &sha256).await {
                        return Outcome::from_storage("extract: quarantining an archive member", e);
                    }
                    let mut child =
                        EvidenceRecord::received(id, rec.submission.clone(), format!("{}/{}", rec.path, member.name), sha256, size, id.quarantine_key());
                    child.parent = Some(rec.evidence_id);
                    child.uploaded_by = rec.uploaded_by.clone();
                    if let Err(e) = self.index.record_received(&child).await {
                        return Outcome::from_storage("extract: recording an archive member", e);
                    }
                }
                Err(e) => return Outcome::from_storage("extract: reading an archive member's record", e),
            }
            let job = EvidenceReceived { evidence_id: id, quarantine_key: id.quarantine_key(), sha256, size, path: format!("{}/{}", rec.path, member.name) };
            if let Err(e) = self.queue.publish(&job).await {
                return Outcome::from_storage("extract: queueing an archive member", e);
            }
        }
        rec.fields.member_evidence = Some(listed);
        Outcome::Continue(())
    }

    /// The extracted text goes beside the record, for search and the console's preview.
    async fn keep_text(&self, id: caregate_schemas::EvidenceId, text: &str) -> Outcome<()> {
        match self.index.put_text(id, text).await {
            Ok(()) => Outcome::Continue(()),
            Err(e) => Outcome::from_storage("index: keeping the extracted text", e),
        }
    }

    /// Ends the job where a stage stopped it.
    async fn conclude(&self, mut rec: EvidenceRecord, stage: &str, stop: Stop) -> JobOutcome {
        match stop {
            Stop::Retry(reason) => JobOutcome::Retry(reason),
            Stop::DeadLetter(reason) => JobOutcome::DeadLetter(reason),
            Stop::Quarantine(hold) => {
                tracing::info!(evidence = %rec.evidence_id, stage, status = %hold.status, "kept in quarantine");
                rec.status = hold.status;
                rec.findings.extend(hold.findings);
                if hold.scan.is_some() {
                    rec.scan = hold.scan;
                }
                let detail = json!({
                    "stage": stage,
                    "quarantine_key": rec.quarantine_key,
                    "signature": rec.scan.as_ref().and_then(|s| s.signature.clone()),
                    "findings": rec.findings.iter().map(|f| &f.code).collect::<Vec<_>>(),
                });
                self.record(rec, detail).await
            }
        }
    }

    /// Writes the terminal record (and its event), then lets go of the quarantined copy
    /// of a stored file. The quarantine goes last: a crash before leaves a redelivery
    /// that finds the record done and only cleans up.
    async fn record(&self, rec: EvidenceRecord, detail: serde_json::Value) -> JobOutcome {
        match self.index.finish(&rec, detail).await {
            Ok(_) => {
                self.clean_quarantine(&rec).await;
                self.verify(&rec, JobOutcome::Finished(rec.status)).await
            }
            Err(e) if e.is_transient() => JobOutcome::Retry(format!("index: {e}")),
            Err(e) => JobOutcome::DeadLetter(format!("index: {e}")),
        }
    }

    /// Judges the file's submission again now that the file is done. The file's own
    /// outcome stands whatever happens here; a passing failure retries the job, whose
    /// redelivery finds the file done and only verifies.
    async fn verify(&self, rec: &EvidenceRecord, done: JobOutcome) -> JobOutcome {
        match self.verifier.after_file(rec.submission.submission_id).await {
            Ok(_) => done,
            Err(e) if e.is_transient() => JobOutcome::Retry(format!("verify: {e}")),
            Err(e) => {
                tracing::error!(submission = %rec.submission.submission_id, error = %e, "could not verify the submission");
                done
            }
        }
    }

    async fn clean_quarantine(&self, rec: &EvidenceRecord) {
        // Only files that reached the evidence store leave quarantine.
        if rec.object_key.is_none() {
            return;
        }
        if let Err(e) = self.quarantine.delete(&rec.evidence_id.quarantine_key()).await {
            tracing::warn!(evidence = %rec.evidence_id, error = %e, "could not remove quarantined copy");
        }
    }
}
