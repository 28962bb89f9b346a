//! The worker loop: take a job, run the pipeline, and turn the outcome into exactly one
//! queue action. This is the only place where acks, retries and dead letters are decided.

use caregate_schemas::FindingCode;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use caregate_schemas::{EvidenceId, EvidenceReceived, Finding, Severity, Status};
use caregate_storage::{Delivery, EvidenceIndex, JobQueue, ObjectStore, StorageError};
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::pipeline::{JobOutcome, Pipeline};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// Jobs in flight at once (the broker's prefetch).
    pub prefetch: u16,
    /// Working copies of files being processed; the system temp dir when unset.
    pub spool_dir: Option<PathBuf>,
    /// A job taking longer than this is abandoned and retried.
    pub job_timeout_secs: u64,
    /// Quarantined objects with no record (an upload interrupted between writing the
    /// object and recording it; the uploader got no receipt) are removed once this old.
    pub orphan_grace_secs: u64,
    /// A record still `received` with no activity for this long has most likely lost its
    /// job (a publish that failed after the upload was recorded): it is queued again.
    /// Keep it above the longest retry delay.
    pub stale_after_secs: u64,
    /// How often a worker looks for such records.
    pub stale_check_secs: u64,
    /// Bounds on reading one file (sizes, time, archives, XML depth).
    pub extract: caregate_extract::Limits,
    /// Files read at once; a file that overruns its time budget keeps its slot until its
    /// parser returns, so runaway parsers cannot pile up.
    pub extract_threads: usize,
    /// Where files are read: `process` (a child process per file, under the limits
    /// below; the default) or `thread` (in the worker: faster, unprotected from a parser
    /// that aborts or exhausts memory).
    pub isolation: crate::read::Isolation,
    /// Memory (address space) a child reading one file may use, tools it starts included:
    /// the stated cap of what one file can make a worker allocate.
    pub reader_memory_mb: u64,
    /// The program run as that child (a `caregate` binary); this one when unset.
    pub reader_program: Option<PathBuf>,
    /// Directory of the referentials (`*.toml`, one per campaign) submissions are judged
    /// with; the referentials shipped with caregate when unset.
    pub referentials: Option<PathBuf>,
    /// How long stored evidence is kept before it may be deleted: 10 years for
    /// accounting documents and their proofs (Code de commerce L123-22).
    pub retention_days: u32,
    /// Where `caregate worker` answers `GET /metrics` (Prometheus); none when unset.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// How often a worker asks clamd whether its signatures changed, and then scans kept
    /// files again (see [`crate::Rescanner`]); 0 turns it off.
    pub rescan_check_secs: u64,
    /// Pause between two files of a rescan, leaving clamd to new uploads.
    pub rescan_pause_ms: u64,
    /// Scans read by OCR at once, in the OCR pool, apart from the scan→store path: a
    /// long scanned report does not hold up other files (see [`crate::OcrPool`]). 0
    /// reads scans by OCR in the read stage itself, as `caregate read` does. Default:
    /// one per core.
    pub ocr_threads: usize,
    /// How often a worker's OCR pool looks for scans waiting; 0 runs no pool in the
    /// worker (`caregate ocr` reads them).
    pub ocr_poll_secs: u64,
    /// One scan's OCR time, at most (its pages at 300 dpi, one page per core).
    pub ocr_time_budget_secs: u64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            prefetch: 16,
            spool_dir: None,
            job_timeout_secs: 900,
            orphan_grace_secs: 3600,
            stale_after_secs: 1800,
            stale_check_secs: 300,
            extract: caregate_extract::Limits::default(),
            extract_threads: 4,
            isolation: crate::read::Isolation::Process,
            reader_memory_mb: 3072,
            reader_program: None,
            referentials: None,
            retention_days: caregate_schemas::LEGAL_RETENTION_DAYS,
            metrics_listen: None,
            rescan_check_secs: 3600,
            rescan_pause_ms: 200,
            // Tesseract reads one page per core at most ([`caregate_extract::ocr`]).
            ocr_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            ocr_poll_secs: 2,
            ocr_time_budget_secs: 900,
        }
    }
}

impl WorkerConfig {
    /// Values that would make the worker misbehave rather than fail: zero counts and
    /// timeouts (a zero prefetch consumes nothing, a zero timeout abandons every job), and
    /// a child too small to start. Each problem names its key under `[worker]`.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        for (key, value) in [
            ("prefetch", u64::from(self.prefetch)),
            ("job_timeout_secs", self.job_timeout_secs),
            ("stale_after_secs", self.stale_after_secs),
            ("stale_check_secs", self.stale_check_secs),
            ("extract_threads", self.extract_threads as u64),
            ("ocr_time_budget_secs", self.ocr_time_budget_secs),
        ] {
            if value == 0 {
                problems.push(format!("{key} must be at least 1"));
            }
        }
        if self.isolation == crate::read::Isolation::Process && self.reader_memory_mb < 512 {
            // The child reserves a 256 MiB stack for deep files before reading anything.
            problems.push("reader_memory_mb must be at least 512".to_owned());
        }
        if let Err(extract) = self.extract.validate() {
            problems.extend(extract.into_iter().map(|p| format!("extract.{p}")));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("queue: {0}")]
    Queue(#[from] StorageError),
}

/// Counters a worker keeps, for its summary line and the benchmark.
#[derive(Debug, Default)]
pub struct WorkerStats {
    pub finished: AtomicU64,
    pub redelivered: AtomicU64,
    pub retried: AtomicU64,
    pub dead_lettered: AtomicU64,
}

#[derive(Clone)]
pub struct Worker {
    pipeline: Arc<Pipeline>,
    queue: Arc<dyn JobQueue>,
    index: Arc<dyn EvidenceIndex>,
    config: WorkerConfig,
    pub stats: Arc<WorkerStats>,
}

impl Worker {
    pub fn new(pipeline: Arc<Pipeline>, queue: Arc<dyn JobQueue>, index: Arc<dyn EvidenceIndex>, config: WorkerConfig) -> Self {
        Self { pipeline, queue, index, config, stats: Arc::default() }
    }

    /// Consumes jobs until `shutdown` is cancelled (then finishes the jobs in flight) or
    /// the queue connection is lost (then returns the error; unacked jobs are redelivered).
    pub async fn run(&self, shutdown: CancellationToken) -> Result<(), WorkerError> {
        let mut stream = self.queue.consume(self.config.prefetch).await?;
        let mut in_flight = JoinSet::new();
        let mut stale_check = tokio::time::interval(Duration::from_secs(self.config.stale_check_secs));
        let result = loop {
            while let Some(done) = in_flight.try_join_next() {
                log_settle_error(done);
            }
            let next = tokio::select! {
                _ = shutdown.cancelled() => break Ok(()),
                _ = stale_check.tick() => {
                    if let Err(e) = self.requeue_stale().await {
                        tracing::warn!(error = %e, "could not look for stale records");
                    }
                    continue;
                }
                next = stream.next() => next,
            };
            match next {
                None => break Ok(()),
                Some(Err(e)) => break Err(WorkerError::Queue(e)),
                Some(Ok(delivery)) => {
                    let me = self.clone();
                    in_flight.spawn(async move { me.handle(delivery).await });
                }
            }
        };
        while let Some(done) = in_flight.join_next().await {
            log_settle_error(done);
        }
        result
    }

    /// Queues again the records whose job was lost. The retry event it writes resets
    /// their idle time, so a job waiting behind a long backlog is not queued over and over.
    async fn requeue_stale(&self) -> Result<usize, StorageError> {
        let idle = Duration::from_secs(self.config.stale_after_secs);
        let stale = self.index.stale(idle, 1000).await?;
        for rec in &stale {
            let reason = format!("no activity for {}s: job queued again", idle.as_secs());
            self.index.record_retry(rec.evidence_id, rec.attempts, &reason).await?;
            self.queue.publish(&rec.job()).await?;
        }
        if !stale.is_empty() {
            tracing::info!(records = stale.len(), "queued stale records again");
        }
        Ok(stale.len())
    }

    /// Runs one job and settles its delivery.
    async fn handle(&self, delivery: Box<dyn Delivery>) -> Result<(), StorageError> {
        let job = delivery.job().clone();
        let attempt = delivery.attempt();
        let _in_flight = InFlight::start();
        let started = std::time::Instant::now();
        let timeout = Duration::from_secs(self.config.job_timeout_secs);
        let run = AssertUnwindSafe(self.pipeline.run(&job, attempt)).catch_unwind();
        let outcome = match tokio::time::timeout(timeout, run).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(panic)) => JobOutcome::DeadLetter(format!("internal error: {}", crate::stage::panic_message(&*panic))),
            Err(_) => JobOutcome::Retry(format!("job took longer than {timeout:?}")),
        };
        tracing::debug!(evidence = %job.evidence_id, attempt, ?outcome, "job done");
        metrics::histogram!("caregate_job_duration_seconds").record(started.elapsed().as_secs_f64());
        let counted = match &outcome {
            JobOutcome::Finished(_) => "finished",
            JobOutcome::AlreadyDone(_) => "redelivered",
            JobOutcome::Retry(_) if attempt < self.queue.policy().max_attempts() => "retried",
            JobOutcome::Retry(_) | JobOutcome::DeadLetter(_) => "dead_lettered",
        };
        metrics::counter!("caregate_jobs_total", "outcome" => counted).increment(1);
        match outcome {
            JobOutcome::Finished(_) => {
                self.stats.finished.fetch_add(1, Ordering::Relaxed);
                delivery.ack().await
            }
            JobOutcome::AlreadyDone(_) => {
                self.stats.redelivered.fetch_add(1, Ordering::Relaxed);
                delivery.ack().await
            }
            JobOutcome::Retry(reason) if attempt < self.queue.policy().max_attempts() => {
                tracing::info!(evidence = %job.evidence_id, attempt, %reason, "will retry");
                self.stats.retried.fetch_add(1, Ordering::Relaxed);
                // The history line is informative; the job itself is safe in the queue.
                if let Err(e) = self.index.record_retry(job.evidence_id, attempt, &reason).await {
                    tracing::warn!(evidence = %job.evidence_id, error = %e, "could not record the retry");
                }
                delivery.retry().await
            }
            JobOutcome::Retry(reason) => {
                let reason = format!("gave up after {attempt} attempts: {reason}");
                self.give_up(delivery, &job, attempt, reason).await
            }
            JobOutcome::DeadLetter(reason) => self.give_up(delivery, &job, attempt, reason).await,
        }
    }

    /// Marks the record failed with the reason, then parks the job. If the record cannot
    /// be written, the job is retried instead: it must not vanish with no trace.
    async fn give_up(&self, delivery: Box<dyn Delivery>, job: &EvidenceReceived, attempt: u32, reason: String) -> Result<(), StorageError> {
        tracing::warn!(evidence = %job.evidence_id, %reason, "dead-lettering");
        let written = match self.index.get(job.evidence_id).await {
            Ok(Some(mut rec)) if !rec.status.is_terminal() => {
                rec.status = Status::Failed;
                rec.attempts = attempt;
                rec.findings.push(Finding::new(FindingCode::ProcessingFailed, Severity::Error, reason.clone()));
                let finished = self.index.finish(&rec, json!({"reason": reason, "attempts": attempt})).await;
                if let Ok(true) = finished {
                    metrics::counter!("caregate_files_total", "status" => Status::Failed.as_str()).increment(1);
                }
                finished.map(|_| ())
            }
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        };
        match written {
            Ok(()) => {
                self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                delivery.dead_letter(&reason).await
            }
            Err(e) => {
                tracing::warn!(evidence = %job.evidence_id, error = %e, "cannot record failure; retrying instead");
                delivery.retry().await
            }
        }
    }
}

/// Counts a job in `caregate_jobs_in_flight` for as long as it runs, however it ends.
struct InFlight;

impl InFlight {
    fn start() -> Self {
        metrics::gauge!("caregate_jobs_in_flight").increment(1.0);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!("caregate_jobs_in_flight").decrement(1.0);
    }
}

/// A job whose ack, retry or dead-letter could not be sent stays unacknowledged, and the
/// broker delivers it again (to this worker after a reconnect, or to another).
fn log_settle_error(done: Result<Result<(), StorageError>, tokio::task::JoinError>) {
    match done {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "a job's queue action failed; it will be delivered again"),
        Err(e) => tracing::error!(error = %e, "a job task ended abnormally; it will be delivered again"),
    }
}

/// Publishes a job again for every record still `received` (the embedded queue lost its
/// jobs when the process stopped; or a publish failed after the upload was recorded).
/// Extra jobs are harmless: processing is idempotent.
pub async fn requeue_unfinished(index: &dyn EvidenceIndex, queue: &dyn JobQueue) -> Result<usize, StorageError> {
    let pending = index.unfinished(1_000_000).await?;
    for rec in &pending {
        queue.publish(&rec.job()).await?;
    }
    Ok(pending.len())
}

/// Removes quarantined objects that should no longer be there, and returns how many:
/// - copies of files already in the evidence store (the process stopped between writing
///   the final record and deleting the copy);
/// - objects no record points at, once older than `grace` (their age is read from the
///   evidence id, a UUIDv7): an upload cut off between writing the object and recording
///   it; the uploader got an error, not a receipt, and will send the file again.
///
/// Files kept in quarantine on purpose (infected, not fully scanned) have a record and no
/// evidence object, and are never touched.
pub async fn sweep_orphans(quarantine: &dyn ObjectStore, index: &dyn EvidenceIndex, grace: Duration) -> Result<usize, StorageError> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut removed = 0;
    for key in quarantine.list("quarantine/").await? {
        let Some(id) = key.strip_prefix("quarantine/").and_then(|s| s.parse::<EvidenceId>().ok()) else {
            continue;
        };
        let remove = match index.get(id).await? {
            Some(rec) => rec.status.is_terminal() && rec.object_key.is_some(),
            None => {
                let created = id.0.get_timestamp().map(|t| Duration::from_secs(t.to_unix().0));
                created.is_some_and(|c| now.saturating_sub(c) >= grace)
            }
        };
        if remove {
            tracing::info!(%key, "removing quarantined object that is no longer needed");
            quarantine.delete(&key).await?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_config_names_each_bad_key() {
        assert!(WorkerConfig::default().validate().is_ok());
        let mut c = WorkerConfig { prefetch: 0, reader_memory_mb: 100, ..Default::default() };
        c.extract.max_xml_depth = 0;
        assert_eq!(
            c.validate().unwrap_err(),
            vec!["prefetch must be at least 1", "reader_memory_mb must be at least 512", "extract.max_xml_depth must be at least 1"]
        );
        c.isolation = crate::read::Isolation::Thread;
        c.prefetch = 1;
        c.extract.max_xml_depth = 1;
        assert!(c.validate().is_ok(), "a thread reader has no child to size");
    }
}
