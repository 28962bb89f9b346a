//! Sends the outbox's messages to the broker: at once for the writer of a change
//! ([`Outbox::send_now`]), and in the background for whatever could not go then
//! ([`Outbox::relay`]: a broker outage, a crash between the commit and the send).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::index::OutboxBacklog;
use crate::queue::{Outgoing, Queued};
use crate::{Announcer, EvidenceIndex, JobQueue, StorageError};

/// How long a relay holds the rows it sends.
const RELAY_LEASE: Duration = Duration::from_secs(30);
/// Rows sent per batch (their confirms are awaited together).
const BATCH: u32 = 200;
/// How often a relay looks for rows nobody woke it for (written by another process,
/// or freed by a lease that ran out).
const POLL: Duration = Duration::from_secs(1);

/// The outbox's sender, one per process, shared by everything that writes messages.
///
/// Contract: a message in the outbox is sent at least once (the broker confirmed it)
/// before it leaves; [`Outbox::send_now`] and [`Outbox::relay`] may be interrupted
/// anywhere, and a message whose confirm was not recorded is sent again, so every
/// consumer must take duplicates harmlessly (jobs are idempotent by evidence id and
/// content hash; announcements carry the verification they announce).
pub struct Outbox {
    index: Arc<dyn EvidenceIndex>,
    queue: Arc<dyn JobQueue>,
    announcer: Arc<dyn Announcer>,
    wake: Notify,
    /// Set while the broker is found unreachable, so an outage is logged once.
    down: AtomicBool,
}

impl Outbox {
    pub fn new(index: Arc<dyn EvidenceIndex>, queue: Arc<dyn JobQueue>, announcer: Arc<dyn Announcer>) -> Self {
        Self { index, queue, announcer, wake: Notify::new(), down: AtomicBool::new(false) }
    }

    async fn send(&self, message: &Outgoing) -> Result<(), StorageError> {
        match message {
            Outgoing::Job(job) => self.queue.publish(job).await,
            Outgoing::Announcement { topic, body } => self.announcer.announce(topic, body).await,
        }
    }

    /// Sends these messages, just committed by the caller, and forgets them once
    /// confirmed. Never an error: what cannot be sent now (the broker is down) stays in
    /// the outbox for the relay, which is woken.
    pub async fn send_now(&self, queued: Vec<Queued>) {
        if queued.is_empty() {
            return;
        }
        if let Err(e) = self.send_batch(queued).await {
            self.note_outage(&e);
            self.wake.notify_one();
        }
    }

    /// Sends a batch concurrently; the confirmed leave the outbox, the rest are freed.
    /// The first failure is returned.
    async fn send_batch(&self, batch: Vec<Queued>) -> Result<usize, StorageError> {
        let results = futures::future::join_all(batch.iter().map(|q| self.send(&q.message))).await;
        let (mut sent, mut failed, mut first_error) = (Vec::new(), Vec::new(), None);
        for (q, result) in batch.iter().zip(results) {
            match result {
                Ok(()) => sent.push(q.seq),
                Err(e) => {
                    failed.push(q.seq);
                    first_error.get_or_insert(e);
                }
            }
        }
        // Should these fail (the database is down too), the rows stay leased and are sent
        // again after the lease: a duplicate, never a loss.
        self.index.outbox_sent(&sent).await?;
        metrics::counter!("caregate_outbox_sent_total").increment(sent.len() as u64);
        if !failed.is_empty() {
            self.index.outbox_release(&failed).await?;
        }
        match first_error {
            Some(e) => Err(e),
            None => {
                if !sent.is_empty() && self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!("the broker takes messages again: the outbox is being sent");
                }
                Ok(sent.len())
            }
        }
    }

    fn note_outage(&self, e: &StorageError) {
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(error = %e, "the outbox cannot be sent for now (broker or database unreachable): its messages wait, uploads are still accepted");
        }
    }

    /// Sends one batch of what waits in the outbox; how many were sent.
    pub async fn relay_once(&self) -> Result<usize, StorageError> {
        let batch = self.index.outbox_claim(RELAY_LEASE, BATCH).await?;
        if batch.is_empty() {
            return Ok(0);
        }
        self.send_batch(batch).await
    }

    /// Sends what waits in the outbox until `shutdown`: woken by writers that could not
    /// send, and every second for rows left by other processes. While the broker or the
    /// database is down it tries again with a growing pause (up to 30 s).
    pub async fn relay(self: Arc<Self>, shutdown: CancellationToken) {
        let mut pause = Duration::from_millis(500);
        loop {
            let wait = match self.relay_once().await {
                Ok(n) if n as u32 >= BATCH => Duration::ZERO,
                Ok(_) => {
                    pause = Duration::from_millis(500);
                    POLL
                }
                Err(e) => {
                    self.note_outage(&e);
                    pause = (pause * 2).min(Duration::from_secs(30));
                    pause
                }
            };
            if wait.is_zero() {
                if shutdown.is_cancelled() {
                    return;
                }
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.wake.notified(), if !self.down.load(Ordering::Relaxed) => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Starts [`Self::relay`] in the background.
    pub fn spawn_relay(self: &Arc<Self>, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.clone().relay(shutdown))
    }

    pub async fn backlog(&self) -> Result<OutboxBacklog, StorageError> {
        self.index.outbox_backlog().await
    }
}
