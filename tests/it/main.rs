//! caregate's integration tests, as one test binary (one link against the AWS SDK, sqlx
//! and lapin instead of one per file): a module per capability, all sharing the
//! [`common`] harness that finds the real services (clamd, RabbitMQ, PostgreSQL, Garage)
//! and keeps their logs when a test fails. Start the services with `scripts/services.sh`.

mod common;

mod access;
mod archive;
mod audit;
mod broker_reconnect;
mod cli;
mod conformance;
mod console;
mod console_walk;
mod corpus;
mod crash_recovery;
mod dossiers;
mod espace;
mod establishment;
mod export;
mod extraction;
mod faults;
mod fixity;
mod hostile_input;
mod http_api;
mod isolation;
mod metrics;
mod notify;
mod ocr;
mod oidc;
mod outages;
mod outbox;
mod pipeline;
mod real_samples;
mod rescan;
mod retries;
mod security;
mod seda;
mod signatures;
mod verification;
