//! The transactional outbox: messages for the broker written in the transaction of the
//! change they carry, then sent and deleted. A row is leased by whoever is sending it
//! (its writer first, then a relay), so two relays do not send the same row at once;
//! a lease that runs out (a crashed sender) makes the row free again.

use std::time::Duration;

use async_trait::async_trait;
use caregate_schemas::EvidenceReceived;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::core::{placeholders, SqlIndex};
use crate::queue::{Outgoing, Queued};
use crate::sql::{parse_ts, ts};
use crate::StorageError;

/// How long the writer of a row holds it before a relay may send it: long enough for
/// the writer's own attempt, short enough that a crash delays the message little.
pub(crate) const WRITER_LEASE: Duration = Duration::from_secs(30);

/// What waits in the outbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct OutboxBacklog {
    pub pending: u64,
    /// When the oldest waiting message was written.
    pub oldest: Option<DateTime<Utc>>,
}

fn lease_end(lease: Duration) -> String {
    ts(Utc::now() + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30)))
}

fn encode(message: &Outgoing) -> Result<(String, String), StorageError> {
    let body = match message {
        Outgoing::Job(job) => serde_json::to_string(job),
        Outgoing::Announcement { body, .. } => serde_json::to_string(body),
    }
    .map_err(|e| StorageError::Corrupt(format!("outbox message: {e}")))?;
    Ok((message.topic().to_owned(), body))
}

fn decode(topic: String, body: &str) -> Result<Outgoing, StorageError> {
    let corrupt = |e: serde_json::Error| StorageError::Corrupt(format!("outbox message on {topic:?}: {e}"));
    if topic == caregate_schemas::EVIDENCE_RECEIVED {
        Ok(Outgoing::Job(serde_json::from_str::<EvidenceReceived>(body).map_err(corrupt)?))
    } else {
        Ok(Outgoing::Announcement { body: serde_json::from_str(body).map_err(corrupt)?, topic })
    }
}

/// Writes a message in the caller's transaction, leased to the writer.
pub(super) async fn enqueue(conn: &mut sqlx::AnyConnection, message: Outgoing) -> Result<Queued, StorageError> {
    let (topic, body) = encode(&message)?;
    let seq: i64 = sqlx::query("INSERT INTO outbox (topic, body, created_at, claimed_until) VALUES ($1, $2, $3, $4) RETURNING seq")
        .bind(topic)
        .bind(body)
        .bind(ts(Utc::now()))
        .bind(lease_end(WRITER_LEASE))
        .fetch_one(&mut *conn)
        .await?
        .try_get("seq")?;
    Ok(Queued { seq, message })
}

impl SqlIndex {
    async fn outbox_update(&self, statement: &str, seqs: &[i64]) -> Result<(), StorageError> {
        for chunk in seqs.chunks(500) {
            let sql = format!("{statement} ({})", placeholders(1, chunk.len()));
            let mut query = sqlx::query(&sql);
            for seq in chunk {
                query = query.bind(*seq);
            }
            query.execute(&self.pool).await?;
        }
        Ok(())
    }
}

/// The outbox's rows: messages waiting for the broker.
///
/// Contract: a message leaves the outbox only by [`OutboxStore::outbox_sent`], once the
/// broker confirmed it, so it is sent at least once. A claim is a lease: a sender
/// interrupted after claiming (crashed, timed out) leaves its rows held until the lease
/// ends, then free for anyone; a claim that timed out may still have taken rows, which
/// wait for their lease. `outbox_sent` and `outbox_release` may be called again at will.
/// [`OutboxStore::enqueue`] called again after an `Unavailable` error may queue its
/// messages twice (consumers take duplicates harmlessly, see [`crate::Outbox`]).
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Queues messages that go with no other change (a job queued again).
    async fn enqueue(&self, messages: Vec<Outgoing>) -> Result<Vec<Queued>, StorageError>;
    /// Takes up to `limit` outbox messages nobody holds, oldest first, and holds them for
    /// `lease`: sent in that time they are [`Self::outbox_sent`], otherwise free again.
    async fn outbox_claim(&self, lease: Duration, limit: u32) -> Result<Vec<Queued>, StorageError>;
    /// The broker confirmed these: they leave the outbox.
    async fn outbox_sent(&self, seqs: &[i64]) -> Result<(), StorageError>;
    /// These could not be sent: free for the next attempt, by anyone.
    async fn outbox_release(&self, seqs: &[i64]) -> Result<(), StorageError>;
    /// How many messages wait, and since when.
    async fn outbox_backlog(&self) -> Result<OutboxBacklog, StorageError>;
}

#[caregate_macros::bounded]
#[async_trait]
impl OutboxStore for SqlIndex {
    async fn enqueue(&self, messages: Vec<Outgoing>) -> Result<Vec<Queued>, StorageError> {
        let mut tx = self.pool.begin().await?;
        let mut queued = Vec::with_capacity(messages.len());
        for m in messages {
            queued.push(enqueue(&mut tx, m).await?);
        }
        tx.commit().await?;
        Ok(queued)
    }

    async fn outbox_claim(&self, lease: Duration, limit: u32) -> Result<Vec<Queued>, StorageError> {
        let now = ts(Utc::now());
        // The outer condition repeats the inner one: under PostgreSQL a relay that waited
        // for another's lock checks it again on the row as the other left it.
        let sql = format!(
            "UPDATE outbox SET claimed_until = $1
             WHERE (claimed_until IS NULL OR claimed_until < $2)
               AND seq IN (SELECT seq FROM outbox WHERE claimed_until IS NULL OR claimed_until < $2 ORDER BY seq LIMIT {limit})
             RETURNING seq, topic, body"
        );
        let rows = sqlx::query(&sql).bind(lease_end(lease)).bind(now).fetch_all(&self.pool).await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            let seq: i64 = row.try_get("seq")?;
            let body: String = row.try_get("body")?;
            claimed.push(Queued { seq, message: decode(row.try_get("topic")?, &body)? });
        }
        claimed.sort_by_key(|q| q.seq);
        Ok(claimed)
    }

    async fn outbox_sent(&self, seqs: &[i64]) -> Result<(), StorageError> {
        self.outbox_update("DELETE FROM outbox WHERE seq IN", seqs).await
    }

    async fn outbox_release(&self, seqs: &[i64]) -> Result<(), StorageError> {
        self.outbox_update("UPDATE outbox SET claimed_until = NULL WHERE seq IN", seqs).await
    }

    async fn outbox_backlog(&self) -> Result<OutboxBacklog, StorageError> {
        let row = sqlx::query("SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox").fetch_one(&self.pool).await?;
        let oldest: Option<String> = row.try_get("oldest")?;
        Ok(OutboxBacklog { pending: row.try_get::<i64, _>("n")? as u64, oldest: oldest.as_deref().map(parse_ts).transpose()? })
    }
}
