//! How evidence gets in: the intake (stream a file to quarantine while hashing it,
//! record it, publish the job) and the HTTP API establishments and tools call. Nothing
//! here parses a file's content; uploads stay untrusted bytes until a worker scans them.

pub mod http;
pub mod intake;

pub use http::{router, ApiDoc, AppState};
pub use intake::{sanitize_name, validate_submission, Intake, IntakeConfig, IntakeError, Receipt, Spooled};
