use std::sync::Arc;

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
pub struct AmqpQueue {
    publisher: Arc<Publisher>,
    conn_for_consumers: Connection,
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
    match e {
        lapin::Error::ProtocolError(_) => StorageError::rejected("RabbitMQ", e),
        // A channel or connection the broker closed (a restart, a cut): an outage, over
        // once it is reopened, never a refusal of the request.
        other => StorageError::unavailable("RabbitMQ", other),
    }
}

/// The publishing connection and its confirm-mode channel, opened again when the broker
/// closed them (a restart, a network cut), without a process restart. One reconnection at
/// a time; the outage is logged once when found and once when over, not per message.
struct Publisher {
    url: String,
    open: tokio::sync::Mutex<Option<(Connection, Channel)>>,
}

impl Publisher {
    async fn open(url: &str) -> Result<(Connection, Channel), StorageError> {
        let conn = Connection::connect(url, ConnectionProperties::default()).await.map_err(err)?;
        let channel = conn.create_channel().await.map_err(err)?;
        channel.confirm_select(ConfirmSelectOptions::default()).await.map_err(err)?;
        Ok((conn, channel))
    }

    /// A channel that was open when asked for; reopened first when it was not.
    async fn channel(&self) -> Result<Channel, StorageError> {
        let mut open = self.open.lock().await;
        if let Some((conn, channel)) = open.as_ref() {
            if conn.status().connected() && channel.status().connected() {
                return Ok(channel.clone());
            }
            tracing::warn!("the RabbitMQ publishing connection was closed; reconnecting");
            *open = None;
        }
        let (conn, channel) = Self::open(&self.url).await?;
        tracing::info!("reconnected to RabbitMQ for publishing");
        *open = Some((conn, channel.clone()));
        Ok(channel)
    }

    /// Publishes persistently and waits for the broker's confirm. A channel found closed
    /// is reopened and the message sent once more: unconfirmed, it may or may not have
    /// reached the broker, and every consumer of ours takes a duplicate harmlessly.
    async fn publish(&self, exchange: &str, routing_key: &str, payload: &[u8], headers: FieldTable, mandatory: bool) -> Result<(), StorageError> {
        let channel = self.channel().await?;
        match publish(&channel, exchange, routing_key, payload, headers.clone(), mandatory).await {
            Err(e) if e.is_transient() && !channel.status().connected() => {
                let channel = self.channel().await?;
                publish(&channel, exchange, routing_key, payload, headers, mandatory).await
            }
            other => other,
        }
    }

    async fn publish_confirmed(&self, exchange: &str, routing_key: &str, payload: &[u8], headers: FieldTable) -> Result<(), StorageError> {
        self.publish(exchange, routing_key, payload, headers, true).await
    }
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
    pub async fn connect(url: &str, prefix: &str, policy: RetryPolicy) -> Result<Self, StorageError> {
        let (conn, publisher) = Publisher::open(url).await?;
        let names = Names::new(prefix);
        publisher
            .exchange_declare(&names.exchange, ExchangeKind::Topic, ExchangeDeclareOptions { durable: true, ..Default::default() }, FieldTable::default())
            .await
            .map_err(err)?;
        let quorum = table(&[("x-queue-type", long_str("quorum"))]);
        publisher.queue_declare(&names.work, durable(), quorum.clone()).await.map_err(err)?;
        publisher.queue_declare(&names.dead, durable(), quorum.clone()).await.map_err(err)?;
        publisher.queue_declare(&names.review, durable(), quorum).await.map_err(err)?;
        publisher.queue_bind(&names.review, &names.exchange, SUBMISSION_NEEDS_REVIEW, QueueBindOptions::default(), FieldTable::default()).await.map_err(err)?;
        publisher.queue_bind(&names.work, &names.exchange, EVIDENCE_RECEIVED, QueueBindOptions::default(), FieldTable::default()).await.map_err(err)?;
        for &delay in &policy.delays_ms {
            let args = table(&[
                ("x-message-ttl", AMQPValue::LongLongInt(delay as i64)),
                ("x-dead-letter-exchange", long_str("")),
                ("x-dead-letter-routing-key", long_str(&names.work)),
            ]);
            publisher.queue_declare(&names.retry(delay), durable(), args).await.map_err(err)?;
        }
        // Consumers get their own connection so that heavy publishing cannot starve acks.
        let conn_for_consumers = Connection::connect(url, ConnectionProperties::default()).await.map_err(err)?;
        let publisher = Arc::new(Publisher { url: url.to_owned(), open: tokio::sync::Mutex::new(Some((conn, publisher))) });
        Ok(Self { publisher, conn_for_consumers, names, policy, url_redacted: url.split('@').next_back().unwrap_or(url).to_owned() })
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
        let channel = self.conn_for_consumers.create_channel().await.map_err(err)?;
        channel.basic_qos(prefetch, BasicQosOptions::default()).await.map_err(err)?;
        let consumer = channel.basic_consume(&self.names.work, "", BasicConsumeOptions::default(), FieldTable::default()).await.map_err(err)?;
        Ok(Box::new(AmqpStream { consumer, publisher: self.publisher.clone(), names: self.names.clone(), policy: self.policy.clone() }))
    }

    async fn dead_letter_count(&self) -> Result<u64, StorageError> {
        let q = self
            .publisher
            .channel()
            .await?
            .queue_declare(&self.names.dead, QueueDeclareOptions { passive: true, ..Default::default() }, FieldTable::default())
            .await
            .map_err(err)?;
        Ok(q.message_count() as u64)
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
        let channel = self.conn_for_consumers.create_channel().await.map_err(err)?;
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
