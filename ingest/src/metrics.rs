//! What the HTTP service tells Prometheus: every request by route and status with its
//! duration, and `GET /metrics` itself. Recording goes through the `metrics` facade; the
//! binary installs the exporter and says how to render ([`crate::Scrape`]).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// Counts and times every request under its route's pattern (`/api/evidence/{id}`), never
/// its concrete path, so the number of series stays bounded.
pub(crate) async fn track_requests(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!("caregate_http_request_duration_seconds", "route" => route.clone(), "method" => method.clone()).record(started.elapsed().as_secs_f64());
    metrics::counter!("caregate_http_requests_total", "route" => route, "method" => method, "status" => status).increment(1);
    response
}

/// How an upload request ended, for `caregate_uploads_total`.
pub(crate) fn upload_outcome(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=299 => "accepted",
        401 | 403 => "forbidden",
        408 => "stalled",
        413 => "too_large",
        429 => "busy",
        503 => "unavailable",
        400..=499 => "refused",
        _ => "error",
    }
}

/// `GET /metrics`: this process's metrics in Prometheus' text format.
pub(crate) async fn scrape(State(st): State<AppState>) -> Response {
    match &st.metrics {
        Some(scrape) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], (scrape.render)().await).into_response(),
        None => (StatusCode::NOT_FOUND, "no metrics recorder in this process").into_response(),
    }
}
