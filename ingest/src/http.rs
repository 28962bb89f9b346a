//! The HTTP API: uploads, status queries, retrieval, search, decisions, and its own
//! OpenAPI description. Every route but `/healthz` and the OpenAPI document names its
//! [`Action`] and checks the caller against it before reading anything.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use caregate_schemas::{
    Decision, DecisionKind, EstablishmentIdentifiers, EvidenceEvent, EvidenceId, EvidenceRecord, IdentifierError, IdentifiersChange, Principal, Scope, Status,
    SubmissionId, SubmissionRef, Verification, REGIONS,
};
use caregate_storage::{SearchQuery, StorageError};
use chrono::{NaiveDate, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::auth::{Action, Caller};
use crate::error::{ApiError, ApiErrorBody};
use crate::intake::{validate_submission, IntakeError, Receipt};
use crate::retrieval::{self, Retrieved};
use crate::review::{self, DecisionForm};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "caregate",
        description = "Intake and status of CaRE programme evidence (Cyber Accélération et Résilience des Établissements)."
    ),
    paths(upload, get_evidence, get_events, get_content, get_text, delete_evidence, get_submission, get_verification, post_decision, search, whoami,
        get_identifiers, put_identifiers),
    components(schemas(UploadForm, UploadResponse, Receipt, EvidenceRecord, EvidenceEvent, SubmissionView, Verification, ApiErrorBody,
        DecisionForm, Decision, DecisionKind, Principal, Scope, IdentifiersView, IdentifiersForm, EstablishmentIdentifiers, IdentifiersChange)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("token", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new("token", Vec::<String>::new())]);
    }
}

/// The API's routes (the console adds its own beside them, see [`crate::router`]).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/evidence/{id}", get(get_evidence).delete(delete_evidence))
        .route("/api/evidence/{id}/events", get(get_events))
        .route("/api/evidence/{id}/content", get(get_content))
        .route("/api/evidence/{id}/text", get(get_text))
        .route("/api/submissions/{id}", get(get_submission))
        .route("/api/submissions/{id}/verification", get(get_verification))
        .route("/api/submissions/{id}/decisions", post(post_decision))
        .route("/api/establishments/{finess}/identifiers", get(get_identifiers).put(put_identifiers))
        .route("/api/search", get(search))
        .route("/api/whoami", get(whoami))
        .route("/submissions/{id}/verification.html", get(get_verification_page))
        .route("/api/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
        .route("/healthz", get(|| async { "ok" }))
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
    /// The establishment's own SIRET (14 digits; repeat the field for several sites). It
    /// is the buyer of the invoices it submits: this number is never taken as a seller's.
    establishment_siret: Vec<String>,
    /// The establishment's own SIREN (9 digits; repeat the field for several).
    establishment_siren: Vec<String>,
    /// One or more files; the part's file name is kept (relative paths allowed, `..` refused).
    #[schema(format = Binary, value_type = Vec<String>)]
    file: Vec<Vec<u8>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UploadResponse {
    pub submission_id: SubmissionId,
    pub evidence: Vec<Receipt>,
}

/// The header a client sends so that retrying an upload never makes a second record.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Upload files for one submission. All files of the request are received and hashed
/// before any is handed to the pipeline: a malformed or oversized request stores nothing.
#[utoipa::path(
    post,
    path = "/api/evidence",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    params(("Idempotency-Key" = Option<String>, Header, description = "the client's key for this request (e.g. SHA-256 of submission, path and content): a repeat gets the first receipt instead of a new record")),
    responses(
        (status = 202, description = "files received and queued for checking", body = UploadResponse),
        (status = 400, description = "malformed request, bad field or refused file name", body = ApiErrorBody),
        (status = 413, description = "file or request over the size limit", body = ApiErrorBody),
        (status = 429, description = "too many uploads in progress; see Retry-After", body = ApiErrorBody),
        (status = 503, description = "a back end is unavailable; see Retry-After", body = ApiErrorBody),
    )
)]
pub(crate) async fn upload(
    State(st): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<UploadResponse>), ApiError> {
    let result = receive_upload(st, caller, headers, body).await;
    match &result {
        Ok((_, Json(r))) => metrics::counter!("caregate_uploads_total", "outcome" => "accepted").increment(r.evidence.len() as u64),
        Err(e) => metrics::counter!("caregate_uploads_total", "outcome" => crate::metrics::upload_outcome(e.status())).increment(1),
    }
    result
}

/// The upload's text fields, as sent: each once (but `objective`), all before the first
/// file, so that what was checked before a byte was spooled is what every file gets.
#[derive(Default)]
struct UploadFields {
    establishment: Option<String>,
    campaign: Option<String>,
    submission_id: Option<SubmissionId>,
    objectives: Vec<String>,
    category: Option<String>,
    sirets: Vec<String>,
    sirens: Vec<String>,
}

impl UploadFields {
    fn set(&mut self, name: &str, value: String) -> Result<(), IntakeError> {
        let twice = || IntakeError::FieldOrder(format!("le champ {name} est envoyé deux fois"));
        let value = value.trim().to_owned();
        match name {
            "establishment" if self.establishment.is_none() => self.establishment = Some(value),
            "campaign" if self.campaign.is_none() => self.campaign = Some(value),
            "submission_id" if self.submission_id.is_none() => {
                let id = value.parse().map_err(|_| IntakeError::Invalid { field: "submission_id", reason: format!("{value:?} is not a UUID") })?;
                self.submission_id = Some(id);
            }
            "objective" => self.objectives.push(value),
            "establishment_siret" => self.sirets.extend(Some(value).filter(|v| !v.is_empty())),
            "establishment_siren" => self.sirens.extend(Some(value).filter(|v| !v.is_empty())),
            "category" if self.category.is_none() => self.category = Some(value).filter(|c| !c.is_empty()),
            "establishment" | "campaign" | "submission_id" | "category" => return Err(twice()),
            other => return Err(IntakeError::Malformed(format!("unexpected field {other:?}"))),
        }
        Ok(())
    }

    /// The establishment's own identifiers given with the upload, checked (`None` when
    /// none was given).
    fn identifiers(&self, finess: &str) -> Result<Option<EstablishmentIdentifiers>, IntakeError> {
        if self.sirets.is_empty() && self.sirens.is_empty() {
            return Ok(None);
        }
        EstablishmentIdentifiers::checked(finess, &self.sirens, &self.sirets).map(Some).map_err(|e| {
            let field = match e {
                IdentifierError::NotSiren(_) => "establishment_siren",
                IdentifierError::NotSiret(_) => "establishment_siret",
            };
            IntakeError::Invalid { field, reason: e.to_string() }
        })
    }

    /// The submission the files go to, with a new id when none was given.
    fn submission(&self) -> Result<SubmissionRef, IntakeError> {
        let (Some(establishment), Some(campaign)) = (&self.establishment, &self.campaign) else {
            return Err(IntakeError::Malformed("`establishment` and `campaign` must come before the files".into()));
        };
        Ok(SubmissionRef {
            submission_id: self.submission_id.unwrap_or_default(),
            establishment: establishment.clone(),
            campaign: campaign.clone(),
            objectives: self.objectives.clone(),
            category: self.category.clone(),
        })
    }
}

async fn receive_upload(st: AppState, caller: Caller, headers: axum::http::HeaderMap, body: Body) -> Result<(StatusCode, Json<UploadResponse>), ApiError> {
    receive_form_upload(st, caller, headers, body, None).await
}

/// An upload, from a form that carries its CSRF token in its first field (`_csrf`) when
/// `csrf` is expected: the establishments' plain form, posted without a script, which
/// [`crate::guard`] cannot read without reading the files. Nothing else is read before
/// the token is checked.
pub(crate) async fn receive_form_upload(
    st: AppState,
    caller: Caller,
    headers: axum::http::HeaderMap,
    body: Body,
    csrf: Option<&str>,
) -> Result<(StatusCode, Json<UploadResponse>), ApiError> {
    caller.may(Action::Upload, None)?;
    let _slot = st.intake.try_admit_for(&caller.actor())?;
    let (mut form, progress) = crate::form::multipart(&headers, body, st.intake.config())?;
    let mut fields = UploadFields::default();
    // Fixed, checked and authorised at the first file; never changed after it.
    let mut sub: Option<SubmissionRef> = None;
    let mut spooled = Vec::new();
    let mut token_checked = csrf.is_none();
    while let Some(field) = form.next_field().await.map_err(crate::form::error)? {
        progress.advanced();
        let name = field.name().unwrap_or_default().to_owned();
        if !token_checked {
            let given = if name == crate::guard::CSRF_FIELD { Some(field.text().await.map_err(crate::form::error)?) } else { None };
            if given.as_deref() != csrf {
                return Err(ApiError::forbidden("formulaire expiré ou venu d'ailleurs : rechargez la page et recommencez"));
            }
            progress.advanced();
            token_checked = true;
            continue;
        }
        if name != "file" {
            if sub.is_some() {
                return Err(IntakeError::FieldOrder(format!("le champ {name} arrive après un fichier : les champs précèdent les fichiers")).into());
            }
            let value = field.text().await.map_err(crate::form::error)?;
            progress.advanced();
            fields.set(&name, value)?;
            continue;
        }
        if sub.is_none() {
            // Checked before a byte is spooled: nothing is received for an
            // establishment the caller does not speak for, or a dossier not its own.
            let s = fields.submission()?;
            // A malformed FINESS is a bad request, not someone else's establishment.
            crate::intake::validate_finess(&s.establishment)?;
            caller.may(Action::Upload, Some(&s.establishment))?;
            validate_submission(&s)?;
            st.intake.check_known(&s)?;
            if fields.submission_id.is_some() {
                may_add_to(&st, &s).await?;
            }
            // Known before any file of the upload is read: the worker excludes them.
            if let Some(given) = fields.identifiers(&s.establishment)? {
                add_identifiers(&st, given, &caller.actor()).await?;
            }
            sub = Some(s);
        }
        let file_name = field.file_name().ok_or_else(|| IntakeError::Malformed("a `file` part has no file name".into()))?.to_owned();
        let chunks = field.map(|chunk| {
            progress.advanced();
            chunk.map_err(crate::form::error)
        });
        spooled.push(st.intake.spool(&file_name, chunks).await?);
    }
    let Some(sub) = sub else {
        return Err(IntakeError::Malformed("no `file` part".into()).into());
    };
    // Scoped to the caller, and to the file's place in the request.
    let key = headers.get(IDEMPOTENCY_KEY).map(|v| v.to_str().map(str::trim).unwrap_or_default().to_owned());
    if key.as_deref().is_some_and(|k| k.is_empty() || k.len() > 200) {
        return Err(IntakeError::Invalid { field: "Idempotency-Key", reason: "1 to 200 visible ASCII characters".into() }.into());
    }
    let actor = caller.actor();
    let mut evidence = Vec::with_capacity(spooled.len());
    for (i, file) in spooled.into_iter().enumerate() {
        let scoped = key.as_deref().map(|k| format!("{actor}\n{k}\n{i}"));
        evidence.push(st.intake.commit_keyed(&sub, file, Some(&actor), scoped.as_deref()).await?);
    }
    Ok((StatusCode::ACCEPTED, Json(UploadResponse { submission_id: sub.submission_id, evidence })))
}

/// Adding to an existing submission: it must be this establishment's, in this campaign
/// (the index refuses it too, see [`caregate_storage::SubmissionOwner`]; checked here
/// first so that nothing is spooled for it).
async fn may_add_to(st: &AppState, sub: &SubmissionRef) -> Result<(), ApiError> {
    match st.index.submission_owner(sub.submission_id).await? {
        Some(o) if o.establishment != sub.establishment => {
            Err(ApiError::forbidden(format!("le dossier {} appartient à un autre établissement", sub.submission_id)))
        }
        Some(o) if o.campaign != sub.campaign => Err(ApiError::forbidden(format!("le dossier {} est de la campagne {}", sub.submission_id, o.campaign))),
        _ => Ok(()),
    }
}

/// Adds identifiers given at an upload to what is known of the establishment's own; a
/// change is recorded only when one of them is new.
async fn add_identifiers(st: &AppState, given: EstablishmentIdentifiers, actor: &str) -> Result<(), ApiError> {
    let known = st.index.establishment_identifiers(&given.finess).await?;
    let mut more = known.clone();
    more.add(&given);
    if more != known {
        let change = IdentifiersChange { identifiers: given, replace: false, by: actor.to_owned(), at: chrono::Utc::now() };
        st.index.change_identifiers(&change).await?;
    }
    Ok(())
}

/// What is known of an establishment's own identifiers, with their history.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IdentifiersView {
    pub identifiers: EstablishmentIdentifiers,
    /// Every change, oldest first: added at an upload, or set by a controller.
    pub changes: Vec<IdentifiersChange>,
}

/// A controller's setting of an establishment's own identifiers: replaces what was known.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IdentifiersForm {
    #[serde(default)]
    pub sirens: Vec<String>,
    #[serde(default)]
    pub sirets: Vec<String>,
}

/// The establishment's own identifiers: its FINESS, and the SIREN and SIRET numbers given
/// for it. It is the buyer of the invoices it submits: these are never a seller's.
#[utoipa::path(
    get,
    path = "/api/establishments/{finess}/identifiers",
    params(("finess" = String, Path, description = "FINESS of the establishment")),
    responses(
        (status = 200, description = "what is known, and its history", body = IdentifiersView),
        (status = 400, description = "not a FINESS number", body = ApiErrorBody),
        (status = 403, description = "outside the caller's scope", body = ApiErrorBody),
    )
)]
pub(crate) async fn get_identifiers(State(st): State<AppState>, caller: Caller, Path(finess): Path<String>) -> Result<Json<IdentifiersView>, ApiError> {
    crate::intake::validate_finess(&finess)?;
    caller.may(Action::ReadRecords, Some(&finess))?;
    let changes = st.index.identifier_changes(&finess).await?;
    let identifiers = caregate_storage::known_identifiers(&finess, &changes);
    Ok(Json(IdentifiersView { identifiers, changes }))
}

/// Sets the establishment's own identifiers (a controller, within its scope): what was
/// known is replaced. Files read from then on exclude them, and every judgement from then
/// on sets them aside; files read before keep their reading until read again.
#[utoipa::path(
    put,
    path = "/api/establishments/{finess}/identifiers",
    params(("finess" = String, Path, description = "FINESS of the establishment")),
    request_body = IdentifiersForm,
    responses(
        (status = 200, description = "set; what is known now", body = IdentifiersView),
        (status = 400, description = "not a FINESS, SIREN or SIRET number", body = ApiErrorBody),
        (status = 403, description = "not a controller, or outside its scope", body = ApiErrorBody),
    )
)]
pub(crate) async fn put_identifiers(
    State(st): State<AppState>,
    caller: Caller,
    Path(finess): Path<String>,
    Json(form): Json<IdentifiersForm>,
) -> Result<Json<IdentifiersView>, ApiError> {
    crate::intake::validate_finess(&finess)?;
    caller.may(Action::Decide, Some(&finess))?;
    let identifiers = EstablishmentIdentifiers::checked(&finess, &form.sirens, &form.sirets).map_err(|e| {
        let field = match e {
            IdentifierError::NotSiren(_) => "sirens",
            IdentifierError::NotSiret(_) => "sirets",
        };
        IntakeError::Invalid { field, reason: e.to_string() }
    })?;
    let change = IdentifiersChange { identifiers, replace: true, by: caller.actor(), at: chrono::Utc::now() };
    st.index.change_identifiers(&change).await?;
    get_identifiers(State(st), caller, Path(finess)).await
}

fn parse_id<T: std::str::FromStr>(raw: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "invalid_id", format!("{raw:?} is not a UUID")))
}

/// The record of one file.
#[utoipa::path(get, path = "/api/evidence/{id}",
    params(("id" = String, Path, description = "evidence id")),
    responses((status = 200, body = EvidenceRecord), (status = 404, body = ApiErrorBody)))]
async fn get_evidence(State(st): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<EvidenceRecord>, ApiError> {
    record_for(&st, &caller, Action::ReadRecords, &id).await.map(Json)
}

/// The record, once the caller is known to be allowed `action` on it.
pub(crate) async fn record_for(st: &AppState, caller: &Caller, action: Action, id: &str) -> Result<EvidenceRecord, ApiError> {
    caller.may(action, None)?;
    let id: EvidenceId = parse_id(id)?;
    let rec = st.index.get(id).await?.ok_or_else(|| ApiError::not_found(format!("la pièce {id}")))?;
    caller.may(action, Some(&rec.submission.establishment))?;
    Ok(rec)
}

/// The history of one file, oldest first.
#[utoipa::path(get, path = "/api/evidence/{id}/events",
    params(("id" = String, Path, description = "evidence id")),
    responses((status = 200, body = Vec<EvidenceEvent>), (status = 404, body = ApiErrorBody)))]
async fn get_events(State(st): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Vec<EvidenceEvent>>, ApiError> {
    let rec = record_for(&st, &caller, Action::ReadRecords, &id).await?;
    Ok(Json(st.index.events(rec.evidence_id).await?))
}

/// The file's bytes, re-hashed on the way out: served only when they still match the
/// SHA-256 recorded at upload. Large files on a store that can presign get a `303` to an
/// expiring URL instead, after the same check. Every read is an audit event.
#[utoipa::path(get, path = "/api/evidence/{id}/content",
    params(("id" = String, Path, description = "evidence id")),
    responses(
        (status = 200, description = "the file", content_type = "application/octet-stream"),
        (status = 303, description = "large file: an expiring presigned URL of the store (Location)"),
        (status = 404, body = ApiErrorBody),
        (status = 409, description = "not in the evidence store (infected or held in quarantine), or its bytes no longer match their hash", body = ApiErrorBody)))]
async fn get_content(State(st): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    let rec = record_for(&st, &caller, Action::ReadFile, &id).await?;
    let presign = (rec.size > st.http.presign_above_bytes).then(|| std::time::Duration::from_secs(st.http.presign_secs));
    match retrieval::retrieve(st.evidence.as_ref(), st.index.as_ref(), &rec, &caller.actor(), presign, st.intake.spool_dir()).await? {
        Retrieved::File(file) => Ok(attachment(&rec, file)),
        Retrieved::Presigned(url) => Ok(Redirect::to(&url).into_response()),
    }
}

/// The text extracted from the file (what full-text search reads). An audit event.
#[utoipa::path(get, path = "/api/evidence/{id}/text",
    params(("id" = String, Path, description = "evidence id")),
    responses((status = 200, description = "plain text", content_type = "text/plain"), (status = 404, body = ApiErrorBody)))]
async fn get_text(State(st): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    let rec = record_for(&st, &caller, Action::ReadFile, &id).await?;
    let text = retrieval::read_text(st.index.as_ref(), &rec, &caller.actor()).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// Deletes the stored file once its retention is over; refused (409, and an audit
/// event) before.
#[utoipa::path(delete, path = "/api/evidence/{id}",
    params(("id" = String, Path, description = "evidence id")),
    responses((status = 204, description = "deleted"), (status = 404, body = ApiErrorBody),
        (status = 409, description = "retention not over, or nothing stored", body = ApiErrorBody)))]
async fn delete_evidence(State(st): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    let rec = record_for(&st, &caller, Action::Delete, &id).await?;
    retrieval::delete(st.evidence.as_ref(), st.index.as_ref(), &rec, &caller.actor(), Utc::now()).await?;
    Ok(StatusCode::NO_CONTENT)
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
async fn get_submission(State(st): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<SubmissionView>, ApiError> {
    let owner = review::owned_submission(&st, &caller, Action::ReadRecords, &id).await?;
    let evidence = st.index.submission(owner.submission_id).await?;
    Ok(Json(SubmissionView { submission_id: owner.submission_id, complete: evidence.iter().all(|r| r.status != Status::Received), evidence }))
}

/// The submission judged against its campaign's referential: a verdict per objective
/// (`met`, `not_met`, `needs_review`) with its reasons and evidence. `pending` > 0 means
/// files are still being processed and the verdicts are provisional.
#[utoipa::path(get, path = "/api/submissions/{id}/verification",
    params(("id" = String, Path, description = "submission id")),
    responses((status = 200, body = Verification), (status = 404, body = ApiErrorBody)))]
async fn get_verification(State(st): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<Verification>, ApiError> {
    Ok(Json(review::verification_of(&st, &caller, Action::ReadRecords, &id).await?))
}

/// The same, as the French report people read.
async fn get_verification_page(State(st): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    let v = review::verification_of(&st, &caller, Action::ReadRecords, &id).await?;
    let page = caregate_verify::report::html(&v, |e| format!("/api/evidence/{e}"));
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response())
}

/// A controller decides on one objective: accept, reject, or ask the establishment for
/// more. The comment is mandatory; who and when are recorded, and the objective's
/// verdict changes at once.
#[utoipa::path(post, path = "/api/submissions/{id}/decisions",
    params(("id" = String, Path, description = "submission id")),
    request_body = DecisionForm,
    responses((status = 200, description = "the verification as decided now", body = Verification),
        (status = 400, body = ApiErrorBody), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn post_decision(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(form): Json<DecisionForm>,
) -> Result<Json<Verification>, ApiError> {
    Ok(Json(review::decide(&st, &caller, &id, form).await?))
}

/// Search criteria; all optional, all must match. Dates as `YYYY-MM-DD` or `dd/mm/yyyy`.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct SearchParams {
    /// FINESS number.
    pub finess: Option<String>,
    pub siren: Option<String>,
    pub siret: Option<String>,
    /// Invoice number, compared on letters and digits (`FA 2024/0042` = `fa-2024-0042`).
    pub invoice: Option<String>,
    /// Objective the file was tagged with.
    pub objective: Option<String>,
    /// Kind of evidence (`invoice`, `ad_audit_report`...).
    pub kind: Option<String>,
    pub status: Option<String>,
    /// Received on or after.
    pub from: Option<String>,
    /// Received on or before.
    pub to: Option<String>,
    /// Words of the extracted text (French).
    pub q: Option<String>,
    pub limit: Option<u32>,
}

/// A form or query field, when filled in.
pub(crate) fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// A day as people type it: `YYYY-MM-DD` (what date inputs send) or `dd/mm/yyyy`.
pub(crate) fn parse_day(field: &'static str, raw: &str) -> Result<NaiveDate, ApiError> {
    let raw = raw.trim();
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").or_else(|_| NaiveDate::parse_from_str(raw, "%d/%m/%Y")).map_err(|_| {
        // Said in French: the console shows it as it is, beside fields that ask for jj/mm/aaaa.
        let label = match field {
            "from" => "date de début",
            "to" => "date de fin",
            other => other,
        };
        ApiError::bad_request("invalid_date", format!("{label} (« {field} ») : « {raw} » n'est pas une date (jj/mm/aaaa ou aaaa-mm-jj)"))
    })
}

impl SearchParams {
    /// The storage query, limited to the caller's scope.
    pub fn to_query(&self, caller: &Principal) -> Result<SearchQuery, ApiError> {
        use caregate_schemas::SearchKey;
        let mut keys = Vec::new();
        if let Some(v) = given(&self.siren) {
            keys.push(SearchKey::Siren(v.replace(' ', "")));
        }
        if let Some(v) = given(&self.siret) {
            keys.push(SearchKey::Siret(v.replace(' ', "")));
        }
        if let Some(v) = given(&self.invoice) {
            keys.push(SearchKey::InvoiceNumber(caregate_schemas::invoice_number_key(v)));
        }
        if let Some(v) = given(&self.objective) {
            keys.push(SearchKey::Objective(v.to_owned()));
        }
        if let Some(v) = given(&self.kind) {
            keys.push(SearchKey::Kind(v.to_owned()));
        }
        let keys: Vec<String> = keys.iter().map(SearchKey::to_string).collect();
        let status = given(&self.status).map(|s| s.parse::<Status>().map_err(|e| ApiError::bad_request("invalid_status", e.to_string()))).transpose()?;
        let day_start = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        let received_from = given(&self.from).map(|v| parse_day("from", v)).transpose()?.and_then(day_start);
        let received_before = given(&self.to).map(|v| parse_day("to", v)).transpose()?.and_then(|d| d.succ_opt()).and_then(day_start);
        let departements = match &caller.scope {
            Scope::National => None,
            Scope::Regions(regions) => Some(
                REGIONS
                    .iter()
                    .filter(|(r, _)| regions.iter().any(|x| x.eq_ignore_ascii_case(r)))
                    .flat_map(|(_, deps)| deps.iter().map(|d| d.to_string()))
                    .collect(),
            ),
            // No role that searches is scoped to establishments; should one be, it finds
            // nothing rather than everything.
            Scope::Establishments(_) => Some(Vec::new()),
        };
        Ok(SearchQuery {
            establishment: given(&self.finess).map(str::to_owned),
            keys,
            status,
            received_from,
            received_before,
            text: given(&self.q).map(str::to_owned),
            departements,
            limit: self.limit.unwrap_or(200).min(1000),
        })
    }
}

/// Stored evidence by FINESS, SIREN/SIRET, invoice number, objective, kind, status,
/// receipt dates and French full text, within the caller's scope.
#[utoipa::path(get, path = "/api/search", params(SearchParams),
    responses((status = 200, body = Vec<EvidenceRecord>), (status = 400, body = ApiErrorBody), (status = 403, body = ApiErrorBody)))]
async fn search(State(st): State<AppState>, caller: Caller, Query(params): Query<SearchParams>) -> Result<Json<Vec<EvidenceRecord>>, ApiError> {
    caller.may(Action::Search, None)?;
    let q = params.to_query(&caller.0)?;
    let found = st.index.search(&q).await?;
    Ok(Json(found.into_iter().filter(|r| caller.0.covers(&r.submission.establishment)).collect()))
}

/// Who the credential belongs to.
#[utoipa::path(get, path = "/api/whoami", responses((status = 200, body = Principal), (status = 401, body = ApiErrorBody)))]
async fn whoami(caller: Caller) -> Json<Principal> {
    Json(caller.0)
}

/// The HTTP answer for a checked file: its bytes as an attachment named as uploaded.
pub fn attachment(rec: &EvidenceRecord, file: tempfile::NamedTempFile) -> Response {
    use std::io::Seek;
    // The spool's name goes now; the open handle keeps the bytes until they are sent.
    // It shares its offset with the handle that wrote, hence the rewind.
    let mut std_file = file.into_file();
    if let Err(e) = std_file.rewind() {
        return ApiError::from(StorageError::from(e)).into_response();
    }
    let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(std_file));
    let name = rec.path.rsplit('/').next().unwrap_or("evidence").replace(['"', '\\'], "_");
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{}\"", name.replace(|c: char| !c.is_ascii() || c.is_ascii_control(), "_")))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    let media = rec.media_type.as_deref().and_then(|m| HeaderValue::from_str(m).ok()).unwrap_or_else(|| HeaderValue::from_static("application/octet-stream"));
    (
        [
            (header::CONTENT_TYPE, media),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CONTENT_LENGTH, HeaderValue::from(rec.size)),
            (header::HeaderName::from_static("x-content-sha256"), HeaderValue::from_str(&rec.sha256.hex()).unwrap_or_else(|_| HeaderValue::from_static(""))),
            // A stored file is never rendered by the browser as part of caregate's origin.
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox")),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// Whether every back end answers now: `200` with each one `ok`, or `503` (with
/// `Retry-After`) naming the one that does not and why. Each is given 3 seconds, all at
/// once, so a frozen store makes a slow answer, never a hanging one. No authentication:
/// load balancers and operators ask it, and it names no dossier.
pub(crate) async fn readyz(State(st): State<AppState>) -> Response {
    let checks = futures::future::join_all(st.probes.iter().map(|p| async move {
        let answer = match tokio::time::timeout(std::time::Duration::from_secs(3), (p.check)()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("no answer within 3 s".to_owned()),
        };
        (p.name, answer)
    }))
    .await;
    let ready = checks.iter().all(|(_, a)| a.is_ok());
    let body: serde_json::Map<String, serde_json::Value> =
        checks.into_iter().map(|(name, a)| (name.to_owned(), a.map_or_else(|e| format!("unavailable: {e}").into(), |()| "ok".into()))).collect();
    let body = Json(serde_json::json!({ "ready": ready, "checks": body }));
    if ready {
        (StatusCode::OK, body).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "5")], body).into_response()
    }
}
