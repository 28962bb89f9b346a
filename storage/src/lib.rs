//! The three boundaries the pipeline crosses, one trait each: where bytes live
//! ([`ObjectStore`]), where records and their history live ([`EvidenceIndex`]) and how work
//! is handed between processes ([`JobQueue`], and [`Announcer`] for what other systems
//! are told). Each trait has an embedded back end (local
//! directory, SQLite, in-process queue) and a production one (S3, PostgreSQL, RabbitMQ);
//! [`conformance`] holds the one suite every back end must pass.

mod accounts;
pub mod conformance;
mod config;
mod error;
pub mod index;
pub mod object;
pub mod queue;

pub use config::{Backends, BackendsConfig, S3Config, AmqpConfig, DatabaseConfig};
pub use error::StorageError;
pub use accounts::{Account, AccountStore, CredentialKind};
pub use index::{ChainProblem, ChainReport, EvidenceIndex, SearchQuery, SqlIndex, SubmissionProgress};
pub use object::{hash_object, LocalObjectStore, ObjectReader, ObjectStore, S3ObjectStore};
pub use queue::{AmqpQueue, AnnouncementStream, Announcer, Delivery, JobQueue, JobStream, MemoryQueue, RetryPolicy};
