//! How jobs travel from intake to workers: at-least-once delivery, explicit outcomes.

mod amqp;
mod memory;

use std::time::Duration;

use async_trait::async_trait;
use caregate_schemas::EvidenceReceived;
use serde::{Deserialize, Serialize};

pub use amqp::AmqpQueue;
pub use memory::MemoryQueue;

use crate::StorageError;

/// When a job that failed for a passing reason is tried again: after each delay in turn,
/// then it goes to the dead-letter queue. The delays grow, so a service that is down for
/// a while is not hammered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    pub delays_ms: Vec<u64>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { delays_ms: vec![1_000, 5_000, 30_000, 120_000, 600_000] }
    }
}

impl RetryPolicy {
    /// Attempts before a job is dead-lettered (the first try plus one per delay).
    pub fn max_attempts(&self) -> u32 {
        self.delays_ms.len() as u32 + 1
    }

    /// The wait after the given failed attempt (1-based).
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let i = (attempt.max(1) as usize - 1).min(self.delays_ms.len().saturating_sub(1));
        Duration::from_millis(self.delays_ms.get(i).copied().unwrap_or(1_000))
    }
}

/// One job handed to a worker. Exactly one of the consuming methods must be called; a
/// delivery dropped without one (a crashed worker) is delivered again by the queue.
#[async_trait]
pub trait Delivery: Send + Sync {
    fn job(&self) -> &EvidenceReceived;
    /// 1 for the first try, one more after each retry.
    fn attempt(&self) -> u32;
    /// The result is durably written: forget the job.
    async fn ack(self: Box<Self>) -> Result<(), StorageError>;
    /// Try again after the policy's delay for this attempt.
    async fn retry(self: Box<Self>) -> Result<(), StorageError>;
    /// Give up: park the job, with its reason, where operators look.
    async fn dead_letter(self: Box<Self>, reason: &str) -> Result<(), StorageError>;
}

#[async_trait]
pub trait JobStream: Send {
    /// The next job; `None` when the queue is closed. An error means the connection was
    /// lost: the jobs in flight will be delivered again.
    async fn next(&mut self) -> Option<Result<Box<dyn Delivery>, StorageError>>;
}

/// Announcements to other systems (`submission.verified`, `submission.needs_review`), on
/// the broker that carries the jobs.
///
/// Contract: `announce` returns once the broker holds the message (publisher confirm).
/// Announcements reach whoever is bound at that moment (a topic exchange): they notify,
/// the index is the record, so a missed announcement loses no state. Topics are dotted
/// words; patterns take `*` for one word and `#` for any number.
#[async_trait]
pub trait Announcer: Send + Sync + 'static {
    async fn announce(&self, topic: &str, body: &serde_json::Value) -> Result<(), StorageError>;
    /// Announcements whose topic matches `pattern`, from now on.
    async fn subscribe(&self, pattern: &str) -> Result<Box<dyn AnnouncementStream>, StorageError>;
}

#[async_trait]
pub trait AnnouncementStream: Send {
    /// The next announcement (topic, body); `None` once the source is gone.
    async fn next(&mut self) -> Option<Result<(String, serde_json::Value), StorageError>>;
}

/// AMQP topic matching: `*` stands for one word, `#` for zero or more.
pub fn topic_matches(pattern: &str, topic: &str) -> bool {
    fn go(p: &[&str], t: &[&str]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(&"#"), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(&"*"), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let t: Vec<&str> = topic.split('.').collect();
    go(&p, &t)
}

/// A message for the broker, written to the index's outbox in the same transaction as
/// the change it carries (see [`crate::Outbox`]), so the change and its message are never
/// one without the other.
#[derive(Clone, Debug, PartialEq)]
pub enum Outgoing {
    /// A file to process, for the work queue.
    Job(EvidenceReceived),
    /// A notification to other systems, on the topic exchange.
    Announcement { topic: String, body: serde_json::Value },
}

impl Outgoing {
    /// The topic it travels under (jobs: `evidence.received`).
    pub fn topic(&self) -> &str {
        match self {
            Outgoing::Job(_) => caregate_schemas::EVIDENCE_RECEIVED,
            Outgoing::Announcement { topic, .. } => topic,
        }
    }
}

/// An outbox row just written and held (leased) by its writer, which tries to send it at
/// once; if it cannot, the relay sends it after the lease.
#[derive(Clone, Debug, PartialEq)]
pub struct Queued {
    pub seq: i64,
    pub message: Outgoing,
}

/// A durable work queue for `evidence.received` jobs.
///
/// Contract: `publish` returns only once the job is safely held (broker confirm); a job is
/// delivered at least once, so consumers must be idempotent; at most `prefetch` jobs are
/// in flight per stream.
#[async_trait]
pub trait JobQueue: Send + Sync + 'static {
    async fn publish(&self, job: &EvidenceReceived) -> Result<(), StorageError>;
    async fn consume(&self, prefetch: u16) -> Result<Box<dyn JobStream>, StorageError>;
    /// Jobs waiting for a worker (not those in flight, nor those in a delay queue).
    async fn waiting_count(&self) -> Result<u64, StorageError>;
    /// Jobs waiting in the dead-letter queue.
    async fn dead_letter_count(&self) -> Result<u64, StorageError>;
    fn policy(&self) -> &RetryPolicy;
    fn describe(&self) -> String;
}

#[cfg(test)]
mod topic_tests {
    use super::topic_matches;

    #[test]
    fn patterns() {
        assert!(topic_matches("submission.#", "submission.verified"));
        assert!(topic_matches("#", "a.b.c"));
        assert!(topic_matches("*.verified", "submission.verified"));
        assert!(topic_matches("submission.verified", "submission.verified"));
        assert!(!topic_matches("submission.*", "submission.a.b"));
        assert!(!topic_matches("evidence.#", "submission.verified"));
    }
}
