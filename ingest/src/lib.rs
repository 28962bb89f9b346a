//! How evidence gets in: the intake (stream a file to quarantine while hashing it,
//! record it, publish the job) and the HTTP API establishments and tools call. Nothing
//! here parses a file's content; uploads stay untrusted bytes until a worker scans them.
//!
//! The same server is how evidence gets out again: authenticated callers (API tokens,
//! console sessions) read records and verifications within their role and scope,
//! retrieve files re-hashed on the way out, search the archive, and controllers decide on
//! what the machine flagged, in the console.

pub mod auth;
mod console;
pub mod http;
pub mod intake;
pub mod retrieval;

pub use auth::{hash_password, issue_token, Action, AuthConfig, Caller};
pub use http::{router, ApiDoc, AppState, HttpConfig};
pub use intake::{sanitize_name, validate_submission, Intake, IntakeConfig, IntakeError, Receipt, Spooled};
