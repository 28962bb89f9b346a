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

/// What a stage decided. `Continue` carries the stage's output to the next one; the other
/// three end the job and are turned into a queue action in one place
/// ([`crate::worker`]): `Quarantine` and a finished job are acked once their record is
/// written, `Retry` goes to the delay queue, `DeadLetter` to the dead-letter queue.
#[derive(Debug)]
pub enum Outcome<T> {
    Continue(T),
    /// Final for this file: keep it in quarantine with this status.
    Quarantine(Hold),
    /// A service we depend on failed in passing (clamd, S3, database): the whole job is
    /// tried again later, from the start.
    Retry(String),
    /// The job can never succeed (it points at nothing, or a permanent refusal).
    DeadLetter(String),
}

/// An outcome that ends the job (everything but `Continue`).
#[derive(Debug)]
pub enum Stop {
    Quarantine(Hold),
    Retry(String),
    DeadLetter(String),
}

impl<T> Outcome<T> {
    /// The stage's output to go on with, or why the job stops here.
    pub fn into_result(self) -> Result<T, Stop> {
        match self {
            Outcome::Continue(v) => Ok(v),
            Outcome::Quarantine(h) => Err(Stop::Quarantine(h)),
            Outcome::Retry(r) => Err(Stop::Retry(r)),
            Outcome::DeadLetter(r) => Err(Stop::DeadLetter(r)),
        }
    }

    /// Sorts a storage error into "try again later" or "give up".
    pub fn from_storage(context: &str, e: StorageError) -> Self {
        if e.is_transient() {
            Outcome::Retry(format!("{context}: {e}"))
        } else {
            Outcome::DeadLetter(format!("{context}: {e}"))
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
/// through its [`Outcome`].
#[async_trait]
pub trait Stage: Send + Sync {
    type Input: Send;
    type Output: Send;
    /// Stable name, used in logs and in the reasons recorded on retries.
    fn name(&self) -> &'static str;
    async fn run(&self, input: Self::Input) -> Outcome<Self::Output>;
}
