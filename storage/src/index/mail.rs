//! The mail outbox: e-mails telling an establishment's people of a controller's decision,
//! written in the decision's transaction (one row per recipient, see
//! [`crate::Decisions::put_decisions`]), then delivered by the mail relay
//! ([`crate::mail::MailRelay`]) and deleted once the SMTP server took them.
//!
//! One column, `not_before`, is both the lease of the relay sending a row and the time of
//! its next attempt after a failure: a row is due when it has passed.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::core::{placeholders, SqlIndex};
use crate::sql::{parse_ts, ts};
use crate::StorageError;

/// One e-mail to one person, as the relay sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Letter {
    /// `<...@domain>`: the same for every copy of this message to this recipient.
    pub message_id: String,
    /// The recipient's address (checked when it was stored on the account).
    pub to: String,
    pub subject: String,
    /// Plain text.
    pub text: String,
}

/// A mail to be written with a decision, before its recipients are known: the decision's
/// transaction finds them (the enabled submitters whose scope covers `establishment` and
/// who gave an address) and writes one [`Letter`] each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailDraft {
    /// The establishment (FINESS) whose people are told.
    pub establishment: String,
    /// What makes this message unique and stable (derived from the decision): the left
    /// part of every copy's Message-ID, with the recipient's share.
    pub key: String,
    /// The right part of the Message-ID (the sender's domain).
    pub domain: String,
    pub subject: String,
    pub text: String,
}

impl MailDraft {
    /// The Message-ID of this message to `recipient`: derived from the draft's key and the
    /// address, so a copy sent again is recognisably the same message.
    pub fn message_id(&self, recipient: &str) -> String {
        let who = Sha256::digest(recipient.to_lowercase().as_bytes());
        let who: String = who.iter().take(6).map(|b| format!("{b:02x}")).collect();
        format!("<{}.{who}@{}>", self.key, self.domain)
    }
}

/// A letter held by the relay that claimed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingMail {
    pub seq: i64,
    /// Failed attempts so far.
    pub attempts: u32,
    pub letter: Letter,
}

/// What waits in the mail outbox.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MailBacklog {
    pub pending: u64,
    /// Of which tried and failed at least once.
    pub failing: u64,
    /// When the oldest waiting mail was written.
    pub oldest: Option<DateTime<Utc>>,
    /// The last failure of a waiting mail, as the SMTP server or the network said it.
    pub last_error: Option<String>,
}

/// Writes the draft's letters in the caller's transaction: one per distinct address of
/// the establishment's enabled submitters. Returns how many.
pub(super) async fn enqueue_mail(conn: &mut sqlx::AnyConnection, draft: &MailDraft) -> Result<usize, StorageError> {
    let rows = sqlx::query("SELECT scope, email FROM accounts WHERE role = 'submitter' AND disabled = 0 AND email IS NOT NULL ORDER BY name")
        .fetch_all(&mut *conn)
        .await?;
    let mut recipients: Vec<String> = Vec::new();
    for row in &rows {
        let scope: String = row.try_get("scope")?;
        let scope: caregate_schemas::Scope = serde_json::from_str(&scope).map_err(|e| StorageError::Corrupt(format!("scope: {e}")))?;
        let email: String = row.try_get("email")?;
        if scope.covers(&draft.establishment) && !recipients.iter().any(|r| r.eq_ignore_ascii_case(&email)) {
            recipients.push(email);
        }
    }
    let now = ts(Utc::now());
    for to in &recipients {
        sqlx::query(
            "INSERT INTO mail_outbox (message_id, recipient, subject, body, created_at, not_before, attempts) VALUES ($1, $2, $3, $4, $5, $6, 0)
             ON CONFLICT (message_id) DO NOTHING",
        )
        .bind(draft.message_id(to))
        .bind(to.clone())
        .bind(draft.subject.clone())
        .bind(draft.text.clone())
        .bind(now.clone())
        .bind(now.clone())
        .execute(&mut *conn)
        .await?;
    }
    Ok(recipients.len())
}

/// The mail outbox's rows.
///
/// Contract: a letter leaves the outbox only by [`MailOutbox::mail_sent`], once the SMTP
/// server accepted it, so it is delivered at least once. A claim is a lease: a relay
/// interrupted after claiming (crashed, timed out) leaves its rows held until the lease
/// ends, then free for anyone, and a letter the server took just before the interruption
/// is sent again, with the same Message-ID. Every call may be repeated at will.
#[async_trait]
pub trait MailOutbox: Send + Sync {
    /// Takes up to `limit` due letters, oldest first, and holds them for `lease`.
    async fn mail_claim(&self, lease: Duration, limit: u32) -> Result<Vec<PendingMail>, StorageError>;
    /// The SMTP server accepted it: it leaves the outbox.
    async fn mail_sent(&self, seq: i64) -> Result<(), StorageError>;
    /// It could not be sent: tried again from `not_before`, its failure counted and kept.
    async fn mail_failed(&self, seq: i64, not_before: DateTime<Utc>, error: &str) -> Result<(), StorageError>;
    /// These were not tried (the server was found unreachable first): they wait until
    /// `not_before`, their failures not counted.
    async fn mail_defer(&self, seqs: &[i64], not_before: DateTime<Utc>) -> Result<(), StorageError>;
    /// How many letters wait, and since when.
    async fn mail_backlog(&self) -> Result<MailBacklog, StorageError>;
}

#[caregate_macros::bounded]
#[async_trait]
impl MailOutbox for SqlIndex {
    async fn mail_claim(&self, lease: Duration, limit: u32) -> Result<Vec<PendingMail>, StorageError> {
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
        // The outer condition repeats the inner one: under PostgreSQL a relay that
        // waited for another's lock checks it again on the row as the other left it.
        let sql = format!(
            "UPDATE mail_outbox SET not_before = $1
             WHERE not_before <= $2
               AND seq IN (SELECT seq FROM mail_outbox WHERE not_before <= $2 ORDER BY seq LIMIT {limit})
             RETURNING seq, attempts, message_id, recipient, subject, body"
        );
        let rows = sqlx::query(&sql).bind(ts(until)).bind(ts(now)).fetch_all(&self.pool).await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in &rows {
            claimed.push(PendingMail {
                seq: row.try_get("seq")?,
                attempts: row.try_get::<i64, _>("attempts")?.clamp(0, u32::MAX as i64) as u32,
                letter: Letter {
                    message_id: row.try_get("message_id")?,
                    to: row.try_get("recipient")?,
                    subject: row.try_get("subject")?,
                    text: row.try_get("body")?,
                },
            });
        }
        claimed.sort_by_key(|m| m.seq);
        Ok(claimed)
    }

    async fn mail_sent(&self, seq: i64) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM mail_outbox WHERE seq = $1").bind(seq).execute(&self.pool).await?;
        Ok(())
    }

    async fn mail_failed(&self, seq: i64, not_before: DateTime<Utc>, error: &str) -> Result<(), StorageError> {
        let error: String = error.chars().take(1000).collect();
        sqlx::query("UPDATE mail_outbox SET not_before = $1, attempts = attempts + 1, last_error = $2 WHERE seq = $3")
            .bind(ts(not_before))
            .bind(error)
            .bind(seq)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn mail_defer(&self, seqs: &[i64], not_before: DateTime<Utc>) -> Result<(), StorageError> {
        for chunk in seqs.chunks(500) {
            let sql = format!("UPDATE mail_outbox SET not_before = $1 WHERE seq IN ({})", placeholders(2, chunk.len()));
            let mut query = sqlx::query(&sql).bind(ts(not_before));
            for seq in chunk {
                query = query.bind(*seq);
            }
            query.execute(&self.pool).await?;
        }
        Ok(())
    }

    async fn mail_backlog(&self) -> Result<MailBacklog, StorageError> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, MIN(created_at) AS oldest, COALESCE(SUM(CASE WHEN attempts > 0 THEN 1 ELSE 0 END), 0) AS failing FROM mail_outbox",
        )
        .fetch_one(&self.pool)
        .await?;
        let oldest: Option<String> = row.try_get("oldest")?;
        let last_error: Option<String> = sqlx::query("SELECT last_error FROM mail_outbox WHERE last_error IS NOT NULL ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.try_get("last_error"))
            .transpose()?;
        Ok(MailBacklog {
            pending: row.try_get::<i64, _>("n")? as u64,
            failing: row.try_get::<i64, _>("failing")? as u64,
            oldest: oldest.as_deref().map(parse_ts).transpose()?,
            last_error,
        })
    }
}
