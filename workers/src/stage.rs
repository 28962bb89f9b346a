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
    /// Stable name, used in logs, metrics and the reasons recorded on retries.
    fn name(&self) -> StageName;
    async fn run(&self, input: Self::Input) -> Result<Self::Output, Stop>;
}

/// The stages' names, one each: the `stage` label of `caregate_stage_duration_seconds`
/// and the stage a retry's reason names. Two stages never share one (a label shared by
/// two stages sums their times into one meaningless series).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StageName {
    Scan,
    CheckDigest,
    Identify,
    Read,
    Expand,
    Store,
    KeepText,
    Index,
    Verify,
}

impl StageName {
    pub const ALL: [StageName; 9] = [
        StageName::Scan,
        StageName::CheckDigest,
        StageName::Identify,
        StageName::Read,
        StageName::Expand,
        StageName::Store,
        StageName::KeepText,
        StageName::Index,
        StageName::Verify,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StageName::Scan => "scan",
            StageName::CheckDigest => "check_digest",
            StageName::Identify => "identify",
            StageName::Read => "read",
            StageName::Expand => "expand",
            StageName::Store => "store",
            StageName::KeepText => "keep_text",
            StageName::Index => "index",
            StageName::Verify => "verify",
        }
    }
}

impl std::fmt::Display for StageName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod stage_name_tests {
    use super::StageName;

    /// docs/operations.md lists the `stage` label's values as the code emits them.
    #[test]
    fn documented_stage_labels_are_the_codes() {
        let doc = include_str!("../../docs/operations.md");
        let at =
            doc.find("caregate_stage_duration_seconds{stage}` (").expect("the stage metric is documented") + "caregate_stage_duration_seconds{stage}` (".len();
        let listed: Vec<String> = doc[at..].split(')').next().unwrap().split(',').map(|s| s.split_whitespace().collect::<String>()).collect();
        let code: Vec<&str> = StageName::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(listed, code);
    }
}
