//! What the SQL back end's parts share, below all of them: timestamps as stored and the
//! time bound of a call. A leaf, so that the index and the account store (whose tables
//! the index's migrations create, in the same database) depend on it and never on each
//! other.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::StorageError;

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
