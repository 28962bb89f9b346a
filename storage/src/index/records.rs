//! Records: received, finished once, retried, listed and found again.

use async_trait::async_trait;
use caregate_schemas::{EventKind, EvidenceId, EvidenceRecord, FindingCode, Sha256Digest, Status, SubmissionId};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::Row;

use super::chain::append_event;
use super::core::{placeholders, to_json, Dialect, SqlIndex, RECORD_COLUMNS};
use super::outbox::enqueue;
use crate::queue::{Outgoing, Queued};
use crate::sql::ts;
use crate::StorageError;

/// What [`Records::record_received_once`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum KeyedReceipt {
    /// The key was free: the record is written with its job (`None`: the record was
    /// already there, and so was its job).
    Recorded(Option<Queued>),
    /// The key names this earlier evidence; nothing was written.
    Repeat(EvidenceId),
}

/// The current record of each evidence, from its receipt to its end.
///
/// Contract: a record moves to a terminal state at most once ([`Records::finish`]
/// returns `false` on a second call and changes nothing), which is what makes a
/// redelivered job harmless. Each write and its event are one transaction, so an
/// interrupted write left nothing or everything. Calling again after an `Unavailable`
/// error: receiving ([`Records::record_received`], [`Records::record_received_once`]) and
/// finishing change nothing the second time; a re-examination, a retry note or a
/// deletion note written twice leave their event twice in the history (the record is
/// the same). Reads may be interrupted anywhere and retried at will.
#[async_trait]
pub trait Records: Send + Sync {
    /// Records a file just received in quarantine, and queues its job. Calling it again
    /// with the same evidence id changes nothing (and returns `None`).
    async fn record_received(&self, rec: &EvidenceRecord) -> Result<Option<Queued>, StorageError>;
    /// The same under an uploader's idempotency key, atomically: when the key is already
    /// taken nothing is written and the evidence it names is returned, so a client that
    /// retries an upload it got no answer to never makes a second record.
    async fn record_received_once(&self, rec: &EvidenceRecord, key: &str) -> Result<KeyedReceipt, StorageError>;
    async fn get(&self, id: EvidenceId) -> Result<Option<EvidenceRecord>, StorageError>;
    /// Moves a `received` record to the terminal state `rec.status` with its results, and
    /// appends an event of that name with `detail`. Returns `false` if the record was
    /// already terminal (nothing is written then).
    async fn finish(&self, rec: &EvidenceRecord, detail: Value) -> Result<bool, StorageError>;
    /// Writes what examining a kept file again found (a rescan with newer signatures,
    /// its PDF signatures validated again): `rec` as it now stands (still kept with its
    /// new scan report or validation, or `infected` and back in quarantine) and its
    /// event, in one transaction. Only a kept record (`stored`, `needs_review`) changes;
    /// `false` when it was not kept any more (re-examined meanwhile by another process).
    async fn record_reexamination(&self, rec: &EvidenceRecord, kind: EventKind, detail: Value) -> Result<bool, StorageError>;
    /// Kept records carrying the finding `code` ([`FindingCode::OcrPending`]: files
    /// whose pages wait for OCR), oldest first. They are `needs_review` (a warning), so
    /// the search reads that status only.
    async fn with_finding(&self, code: FindingCode, limit: u32) -> Result<Vec<EvidenceRecord>, StorageError>;
    /// As [`Records::record_reexamination`], but only while the stored record still
    /// carries the finding `code`: of two processes resolving it (two OCR pools reading
    /// the same scan), one writes; `false` for the other.
    async fn resolve_finding(&self, rec: &EvidenceRecord, code: FindingCode, kind: EventKind, detail: Value) -> Result<bool, StorageError>;
    /// Notes a failed attempt that will be retried.
    async fn record_retry(&self, id: EvidenceId, attempts: u32, reason: &str) -> Result<(), StorageError>;
    /// Records still `received`, oldest first.
    async fn unfinished(&self, limit: u32) -> Result<Vec<EvidenceRecord>, StorageError>;
    /// Records still `received` with nothing recorded on them for `idle` (no upload, no
    /// retry): their job was most likely lost.
    async fn stale(&self, idle: std::time::Duration, limit: u32) -> Result<Vec<EvidenceRecord>, StorageError>;
    /// How many records stand in each status.
    async fn count_by_status(&self) -> Result<Vec<(Status, u64)>, StorageError>;
    /// Finished records of *other* submissions than `exclude` that hold one of these
    /// contents or one of these invoice keys ([`EvidenceRecord::invoice_key`]).
    async fn same_documents(&self, exclude: SubmissionId, hashes: &[Sha256Digest], invoice_keys: &[String]) -> Result<Vec<EvidenceRecord>, StorageError>;
    /// Records `stored` or `needs_review` (the latter may be held in quarantine: no
    /// `object_key`), received at or after `since`, in receipt order, `limit` at a time
    /// after the record `after` (keyset paging).
    async fn stored_records(&self, since: Option<DateTime<Utc>>, after: Option<&EvidenceRecord>, limit: u32) -> Result<Vec<EvidenceRecord>, StorageError>;
    /// Notes that the record's stored object was deleted (after its retention), by whom.
    async fn mark_deleted(&self, id: EvidenceId, actor: &str) -> Result<(), StorageError>;
    /// The back end and where it is (no secret), for the start-up log.
    fn describe(&self) -> String;
}

impl SqlIndex {
    /// A kept record rewritten with its event, in one transaction; with `carrying`, only
    /// while the stored record still has a finding of that code.
    async fn reexamined(&self, rec: &EvidenceRecord, carrying: Option<FindingCode>, kind: EventKind, detail: Value) -> Result<bool, StorageError> {
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        let condition = if carrying.is_some() { " AND record LIKE $5" } else { "" };
        let sql = format!(
            "UPDATE evidence SET status = $1, updated_at = $2, record = $3
             WHERE evidence_id = $4 AND status IN ('stored', 'needs_review'){condition}"
        );
        let mut update = sqlx::query(&sql).bind(rec.status.as_str()).bind(ts(now)).bind(to_json(rec)?).bind(rec.evidence_id.to_string());
        if let Some(code) = carrying {
            update = update.bind(finding_pattern(code));
        }
        let changed = update.execute(&mut *tx).await?.rows_affected();
        if changed == 1 {
            append_event(&mut tx, rec.evidence_id, kind, &detail, now).await?;
        }
        tx.commit().await?;
        Ok(changed == 1)
    }
}

#[caregate_macros::bounded]
#[async_trait]
impl Records for SqlIndex {
    async fn record_received(&self, rec: &EvidenceRecord) -> Result<Option<Queued>, StorageError> {
        let mut tx = self.pool.begin().await?;
        let queued = insert_received(&mut tx, rec).await?;
        tx.commit().await?;
        Ok(queued)
    }

    async fn record_received_once(&self, rec: &EvidenceRecord, key: &str) -> Result<KeyedReceipt, StorageError> {
        let mut tx = self.pool.begin().await?;
        // Taking the key first: a concurrent upload under the same key waits here for
        // this transaction, then finds the key taken.
        let taken = sqlx::query("INSERT INTO upload_keys (key, evidence_id) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key.to_owned())
            .bind(rec.evidence_id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 0;
        if taken {
            let row = sqlx::query("SELECT evidence_id FROM upload_keys WHERE key = $1").bind(key.to_owned()).fetch_one(&mut *tx).await?;
            tx.commit().await?;
            let id: String = row.try_get("evidence_id")?;
            return id.parse().map(KeyedReceipt::Repeat).map_err(|e| StorageError::Corrupt(format!("upload key's evidence id {id:?}: {e}")));
        }
        let queued = insert_received(&mut tx, rec).await?;
        tx.commit().await?;
        Ok(KeyedReceipt::Recorded(queued))
    }

    async fn get(&self, id: EvidenceId) -> Result<Option<EvidenceRecord>, StorageError> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM evidence WHERE evidence_id = $1");
        Ok(self.select_records(&sql, id.to_string()).await?.pop())
    }

    async fn finish(&self, rec: &EvidenceRecord, detail: Value) -> Result<bool, StorageError> {
        if !rec.status.is_terminal() {
            return Err(StorageError::rejected("index", "finish needs a terminal status"));
        }
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE evidence SET status = $1, attempts = $2, updated_at = $3, record = $4
             WHERE evidence_id = $5 AND status = 'received'",
        )
        .bind(rec.status.as_str())
        .bind(rec.attempts as i64)
        .bind(ts(now))
        .bind(to_json(rec)?)
        .bind(rec.evidence_id.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 1 {
            append_event(&mut tx, rec.evidence_id, EventKind::Finished(rec.status), &detail, now).await?;
            for key in rec.search_keys() {
                sqlx::query("INSERT INTO evidence_keys (key, evidence_id, submission_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                    .bind(key)
                    .bind(rec.evidence_id.to_string())
                    .bind(rec.submission.submission_id.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(changed == 1)
    }

    async fn record_reexamination(&self, rec: &EvidenceRecord, kind: EventKind, detail: Value) -> Result<bool, StorageError> {
        self.reexamined(rec, None, kind, detail).await
    }

    async fn with_finding(&self, code: FindingCode, limit: u32) -> Result<Vec<EvidenceRecord>, StorageError> {
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM evidence WHERE status = 'needs_review' AND record LIKE $1
             ORDER BY received_at, evidence_id LIMIT {limit}"
        );
        // LIKE's `_` matches any character: the exact code is checked on the records.
        let records = self.select_records(&sql, finding_pattern(code)).await?;
        Ok(records.into_iter().filter(|r| r.findings.iter().any(|f| f.code == code)).collect())
    }

    async fn resolve_finding(&self, rec: &EvidenceRecord, code: FindingCode, kind: EventKind, detail: Value) -> Result<bool, StorageError> {
        self.reexamined(rec, Some(code), kind, detail).await
    }

    async fn record_retry(&self, id: EvidenceId, attempts: u32, reason: &str) -> Result<(), StorageError> {
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query("UPDATE evidence SET attempts = $1, updated_at = $2 WHERE evidence_id = $3 AND status = 'received'")
            .bind(attempts as i64)
            .bind(ts(now))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed == 1 {
            append_event(&mut tx, id, EventKind::Retry, &json!({"attempt": attempts, "reason": reason}), now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn unfinished(&self, limit: u32) -> Result<Vec<EvidenceRecord>, StorageError> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM evidence WHERE status = $1 ORDER BY received_at, evidence_id LIMIT {limit}");
        self.select_records(&sql, Status::Received.as_str().to_owned()).await
    }

    async fn stale(&self, idle: std::time::Duration, limit: u32) -> Result<Vec<EvidenceRecord>, StorageError> {
        let cutoff = Utc::now() - chrono::Duration::from_std(idle).unwrap_or(chrono::Duration::zero());
        // Timestamps are written in one fixed RFC 3339 form, so text order is time order.
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM evidence WHERE status = 'received' AND updated_at <= $1
             ORDER BY updated_at LIMIT {limit}"
        );
        self.select_records(&sql, ts(cutoff)).await
    }

    async fn count_by_status(&self) -> Result<Vec<(Status, u64)>, StorageError> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM evidence GROUP BY status ORDER BY status").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                let st: String = row.try_get("status")?;
                let n: i64 = row.try_get("n")?;
                Ok((st.parse().map_err(|e| StorageError::Corrupt(format!("{e}")))?, n as u64))
            })
            .collect()
    }

    async fn same_documents(&self, exclude: SubmissionId, hashes: &[Sha256Digest], invoice_keys: &[String]) -> Result<Vec<EvidenceRecord>, StorageError> {
        let mut found: Vec<EvidenceRecord> = Vec::new();
        let lookups = [
            (
                format!("SELECT {RECORD_COLUMNS} FROM evidence WHERE submission_id <> $1 AND status <> 'received' AND sha256 IN"),
                hashes.iter().map(Sha256Digest::hex).collect::<Vec<_>>(),
            ),
            (
                "SELECT e.record, e.status, e.attempts, e.updated_at FROM evidence_keys k
                 JOIN evidence e ON e.evidence_id = k.evidence_id WHERE k.submission_id <> $1 AND k.key IN"
                    .to_owned(),
                invoice_keys.to_vec(),
            ),
        ];
        for (select, values) in lookups {
            // A few hundred values per statement: one round trip for a whole dossier.
            for chunk in values.chunks(200) {
                let sql = format!("{select} ({})", placeholders(2, chunk.len()));
                found.extend(self.select_records_by(&sql, std::iter::once(exclude.to_string()).chain(chunk.iter().cloned())).await?);
            }
        }
        found.sort_by_key(|r| (r.received_at, r.evidence_id));
        found.dedup_by_key(|r| r.evidence_id);
        Ok(found)
    }

    async fn stored_records(&self, since: Option<DateTime<Utc>>, after: Option<&EvidenceRecord>, limit: u32) -> Result<Vec<EvidenceRecord>, StorageError> {
        // Timestamps are written in one fixed RFC 3339 form, so text order is time order.
        let (from_ts, from_id) = match after {
            Some(rec) => (ts(rec.received_at), rec.evidence_id.to_string()),
            None => (since.map(ts).unwrap_or_default(), String::new()),
        };
        let sql = format!(
            "SELECT {RECORD_COLUMNS} FROM evidence
             WHERE status IN ('stored', 'needs_review') AND (received_at > $1 OR (received_at = $1 AND evidence_id > $2))
             ORDER BY received_at, evidence_id LIMIT {limit}"
        );
        self.select_records_by(&sql, [from_ts, from_id]).await
    }

    async fn mark_deleted(&self, id: EvidenceId, actor: &str) -> Result<(), StorageError> {
        let Some(mut rec) = self.get(id).await? else {
            return Err(StorageError::NotFound(format!("evidence {id}")));
        };
        let key = rec.object_key.take();
        let now = Utc::now();
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE evidence SET record = $1, updated_at = $2 WHERE evidence_id = $3")
            .bind(to_json(&rec)?)
            .bind(ts(now))
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        append_event(&mut tx, id, EventKind::Deleted, &json!({"object_key": key, "actor": actor, "retain_until": rec.retain_until}), now).await?;
        tx.commit().await?;
        Ok(())
    }

    fn describe(&self) -> String {
        let engine = match self.dialect {
            Dialect::Postgres => "PostgreSQL",
            Dialect::Sqlite => "SQLite",
        };
        format!("{engine} {}", self.url_redacted)
    }
}

/// The `received` record, its event and its job, in the caller's transaction; nothing
/// when the record was already there.
async fn insert_received(conn: &mut sqlx::AnyConnection, rec: &EvidenceRecord) -> Result<Option<Queued>, StorageError> {
    let sub = &rec.submission;
    super::submissions::claim(conn, sub.submission_id, &sub.establishment, &sub.campaign, rec.received_at).await?;
    let inserted = sqlx::query(
        "INSERT INTO evidence (evidence_id, submission_id, establishment, campaign, path, status,
                               sha256, size, attempts, received_at, updated_at, record)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (evidence_id) DO NOTHING",
    )
    .bind(rec.evidence_id.to_string())
    .bind(rec.submission.submission_id.to_string())
    .bind(rec.submission.establishment.clone())
    .bind(rec.submission.campaign.clone())
    .bind(rec.path.clone())
    .bind(rec.status.as_str())
    .bind(rec.sha256.hex())
    .bind(rec.size as i64)
    .bind(rec.attempts as i64)
    .bind(ts(rec.received_at))
    .bind(ts(rec.updated_at))
    .bind(to_json(rec)?)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 1 {
        let detail = json!({"path": rec.path, "sha256": rec.sha256, "size": rec.size,
                            "quarantine_key": rec.quarantine_key, "actor": rec.uploaded_by});
        append_event(conn, rec.evidence_id, EventKind::Received, &detail, rec.received_at).await?;
        return Ok(Some(enqueue(conn, Outgoing::Job(rec.job())).await?));
    }
    Ok(None)
}

/// A record (compact JSON) carrying a finding of this code.
fn finding_pattern(code: FindingCode) -> String {
    format!("%\"code\":\"{code}\"%")
}
