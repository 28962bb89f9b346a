//! The history as a hash chain: appending an event chained to the one before, reading
//! an evidence's events, and walking the whole chain to prove nothing was changed.

use async_trait::async_trait;
use caregate_schemas::{EventKind, EvidenceEvent, EvidenceId, Sha256Digest};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::Row;

use super::core::SqlIndex;
use crate::sql::{parse_ts, ts};
use crate::StorageError;

/// What the hash chain check found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChainReport {
    /// Events checked.
    pub events: u64,
    /// Events written before the chain existed (no hash).
    pub unchained: u64,
    pub problems: Vec<ChainProblem>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainProblem {
    /// The event's content no longer gives its hash: it was changed.
    Changed { seq: i64 },
    /// The event does not follow the one before it: events between were removed or
    /// reordered.
    Broken { seq: i64 },
    /// The chain's head names a later event than the last one found: the newest events
    /// were removed.
    TailMissing,
}

impl std::fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainProblem::Changed { seq } => write!(f, "event {seq} was changed after it was written"),
            ChainProblem::Broken { seq } => write!(f, "the chain breaks before event {seq}: an event before it was removed or moved"),
            ChainProblem::TailMissing => write!(f, "the newest events were removed (the chain's head names an event that is not there)"),
        }
    }
}

/// The hash of one event in the chain: it covers the previous event's hash, so changing,
/// removing or reordering an event breaks every hash after it.
pub fn event_hash(prev_hash: &str, evidence_id: &str, kind: &str, detail: &str, at: &str) -> String {
    Sha256Digest::of(format!("{prev_hash}\n{evidence_id}\n{kind}\n{detail}\n{at}").as_bytes()).hex()
}

/// Appends an event inside the caller's transaction, chained to the one before. Taking
/// the chain head's row first makes concurrent appends wait their turn, so sequence order
/// is chain order. The subject is an evidence's id, or a submission's for what concerns
/// the whole dossier (decisions); both are UUIDs that never collide.
pub(super) async fn append_event(
    conn: &mut sqlx::AnyConnection,
    id: impl std::fmt::Display,
    kind: EventKind,
    detail: &Value,
    at: DateTime<Utc>,
) -> Result<(), StorageError> {
    let kind = kind.as_str();
    sqlx::query("UPDATE event_chain SET last_hash = last_hash WHERE id = 1").execute(&mut *conn).await?;
    let prev: String = sqlx::query("SELECT last_hash FROM event_chain WHERE id = 1").fetch_one(&mut *conn).await?.try_get("last_hash")?;
    let (id, detail, at) = (id.to_string(), detail.to_string(), ts(at));
    let hash = event_hash(&prev, &id, kind, &detail, &at);
    sqlx::query("INSERT INTO evidence_events (evidence_id, kind, detail, at, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id)
        .bind(kind.to_owned())
        .bind(detail)
        .bind(at)
        .bind(prev)
        .bind(hash.clone())
        .execute(&mut *conn)
        .await?;
    sqlx::query("UPDATE event_chain SET last_hash = $1 WHERE id = 1").bind(hash).execute(&mut *conn).await?;
    Ok(())
}

/// The history: every event of every evidence (and of every dossier, for decisions),
/// append-only and hash-chained.
///
/// Contract: an event is appended in its own transaction (or in the one of the change it
/// records, by the other concerns): interrupted, nothing of it is written. Calling
/// [`AuditLog::record_event`] again after an `Unavailable` error may leave the event twice
/// in the history, which is harmless to a reader and to the chain (each copy is chained).
/// [`AuditLog::check_chain`] only reads; it is not bounded in time (it walks the whole
/// history, page by page) and may be interrupted anywhere and run again.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// An evidence's events, oldest first.
    async fn events(&self, id: EvidenceId) -> Result<Vec<EvidenceEvent>, StorageError>;
    /// Appends an event to an evidence's history (a fixity failure, a decision...).
    async fn record_event(&self, id: EvidenceId, kind: EventKind, detail: Value) -> Result<(), StorageError>;
    /// Walks the whole history recomputing its hash chain: every event carries the hash
    /// of the one before, and the chain's head the hash of the last.
    async fn check_chain(&self) -> Result<ChainReport, StorageError>;
}

#[caregate_macros::bounded]
#[async_trait]
impl AuditLog for SqlIndex {
    async fn events(&self, id: EvidenceId) -> Result<Vec<EvidenceEvent>, StorageError> {
        let rows = sqlx::query("SELECT seq, kind, detail, at FROM evidence_events WHERE evidence_id = $1 ORDER BY seq")
            .bind(id.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let detail: String = row.try_get("detail")?;
                Ok(EvidenceEvent {
                    seq: row.try_get("seq")?,
                    evidence_id: id,
                    kind: row.try_get("kind")?,
                    detail: serde_json::from_str(&detail).map_err(|e| StorageError::Corrupt(format!("event: {e}")))?,
                    at: parse_ts(&row.try_get::<String, _>("at")?)?,
                })
            })
            .collect()
    }

    async fn record_event(&self, id: EvidenceId, kind: EventKind, detail: Value) -> Result<(), StorageError> {
        let mut tx = self.pool.begin().await?;
        append_event(&mut tx, id, kind, &detail, Utc::now()).await?;
        tx.commit().await?;
        Ok(())
    }

    // A walk over the whole history, page by page: each page is quick, the walk is not.
    #[unbounded]
    async fn check_chain(&self) -> Result<ChainReport, StorageError> {
        let mut report = ChainReport::default();
        let mut prev: Option<String> = None;
        let mut after = 0i64;
        // Page by sequence: memory stays flat however long the history.
        loop {
            let rows = sqlx::query("SELECT seq, evidence_id, kind, detail, at, prev_hash, hash FROM evidence_events WHERE seq > $1 ORDER BY seq LIMIT 1000")
                .bind(after)
                .fetch_all(&self.pool)
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("seq")?;
            for row in &rows {
                let seq: i64 = row.try_get("seq")?;
                let (Some(prev_hash), Some(hash)) = (row.try_get::<Option<String>, _>("prev_hash")?, row.try_get::<Option<String>, _>("hash")?) else {
                    report.unchained += 1;
                    continue;
                };
                report.events += 1;
                if let Some(expected) = &prev {
                    if &prev_hash != expected {
                        report.problems.push(ChainProblem::Broken { seq });
                    }
                }
                let recomputed = event_hash(
                    &prev_hash,
                    &row.try_get::<String, _>("evidence_id")?,
                    &row.try_get::<String, _>("kind")?,
                    &row.try_get::<String, _>("detail")?,
                    &row.try_get::<String, _>("at")?,
                );
                if recomputed != hash {
                    report.problems.push(ChainProblem::Changed { seq });
                }
                prev = Some(hash);
            }
        }
        let head: String = sqlx::query("SELECT last_hash FROM event_chain WHERE id = 1").fetch_one(&self.pool).await?.try_get("last_hash")?;
        if prev.as_deref().unwrap_or("") != head {
            report.problems.push(ChainProblem::TailMissing);
        }
        Ok(report)
    }
}
