//! The HTTP edge's one error: a status, a stable code and a sentence. Every library
//! error (intake, storage, retrieval) is mapped here, once: an outage is 503 with
//! `Retry-After`, a bug 500, and each is logged as what it is.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use caregate_storage::StorageError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Denied;
use crate::intake::IntakeError;
use crate::retrieval::RetrievalError;
use crate::review::ReviewError;

/// Every error answer: a stable code and a sentence.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApiErrorBody {
    pub error: String,
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} : introuvable"))
    }

    pub fn forbidden(why: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", why)
    }

    pub fn bad_request(code: &'static str, why: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, why)
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The stable code (`not_found`, `comment_required`...), what clients match on.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl ApiError {
    /// What the caller is told: the code and message, except for a bug, whose detail
    /// (paths, queries, internal state) goes to the log only and the caller gets a
    /// reference to quote (also in `x-request-id`).
    pub fn public(self) -> (StatusCode, ApiErrorBody, Option<String>) {
        if self.status == StatusCode::INTERNAL_SERVER_ERROR {
            let reference = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
            tracing::error!(reference = %reference, code = self.code, detail = %self.message, "internal error answered");
            let body = ApiErrorBody { error: "internal".to_owned(), message: format!("erreur interne ; référence {reference}") };
            return (self.status, body, Some(reference));
        }
        (self.status, ApiErrorBody { error: self.code.to_owned(), message: self.message }, None)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body, reference) = self.public();
        let mut response = if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            (status, [(header::RETRY_AFTER, "5")], Json(body)).into_response()
        } else {
            (status, Json(body)).into_response()
        };
        if let Some(r) = reference.and_then(|r| header::HeaderValue::from_str(&r).ok()) {
            response.headers_mut().insert(header::HeaderName::from_static("x-request-id"), r);
        }
        response
    }
}

impl From<IntakeError> for ApiError {
    fn from(e: IntakeError) -> Self {
        let (status, code) = match &e {
            IntakeError::BadName(..) => (StatusCode::BAD_REQUEST, "bad_file_name"),
            IntakeError::Invalid { .. } => (StatusCode::BAD_REQUEST, "invalid_field"),
            IntakeError::TooLarge { .. } | IntakeError::RequestTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            IntakeError::Malformed(_) => (StatusCode::BAD_REQUEST, "malformed_upload"),
            IntakeError::Busy => (StatusCode::TOO_MANY_REQUESTS, "busy"),
            IntakeError::AccountBusy { .. } => (StatusCode::TOO_MANY_REQUESTS, "account_busy"),
            IntakeError::Stalled(_) => (StatusCode::REQUEST_TIMEOUT, "upload_stalled"),
            IntakeError::Unknown { .. } => (StatusCode::BAD_REQUEST, "unknown_value"),
            IntakeError::FieldOrder(_) => (StatusCode::BAD_REQUEST, "field_order"),
            IntakeError::Storage(StorageError::ForeignSubmission(_)) => (StatusCode::FORBIDDEN, "foreign_submission"),
            IntakeError::Storage(s) if s.is_transient() => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            IntakeError::Storage(_) | IntakeError::Io(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        if status.is_server_error() {
            tracing::error!(error = %e, "upload failed");
        }
        ApiError::new(status, code, e.to_string())
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        if let StorageError::ForeignSubmission(_) = e {
            return ApiError::forbidden(e.to_string());
        }
        if let StorageError::HeldByOther(_) = e {
            return ApiError::new(StatusCode::CONFLICT, "held_by_other", e.to_string());
        }
        if e.is_transient() {
            tracing::warn!(error = %e, "back end unavailable");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.to_string())
        } else {
            tracing::error!(error = %e, "storage failed");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        }
    }
}

impl From<RetrievalError> for ApiError {
    fn from(e: RetrievalError) -> Self {
        let code = match &e {
            RetrievalError::Storage(_) => {
                let RetrievalError::Storage(s) = e else { return ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "") };
                return s.into();
            }
            RetrievalError::Infected => "infected",
            RetrievalError::NotStored(_) => "not_stored",
            RetrievalError::IntegrityFailure(_) => "integrity_failure",
            RetrievalError::RetentionActive(_) => "retention_active",
        };
        ApiError::new(StatusCode::CONFLICT, code, e.to_string())
    }
}

impl From<Denied> for ApiError {
    fn from(e: Denied) -> Self {
        ApiError::forbidden(e.to_string())
    }
}

impl From<ReviewError> for ApiError {
    fn from(e: ReviewError) -> Self {
        match e {
            ReviewError::Denied(d) => d.into(),
            ReviewError::InvalidId(_) => ApiError::bad_request("invalid_id", e.to_string()),
            ReviewError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string()),
            ReviewError::OwnerMismatch(_) => ApiError::new(StatusCode::CONFLICT, "owner_mismatch", e.to_string()),
            ReviewError::CommentRequired => ApiError::bad_request("comment_required", e.to_string()),
            ReviewError::UnknownObjective(_) => ApiError::bad_request("unknown_objective", e.to_string()),
            ReviewError::HeldByOther(_) => ApiError::new(StatusCode::CONFLICT, "held_by_other", e.to_string()),
            ReviewError::NothingDecided => ApiError::bad_request("nothing_decided", e.to_string()),
            ReviewError::DecidedTwice(_) => ApiError::bad_request("decided_twice", e.to_string()),
            ReviewError::Storage(s) => s.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bugs_detail_stays_in_the_log() {
        let (status, body, reference) = ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "query failed on /var/lib/caregate/index.sqlite").public();
        assert_eq!(status, 500);
        assert_eq!(body.error, "internal");
        assert!(!body.message.contains("/var/lib"), "{}", body.message);
        assert!(body.message.contains(reference.as_deref().unwrap()), "the caller can quote the reference");
        let (_, body, reference) = ApiError::bad_request("comment_required", "a decision needs a comment").public();
        assert_eq!((body.error.as_str(), reference), ("comment_required", None));
    }
}
