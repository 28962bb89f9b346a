use thiserror::Error;

/// Errors of every back end, sorted by what the caller should do about them.
#[derive(Debug, Error)]
pub enum StorageError {
    #[error("object {0:?} not found")]
    NotFound(String),
    /// The bytes the store received are not the bytes we meant to send: never retried
    /// silently, since it means corruption between us and the store.
    #[error("checksum mismatch for {key:?}: expected {expected}, got {actual}")]
    ChecksumMismatch { key: String, expected: String, actual: String },
    /// The service could not be reached or timed out: try again later.
    #[error("{service} unavailable: {reason}")]
    Unavailable { service: &'static str, reason: String },
    /// The service answered, but with a refusal that a retry will not change.
    #[error("{service} refused the request: {reason}")]
    Rejected { service: &'static str, reason: String },
    /// A record for a submission that belongs to another establishment or campaign: a
    /// dossier is one establishment's, in one campaign, forever.
    #[error("submission {0} belongs to another establishment or campaign")]
    ForeignSubmission(String),
    /// Decisions on a dossier another controller holds (« je prends ce dossier »): refused
    /// in the decisions' own transaction; the holder's name.
    #[error("submission is held by {0}")]
    HeldByOther(String),
    #[error("invalid stored data: {0}")]
    Corrupt(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl StorageError {
    /// Worth retrying later (the service may come back), as opposed to a permanent failure.
    pub fn is_transient(&self) -> bool {
        matches!(self, StorageError::Unavailable { .. } | StorageError::Io(_))
    }

    pub(crate) fn unavailable(service: &'static str, e: impl std::fmt::Display) -> Self {
        StorageError::Unavailable { service, reason: e.to_string() }
    }

    pub(crate) fn rejected(service: &'static str, e: impl std::fmt::Display) -> Self {
        StorageError::Rejected { service, reason: e.to_string() }
    }
}

impl From<sqlx::Error> for StorageError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match e {
            E::Io(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed | E::Tls(_) => StorageError::unavailable("database", e),
            E::Database(ref db) => {
                // PostgreSQL class 08 (connection), 53 (resources), 57P (shutdown), 40001
                // and 40P01 (serialisation, deadlock), and SQLite BUSY/LOCKED with their
                // extended codes (517: a write after a stale read snapshot) are worth a
                // retry; constraint violations are not.
                let code = db.code().unwrap_or_default();
                if code.starts_with("08")
                    || code.starts_with("53")
                    || code.starts_with("57P")
                    || code == "40001"
                    || code == "40P01"
                    || matches!(code.parse::<u32>().map(|c| c & 0xff), Ok(5 | 6))
                {
                    StorageError::unavailable("database", e)
                } else {
                    StorageError::rejected("database", e)
                }
            }
            other => StorageError::rejected("database", other),
        }
    }
}
