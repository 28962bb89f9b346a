//! The OCR pool: scans (scanned PDFs, photos) are stored with an `ocr_pending` finding
//! by the pipeline, which does not wait for Tesseract, so a long scanned report never
//! holds up the scan→store path of other files. The pool then reads each one again, by
//! OCR this time, under its own budget and with its own number of workers, writes the
//! file's new kind, fields and findings with an `ocr_read` event, keeps its text, and
//! judges its dossier again (the verdicts were provisional until then).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use caregate_schemas::extracted::{Content, InvoiceSource};
use caregate_schemas::{EventKind, EvidenceRecord, FindingCode, Status};
use caregate_storage::{check_stored, EvidenceIndex, Fixity, ObjectStore, ReadPurpose, StorageError};
use futures::StreamExt;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::identify::identify_file;
use crate::read::{Reader, ReaderError};
use crate::verify::{Verifier, VerifyError};

/// Who the pool's reads are recorded as.
const ACTOR: &str = "caregate (lecture OCR)";

#[derive(Debug, thiserror::Error)]
pub enum OcrError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Reader(#[from] ReaderError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error("{path}: its stored bytes are not the ones received ({fixity:?}); not read")]
    Damaged { path: String, fixity: Fixity },
    #[error("reading {0}: {1}")]
    Io(String, std::io::Error),
}

/// Reads stored scans by OCR.
///
/// Contract: a pass may be interrupted anywhere (a killed process, the store or the
/// database gone) and run again, by several processes at once. Nothing is written until
/// a scan has been read whole; its record is then written with its event in one
/// transaction, and only while it still waits for OCR, so a scan read by two pools is
/// recorded once. A scan whose read failed keeps waiting and is tried again next pass; a
/// dossier whose judging did not follow its record is judged at the next pass's start.
pub struct OcrPool {
    evidence: Arc<dyn ObjectStore>,
    index: Arc<dyn EvidenceIndex>,
    verifier: Arc<Verifier>,
    reader: Reader,
    spool_dir: PathBuf,
    threads: usize,
}

/// What a pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OcrSummary {
    /// Scans read and recorded.
    pub read: usize,
    /// Scans whose read failed (they keep waiting).
    pub failed: usize,
}

impl OcrPool {
    pub fn new(
        evidence: Arc<dyn ObjectStore>,
        index: Arc<dyn EvidenceIndex>,
        verifier: Arc<Verifier>,
        reader: Reader,
        spool_dir: PathBuf,
        threads: usize,
    ) -> Self {
        Self { evidence, index, verifier, reader, spool_dir, threads: threads.max(1) }
    }

    /// Reads every scan waiting now, `threads` at a time, oldest first.
    pub async fn pass(&self, shutdown: &CancellationToken) -> Result<OcrSummary, OcrError> {
        let mut summary = OcrSummary::default();
        // Dossiers owed a judging: a scan recorded (or any file re-examined) whose judging
        // did not happen, the process stopped or the database gone in between.
        for id in self.index.unjudged_submissions(100).await? {
            self.verifier.verify(id).await?;
        }
        let mut failed_ids = std::collections::HashSet::new();
        loop {
            let waiting: Vec<EvidenceRecord> = self
                .index
                .with_finding(FindingCode::OcrPending, (self.threads * 4) as u32 + failed_ids.len() as u32)
                .await?
                .into_iter()
                .filter(|r| !failed_ids.contains(&r.evidence_id))
                .collect();
            if waiting.is_empty() || shutdown.is_cancelled() {
                return Ok(summary);
            }
            let results: Vec<(EvidenceRecord, Result<bool, OcrError>)> = futures::stream::iter(waiting)
                .map(|rec| async move {
                    let r = self.read_one(&rec).await;
                    (rec, r)
                })
                .buffer_unordered(self.threads)
                .collect()
                .await;
            for (rec, result) in results {
                match result {
                    Ok(true) => summary.read += 1,
                    Ok(false) => {}
                    // An outage ends the pass: the scans wait for the next one.
                    Err(OcrError::Storage(e)) if e.is_transient() => return Err(OcrError::Storage(e)),
                    Err(e @ OcrError::Verify(_)) => return Err(e),
                    Err(e) => {
                        tracing::warn!(evidence = %rec.evidence_id, path = %rec.path, error = %e, "OCR of a stored scan failed; tried again next pass");
                        summary.failed += 1;
                        failed_ids.insert(rec.evidence_id);
                    }
                }
            }
        }
    }

    /// Reads one scan by OCR and records it; `false` when another pool recorded it first.
    async fn read_one(&self, rec: &EvidenceRecord) -> Result<bool, OcrError> {
        let Some(key) = rec.object_key.as_deref() else { return Ok(false) };
        let (file, path) = tempfile::Builder::new().prefix("ocr-").tempfile_in(&self.spool_dir).map_err(|e| OcrError::Io(rec.path.clone(), e))?.into_parts();
        let mut copy = tokio::fs::File::from_std(file);
        match check_stored(self.evidence.as_ref(), self.index.as_ref(), rec, key, Some(&mut copy), ReadPurpose::Ocr, ACTOR).await? {
            Fixity::Intact => {}
            fixity => return Err(OcrError::Damaged { path: rec.path.clone(), fixity }),
        }
        drop(copy);
        // The establishment is the buyer of its invoices, scanned or not (see the pipeline).
        let own = self.index.establishment_identifiers(&rec.submission.establishment).await.map_err(OcrError::Storage)?;
        let (reader, name) = (self.reader.clone(), rec.path.clone());
        let reading = tokio::task::spawn_blocking(move || {
            let identity = identify_file(&path, &name).map_err(|e| OcrError::Io(name.clone(), e))?;
            let analysis = reader.read_for(&identity, &path, &name, &own)?;
            Ok::<_, OcrError>((identity, analysis))
        })
        .await
        .map_err(|e| OcrError::Io(rec.path.clone(), std::io::Error::other(e.to_string())))?;
        let (identity, mut analysis) = reading?;
        let text = std::mem::take(&mut analysis.text);
        let mut updated = rec.clone();
        // What identifying and reading the file find now, in place of what they found
        // before OCR (`ocr_pending` among them).
        updated.findings = identity.findings;
        crate::pipeline::apply(&mut updated, analysis);
        // Every figure of an invoice read here was recognised by OCR: the judge weighs a
        // misreading against the invoice's own arithmetic.
        if let Content::Invoice(invoice) = &mut updated.fields.content {
            if invoice.source == InvoiceSource::Text {
                invoice.source = InvoiceSource::Ocr;
            }
        }
        updated.status = Status::for_findings(&updated.findings);
        if !text.is_empty() {
            self.index.put_text(rec.evidence_id, &text).await?;
        }
        let detail = json!({
            "actor": ACTOR,
            "kind": updated.kind,
            "findings": updated.findings.iter().map(|f| &f.code).collect::<Vec<_>>(),
            "text_chars": text.chars().count(),
        });
        if !self.index.resolve_finding(&updated, FindingCode::OcrPending, EventKind::OcrRead, detail).await? {
            return Ok(false);
        }
        tracing::info!(evidence = %rec.evidence_id, path = %rec.path, kind = ?updated.kind, "scan read by OCR");
        // Failing here, the dossier is judged at the start of the next pass (its record is
        // newer than its verification).
        self.verifier.verify(rec.submission.submission_id).await?;
        Ok(true)
    }

    /// Runs a pass every `every` until `shutdown`.
    pub async fn run(self, every: Duration, shutdown: CancellationToken) {
        loop {
            match self.pass(&shutdown).await {
                Ok(s) if s.read + s.failed > 0 => tracing::info!(read = s.read, failed = s.failed, "OCR pass"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "OCR pass interrupted; tried again later"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(every) => {}
            }
        }
    }
}
