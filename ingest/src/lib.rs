//! How evidence gets in: the intake (stream a file to quarantine while hashing it,
//! record it, publish the job) and the HTTP API establishments and tools call. Nothing
//! here parses a file's content; uploads stay untrusted bytes until a worker scans them.
//!
//! The same server is how evidence gets out again: authenticated callers (API tokens,
//! console sessions) read records and verifications within their role and scope,
//! retrieve files re-hashed on the way out, search the archive, and controllers decide on
//! what the machine flagged, in the console.

//!
//! Layers, each depending only on those above it: `intake` and `retrieval` (domain,
//! typed errors, no HTTP), `state` (what handlers share) and `error` (the one HTTP
//! error, mapped from the domain errors), `auth` (who is calling), `http` (the API) and
//! `console` (the French pages), joined by [`router`] with `metrics` (what Prometheus
//! is told).

pub mod auth;
mod console;
pub mod error;
pub mod http;
pub mod intake;
mod metrics;
pub mod retrieval;
pub mod state;

pub use auth::{hash_password, issue_token, Action, Caller};
pub use error::{ApiError, ApiErrorBody};
pub use http::ApiDoc;
pub use retrieval::RetrievalError;
pub use state::{AppState, AuthConfig, HttpConfig, LoginThrottle, Probe, Scrape};

/// The whole HTTP service: the API, the console and the limits that apply to both.
pub fn router(state: AppState) -> axum::Router {
    let body_limit = state.intake.config().max_request_bytes;
    http::routes()
        .merge(console::routes())
        .route("/metrics", axum::routing::get(metrics::scrape))
        .route_layer(axum::middleware::from_fn(metrics::track_requests))
        .layer(axum::extract::DefaultBodyLimit::max(usize::try_from(body_limit).unwrap_or(usize::MAX)))
        .with_state(state)
}
pub use intake::{sanitize_name, validate_submission, Intake, IntakeConfig, IntakeError, Receipt, Spooled};
