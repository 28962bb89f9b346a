//! Scanning kept files again when clamd's signatures change: a file that was clean then
//! may be known infected now. Clean again, the record notes the new engine; infected, it
//! goes back to quarantine with status `infected`, leaves the evidence bucket, and its
//! dossier is judged again (and announced).

use caregate_schemas::FindingCode;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use caregate_schemas::{EventKind, EvidenceRecord, Finding, ScanReport, ScanResult, Severity, Status};
use caregate_storage::{EvidenceIndex, ObjectStore, StorageError};
use chrono::{DateTime, Utc};
use serde_json::json;
use tokio_util::io::ReaderStream;
use tokio_util::sync::CancellationToken;

use crate::clamd::{Clamd, ClamdReply, ScanError, SignatureDatabase};
use crate::verify::{Verifier, VerifyError};

#[derive(Debug, thiserror::Error)]
pub enum RescanError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
}

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RescanSummary {
    /// Kept files looked at.
    pub checked: u64,
    pub clean: u64,
    pub infected: u64,
    /// Already scanned with these signatures, or not scanned clean in the first place.
    pub skipped: u64,
}

impl std::fmt::Display for RescanSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} fichiers examinés : {} sains, {} infectés, {} ignorés", self.checked, self.clean, self.infected, self.skipped)
    }
}

/// Scans kept files again.
///
/// Contract: a pass may be interrupted anywhere and run again, by several processes at
/// once: a record changes only while it is kept (one transaction with its event), so a
/// file found twice is recorded once; files already scanned with the current signatures
/// are skipped, so an interrupted pass resumes where it stopped (oldest first).
pub struct Rescanner {
    clamd: Arc<Clamd>,
    quarantine: Arc<dyn ObjectStore>,
    evidence: Arc<dyn ObjectStore>,
    index: Arc<dyn EvidenceIndex>,
    verifier: Arc<Verifier>,
    spool_dir: PathBuf,
    /// Between two files, so that a pass over years of evidence leaves clamd to uploads.
    pause: Duration,
}

impl Rescanner {
    pub fn new(
        clamd: Arc<Clamd>,
        quarantine: Arc<dyn ObjectStore>,
        evidence: Arc<dyn ObjectStore>,
        index: Arc<dyn EvidenceIndex>,
        verifier: Arc<Verifier>,
        spool_dir: PathBuf,
        pause: Duration,
    ) -> Self {
        Self { clamd, quarantine, evidence, index, verifier, spool_dir, pause }
    }

    /// One pass over kept files received since `since`, oldest first: every file when
    /// `force`, otherwise those scanned with older signatures than clamd's now. `each`
    /// hears of every file scanned and what was found.
    pub async fn pass(
        &self,
        force: bool,
        since: Option<DateTime<Utc>>,
        shutdown: &CancellationToken,
        mut each: impl FnMut(&EvidenceRecord, ScanResult),
    ) -> Result<RescanSummary, RescanError> {
        let engine = self.clamd.version().await?;
        let signatures = SignatureDatabase::parse(&engine);
        let mut summary = RescanSummary::default();
        let mut after: Option<EvidenceRecord> = None;
        loop {
            let page = self.index.stored_records(since, after.as_ref(), 200).await?;
            let Some(last) = page.last().cloned() else { break };
            for rec in page {
                if shutdown.is_cancelled() {
                    return Ok(summary);
                }
                summary.checked += 1;
                let due = match &rec.scan {
                    Some(scan) if scan.result == ScanResult::Clean => force || signatures.is_newer_than(&scan.engine),
                    _ => false,
                };
                if !due {
                    summary.skipped += 1;
                    continue;
                }
                let Some(result) = self.rescan(rec.clone(), &engine).await? else {
                    summary.skipped += 1;
                    continue;
                };
                match result {
                    ScanResult::Infected => summary.infected += 1,
                    _ => summary.clean += 1,
                }
                each(&rec, result);
                tokio::time::sleep(self.pause).await;
            }
            after = Some(last);
        }
        Ok(summary)
    }

    /// Scans one kept file again and records what was found.
    /// `None`: clamd stopped early, nothing is recorded.
    async fn rescan(&self, mut rec: EvidenceRecord, engine: &str) -> Result<Option<ScanResult>, RescanError> {
        // A file kept for review may still be in quarantine (no object key).
        let (store, key) = match &rec.object_key {
            Some(key) => (self.evidence.clone(), key.clone()),
            None => (self.quarantine.clone(), rec.evidence_id.quarantine_key()),
        };
        let reader = store.open(&key).await?;
        let reply = self.clamd.scan(ReaderStream::with_capacity(reader, 256 * 1024)).await?;
        let report = |result, signature| ScanReport { engine: engine.to_owned(), result, signature, scanned_at: Utc::now() };
        match reply {
            // Stopped early now (limits changed?): not a verdict, so the record keeps the
            // scan it had, and the next pass tries again.
            ClamdReply::LimitsExceeded(limit) => {
                tracing::warn!(evidence = %rec.evidence_id, %limit, "rescan stopped early; the earlier scan stands");
                Ok(None)
            }
            ClamdReply::Clean => {
                let previous = rec.scan.replace(report(ScanResult::Clean, None)).map(|s| s.engine);
                self.index.record_reexamination(&rec, EventKind::Rescanned, json!({"engine": engine, "previous_engine": previous})).await?;
                Ok(Some(ScanResult::Clean))
            }
            ClamdReply::Found(signature) => {
                if rec.object_key.is_some() {
                    self.back_to_quarantine(&rec, &key).await?;
                }
                tracing::warn!(evidence = %rec.evidence_id, path = %rec.path, %signature, "found infected on a new scan: back in quarantine");
                rec.status = Status::Infected;
                rec.object_key = None;
                rec.quarantine_key = Some(rec.evidence_id.quarantine_key());
                rec.scan = Some(report(ScanResult::Infected, Some(signature.clone())));
                rec.findings.push(Finding::new(
                    FindingCode::Infected,
                    Severity::Critical,
                    format!(
                        "l'antivirus a détecté {signature} lors d'un nouvel examen avec des signatures plus récentes ; le fichier est retourné en quarantaine"
                    ),
                ));
                let detail = json!({"signature": signature, "engine": engine, "object_key": key, "quarantine_key": rec.quarantine_key});
                if self.index.record_reexamination(&rec, EventKind::InfectedOnRescan, detail).await? {
                    self.leave_evidence_bucket(&rec, &key).await;
                    self.verifier.verify(rec.submission.submission_id).await?;
                }
                Ok(Some(ScanResult::Infected))
            }
        }
    }

    /// Puts the bytes back under the record's quarantine key before the record says so:
    /// interrupted here, the file is in both places and a later pass finishes the move.
    async fn back_to_quarantine(&self, rec: &EvidenceRecord, key: &str) -> Result<(), StorageError> {
        if self.quarantine.copy_from(self.evidence.as_ref(), key, &rec.evidence_id.quarantine_key(), &rec.sha256).await? {
            return Ok(());
        }
        let (file, path) = tempfile::Builder::new().prefix("rescan-").tempfile_in(&self.spool_dir)?.into_parts();
        let mut file = tokio::fs::File::from_std(file);
        let (sha256, _) = caregate_storage::hash_object(self.evidence.as_ref(), key, Some(&mut file)).await?;
        if sha256 != rec.sha256 {
            return Err(StorageError::ChecksumMismatch { key: key.to_owned(), expected: rec.sha256.hex(), actual: sha256.hex() });
        }
        drop(file);
        self.quarantine.put_owned(&rec.evidence_id.quarantine_key(), path, &rec.sha256).await
    }

    /// The evidence object goes once no kept record points at it any more (the same
    /// bytes in another dossier are found infected by the same pass, from their own
    /// record; until then they keep the object).
    async fn leave_evidence_bucket(&self, rec: &EvidenceRecord, key: &str) {
        let others = match self.index.same_documents(rec.submission.submission_id, &[rec.sha256], &[]).await {
            Ok(others) => others,
            Err(e) => {
                tracing::warn!(evidence = %rec.evidence_id, error = %e, "infected file left in the evidence bucket for now");
                return;
            }
        };
        let siblings = self.index.submission(rec.submission.submission_id).await.unwrap_or_default();
        let still_used = others.iter().chain(siblings.iter()).any(|r| r.evidence_id != rec.evidence_id && r.object_key.as_deref() == Some(key));
        if still_used {
            return;
        }
        if let Err(e) = self.evidence.delete(key).await {
            tracing::warn!(evidence = %rec.evidence_id, error = %e, "could not remove the infected file from the evidence bucket");
        }
    }

    /// Runs a pass whenever clamd's signatures are newer than at the last pass, looking
    /// every `every`, until `shutdown`.
    pub async fn run(self, every: Duration, shutdown: CancellationToken) {
        let mut done_with: Option<String> = None;
        loop {
            match self.clamd.version().await {
                Ok(engine) if done_with.as_deref() != Some(engine.as_str()) => match self.pass(false, None, &shutdown, |_, _| {}).await {
                    Ok(summary) => {
                        if summary.clean + summary.infected > 0 {
                            tracing::info!(%engine, %summary, "rescan with new signatures done");
                        }
                        done_with = Some(engine);
                    }
                    Err(e) => tracing::warn!(error = %e, "rescan interrupted; tried again later"),
                },
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "rescan: clamd does not answer"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }
}
