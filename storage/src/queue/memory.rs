use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use caregate_schemas::EvidenceReceived;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::{topic_matches, AnnouncementStream, Announcer, Delivery, JobQueue, JobStream, RetryPolicy};
use crate::StorageError;

/// The embedded queue: jobs live in this process only. What it loses in a crash is
/// found again from the index (records still `received`) when the process restarts.
#[derive(Clone)]
pub struct MemoryQueue {
    inner: Arc<Inner>,
}

struct Inner {
    tx: mpsc::UnboundedSender<(EvidenceReceived, u32)>,
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<(EvidenceReceived, u32)>>,
    dead: Mutex<Vec<(EvidenceReceived, String)>>,
    policy: RetryPolicy,
    /// Jobs sent and not yet taken by a consumer.
    waiting: std::sync::atomic::AtomicU64,
    announcements: tokio::sync::broadcast::Sender<(String, serde_json::Value)>,
}

impl MemoryQueue {
    pub fn new(policy: RetryPolicy) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            inner: Arc::new(Inner {
                tx,
                rx: tokio::sync::Mutex::new(rx),
                dead: Mutex::new(Vec::new()),
                policy,
                waiting: std::sync::atomic::AtomicU64::new(0),
                announcements: tokio::sync::broadcast::channel(1024).0,
            }),
        }
    }

    fn send(&self, job: EvidenceReceived, attempt: u32) -> Result<(), StorageError> {
        self.inner.tx.send((job, attempt)).map_err(|_| StorageError::unavailable("in-process queue", "closed"))?;
        self.inner.waiting.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

#[async_trait]
impl JobQueue for MemoryQueue {
    async fn publish(&self, job: &EvidenceReceived) -> Result<(), StorageError> {
        self.send(job.clone(), 1)
    }

    async fn consume(&self, prefetch: u16) -> Result<Box<dyn JobStream>, StorageError> {
        Ok(Box::new(MemoryStream { queue: self.clone(), permits: Arc::new(Semaphore::new(prefetch as usize)) }))
    }

    async fn waiting_count(&self) -> Result<u64, StorageError> {
        Ok(self.inner.waiting.load(std::sync::atomic::Ordering::Relaxed))
    }

    async fn dead_letter_count(&self) -> Result<u64, StorageError> {
        Ok(self.inner.dead.lock().expect("dead-letter lock").len() as u64)
    }

    fn policy(&self) -> &RetryPolicy {
        &self.inner.policy
    }

    fn describe(&self) -> String {
        "in-process queue".into()
    }
}

struct MemoryStream {
    queue: MemoryQueue,
    permits: Arc<Semaphore>,
}

#[async_trait]
impl JobStream for MemoryStream {
    async fn next(&mut self) -> Option<Result<Box<dyn Delivery>, StorageError>> {
        let permit = self.permits.clone().acquire_owned().await.ok()?;
        let (job, attempt) = self.queue.inner.rx.lock().await.recv().await?;
        self.queue.inner.waiting.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        Some(Ok(Box::new(MemoryDelivery { queue: self.queue.clone(), job, attempt, _permit: permit })))
    }
}

struct MemoryDelivery {
    queue: MemoryQueue,
    job: EvidenceReceived,
    attempt: u32,
    _permit: OwnedSemaphorePermit,
}

#[async_trait]
impl Delivery for MemoryDelivery {
    fn job(&self) -> &EvidenceReceived {
        &self.job
    }

    fn attempt(&self) -> u32 {
        self.attempt
    }

    async fn ack(self: Box<Self>) -> Result<(), StorageError> {
        Ok(())
    }

    async fn retry(self: Box<Self>) -> Result<(), StorageError> {
        let delay = self.queue.inner.policy.delay_after(self.attempt);
        let queue = self.queue.clone();
        let (job, attempt) = (self.job, self.attempt + 1);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = queue.send(job, attempt);
        });
        Ok(())
    }

    async fn dead_letter(self: Box<Self>, reason: &str) -> Result<(), StorageError> {
        self.queue.inner.dead.lock().expect("dead-letter lock").push((self.job, reason.to_owned()));
        Ok(())
    }
}

#[async_trait]
impl Announcer for MemoryQueue {
    async fn announce(&self, topic: &str, body: &serde_json::Value) -> Result<(), StorageError> {
        // No subscriber is not an error: announcements are notifications.
        let _ = self.inner.announcements.send((topic.to_owned(), body.clone()));
        Ok(())
    }

    async fn subscribe(&self, pattern: &str) -> Result<Box<dyn AnnouncementStream>, StorageError> {
        Ok(Box::new(MemoryAnnouncements { rx: self.inner.announcements.subscribe(), pattern: pattern.to_owned() }))
    }
}

struct MemoryAnnouncements {
    rx: tokio::sync::broadcast::Receiver<(String, serde_json::Value)>,
    pattern: String,
}

#[async_trait]
impl AnnouncementStream for MemoryAnnouncements {
    async fn next(&mut self) -> Option<Result<(String, serde_json::Value), StorageError>> {
        loop {
            match self.rx.recv().await {
                Ok((topic, body)) if topic_matches(&self.pattern, &topic) => return Some(Ok((topic, body))),
                Ok(_) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    return Some(Err(StorageError::unavailable("in-process queue", format!("subscriber fell {n} announcements behind"))))
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
