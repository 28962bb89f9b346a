//! The stages a received file goes through, and their order.

use caregate_schemas::FindingCode;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use caregate_extract::{Analysis, Limits};
use caregate_schemas::extracted::{Member, MemberEvidence};
use caregate_schemas::{EvidenceId, EvidenceReceived, EvidenceRecord, Finding, ScanReport, ScanResult, Severity, Sha256Digest, Status, SubmissionId};
use caregate_storage::{EvidenceIndex, ObjectStore, Outbox, StorageError};
use chrono::Utc;
use futures::StreamExt;
use serde_json::json;
use sha2::{Digest, Sha256};
use tempfile::TempPath;
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

use crate::clamd::{Clamd, ClamdReply};
use crate::identify::{identify_file, Identity};
use crate::read::{ReadInput, ReadStage, Reader};
use crate::stage::{Hold, Stage, StageName, Stop};
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

impl JobOutcome {
    /// A job a stage ended without a terminal record to write.
    fn ended(stop: Stop) -> Self {
        match stop {
            Stop::Retry(reason) => JobOutcome::Retry(reason),
            Stop::DeadLetter(reason) => JobOutcome::DeadLetter(reason),
            // Only stages before the index hold a file; this one came too late to be.
            Stop::Quarantine(hold) => JobOutcome::DeadLetter(format!("a stage asked to hold the file ({}) after its record was final", hold.status)),
        }
    }
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

/// What the scan needs: where the file waits in quarantine.
pub struct ScanInput {
    pub quarantine_key: String,
}

#[async_trait]
impl Stage for ScanStage {
    type Input = ScanInput;
    type Output = Scanned;

    fn name(&self) -> StageName {
        StageName::Scan
    }

    async fn run(&self, ScanInput { quarantine_key }: ScanInput) -> Result<Scanned, Stop> {
        let engine = match self.clamd.version().await {
            Ok(v) => v,
            Err(e) => return Err(Stop::Retry(format!("scan: {e}"))),
        };
        let reader = match self.quarantine.open(&quarantine_key).await {
            Ok(r) => r,
            Err(StorageError::NotFound(k)) => return Err(Stop::DeadLetter(format!("scan: quarantined object {k} is missing"))),
            Err(e) => return Err(Stop::from_storage("scan: reading quarantine", e)),
        };
        let (spool_file, spool) = match tempfile::Builder::new().prefix("spool-").tempfile_in(&self.spool_dir) {
            Ok(f) => f.into_parts(),
            Err(e) => return Err(Stop::Retry(format!("scan: cannot create working copy: {e}"))),
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
            Err(e) => return Err(Stop::Retry(format!("scan: {e}"))),
        };
        let report = |result, signature| ScanReport { engine: engine.clone(), result, signature, scanned_at: Utc::now() };
        match reply {
            ClamdReply::Found(sig) => Err(Stop::Quarantine(Hold {
                status: Status::Infected,
                findings: vec![Finding::new(FindingCode::Infected, Severity::Critical, format!("l'antivirus a détecté {sig}"))],
                scan: Some(report(ScanResult::Infected, Some(sig))),
            })),
            ClamdReply::LimitsExceeded(limit) => Err(Stop::Quarantine(Hold {
                status: Status::NeedsReview,
                findings: vec![Finding::new(
                    FindingCode::ScanIncomplete,
                    Severity::Error,
                    format!("l'antivirus s'est arrêté avant la fin ({limit}) : le fichier n'est pas réputé sain"),
                )],
                scan: Some(report(ScanResult::Incomplete, Some(limit))),
            })),
            ClamdReply::Clean => {
                if let Err(e) = file.flush().await {
                    return Err(Stop::Retry(format!("scan: writing working copy: {e}")));
                }
                Ok(Scanned { spool, sha256: hasher.into(), size, report: report(ScanResult::Clean, None) })
            }
        }
    }
}

/// The bytes scanned must be the bytes uploaded: their digest and size are checked
/// against what the intake recorded.
pub struct CheckDigestStage;

pub struct CheckDigestInput {
    pub scanned: Scanned,
    /// The digest and size recorded at upload.
    pub expected_sha256: Sha256Digest,
    pub expected_size: u64,
}

#[async_trait]
impl Stage for CheckDigestStage {
    type Input = CheckDigestInput;
    type Output = Scanned;

    fn name(&self) -> StageName {
        StageName::CheckDigest
    }

    async fn run(&self, CheckDigestInput { scanned, expected_sha256: expected, expected_size }: CheckDigestInput) -> Result<Scanned, Stop> {
        if scanned.sha256 == expected && scanned.size == expected_size {
            return Ok(scanned);
        }
        Err(Stop::Quarantine(Hold {
            status: Status::Failed,
            findings: vec![Finding::new(
                FindingCode::HashMismatch,
                Severity::Critical,
                format!(
                    "les octets en quarantaine ({} octets, sha256 {}) diffèrent du dépôt ({expected_size} octets, sha256 {expected})",
                    scanned.size, scanned.sha256
                ),
            )],
            scan: Some(scanned.report),
        }))
    }
}

/// Media type from magic bytes, extension and XML root.
pub struct IdentifyStage;

/// What identification reads: the working copy, and the name it was uploaded under.
pub struct IdentifyInput {
    pub working_copy: PathBuf,
    pub name: String,
}

#[async_trait]
impl Stage for IdentifyStage {
    type Input = IdentifyInput;
    type Output = Identity;

    fn name(&self) -> StageName {
        StageName::Identify
    }

    async fn run(&self, IdentifyInput { working_copy: path, name }: IdentifyInput) -> Result<Identity, Stop> {
        match tokio::task::spawn_blocking(move || identify_file(&path, &name)).await {
            Ok(Ok(identity)) => Ok(identity),
            Ok(Err(e)) => Err(Stop::Retry(format!("identify: reading working copy: {e}"))),
            Err(e) => Err(Stop::Retry(format!("identify: {e}"))),
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

/// Where a stored file is, and until when it must be kept.
pub struct Stored {
    pub object_key: String,
    pub retain_until: chrono::DateTime<chrono::Utc>,
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
    type Output = Stored;

    fn name(&self) -> StageName {
        StageName::Store
    }

    async fn run(&self, input: StoreInput) -> Result<Stored, Stop> {
        let key = input.sha256.object_key();
        let until = chrono::Utc::now() + self.retention;
        let present = match self.evidence.size(&key).await {
            Ok(size) => size == Some(input.size),
            Err(e) => return Err(Stop::from_storage("store: checking evidence store", e)),
        };
        if !present {
            self.write(input, &key).await?;
        }
        // The same bytes sent again later extend the object's retention (S3 only ever
        // lengthens a compliance-mode lock).
        match self.evidence.retain(&key, until).await {
            Ok(_) => Ok(Stored { object_key: key, retain_until: until }),
            Err(e) => Err(Stop::from_storage("store: setting the object's retention", e)),
        }
    }
}

impl StoreStage {
    async fn write(&self, input: StoreInput, key: &str) -> Result<(), Stop> {
        let copied = self.evidence.copy_from(self.quarantine.as_ref(), &input.quarantine_key, key, &input.sha256).await;
        let written = match copied {
            Ok(true) => Ok(()),
            Ok(false) => self.evidence.put_owned(key, input.working_copy, &input.sha256).await,
            Err(e) => Err(e),
        };
        match written {
            Ok(()) => Ok(()),
            // Our copy was verified; different bytes at the store mean damage in transit.
            Err(e @ StorageError::ChecksumMismatch { .. }) => Err(Stop::Retry(format!("store: {e}"))),
            Err(e) => Err(Stop::from_storage("store: writing evidence", e)),
        }
    }
}

/// Writes what reading the file found into its record (the pipeline's read, and the OCR
/// pool's read again).
pub(crate) fn apply(rec: &mut EvidenceRecord, analysis: Analysis) {
    let c = analysis.classification;
    rec.kind = Some(c.kind);
    rec.confidence = Some(c.confidence);
    rec.kind_reasons = c.reasons;
    rec.fields = caregate_schemas::Fields { format: Some(analysis.format.into_owned()), ..analysis.fields };
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
    let open = || std::fs::File::open(archive).map_err(UnpackError::Io);
    let by_index: std::collections::HashMap<usize, &Member> = members.iter().map(|m| (m.index, m)).collect();
    let wanted: Vec<usize> = members.iter().map(|m| m.index).collect();
    let mut out = Vec::new();
    let mut total = 0u64;
    archive::for_each_member(open()?, open()?, &wanted, |index, reader| {
        let m = by_index[&index];
        let (tmp, path) = tempfile::Builder::new().prefix("member-").tempfile_in(dir).map_err(UnpackError::Io)?.into_parts();
        let mut w = Hashing { inner: std::io::BufWriter::new(tmp), hasher: Sha256::new() };
        let size = archive::copy_bounded(&m.name, reader, limits.max_member_bytes, &mut w)?;
        std::io::Write::flush(&mut w).map_err(UnpackError::Io)?;
        total += size;
        if total > limits.max_archive_bytes {
            return Err(UnpackError::Limits(caregate_extract::ExtractError::ArchiveLimits(format!("members inflate past {} bytes", limits.max_archive_bytes))));
        }
        out.push((m.clone(), path, w.hasher.into(), size));
        Ok(())
    })?;
    Ok(out)
}

impl From<caregate_extract::ExtractError> for UnpackError {
    fn from(e: caregate_extract::ExtractError) -> Self {
        UnpackError::Limits(e)
    }
}

/// Makes each member of a submitted zip its own evidence, linked to the archive: its
/// bytes go to quarantine, its record is written, its job is queued. Member ids are
/// derived from the archive's, so running this again (a redelivery) adds nothing.
pub struct ExpandArchiveStage {
    index: Arc<dyn EvidenceIndex>,
    quarantine: Arc<dyn ObjectStore>,
    outbox: Arc<Outbox>,
    spool_dir: PathBuf,
    limits: Limits,
}

pub struct ExpandInput {
    /// The archive's record as read so far (its id, submission, path and parent).
    pub archive: EvidenceRecord,
    pub working_copy: PathBuf,
    pub members: Vec<Member>,
}

/// What expanding an archive adds to its record.
#[derive(Default)]
pub struct Expansion {
    /// Limits met (nesting too deep, members inflating past the limits).
    pub findings: Vec<Finding>,
    /// The evidence made of its members, when they were unpacked.
    pub member_evidence: Option<Vec<MemberEvidence>>,
}

#[async_trait]
impl Stage for ExpandArchiveStage {
    type Input = ExpandInput;
    type Output = Expansion;

    fn name(&self) -> StageName {
        StageName::Expand
    }

    async fn run(&self, ExpandInput { archive: rec, working_copy, members }: ExpandInput) -> Result<Expansion, Stop> {
        let mut depth = 0;
        let mut up = rec.parent;
        while let Some(parent) = up {
            depth += 1;
            up = match self.index.get(parent).await {
                Ok(p) => p.and_then(|p| p.parent),
                Err(e) => return Err(Stop::from_storage("extract: reading the enclosing archive", e)),
            };
        }
        if depth >= self.limits.max_archive_depth {
            let finding = Finding::new(
                FindingCode::ArchiveLimits,
                Severity::Warning,
                format!("archive imbriquée sur {depth} niveaux : ses fichiers ne sont pas extraits (limite {})", self.limits.max_archive_depth),
            );
            return Ok(Expansion { findings: vec![finding], member_evidence: None });
        }
        let wanted: Vec<Member> = members.into_iter().filter(|m| !m.encrypted).collect();
        let (dir, limits) = (self.spool_dir.clone(), self.limits.clone());
        let unpacked = tokio::task::spawn_blocking(move || unpack(&working_copy, &dir, &wanted, &limits)).await;
        let unpacked = match unpacked {
            Ok(Ok(files)) => files,
            Ok(Err(UnpackError::Limits(e))) => return Ok(Expansion { findings: vec![e.finding()], member_evidence: None }),
            Ok(Err(UnpackError::Io(e))) => return Err(Stop::Retry(format!("extract: unpacking archive: {e}"))),
            Err(e) => return Err(Stop::Retry(format!("extract: unpacking archive: {e}"))),
        };
        let (mut listed, mut queued) = (Vec::new(), Vec::new());
        let mut names_seen = std::collections::HashSet::new();
        for (member, file, sha256, size) in unpacked {
            // Ids come from the raw name, as before names were cleaned, so that an archive
            // expanded by an earlier version and delivered again adds nothing.
            let id = if names_seen.insert(member.name.clone()) {
                rec.evidence_id.member(&member.name)
            } else {
                rec.evidence_id.member_at(&member.name, member.index)
            };
            let (name, refused) = member_name(&member);
            let path = format!("{}/{name}", rec.path);
            listed.push(MemberEvidence { name, evidence_id: id });
            match self.index.get(id).await {
                // Recorded by an earlier try of this job, with its own job queued then.
                Ok(Some(_)) => continue,
                Ok(None) => {
                    if let Err(e) = self.quarantine.put_owned(&id.quarantine_key(), file, &sha256).await {
                        return Err(Stop::from_storage("extract: quarantining an archive member", e));
                    }
                    let mut child = EvidenceRecord::received(id, rec.submission.clone(), path.clone(), sha256, size, id.quarantine_key());
                    child.parent = Some(rec.evidence_id);
                    child.uploaded_by = rec.uploaded_by.clone();
                    child.findings.extend(refused);
                    match self.index.record_received(&child).await {
                        Ok(job) => queued.extend(job),
                        Err(e) => return Err(Stop::from_storage("extract: recording an archive member", e)),
                    }
                }
                Err(e) => return Err(Stop::from_storage("extract: reading an archive member's record", e)),
            }
        }
        self.outbox.send_now(queued).await;
        Ok(Expansion { findings: Vec::new(), member_evidence: Some(listed) })
    }
}

/// The name a member is kept under inside its archive: its name in the zip cleaned by
/// the upload's rules, or, when they refuse it (`..`, absolute, nothing left once
/// cleaned), `member-<n>` (`n` its place in the zip's directory) and a finding that
/// keeps the raw name: the member is still evidence, never dropped in silence.
fn member_name(member: &Member) -> (String, Option<Finding>) {
    match caregate_schemas::names::sanitize_name(&member.name) {
        Ok(clean) => (clean, None),
        Err(e) => {
            let safe = format!("member-{}", member.index);
            // `{:?}` escapes what would otherwise reorder or hide the message's text.
            let message = format!("nom refusé dans l'archive : {:?} ({}) ; la pièce est enregistrée sous le nom « {safe} »", e.raw, e.reason);
            (safe, Some(Finding::new(FindingCode::NameRefused, Severity::Warning, message)))
        }
    }
}

/// The extracted text goes beside the record, for search and the console's preview.
pub struct KeepTextStage {
    index: Arc<dyn EvidenceIndex>,
}

pub struct TextInput {
    pub evidence_id: EvidenceId,
    pub text: String,
}

#[async_trait]
impl Stage for KeepTextStage {
    type Input = TextInput;
    type Output = ();

    fn name(&self) -> StageName {
        StageName::KeepText
    }

    async fn run(&self, input: TextInput) -> Result<(), Stop> {
        self.index.put_text(input.evidence_id, &input.text).await.map_err(|e| Stop::from_storage("index: keeping the extracted text", e))
    }
}

/// Writes the terminal record (and its event in the same transaction), then lets go of
/// the quarantined copy of a stored file. The quarantine goes last: a crash before leaves
/// a redelivery that finds the record done and only cleans up.
pub struct IndexStage {
    index: Arc<dyn EvidenceIndex>,
    quarantine: Arc<dyn ObjectStore>,
}

pub struct IndexInput {
    /// The record in its terminal state.
    pub record: EvidenceRecord,
    /// What the history event says of how it got there.
    pub detail: serde_json::Value,
}

#[async_trait]
impl Stage for IndexStage {
    type Input = IndexInput;
    type Output = Status;

    fn name(&self) -> StageName {
        StageName::Index
    }

    async fn run(&self, IndexInput { record, detail }: IndexInput) -> Result<Status, Stop> {
        if self.index.finish(&record, detail).await.map_err(|e| Stop::from_storage("index", e))? {
            metrics::counter!("caregate_files_total", "status" => record.status.as_str()).increment(1);
        }
        self.release_quarantine(&record).await;
        Ok(record.status)
    }
}

impl IndexStage {
    async fn release_quarantine(&self, rec: &EvidenceRecord) {
        // Only files that reached the evidence store leave quarantine.
        if rec.object_key.is_none() {
            return;
        }
        if let Err(e) = self.quarantine.delete(&rec.evidence_id.quarantine_key()).await {
            tracing::warn!(evidence = %rec.evidence_id, error = %e, "could not remove quarantined copy");
        }
    }
}

/// Judges the file's submission again now that the file is done. The file's own outcome
/// stands whatever happens here; a passing failure retries the job, whose redelivery
/// finds the file done and only judges.
pub struct VerifyStage {
    verifier: Arc<Verifier>,
}

pub struct VerifyInput {
    pub submission_id: SubmissionId,
}

#[async_trait]
impl Stage for VerifyStage {
    type Input = VerifyInput;
    type Output = ();

    fn name(&self) -> StageName {
        StageName::Verify
    }

    async fn run(&self, VerifyInput { submission_id }: VerifyInput) -> Result<(), Stop> {
        match self.verifier.after_file(submission_id).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_transient() => Err(Stop::Retry(format!("verify: {e}"))),
            Err(e) => {
                tracing::error!(submission = %submission_id, error = %e, "could not verify the submission");
                Ok(())
            }
        }
    }
}

/// The pipeline: scan → check the digest → identify → read and classify (→ expand an
/// archive) → store → keep the text → index → verify.
///
/// Checking against the objectives comes after the index, not before the store: a
/// verdict belongs to the submission, not to one file, and it must be recomputable from
/// the stored records alone (when the referential changes) without touching the bytes.
pub struct Pipeline {
    index: Arc<dyn EvidenceIndex>,
    scan: ScanStage,
    identify: IdentifyStage,
    read: ReadStage,
    expand: ExpandArchiveStage,
    store: StoreStage,
    keep_text: KeepTextStage,
    record: IndexStage,
    verify: VerifyStage,
}

/// Runs a stage, timed in `caregate_stage_duration_seconds{stage}`.
async fn timed<S: Stage>(stage: &S, input: S::Input) -> Result<S::Output, Stop> {
    let started = std::time::Instant::now();
    let result = stage.run(input).await;
    metrics::histogram!("caregate_stage_duration_seconds", "stage" => stage.name().as_str()).record(started.elapsed().as_secs_f64());
    result
}

/// Runs a stage; its `Err(Stop)` ends the job through [`Pipeline::conclude`].
macro_rules! step {
    ($pipeline:expr, $rec:expr, $stage:expr, $input:expr) => {
        match timed(&$stage, $input).await {
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
        outbox: Arc<Outbox>,
        spool_dir: PathBuf,
        reader: Reader,
        read_threads: usize,
        retention_days: u32,
        verifier: Arc<Verifier>,
    ) -> Self {
        Self {
            scan: ScanStage { clamd, quarantine: quarantine.clone(), spool_dir: spool_dir.clone() },
            identify: IdentifyStage,
            expand: ExpandArchiveStage { index: index.clone(), quarantine: quarantine.clone(), outbox, spool_dir, limits: reader.limits.clone() },
            read: ReadStage::new(reader, read_threads),
            store: StoreStage { quarantine: quarantine.clone(), evidence, retention: chrono::Duration::days(retention_days.into()) },
            keep_text: KeepTextStage { index: index.clone() },
            record: IndexStage { index: index.clone(), quarantine },
            verify: VerifyStage { verifier },
            index,
        }
    }

    /// Runs one job from the start. Safe to call again for the same job at any time.
    pub async fn run(&self, job: &EvidenceReceived, attempt: u32) -> JobOutcome {
        let mut rec = match self.index.get(job.evidence_id).await {
            Ok(Some(rec)) => rec,
            Ok(None) => return JobOutcome::DeadLetter(format!("no record for evidence {}", job.evidence_id)),
            Err(e) => return JobOutcome::ended(Stop::from_storage("index", e)),
        };
        if rec.status.is_terminal() {
            self.record.release_quarantine(&rec).await;
            // The verification may be what an earlier attempt did not finish.
            return self.judge(rec.submission.submission_id, JobOutcome::AlreadyDone(rec.status)).await;
        }
        rec.attempts = attempt;

        let scanned = step!(self, rec, self.scan, ScanInput { quarantine_key: job.quarantine_key.clone() });
        rec.scan = Some(scanned.report.clone());
        let scanned = step!(self, rec, CheckDigestStage, CheckDigestInput { scanned, expected_sha256: job.sha256, expected_size: job.size });
        let identity = step!(self, rec, self.identify, IdentifyInput { working_copy: scanned.spool.to_path_buf(), name: rec.path.clone() });
        rec.media_type = Some(identity.media_type.clone());
        rec.findings.extend(identity.findings.iter().cloned());
        // The establishment submitting is the invoices' buyer: what is known of its own
        // identifiers goes to extraction as an exclusion (never the seller's). An outage
        // here is retried like any other, rather than reading without it.
        let establishment = match self.index.establishment_identifiers(&rec.submission.establishment).await {
            Ok(own) => own,
            Err(e) => return JobOutcome::ended(Stop::from_storage("index", e)),
        };
        let read = ReadInput { working_copy: scanned.spool.to_path_buf(), name: rec.path.clone(), identity: identity.clone(), establishment };
        let mut analysis = step!(self, rec, self.read, read);
        let members = std::mem::take(&mut analysis.members);
        let text = std::mem::take(&mut analysis.text);
        apply(&mut rec, analysis);
        if !members.is_empty() {
            let expansion = step!(self, rec, self.expand, ExpandInput { archive: rec.clone(), working_copy: scanned.spool.to_path_buf(), members });
            rec.findings.extend(expansion.findings);
            if expansion.member_evidence.is_some() {
                rec.fields.member_evidence = expansion.member_evidence;
            }
        }
        let stored = StoreInput { quarantine_key: job.quarantine_key.clone(), working_copy: scanned.spool, sha256: scanned.sha256, size: scanned.size };
        let stored = step!(self, rec, self.store, stored);
        if !text.is_empty() {
            step!(self, rec, self.keep_text, TextInput { evidence_id: rec.evidence_id, text });
        }

        rec.object_key = Some(stored.object_key.clone());
        rec.retain_until = Some(stored.retain_until);
        rec.quarantine_key = None;
        rec.status = Status::for_findings(&rec.findings);
        let detail = json!({
            "object_key": stored.object_key,
            "media_type": identity.media_type,
            "xml_root": identity.xml_root,
            "engine": scanned.report.engine,
            "findings": rec.findings.iter().map(|f| &f.code).collect::<Vec<_>>(),
        });
        self.finish(rec, detail).await
    }

    /// Ends the job where a stage stopped it: a file held in quarantine gets its terminal
    /// record; a passing or permanent failure goes back to the worker as such.
    async fn conclude(&self, mut rec: EvidenceRecord, stage: StageName, stop: Stop) -> JobOutcome {
        let Stop::Quarantine(hold) = stop else { return JobOutcome::ended(stop) };
        tracing::info!(evidence = %rec.evidence_id, stage = stage.as_str(), status = %hold.status, "kept in quarantine");
        rec.status = hold.status;
        rec.findings.extend(hold.findings);
        if hold.scan.is_some() {
            rec.scan = hold.scan;
        }
        let detail = json!({
            "stage": stage.as_str(),
            "quarantine_key": rec.quarantine_key,
            "signature": rec.scan.as_ref().and_then(|s| s.signature.clone()),
            "findings": rec.findings.iter().map(|f| &f.code).collect::<Vec<_>>(),
        });
        self.finish(rec, detail).await
    }

    /// The last two stages, whatever the file's fate: index its terminal record, then
    /// judge its submission.
    async fn finish(&self, record: EvidenceRecord, detail: serde_json::Value) -> JobOutcome {
        let submission_id = record.submission.submission_id;
        match timed(&self.record, IndexInput { record, detail }).await {
            Ok(status) => self.judge(submission_id, JobOutcome::Finished(status)).await,
            Err(stop) => JobOutcome::ended(stop),
        }
    }

    async fn judge(&self, submission_id: SubmissionId, done: JobOutcome) -> JobOutcome {
        match timed(&self.verify, VerifyInput { submission_id }).await {
            Ok(()) => done,
            Err(stop) => JobOutcome::ended(stop),
        }
    }
}
