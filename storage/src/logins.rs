//! Log-in attempts counted per key (an account name, a client address, the pair), in
//! the database every `serve` process shares, so that guessing is slowed across a whole
//! deployment.
//!
//! An attempt is counted *before* its password is checked, in one atomic statement that
//! also returns the count: concurrent guesses each see the others, and only the first
//! ones within the limit get a password check (check-then-act would let every one of
//! them through).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::sql::{parse_ts, ts};
use crate::{SqlIndex, StorageError};

/// One key's count after an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptCount {
    /// Attempts in the current window, this one included.
    pub attempts: u32,
    /// When the window began (it ends `window` later).
    pub window_start: DateTime<Utc>,
}

/// Counted log-in attempts.
///
/// Contract: [`Self::attempt`] counts under every key before it returns, atomically per
/// key, whatever runs at the same time; a window that began before `window_start` is
/// over, and the attempt opens a new one. Nothing here knows a password.
#[async_trait]
pub trait LoginAttempts: Send + Sync + 'static {
    /// One more attempt under each key, at `now`; each key's count afterwards, in order.
    async fn attempt(&self, keys: &[String], now: DateTime<Utc>, window_start: DateTime<Utc>) -> Result<Vec<AttemptCount>, StorageError>;
    /// A log-in succeeded: the keys in `clear` start again from nothing, and the
    /// attempt just counted under each of `forgive` is taken back.
    async fn succeeded(&self, clear: &[String], forgive: &[String]) -> Result<(), StorageError>;
}

#[caregate_macros::bounded]
#[async_trait]
impl LoginAttempts for SqlIndex {
    async fn attempt(&self, keys: &[String], now: DateTime<Utc>, window_start: DateTime<Utc>) -> Result<Vec<AttemptCount>, StorageError> {
        let mut counts = Vec::with_capacity(keys.len());
        for key in keys {
            let row = sqlx::query(
                "INSERT INTO login_attempts (key, attempts, window_start) VALUES ($1, 1, $2)
                 ON CONFLICT (key) DO UPDATE SET
                    attempts = CASE WHEN login_attempts.window_start < $3 THEN 1 ELSE login_attempts.attempts + 1 END,
                    window_start = CASE WHEN login_attempts.window_start < $3 THEN $2 ELSE login_attempts.window_start END
                 RETURNING attempts, window_start",
            )
            .bind(key.clone())
            .bind(ts(now))
            .bind(ts(window_start))
            .fetch_one(self.pool())
            .await?;
            counts.push(AttemptCount {
                attempts: u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
                window_start: parse_ts(&row.try_get::<String, _>("window_start")?)?,
            });
        }
        Ok(counts)
    }

    async fn succeeded(&self, clear: &[String], forgive: &[String]) -> Result<(), StorageError> {
        for key in clear {
            sqlx::query("DELETE FROM login_attempts WHERE key = $1").bind(key.clone()).execute(self.pool()).await?;
        }
        for key in forgive {
            sqlx::query("UPDATE login_attempts SET attempts = attempts - 1 WHERE key = $1 AND attempts > 0").bind(key.clone()).execute(self.pool()).await?;
        }
        Ok(())
    }
}
