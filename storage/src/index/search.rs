//! The archive's search: extracted text (PostgreSQL `tsvector` with the French
//! configuration, SQLite FTS5) and search keys, within a caller's scope.

use async_trait::async_trait;
use caregate_schemas::{EvidenceId, EvidenceRecord, Status};
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::core::{Dialect, SqlIndex, RECORD_COLUMNS};
use crate::sql::ts;
use crate::StorageError;

/// What archivists search by; every criterion given must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SearchQuery {
    /// FINESS number.
    pub establishment: Option<String>,
    /// Keys of [`EvidenceRecord::search_keys`] (`siren:…`, `siret:…`, `invoice_number:…`,
    /// `objective:…`, `kind:…`).
    pub keys: Vec<String>,
    pub status: Option<Status>,
    pub received_from: Option<DateTime<Utc>>,
    pub received_before: Option<DateTime<Utc>>,
    /// Words to find in the extracted text (French stemming on PostgreSQL, accent- and
    /// case-blind prefix match on SQLite).
    pub text: Option<String>,
    /// Limits results to establishments of these départements (a controller's regions).
    pub departements: Option<Vec<String>>,
    pub limit: u32,
}

/// The words of a user's query as an FTS5 expression: each word quoted (FTS5 syntax in
/// the input is not interpreted) and matched as a prefix, all required.
fn fts5_query(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(|w| format!("\"{w}\"*")).collect::<Vec<_>>().join(" ")
}

/// The text extracted from files, and the archive's search over records and text.
///
/// Contract: [`TextSearch::put_text`] replaces what was kept for the file, in one
/// transaction: interrupted, the old text (or none) stays; calling it again is harmless.
/// Reads may be interrupted anywhere and retried at will.
#[async_trait]
pub trait TextSearch: Send + Sync {
    /// Keeps the text extracted from a file, for full-text search and the console's
    /// preview. Writing it again replaces it (a redelivered job).
    async fn put_text(&self, id: EvidenceId, text: &str) -> Result<(), StorageError>;
    async fn text(&self, id: EvidenceId) -> Result<Option<String>, StorageError>;
    /// Finished records matching every criterion of `q`, in receipt order.
    async fn search(&self, q: &SearchQuery) -> Result<Vec<EvidenceRecord>, StorageError>;
}

#[caregate_macros::bounded]
#[async_trait]
impl TextSearch for SqlIndex {
    async fn put_text(&self, id: EvidenceId, text: &str) -> Result<(), StorageError> {
        // NUL bytes are refused by PostgreSQL text and mean nothing to a reader.
        let body = text.replace('\0', " ");
        match self.dialect {
            Dialect::Postgres => {
                sqlx::query("INSERT INTO evidence_text (evidence_id, body) VALUES ($1, $2) ON CONFLICT (evidence_id) DO UPDATE SET body = excluded.body")
                    .bind(id.to_string())
                    .bind(body)
                    .execute(&self.pool)
                    .await?;
            }
            Dialect::Sqlite => {
                let mut tx = self.pool.begin().await?;
                // A write first takes SQLite's write lock (waiting its turn); the FTS
                // delete reads before it writes, and a read-then-write transaction fails
                // at once when another writer committed in between.
                sqlx::query("UPDATE event_chain SET last_hash = last_hash WHERE id = 1").execute(&mut *tx).await?;
                sqlx::query("DELETE FROM evidence_fts WHERE evidence_id = $1").bind(id.to_string()).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO evidence_fts (evidence_id, body) VALUES ($1, $2)").bind(id.to_string()).bind(body).execute(&mut *tx).await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    async fn text(&self, id: EvidenceId) -> Result<Option<String>, StorageError> {
        let sql = match self.dialect {
            Dialect::Postgres => "SELECT body FROM evidence_text WHERE evidence_id = $1",
            Dialect::Sqlite => "SELECT body FROM evidence_fts WHERE evidence_id = $1",
        };
        Ok(sqlx::query(sql).bind(id.to_string()).fetch_optional(&self.pool).await?.map(|r| r.try_get("body")).transpose()?)
    }

    async fn search(&self, q: &SearchQuery) -> Result<Vec<EvidenceRecord>, StorageError> {
        let mut sql = format!("SELECT {RECORD_COLUMNS} FROM evidence e WHERE e.status <> 'received'");
        let mut args: Vec<String> = Vec::new();
        let arg = |args: &mut Vec<String>, v: String| {
            args.push(v);
            format!("${}", args.len())
        };
        if let Some(finess) = &q.establishment {
            let p = arg(&mut args, finess.clone());
            sql += &format!(" AND e.establishment = {p}");
        }
        if let Some(status) = q.status {
            let p = arg(&mut args, status.as_str().to_owned());
            sql += &format!(" AND e.status = {p}");
        }
        // Timestamps are written in one fixed RFC 3339 form, so text order is time order.
        if let Some(from) = q.received_from {
            let p = arg(&mut args, ts(from));
            sql += &format!(" AND e.received_at >= {p}");
        }
        if let Some(before) = q.received_before {
            let p = arg(&mut args, ts(before));
            sql += &format!(" AND e.received_at < {p}");
        }
        for key in &q.keys {
            let p = arg(&mut args, key.clone());
            sql += &format!(" AND e.evidence_id IN (SELECT evidence_id FROM evidence_keys WHERE key = {p})");
        }
        if let Some(deps) = &q.departements {
            if deps.is_empty() {
                return Ok(Vec::new());
            }
            let likes: Vec<String> = deps
                .iter()
                .map(|d| {
                    // Overseas FINESS numbers write département 974 as `9704…`.
                    let prefix = match d.strip_prefix("97") {
                        Some(last) if !last.is_empty() => format!("970{last}%"),
                        _ => format!("{d}%"),
                    };
                    format!("e.establishment LIKE {}", arg(&mut args, prefix))
                })
                .collect();
            sql += &format!(" AND ({})", likes.join(" OR "));
        }
        if let Some(text) = q.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            match self.dialect {
                Dialect::Postgres => {
                    let p = arg(&mut args, text.to_owned());
                    sql += &format!(" AND e.evidence_id IN (SELECT evidence_id FROM evidence_text WHERE tsv @@ websearch_to_tsquery('french', {p}))");
                }
                Dialect::Sqlite => {
                    let expr = fts5_query(text);
                    if expr.is_empty() {
                        return Ok(Vec::new());
                    }
                    let p = arg(&mut args, expr);
                    sql += &format!(" AND e.evidence_id IN (SELECT evidence_id FROM evidence_fts WHERE evidence_fts MATCH {p})");
                }
            }
        }
        sql += &format!(" ORDER BY e.received_at, e.evidence_id LIMIT {}", q.limit.clamp(1, 10_000));
        self.select_records_by(&sql, args).await
    }
}
