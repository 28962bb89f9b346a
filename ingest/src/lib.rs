//! How evidence gets in: the intake (stream a file to quarantine while hashing it,
//! record it, publish the job) and the HTTP API establishments and tools call. Nothing
//! here parses a file's content; uploads stay untrusted bytes until a worker scans them.
//!
//! The same server is how evidence gets out again: authenticated callers (API tokens,
//! console sessions) read records and verifications within their role and scope,
//! retrieve files re-hashed on the way out, search the archive, and controllers decide on
//! what the machine flagged, in the console.

#![forbid(unsafe_code)]

//!
//! Layers, each depending only on those above it: `intake`, `retrieval` and `notify`
//! (domain, typed errors, no HTTP; `notify` writes decisions' e-mails), `state` (what handlers share) and `error` (the one HTTP
//! error, mapped from the domain errors), `auth` (who is calling), `http` (the API) and
//! `console` (the French pages), joined by [`router`] with `metrics` (what Prometheus
//! is told).

pub mod auth;
mod console;
pub mod error;
mod espace;
mod fields_fr;
mod form;
pub mod guard;
pub mod http;
pub mod intake;
mod metrics;
pub mod notify;
pub mod oidc;
pub mod retrieval;
pub mod review;
pub mod serve;
pub mod state;
mod ui;

pub use auth::{hash_password, issue_token, Action, Caller};
pub use error::{ApiError, ApiErrorBody};
pub use http::ApiDoc;
pub use retrieval::RetrievalError;
pub use serve::{serve, ServeConfig};
pub use state::{AppState, AuthConfig, HttpConfig, LoginThrottle, Probe, Rejudge, Scrape};

/// The whole HTTP service: the API, the console and the limits that apply to both. The
/// operations endpoints (`/metrics`, `/readyz`) are in it unless `http.ops_listen` puts
/// them on their own address ([`ops_router`]).
pub fn router(state: AppState) -> axum::Router {
    use axum::extract::DefaultBodyLimit;
    // An upload reads its body as a stream, under the intake's own limits
    // (`intake.max_request_bytes`, per file, per field: see `form`).
    let mut app = http::routes().route("/api/evidence", axum::routing::post(http::upload)).merge(console::routes()).merge(espace::routes());
    match &state.http.dsfr_dir {
        Some(dir) => app = app.nest_service(ui::DSFR_PATH, ui::dsfr_files(dir)),
        None => tracing::warn!("http.dsfr_dir is not set: the console and the establishments' space are served without the DSFR's styles"),
    }
    if state.http.ops_listen.is_none() {
        app = app.merge(ops_routes());
    }
    app.route_layer(axum::middleware::from_fn(metrics::track_requests))
        // Every body but an upload's is a small form or JSON document.
        .layer(DefaultBodyLimit::max(state.http.max_form_bytes))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::protect))
        // A body that stops coming ends its request, and frees its upload slot.
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(std::time::Duration::from_secs(state.http.serve.body_idle_secs)))
        .with_state(state)
}

/// `/metrics` and `/readyz` alone, for `http.ops_listen`.
pub fn ops_router(state: AppState) -> axum::Router {
    ops_routes().with_state(state)
}

fn ops_routes() -> axum::Router<AppState> {
    axum::Router::new().route("/metrics", axum::routing::get(metrics::scrape)).route("/readyz", axum::routing::get(http::readyz))
}
pub use intake::{sanitize_name, validate_submission, Intake, IntakeConfig, IntakeError, Receipt, Spooled};
