//! What the SQL back end's parts share, below all of them: timestamps as stored, and the
//! accounts' tables (created with the index's, in the same database). A leaf, so that the
//! index and the account store depend on it and never on each other.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::StorageError;

/// The accounts' and credentials' tables.
pub(crate) const ACCOUNTS_DDL: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS accounts (
        name TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        role TEXT NOT NULL,
        scope TEXT NOT NULL,
        password_hash TEXT,
        disabled BIGINT NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL,
        issuer TEXT,
        subject TEXT
    )",
    "CREATE TABLE IF NOT EXISTS credentials (
        token_sha256 TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        kind TEXT NOT NULL,
        label TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT
    )",
    // A password change, a disable and `account tokens` find an account's credentials.
    "CREATE INDEX IF NOT EXISTS credentials_account ON credentials (account)",
    // Failures counted after the password check, replaced by `login_attempts`.
    "DROP TABLE IF EXISTS login_failures",
];

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(crate) fn parse_ts(s: &str) -> Result<DateTime<Utc>, StorageError> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|e| StorageError::Corrupt(format!("timestamp {s:?}: {e}")))
}

/// How long one call may wait on the database before it is called unavailable: a
/// database that froze (or a query stuck behind a lock) must end in a 503 a client can
/// retry, well within its patience, never in a request that hangs.
pub(crate) const ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(7);

pub(crate) async fn bounded<T>(call: impl std::future::Future<Output = Result<T, StorageError>>) -> Result<T, StorageError> {
    match tokio::time::timeout(ANSWER_TIMEOUT, call).await {
        Ok(result) => result,
        Err(_) => Err(StorageError::Unavailable { service: "database", reason: format!("no answer within {ANSWER_TIMEOUT:?}") }),
    }
}
