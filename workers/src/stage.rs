//! The one trait every pipeline stage implements.

use async_trait::async_trait;
use caregate_schemas::{Finding, ScanReport, Status};
use caregate_storage::StorageError;

/// Why a file stops short of the evidence store: it stays in quarantine with this
/// terminal status, its findings and (when there was one) the scan report.
#[derive(Clone, Debug, PartialEq)]
pub struct Hold {
    pub status: Status,
    pub findings: Vec<Finding>,
    pub scan: Option<ScanReport>,
}

/// Why a stage ends the job short of its next stage. A stage's `Ok` carries its output
/// to the next one; its `Err(Stop)` ends the job, and the worker ([`crate::worker`]) turns
/// the job's end into exactly one queue action: a file kept in quarantine (and a
/// finished job) is acked once its record is written, `Retry` goes to the delay queue,
/// `DeadLetter` to the dead-letter queue.
#[derive(Debug)]
pub enum Stop {
    /// Final for this file: keep it in quarantine with this status.
    Quarantine(Hold),
    /// A service we depend on failed in passing (clamd, S3, database): the whole job is
    /// tried again later, from the start.
    Retry(String),
    /// The job can never succeed (it points at nothing, or a permanent refusal).
    DeadLetter(String),
}

impl Stop {
    /// Sorts a storage error into "try again later" or "give up".
    pub fn from_storage(context: &str, e: StorageError) -> Self {
        if e.is_transient() {
            Stop::Retry(format!("{context}: {e}"))
        } else {
            Stop::DeadLetter(format!("{context}: {e}"))
        }
    }
}

/// What a caught panic said, for the record.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_else(|| "unknown panic".into())
}

/// One step of the pipeline: one job, typed input, typed output.
///
/// Contract: a stage may be interrupted at any point (the worker is killed, the job times
/// out) and is then run again from the start of the job on another delivery, so it must
/// be idempotent: writing the same content-addressed object again, or re-reading the same
/// quarantined bytes, is harmless. A stage never acks or nacks; it says what should happen
/// through its result: `Ok(output)` to go on, `Err(`[`Stop`]`)` to end the job.
#[async_trait]
pub trait Stage: Send + Sync {
    type Input: Send;
    type Output: Send;
    /// Stable name, used in logs and in the reasons recorded on retries.
    fn name(&self) -> &'static str;
    async fn run(&self, input: Self::Input) -> Result<Self::Output, Stop>;
}
