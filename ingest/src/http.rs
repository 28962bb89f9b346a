//! The HTTP API: uploads, status queries, and its own OpenAPI description.

use std::sync::Arc;

use axum::extract::multipart::MultipartError;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use caregate_schemas::{EvidenceEvent, EvidenceId, EvidenceRecord, Status, SubmissionId, SubmissionRef, Verification};
use caregate_storage::{EvidenceIndex, StorageError};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::intake::{validate_submission, Intake, IntakeError, Receipt};

#[derive(Clone)]
pub struct AppState {
    pub intake: Intake,
    pub index: Arc<dyn EvidenceIndex>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "caregate",
        description = "Intake and status of CaRE programme evidence (Cyber Accélération et Résilience des Établissements)."
    ),
    paths(upload, get_evidence, get_events, get_submission, get_verification),
    components(schemas(UploadForm, UploadResponse, Receipt, EvidenceRecord, EvidenceEvent, SubmissionView, Verification, ApiErrorBody))
)]
pub struct ApiDoc;

pub fn router(state: AppState) -> Router {
    let body_limit = state.intake.config().max_request_bytes;
    Router::new()
        .route("/api/evidence", post(upload))
        .route("/api/evidence/{id}", get(get_evidence))
        .route("/api/evidence/{id}/events", get(get_events))
        .route("/api/submissions/{id}", get(get_submission))
        .route("/api/submissions/{id}/verification", get(get_verification))
        .route("/submissions/{id}/verification.html", get(get_verification_page))
        .route("/api/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(usize::try_from(body_limit).unwrap_or(usize::MAX)))
        .with_state(state)
}

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
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn not_found(what: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(ApiErrorBody {
            error: self.code.to_owned(),
            message: self.message,
        });
        if self.status == StatusCode::TOO_MANY_REQUESTS || self.status == StatusCode::SERVICE_UNAVAILABLE {
            (self.status, [(header::RETRY_AFTER, "5")], body).into_response()
        } else {
            (self.status, body).into_response()
        }
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
        IntakeError::Storage(e).into()
    }
}

/// axum reports a body over the limit as a multipart error with status 413.
fn multipart_error(e: MultipartError) -> IntakeError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        IntakeError::RequestTooLarge
    } else {
        IntakeError::Malformed(e.body_text())
    }
}

/// The upload form. Text fields come before the files they apply to.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// FINESS number of the establishment.
    establishment: String,
    /// Campaign, e.g. `care-d1-2024`.
    campaign: String,
    /// Adds to an existing submission; a new one is made when absent.
    submission_id: Option<String>,
    /// Objective the files claim to prove (repeat the field for several).
    objective: Vec<String>,
    /// Funding category of the establishment (`ght`, `public`, `ebnl`, `private`).
    category: Option<String>,
    /// One or more files; the part's file name is kept (relative paths allowed, `..` refused).
    #[schema(format = Binary, value_type = Vec<String>)]
    file: Vec<Vec<u8>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UploadResponse {
    pub submission_id: SubmissionId,
    pub evidence: Vec<Receipt>,
}

/// Upload files for one submission. All files of the request are received and hashed
/// before any is handed to the pipeline: a malformed or oversized request stores nothing.
#[utoipa::path(
    post,
    path = "/api/evidence",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 202, description = "files received and queued for checking", body = UploadResponse),
        (status = 400, description = "malformed request, bad field or refused file name", body = ApiErrorBody),
        (status = 413, description = "file or request over the size limit", body = ApiErrorBody),
        (status = 429, description = "too many uploads in progress; see Retry-After", body = ApiErrorBody),
        (status = 503, description = "a back end is unavailable; see Retry-After", body = ApiErrorBody),
    )
)]
async fn upload(State(st): State<AppState>, mut form: Multipart) -> Result<(StatusCode, Json<UploadResponse>), ApiError> {
    let _permit = st.intake.try_admit()?;
    let mut establishment = None;
    let mut campaign = None;
    let mut submission_id = None;
    let mut objectives = Vec::new();
    let mut category = None;
    let mut spooled = Vec::new();
    while let Some(field) = form.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "establishment" => establishment = Some(field_text(field).await?.trim().to_owned()),
            "campaign" => campaign = Some(field_text(field).await?.trim().to_owned()),
            "submission_id" => {
                let raw = field_text(field).await?;
                let id = raw.trim().parse().map_err(|_| IntakeError::Invalid {
                    field: "submission_id",
                    reason: format!("{raw:?} is not a UUID"),
                })?;
                submission_id = Some(id);
            }
            "objective" => objectives.push(field_text(field).await?.trim().to_owned()),
            "category" => category = Some(field_text(field).await?.trim().to_owned()).filter(|c| !c.is_empty()),
            "file" => {
                if establishment.is_none() || campaign.is_none() {
                    return Err(IntakeError::Malformed("`establishment` and `campaign` must come before the files".into()).into());
                }
                let file_name = field
                    .file_name()
                    .ok_or_else(|| IntakeError::Malformed("a `file` part has no file name".into()))?
                    .to_owned();
                spooled.push(st.intake.spool(&file_name, field.map_err(multipart_error)).await?);
            }
            other => return Err(IntakeError::Malformed(format!("unexpected field {other:?}")).into()),
        }
    }
    if spooled.is_empty() {
        return Err(IntakeError::Malformed("no `file` part".into()).into());
    }
    let sub = SubmissionRef {
        submission_id: submission_id.unwrap_or_default(),
        establishment: establishment.unwrap_or_default(),
        campaign: campaign.unwrap_or_default(),
        objectives,
        category,
    };
    validate_submission(&sub)?;
    let mut evidence = Vec::with_capacity(spooled.len());
    for file in spooled {
        evidence.push(st.intake.commit(&sub, file).await?);
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(UploadResponse {
            submission_id: sub.submission_id,
            evidence,
        }),
    ))
}

async fn field_text(field: axum::extract::multipart::Field<'_>) -> Result<String, IntakeError> {
    field.text().await.map_err(multipart_error)
}

fn parse_id<T: std::str::FromStr>(raw: &str) -> Result<T, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "invalid_id", format!("{raw:?} is not a UUID")))
}

/// The record of one file.
#[utoipa::path(get, path = "/api/evidence/{id}",
    params(("id" = String, Path, description = "evidence id")),
    responses((status = 200, body = EvidenceRecord), (status = 404, body = ApiErrorBody)))]
async fn get_evidence(State(st): State<AppState>, Path(id): Path<String>) -> Result<Json<EvidenceRecord>, ApiError> {
    let id: EvidenceId = parse_id(&id)?;
    st.index.get(id).await?.map(Json).ok_or_else(|| ApiError::not_found(format!("evidence {id}")))
}

/// The history of one file, oldest first.
#[utoipa::path(get, path = "/api/evidence/{id}/events",
    params(("id" = String, Path, description = "evidence id")),
    responses((status = 200, body = Vec<EvidenceEvent>), (status = 404, body = ApiErrorBody)))]
async fn get_events(State(st): State<AppState>, Path(id): Path<String>) -> Result<Json<Vec<EvidenceEvent>>, ApiError> {
    let id: EvidenceId = parse_id(&id)?;
    let events = st.index.events(id).await?;
    if events.is_empty() {
        return Err(ApiError::not_found(format!("evidence {id}")));
    }
    Ok(Json(events))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SubmissionView {
    pub submission_id: SubmissionId,
    /// True when every file has reached a final status.
    pub complete: bool,
    pub evidence: Vec<EvidenceRecord>,
}

/// Every file of a submission and whether processing is over.
#[utoipa::path(get, path = "/api/submissions/{id}",
    params(("id" = String, Path, description = "submission id")),
    responses((status = 200, body = SubmissionView), (status = 404, body = ApiErrorBody)))]
async fn get_submission(State(st): State<AppState>, Path(id): Path<String>) -> Result<Json<SubmissionView>, ApiError> {
    let id: SubmissionId = parse_id(&id)?;
    let evidence = st.index.submission(id).await?;
    if evidence.is_empty() {
        return Err(ApiError::not_found(format!("submission {id}")));
    }
    Ok(Json(SubmissionView {
        submission_id: id,
        complete: evidence.iter().all(|r| r.status != Status::Received),
        evidence,
    }))
}

async fn verification_of(st: &AppState, id: &str) -> Result<Verification, ApiError> {
    let id: SubmissionId = parse_id(id)?;
    st.index
        .verification(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("verification of submission {id} (unknown submission, or no referential for its campaign)")))
}

/// The submission judged against its campaign's referential: a verdict per objective
/// (`met`, `not_met`, `needs_review`) with its reasons and evidence. `pending` > 0 means
/// files are still being processed and the verdicts are provisional.
#[utoipa::path(get, path = "/api/submissions/{id}/verification",
    params(("id" = String, Path, description = "submission id")),
    responses((status = 200, body = Verification), (status = 404, body = ApiErrorBody)))]
async fn get_verification(State(st): State<AppState>, Path(id): Path<String>) -> Result<Json<Verification>, ApiError> {
    verification_of(&st, &id).await.map(Json)
}

/// The same, as the French report people read.
async fn get_verification_page(State(st): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let v = verification_of(&st, &id).await?;
    let page = caregate_verify::report::html(&v, |e| format!("/api/evidence/{e}"));
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response())
}
