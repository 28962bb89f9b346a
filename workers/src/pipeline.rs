//! The stages a received file goes through, and their order.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use caregate_schemas::{
    EvidenceReceived, EvidenceRecord, Finding, ScanReport, ScanResult, Severity, Sha256Digest, Status,
};
use caregate_storage::{EvidenceIndex, ObjectStore, StorageError};
use chrono::Utc;
use futures::StreamExt;
use serde_json::json;
use sha2::{Digest, Sha256};
use tempfile::TempPath;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use crate::clamd::{Clamd, ClamdReply};
use crate::identify::{identify, Identity, SNIFF_BYTES};
use crate::stage::{Hold, Outcome, Stage, Stop};

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
            Err(StorageError::NotFound(k)) => {
                return Outcome::DeadLetter(format!("scan: quarantined object {k} is missing"))
            }
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
            let tee = futures::stream::unfold(
                (&mut chunks, &mut file, &mut hasher, &mut size),
                |(chunks, file, hasher, size)| async move {
                    let item = match chunks.next().await? {
                        Ok(chunk) => {
                            hasher.update(&chunk);
                            *size += chunk.len() as u64;
                            file.write_all(&chunk).await.map(|_| chunk)
                        }
                        Err(e) => Err(e),
                    };
                    Some((item, (chunks, file, hasher, size)))
                },
            );
            self.clamd.scan(tee).await
        };
        let reply = match reply {
            Ok(r) => r,
            // Never "clean": the file waits in quarantine for clamd to come back.
            Err(e) => return Outcome::Retry(format!("scan: {e}")),
        };
        let report = |result, signature| ScanReport {
            engine: engine.clone(),
            result,
            signature,
            scanned_at: Utc::now(),
        };
        match reply {
            ClamdReply::Found(sig) => Outcome::Quarantine(Hold {
                status: Status::Infected,
                findings: vec![Finding::new("infected", Severity::Critical, format!("virus scanner found {sig}"))],
                scan: Some(report(ScanResult::Infected, Some(sig))),
            }),
            ClamdReply::LimitsExceeded(limit) => Outcome::Quarantine(Hold {
                status: Status::NeedsReview,
                findings: vec![Finding::new(
                    "scan_incomplete",
                    Severity::Error,
                    format!("virus scanner stopped before the end ({limit}): not known to be clean"),
                )],
                scan: Some(report(ScanResult::Incomplete, Some(limit))),
            }),
            ClamdReply::Clean => {
                if let Err(e) = file.flush().await {
                    return Outcome::Retry(format!("scan: writing working copy: {e}"));
                }
                Outcome::Continue(Scanned {
                    spool,
                    sha256: hasher.into(),
                    size,
                    report: report(ScanResult::Clean, None),
                })
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
                    "quarantined bytes ({} bytes, sha256 {}) differ from the upload ({expected_size} bytes, sha256 {expected})",
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
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        let read = async {
            tokio::fs::File::open(&path).await?.take(SNIFF_BYTES as u64).read_to_end(&mut head).await
        };
        match read.await {
            Ok(_) => Outcome::Continue(identify(&name, &head)),
            Err(e) => Outcome::Retry(format!("identify: reading working copy: {e}")),
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
pub struct StoreStage {
    quarantine: Arc<dyn ObjectStore>,
    evidence: Arc<dyn ObjectStore>,
}

#[async_trait]
impl Stage for StoreStage {
    type Input = StoreInput;
    type Output = String;

    fn name(&self) -> &'static str {
        "store"
    }

    async fn run(&self, input: StoreInput) -> Outcome<String> {
        let key = input.sha256.object_key();
        match self.evidence.size(&key).await {
            Ok(Some(existing)) if existing == input.size => return Outcome::Continue(key),
            Ok(_) => {}
            Err(e) => return Outcome::from_storage("store: checking evidence store", e),
        }
        let copied = self
            .evidence
            .copy_from(self.quarantine.as_ref(), &input.quarantine_key, &key, &input.sha256)
            .await;
        let written = match copied {
            Ok(true) => Ok(()),
            Ok(false) => self.evidence.put_owned(&key, input.working_copy, &input.sha256).await,
            Err(e) => Err(e),
        };
        match written {
            Ok(()) => Outcome::Continue(key),
            // Our copy was verified; different bytes at the store mean damage in transit.
            Err(e @ StorageError::ChecksumMismatch { .. }) => Outcome::Retry(format!("store: {e}")),
            Err(e) => Outcome::from_storage("store: writing evidence", e),
        }
    }
}

/// The pipeline: scan → hash → identify → (extract → classify → check) → store → index.
pub struct Pipeline {
    index: Arc<dyn EvidenceIndex>,
    quarantine: Arc<dyn ObjectStore>,
    scan: ScanStage,
    identify: IdentifyStage,
    store: StoreStage,
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
    pub fn new(
        clamd: Arc<Clamd>,
        quarantine: Arc<dyn ObjectStore>,
        evidence: Arc<dyn ObjectStore>,
        index: Arc<dyn EvidenceIndex>,
        spool_dir: PathBuf,
    ) -> Self {
        Self {
            scan: ScanStage {
                clamd,
                quarantine: quarantine.clone(),
                spool_dir,
            },
            identify: IdentifyStage,
            store: StoreStage {
                quarantine: quarantine.clone(),
                evidence,
            },
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
            return JobOutcome::AlreadyDone(rec.status);
        }
        rec.attempts = attempt;

        let scanned = step!(self, rec, self.scan, job.quarantine_key.clone());
        rec.scan = Some(scanned.report.clone());
        let scanned = step!(self, rec, VerifyHashStage, (scanned, job.sha256, job.size));
        let identity = step!(self, rec, self.identify, (scanned.spool.to_path_buf(), rec.path.clone()));
        rec.media_type = Some(identity.media_type.clone());
        rec.findings.extend(identity.findings.iter().cloned());
        // Extraction, classification and objective checks go here, before the store.
        let stored = StoreInput {
            quarantine_key: job.quarantine_key.clone(),
            working_copy: scanned.spool,
            sha256: scanned.sha256,
            size: scanned.size,
        };
        let key = step!(self, rec, self.store, stored);

        rec.object_key = Some(key.clone());
        rec.quarantine_key = None;
        rec.status = if rec.findings.iter().any(|f| f.severity >= Severity::Warning) {
            Status::NeedsReview
        } else {
            Status::Stored
        };
        let detail = json!({
            "object_key": key,
            "media_type": identity.media_type,
            "xml_root": identity.xml_root,
            "engine": scanned.report.engine,
            "findings": rec.findings.iter().map(|f| &f.code).collect::<Vec<_>>(),
        });
        self.record(rec, detail).await
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
                JobOutcome::Finished(rec.status)
            }
            Err(e) if e.is_transient() => JobOutcome::Retry(format!("index: {e}")),
            Err(e) => JobOutcome::DeadLetter(format!("index: {e}")),
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
