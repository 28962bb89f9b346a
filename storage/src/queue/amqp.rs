use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use caregate_schemas::{EvidenceReceived, EVIDENCE_RECEIVED, SUBMISSION_NEEDS_REVIEW};
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::publisher_confirm::Confirmation;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer, ExchangeKind};

use super::{AnnouncementStream, Announcer, Delivery, JobQueue, JobStream, RetryPolicy};
use crate::StorageError;

const ATTEMPT_HEADER: &str = "x-caregate-attempt";
const REASON_HEADER: &str = "x-caregate-dead-reason";

/// RabbitMQ: a topic exchange, a durable quorum work queue, one delay queue per retry
/// delay (message TTL, then dead-lettered back to the work queue) and a dead-letter queue.
///
/// Connections are opened when first needed and again after the broker closed them, so
/// a process started while the broker is down runs, and resumes when it is back.
pub struct AmqpQueue {
    publisher: Arc<Publisher>,
    consumers: tokio::sync::Mutex<Option<Connection>>,
    names: Names,
    policy: RetryPolicy,
    url_redacted: String,
}

#[derive(Clone, Debug)]
struct Names {
    exchange: String,
    work: String,
    dead: String,
    /// Where `submission.needs_review` announcements wait for the controllers' tools.
    review: String,
    prefix: String,
}

impl Names {
    fn new(prefix: &str) -> Self {
        Self {
            exchange: format!("{prefix}.events"),
            work: format!("{prefix}.evidence"),
            dead: format!("{prefix}.evidence.dead"),
            review: format!("{prefix}.review"),
            prefix: prefix.to_owned(),
        }
    }

    /// Named after their delay, so changing the policy declares new queues instead of
    /// clashing with the arguments of the old ones.
    fn retry(&self, delay_ms: u64) -> String {
        format!("{}.evidence.retry.{delay_ms}ms", self.prefix)
    }
}

fn err(e: lapin::Error) -> StorageError {
    use lapin::protocol::{AMQPErrorKind, AMQPHardError, AMQPSoftError};
    match &e {
        // The broker closing us for its own reasons (an operator, a restart, a node
        // under memory or disk alarm, its own fault) is an outage, over once reconnected.
        lapin::Error::ProtocolError(amqp)
            if matches!(
                amqp.kind(),
                AMQPErrorKind::Hard(AMQPHardError::CONNECTIONFORCED | AMQPHardError::RESOURCEERROR | AMQPHardError::INTERNALERROR)
                    | AMQPErrorKind::Soft(AMQPSoftError::RESOURCELOCKED)
            ) =>
        {
            StorageError::unavailable("RabbitMQ", e)
        }
        lapin::Error::ProtocolError(_) => StorageError::rejected("RabbitMQ", e),
        // A channel or connection the broker closed (a restart, a cut): an outage, over
        // once it is reopened, never a refusal of the request.
        _ => StorageError::unavailable("RabbitMQ", e),
    }
}

/// A broker that does not answer in this time is treated as down: a frozen broker must
/// not hold a request for longer than a client waits.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// After the broker failed to answer, publishing fails at once for this long instead of
/// waiting on it again: during an outage each upload is not held for the timeout.
const BREAKER: Duration = Duration::from_secs(1);

async fn answered<T>(what: &str, f: impl std::future::Future<Output = Result<T, StorageError>>) -> Result<T, StorageError> {
    match tokio::time::timeout(ANSWER_TIMEOUT, f).await {
        Ok(result) => result,
        Err(_) => Err(StorageError::unavailable("RabbitMQ", format!("no answer to {what} within {ANSWER_TIMEOUT:?}"))),
    }
}

/// The publishing connection and its confirm-mode channel, opened again when the broker
/// closed them (a restart, a network cut), without a process restart. One reconnection at
/// a time; the topology is declared on every connection (idempotent), so a broker that
/// lost it, or was down when the process started, gets it back.
struct Publisher {
    url: String,
    names: Names,
    policy: RetryPolicy,
    open: tokio::sync::Mutex<Option<(Connection, Channel)>>,
    /// When the broker last failed to answer (see [`BREAKER`]).
    failed_at: std::sync::Mutex<Option<Instant>>,
}

impl Publisher {
    async fn open(&self) -> Result<(Connection, Channel), StorageError> {
        answered("a connection", async {
            let conn = Connection::connect(&self.url, ConnectionProperties::default()).await.map_err(err)?;
            let channel = conn.create_channel().await.map_err(err)?;
            channel.confirm_select(ConfirmSelectOptions::default()).await.map_err(err)?;
            declare_topology(&channel, &self.names, &self.policy).await?;
            Ok((conn, channel))
        })
        .await
    }

    fn failed_recently(&self) -> Option<Duration> {
        let at = *self.failed_at.lock().unwrap_or_else(|e| e.into_inner());
        at.map(|t| t.elapsed()).filter(|d| *d < BREAKER)
    }

    fn note(&self, failed: bool) {
        *self.failed_at.lock().unwrap_or_else(|e| e.into_inner()) = failed.then(Instant::now);
    }

    /// A channel that was open when asked for; reopened first when it was not.
    async fn channel(&self) -> Result<Channel, StorageError> {
        if let Some(ago) = self.failed_recently() {
            return Err(StorageError::unavailable("RabbitMQ", format!("did not answer {} ms ago", ago.as_millis())));
        }
        let mut open = self.open.lock().await;
        if let Some((conn, channel)) = open.as_ref() {
            if conn.status().connected() && channel.status().connected() {
                return Ok(channel.clone());
            }
            tracing::warn!("the RabbitMQ publishing connection was closed; reconnecting");
            *open = None;
        }
        match self.open().await {
            Ok((conn, channel)) => {
                tracing::info!("connected to RabbitMQ for publishing");
                *open = Some((conn, channel.clone()));
                self.note(false);
                Ok(channel)
            }
            Err(e) => {
                self.note(e.is_transient());
                Err(e)
            }
        }
    }

    /// Publishes persistently and waits for the broker's confirm. A channel found closed
    /// is reopened and the message sent once more: unconfirmed, it may or may not have
    /// reached the broker, and every consumer of ours takes a duplicate harmlessly. A
    /// broker that does not confirm in time is dropped, to be reconnected to.
    async fn publish(&self, exchange: &str, routing_key: &str, payload: &[u8], headers: FieldTable, mandatory: bool) -> Result<(), StorageError> {
        let result = answered("a publish", async {
            let channel = self.channel().await?;
            match publish(&channel, exchange, routing_key, payload, headers.clone(), mandatory).await {
                Err(e) if e.is_transient() && !channel.status().connected() => {
                    let channel = self.channel().await?;
                    publish(&channel, exchange, routing_key, payload, headers, mandatory).await
                }
                other => other,
            }
        })
        .await;
        match &result {
            Err(e) if e.is_transient() => {
                self.note(true);
                if let Ok(mut open) = self.open.try_lock() {
                    *open = None;
                }
            }
            _ => {}
        }
        result
    }

    async fn publish_confirmed(&self, exchange: &str, routing_key: &str, payload: &[u8], headers: FieldTable) -> Result<(), StorageError> {
        self.publish(exchange, routing_key, payload, headers, true).await
    }
}

/// The exchange and queues, declared on every new connection (declaring again what
/// exists changes nothing).
async fn declare_topology(channel: &Channel, names: &Names, policy: &RetryPolicy) -> Result<(), StorageError> {
    channel
        .exchange_declare(&names.exchange, ExchangeKind::Topic, ExchangeDeclareOptions { durable: true, ..Default::default() }, FieldTable::default())
        .await
        .map_err(err)?;
    let quorum = table(&[("x-queue-type", long_str("quorum"))]);
    channel.queue_declare(&names.work, durable(), quorum.clone()).await.map_err(err)?;
    channel.queue_declare(&names.dead, durable(), quorum.clone()).await.map_err(err)?;
    channel.queue_declare(&names.review, durable(), quorum).await.map_err(err)?;
    channel.queue_bind(&names.review, &names.exchange, SUBMISSION_NEEDS_REVIEW, QueueBindOptions::default(), FieldTable::default()).await.map_err(err)?;
    channel.queue_bind(&names.work, &names.exchange, EVIDENCE_RECEIVED, QueueBindOptions::default(), FieldTable::default()).await.map_err(err)?;
    for &delay in &policy.delays_ms {
        let args = table(&[
            ("x-message-ttl", AMQPValue::LongLongInt(delay as i64)),
            ("x-dead-letter-exchange", long_str("")),
            ("x-dead-letter-routing-key", long_str(&names.work)),
        ]);
        channel.queue_declare(&names.retry(delay), durable(), args).await.map_err(err)?;
    }
    Ok(())
}

fn table(entries: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in entries {
        t.insert(ShortString::from(*k), v.clone());
    }
    t
}

fn long_str(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

fn durable() -> QueueDeclareOptions {
    QueueDeclareOptions { durable: true, ..Default::default() }
}

impl AmqpQueue {
    /// Connects and declares the topology (idempotent: every worker does it at start).
    /// A broker that cannot be reached is not an error: the process starts, messages
    /// wait in the outbox, and the connection is opened when the broker answers. A
    /// broker that refuses us (credentials, a bad virtual host) is.
    pub async fn connect(url: &str, prefix: &str, policy: RetryPolicy) -> Result<Self, StorageError> {
        let names = Names::new(prefix);
        let publisher = Arc::new(Publisher {
            url: url.to_owned(),
            names: names.clone(),
            policy: policy.clone(),
            open: tokio::sync::Mutex::new(None),
            failed_at: std::sync::Mutex::new(None),
        });
        match publisher.channel().await {
            Ok(_) => {}
            Err(e) if e.is_transient() => tracing::warn!(error = %e, "RabbitMQ does not answer yet; connecting when it does"),
            Err(e) => return Err(e),
        }
        let url_redacted = url.split('@').next_back().unwrap_or(url).to_owned();
        Ok(Self { publisher, consumers: tokio::sync::Mutex::new(None), names, policy, url_redacted })
    }

    /// The consumers' connection (their own, so that heavy publishing cannot starve
    /// acks), opened again when it was closed.
    async fn consumer_channel(&self) -> Result<Channel, StorageError> {
        let mut conn = self.consumers.lock().await;
        if !conn.as_ref().is_some_and(|c| c.status().connected()) {
            let fresh =
                answered("a connection", async { Connection::connect(&self.publisher.url, ConnectionProperties::default()).await.map_err(err) }).await?;
            *conn = Some(fresh);
        }
        let conn = conn.as_ref().expect("just opened");
        answered("a channel", async { conn.create_channel().await.map_err(err) }).await
    }

    /// Messages ready in a queue (a passive declaration: it creates nothing).
    async fn message_count(&self, queue: &str) -> Result<u64, StorageError> {
        let channel = self.publisher.channel().await?;
        let q = answered("a queue declaration", async {
            channel.queue_declare(queue, QueueDeclareOptions { passive: true, ..Default::default() }, FieldTable::default()).await.map_err(err)
        })
        .await?;
        Ok(q.message_count() as u64)
    }

    /// Deletes every queue and the exchange of this prefix (tests clean up after themselves).
    pub async fn delete_topology(&self) -> Result<(), StorageError> {
        let mut queues = vec![self.names.work.clone(), self.names.dead.clone(), self.names.review.clone()];
        queues.extend(self.policy.delays_ms.iter().map(|d| self.names.retry(*d)));
        let channel = self.publisher.channel().await?;
        for q in queues {
            channel.queue_delete(&q, Default::default()).await.map_err(err)?;
        }
        channel.exchange_delete(&self.names.exchange, Default::default()).await.map_err(err)?;
        Ok(())
    }
}

/// Publishes persistently and waits for the broker's confirm; with `mandatory`, an
/// unroutable message (returned) is an error, never a silent loss.
async fn publish(channel: &Channel, exchange: &str, routing_key: &str, payload: &[u8], headers: FieldTable, mandatory: bool) -> Result<(), StorageError> {
    let props = BasicProperties::default().with_delivery_mode(2).with_content_type(ShortString::from("application/json")).with_headers(headers);
    let confirm = channel
        .basic_publish(exchange, routing_key, BasicPublishOptions { mandatory, ..Default::default() }, payload, props)
        .await
        .map_err(err)?
        .await
        .map_err(err)?;
    match confirm {
        Confirmation::Ack(None) => Ok(()),
        Confirmation::Ack(Some(_)) => Err(StorageError::rejected("RabbitMQ", format!("message to {routing_key:?} was unroutable"))),
        Confirmation::Nack(_) => Err(StorageError::unavailable("RabbitMQ", "broker refused the message (nack)")),
        Confirmation::NotRequested => Err(StorageError::rejected("RabbitMQ", "publisher confirms are off")),
    }
}

fn encode(job: &EvidenceReceived) -> Vec<u8> {
    serde_json::to_vec(job).expect("job serialises")
}

#[async_trait]
impl JobQueue for AmqpQueue {
    async fn publish(&self, job: &EvidenceReceived) -> Result<(), StorageError> {
        let headers = table(&[(ATTEMPT_HEADER, AMQPValue::LongLongInt(1))]);
        self.publisher.publish_confirmed(&self.names.exchange, EVIDENCE_RECEIVED, &encode(job), headers).await
    }

    async fn consume(&self, prefetch: u16) -> Result<Box<dyn JobStream>, StorageError> {
        // The publisher's connection declares the topology the consumer needs.
        self.publisher.channel().await?;
        let channel = self.consumer_channel().await?;
        channel.basic_qos(prefetch, BasicQosOptions::default()).await.map_err(err)?;
        let consumer = channel.basic_consume(&self.names.work, "", BasicConsumeOptions::default(), FieldTable::default()).await.map_err(err)?;
        Ok(Box::new(AmqpStream { consumer, publisher: self.publisher.clone(), names: self.names.clone(), policy: self.policy.clone() }))
    }

    async fn waiting_count(&self) -> Result<u64, StorageError> {
        self.message_count(&self.names.work).await
    }

    async fn dead_letter_count(&self) -> Result<u64, StorageError> {
        self.message_count(&self.names.dead).await
    }

    fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    fn describe(&self) -> String {
        format!("RabbitMQ {} (queues {}.*)", self.url_redacted, self.names.prefix)
    }
}

#[async_trait]
impl Announcer for AmqpQueue {
    async fn announce(&self, topic: &str, body: &serde_json::Value) -> Result<(), StorageError> {
        let payload = serde_json::to_vec(body).map_err(|e| StorageError::rejected("RabbitMQ", e))?;
        // Not mandatory: a topic nobody listens to is not an error for a notification.
        self.publisher.publish(&self.names.exchange, topic, &payload, FieldTable::default(), false).await
    }

    async fn subscribe(&self, pattern: &str) -> Result<Box<dyn AnnouncementStream>, StorageError> {
        self.publisher.channel().await?;
        let channel = self.consumer_channel().await?;
        let queue = channel
            .queue_declare("", QueueDeclareOptions { exclusive: true, auto_delete: true, ..Default::default() }, FieldTable::default())
            .await
            .map_err(err)?;
        channel.queue_bind(queue.name().as_str(), &self.names.exchange, pattern, QueueBindOptions::default(), FieldTable::default()).await.map_err(err)?;
        let consumer = channel
            .basic_consume(queue.name().as_str(), "", BasicConsumeOptions { no_ack: true, ..Default::default() }, FieldTable::default())
            .await
            .map_err(err)?;
        Ok(Box::new(AmqpAnnouncements { consumer, _channel: channel }))
    }
}

struct AmqpAnnouncements {
    consumer: Consumer,
    _channel: Channel,
}

#[async_trait]
impl AnnouncementStream for AmqpAnnouncements {
    async fn next(&mut self) -> Option<Result<(String, serde_json::Value), StorageError>> {
        let delivery = match self.consumer.next().await? {
            Ok(d) => d,
            Err(e) => return Some(Err(err(e))),
        };
        let topic = delivery.routing_key.as_str().to_owned();
        Some(serde_json::from_slice(&delivery.data).map(|body| (topic, body)).map_err(|e| StorageError::Corrupt(format!("announcement: {e}"))))
    }
}

struct AmqpStream {
    consumer: Consumer,
    publisher: Arc<Publisher>,
    names: Names,
    policy: RetryPolicy,
}

fn attempt_of(props: &BasicProperties) -> u32 {
    let value = props.headers().as_ref().and_then(|h| h.inner().get(ATTEMPT_HEADER).cloned());
    match value {
        Some(AMQPValue::LongLongInt(n)) => n.max(1) as u32,
        Some(AMQPValue::LongInt(n)) => n.max(1) as u32,
        Some(AMQPValue::LongUInt(n)) => n.max(1),
        _ => 1,
    }
}

#[async_trait]
impl JobStream for AmqpStream {
    async fn next(&mut self) -> Option<Result<Box<dyn Delivery>, StorageError>> {
        loop {
            let delivery = match self.consumer.next().await? {
                Ok(d) => d,
                Err(e) => return Some(Err(err(e))),
            };
            match serde_json::from_slice::<EvidenceReceived>(&delivery.data) {
                Ok(job) => {
                    return Some(Ok(Box::new(AmqpDelivery {
                        attempt: attempt_of(&delivery.properties),
                        job,
                        inner: delivery,
                        publisher: self.publisher.clone(),
                        names: self.names.clone(),
                        policy: self.policy.clone(),
                    })))
                }
                Err(e) => {
                    // Not ours to process, and not to be lost either: park it with why.
                    tracing::warn!(error = %e, "undecodable job, moving it to the dead-letter queue");
                    let headers = table(&[(REASON_HEADER, long_str(&format!("undecodable job: {e}")))]);
                    if let Err(e) = self.publisher.publish_confirmed("", &self.names.dead, &delivery.data, headers).await {
                        return Some(Err(e));
                    }
                    if let Err(e) = delivery.ack(BasicAckOptions::default()).await {
                        return Some(Err(err(e)));
                    }
                }
            }
        }
    }
}

struct AmqpDelivery {
    job: EvidenceReceived,
    attempt: u32,
    inner: lapin::message::Delivery,
    publisher: Arc<Publisher>,
    names: Names,
    policy: RetryPolicy,
}

#[async_trait]
impl Delivery for AmqpDelivery {
    fn job(&self) -> &EvidenceReceived {
        &self.job
    }

    fn attempt(&self) -> u32 {
        self.attempt
    }

    async fn ack(self: Box<Self>) -> Result<(), StorageError> {
        self.inner.ack(BasicAckOptions::default()).await.map_err(err)
    }

    async fn retry(self: Box<Self>) -> Result<(), StorageError> {
        let delay = self.policy.delay_after(self.attempt).as_millis() as u64;
        let headers = table(&[(ATTEMPT_HEADER, AMQPValue::LongLongInt(self.attempt as i64 + 1))]);
        // The copy is safely in the delay queue before this one is acked: a crash in
        // between means one extra (harmless) delivery, never a lost job.
        self.publisher.publish_confirmed("", &self.names.retry(delay), &self.inner.data, headers).await?;
        self.inner.ack(BasicAckOptions::default()).await.map_err(err)
    }

    async fn dead_letter(self: Box<Self>, reason: &str) -> Result<(), StorageError> {
        let headers = table(&[(ATTEMPT_HEADER, AMQPValue::LongLongInt(self.attempt as i64)), (REASON_HEADER, long_str(reason))]);
        self.publisher.publish_confirmed("", &self.names.dead, &self.inner.data, headers).await?;
        self.inner.ack(BasicAckOptions::default()).await.map_err(err)
    }
}
