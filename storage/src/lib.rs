//! The three boundaries the pipeline crosses, one trait each: where bytes live
//! ([`ObjectStore`]), where records and their history live ([`EvidenceIndex`]) and how work
//! is handed between processes ([`JobQueue`], and [`Announcer`] for what other systems
//! are told). Each trait has an embedded back end (local
//! directory, SQLite, in-process queue) and a production one (S3, PostgreSQL, RabbitMQ);
//! `conformance` (feature `testsuite`, for tests only) holds the one suite every back
//! end must pass. Messages for the broker go through the index's outbox ([`Outbox`]), in
//! the transaction of the change they carry. [`fixity`] is the one checked read of stored
//! bytes (downloads, fixity, exports). The index is split by concern under `index/`, one
//! small trait each (records, submissions, the hash-chained history, verifications,
//! decisions, search, the outbox) behind the umbrella [`EvidenceIndex`], over a leaf
//! `sql` module the SQL index shares with the account store. E-mails telling
//! establishments of controllers' decisions go through their own outbox, delivered by
//! the [`MailRelay`] over the [`Mailer`] boundary (SMTP).

#![forbid(unsafe_code)]

mod accounts;
mod config;
// Also in this crate's own unit tests, so `cargo test -p caregate-storage --lib` runs the
// suite on SQLite and the local directory with no service.
#[cfg(any(test, feature = "testsuite"))]
pub mod conformance;
mod error;
pub mod fixity;
pub mod index;
mod logins;
pub mod mail;
pub mod object;
mod outbox;
pub mod queue;
mod sql;

pub use accounts::{
    check_email, Account, AccountStore, Credential, CredentialKind, FederatedIdentity, InvalidEmail, Revocation, CREDENTIAL_ID_LEN, CREDENTIAL_ID_MIN_LEN,
};
pub use config::{AmqpConfig, Backends, BackendsConfig, DatabaseConfig, S3Config};
pub use error::StorageError;
pub use fixity::{check_stored, Fixity, ReadPurpose};
pub use index::{
    known_identifiers, Assignment, AuditLog, ChainProblem, ChainReport, DashboardFigures, DecisionRecorded, Decisions, Establishments, EvidenceIndex,
    KeyedReceipt, Letter, MailBacklog, MailDraft, MailOutbox, OutboxBacklog, OutboxStore, PendingMail, QueueItem, QueuePage, QueueQuery, QueueSort, Records,
    ReviewQueue, SearchQuery, SqlIndex, SubmissionOwner, SubmissionProgress, Submissions, Taken, TextSearch, Verifications,
};
pub use logins::{AttemptCount, LoginAttempts};
pub use mail::{MailConfig, MailError, MailRelay, Mailer, SmtpMailer, SmtpSecurity};
pub use object::{hash_object, LocalObjectStore, ObjectReader, ObjectStore, S3ObjectStore};
pub use outbox::Outbox;
pub use queue::{AmqpQueue, AnnouncementStream, Announcer, Delivery, JobQueue, JobStream, MemoryQueue, Outgoing, Queued, RetryPolicy};
