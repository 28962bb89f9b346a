//! The controllers' and archivists' console: server-rendered French pages (maud), plain
//! forms, no script. Controllers work the queue of what the machine could not settle and
//! decide; archivists search and retrieve. Every page goes through the same
//! authorisation as the API ([`Caller::may`]), and reading a file's text or bytes is an
//! audit event exactly as through the API.

use std::collections::BTreeMap;

use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::cookie::{Cookie, SameSite};
use axum_extra::extract::CookieJar;
use caregate_schemas::extracted::Location;
use caregate_schemas::{EvidenceRecord, Finding, FindingCode, Status};
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use serde::Deserialize;

use crate::auth::{self, Action, Caller, SESSION_COOKIE};
use crate::error::ApiError;
use crate::http::{self, given, SearchParams};
use crate::oidc::{self, OidcProvider};
use crate::review::ReviewError;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(queue::queue))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/oidc/{name}", get(oidc_start))
        .route("/console/oidc/{name}/callback", get(oidc_callback))
        .route("/console/tableau-de-bord", get(dashboard::dashboard))
        .route("/console/submissions/{id}", get(dossier::submission_page))
        .route("/console/submissions/{id}/decisions", post(dossier::decide))
        .route("/console/submissions/{id}/prendre", post(dossier::take))
        .route("/console/submissions/{id}/relacher", post(dossier::release))
        .route("/console/evidence/{id}", get(evidence_page))
        .route("/console/evidence/{id}/pages/{page}", get(page_image))
        .route("/console/search", get(search_page))
}

/// An error as a page: the console never answers a person with JSON.
struct PageError(ApiError);

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl From<crate::auth::Denied> for PageError {
    fn from(e: crate::auth::Denied) -> Self {
        PageError(e.into())
    }
}

impl From<ReviewError> for PageError {
    fn from(e: ReviewError) -> Self {
        PageError(e.into())
    }
}

impl From<caregate_storage::StorageError> for PageError {
    fn from(e: caregate_storage::StorageError) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let title = match status {
            StatusCode::FORBIDDEN => "Accès refusé",
            StatusCode::NOT_FOUND => "Introuvable",
            StatusCode::CONFLICT => "Refusé",
            s if s.is_client_error() => "Demande invalide",
            _ => "Erreur",
        };
        let (_, said, _) = self.0.public();
        let body = bare(title, html! { h1 { (title) } p.error { (said.message) } p { a href="/console" { "Retour à la file de revue" } } });
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
            // An outage is said to a person as to a program: come back in a moment.
            return (status, [(axum::http::header::RETRY_AFTER, "5")], Html(body.into_string())).into_response();
        }
        (status, Html(body.into_string())).into_response()
    }
}

/// What the console shows that the DSFR has no component for: verdict colours, the
/// page view's field boxes. The rest is the DSFR's ([`crate::ui`]).
const STYLE: &str = "
.verdict{padding:.1rem .45rem;border-radius:.3rem;font-weight:600;white-space:nowrap}
.met{background:#b8fec9;color:#18753c}.needs_review{background:#feecc2;color:#716043}.not_met{background:#ffe9e9;color:#ce0500}
.error{color:#ce0500;font-weight:600}
form.filters{display:flex;flex-wrap:wrap;gap:.6rem;align-items:end;padding:.6rem;border:1px solid #ddd}
form.filters label{display:flex;flex-direction:column;font-size:.85rem}
pre{border:1px solid #ddd;padding:.6rem;overflow:auto;max-height:28rem;white-space:pre-wrap}
textarea{width:100%;min-height:3.5rem}
#page .sheet{position:relative;display:inline-block;border:1px solid #ddd;background:#fff;max-width:none}
#page .sheet img{display:block;max-width:none}
#page a.champ{position:absolute;border:2px solid #000091;background:rgba(0,0,145,.08);margin:-3px;padding:2px}
#page a.champ.signale{border-color:#ce0500;background:rgba(206,5,0,.15);box-shadow:0 0 0 3px rgba(206,5,0,.35)}
#page .pages a,#page .pages strong{margin-right:.4rem}
#page .viewport{overflow:auto;max-height:70rem}
.count{font-size:1.1rem}
td.choix select{min-width:13rem}
td.motifs p.question{margin:.3rem 0 0;padding:.2rem .5rem;border-left:3px solid #b34000;background:#fff4f3}
main button:not([class]){background:#000091;color:#fff;padding:.4rem 1rem;margin:.3rem 0}
main input:not([class]):not([type=hidden]):not([type=checkbox]),main select:not([class]),main textarea:not([class]){border:1px solid #3a3a3a;padding:.3rem;background:#eee;border-radius:.25rem .25rem 0 0}
";

/// A page with no one signed in (log-in, errors): the DSFR shell ([`crate::ui`]) around
/// `body`, the content of its `main`.
fn bare(title: &str, body: Markup) -> Markup {
    bare_with_head(title, html! {}, body)
}

fn bare_with_head(title: &str, head: Markup, body: Markup) -> Markup {
    crate::ui::render(crate::ui::Page { title, viewer: None, current: None, head: html! { (head) (crate::ui::style(STYLE)) }, content: body })
}

fn page(caller: &Caller, title: &str, content: Markup) -> Html<String> {
    let current = match title {
        "File de revue" => Some("/console"),
        "Recherche dans les archives" => Some("/console/search"),
        "Tableau de bord de la campagne" => Some("/console/tableau-de-bord"),
        _ => None,
    };
    let viewer = crate::ui::Viewer { principal: &caller.0, csrf: caller.csrf() };
    Html(
        crate::ui::render(crate::ui::Page { title, viewer: Some(viewer), current, head: crate::ui::style(STYLE), content: html! { h1 { (title) } (content) } })
            .into_string(),
    )
}

/// The hidden field every console form posts its session's CSRF token in (checked by
/// [`crate::guard`]).
fn csrf_input(caller: &Caller) -> Markup {
    html! { input type="hidden" name=(crate::guard::CSRF_FIELD) value=(caller.csrf()); }
}

/// The region a FINESS belongs to, for display.
fn region_label(finess: &str) -> &'static str {
    caregate_schemas::region_of_finess(finess).unwrap_or("?")
}

/// A code as a controller reads it: its French label, the explanation on hover, and the
/// code itself small beside it (what filters and the API use).
fn code_label(code: FindingCode) -> Markup {
    html! { span.code-label title=(code.explanation()) { (code.label()) " " small { code { (code) } } } }
}

fn kind_label(kind: Option<caregate_schemas::Kind>) -> Markup {
    html! { @match kind { Some(k) => { (k.label_fr()) " " small { code { (k.as_str()) } } }, None => "?" } }
}

fn scan_fr(r: caregate_schemas::ScanResult) -> &'static str {
    match r {
        caregate_schemas::ScanResult::Clean => "aucun virus détecté",
        caregate_schemas::ScanResult::Infected => "infecté",
        caregate_schemas::ScanResult::Incomplete => "analyse incomplète",
    }
}

/// A PDF date (`D:20240612143000+02'00'`) as people read it; as written when it is not one.
fn pdf_date_fr(raw: &str) -> String {
    let digits: String = raw.trim_start_matches("D:").chars().take_while(char::is_ascii_digit).collect();
    match chrono::NaiveDateTime::parse_from_str(&format!("{:0<14}", digits), "%Y%m%d%H%M%S") {
        Ok(t) if digits.len() >= 8 => t.format("%d/%m/%Y %H:%M").to_string(),
        _ => raw.to_owned(),
    }
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%d/%m/%Y %H:%M").to_string()
}

/// The findings, each pointer to a field located on a page linked to the page view.
fn findings_table(findings: &[Finding], located: Option<(&EvidenceRecord, &BTreeMap<String, Location>)>) -> Markup {
    html! {
        @if findings.is_empty() { p { "Aucune observation." } } @else {
            table.findings {
                tr { th { "Observation" } th { "Gravité" } th { "Explication" } th { "Détail" } th { "Emplacement" } }
                @for f in findings {
                    tr {
                        td { (code_label(f.code)) } td { (f.severity.label_fr()) }
                        td { (f.code.explanation()) }
                        td { (f.message) }
                        td { @if let Some(p) = &f.pointer {
                            @match located.filter(|(_, l)| matches!(l.get(p), Some(Location::Page { .. }))) {
                                Some((rec, _)) => a href={ "/console/evidence/" (rec.evidence_id) "?champ=" (p) "#page" } { code { (p) } },
                                None => code { (p) },
                            }
                        } }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------- login

#[derive(Deserialize)]
struct LoginForm {
    name: String,
    password: String,
}

fn login_form(providers: &[OidcProvider], error: Option<&str>) -> Html<String> {
    Html(
        bare(
            "Connexion",
            html! {
                div.connexion {
                    h1 { "Connexion à la console" }
                    @if let Some(e) = error { p.error role="alert" { (e) } }
                    @if !providers.is_empty() {
                        // Links, not forms: the provider is another origin, which the
                        // pages' `form-action 'self'` would refuse to be redirected to.
                        ul.providers {
                            @for p in providers {
                                li { a.provider href={ "/console/oidc/" (p.name) } { "Se connecter avec " (p.label) } }
                            }
                        }
                        p { "ou avec un compte local :" }
                    }
                    form method="post" action="/console/login" {
                        div.fr-input-group { label.fr-label for="identifiant" { "Identifiant" } input.fr-input #identifiant name="name" autocomplete="username" required; }
                        div.fr-input-group { label.fr-label for="mot-de-passe" { "Mot de passe" } input.fr-input #mot-de-passe name="password" type="password" autocomplete="current-password" required; }
                        button.fr-btn type="submit" { "Se connecter" }
                    }
                }
            },
        )
        .into_string(),
    )
}

async fn login_page(State(st): State<AppState>) -> Html<String> {
    login_form(&st.http.auth.oidc, None)
}

/// The console session's cookie: the same for a local log-in and an OpenID sign-in.
fn session_cookie(st: &AppState, token: String) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, token))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(st.http.auth.secure_cookies.unwrap_or(true))
        .path("/")
        // No Max-Age: the cookie dies with the browser; the server ends the session
        // after `session_hours` regardless.
        .build()
}

async fn login(
    State(st): State<AppState>,
    jar: CookieJar,
    headers: axum::http::HeaderMap,
    axum::Extension(peer): axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let accounts = st.accounts.clone();
    let cfg = &st.http.auth;
    let name = form.name.trim();
    let address = client_address(&st, &headers, peer.0);
    // Counted before the password is looked at: simultaneous guesses see each other.
    if let Err(throttled) = st.logins.attempt(name, &address).await? {
        let minutes = (throttled.until - Utc::now()).num_minutes().max(0) + 1;
        tracing::warn!(account = name, %address, why = throttled.why, until = %throttled.until, "log-in throttled");
        let message = format!(
            "{}. Réessayez dans {minutes} minute{} (après {} UTC). Si ce n'était pas vous, prévenez votre administrateur.",
            throttled.why,
            if minutes > 1 { "s" } else { "" },
            throttled.until.format("%H:%M")
        );
        let page = login_form(&st.http.auth.oidc, Some(&message));
        let retry = (minutes * 60).to_string();
        return Ok((StatusCode::TOO_MANY_REQUESTS, [(axum::http::header::RETRY_AFTER, retry)], page).into_response());
    }
    match auth::log_in(&accounts, name, &form.password, cfg.session_hours).await {
        Ok(Some((account, token, _))) => {
            st.logins.succeeded(name, &address).await?;
            Ok((jar.add(session_cookie(&st, token)), Redirect::to(crate::ui::home(account.role))).into_response())
        }
        Ok(None) => Ok((StatusCode::UNAUTHORIZED, login_form(&st.http.auth.oidc, Some("Identifiant ou mot de passe incorrect."))).into_response()),
        Err(auth::AuthError::Storage(e)) => Err(e.into()),
        Err(e) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()).into()),
    }
}

/// The client's address: the connection's peer, or the last entry of the reverse
/// proxy's header when one is configured (the entry that proxy wrote itself).
fn client_address(st: &AppState, headers: &axum::http::HeaderMap, peer: std::net::SocketAddr) -> String {
    st.http
        .client_address_header
        .as_deref()
        .and_then(|h| headers.get_all(h).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).map(str::trim).rfind(|v| !v.is_empty()))
        .map_or_else(|| peer.ip().to_string(), str::to_owned)
}

async fn logout(State(st): State<AppState>, jar: CookieJar) -> Result<Response, PageError> {
    if let Some(c) = jar.get(SESSION_COOKIE) {
        st.accounts.revoke_credential(&auth::token_digest(c.value())).await?;
    }
    Ok((jar.remove(Cookie::build(SESSION_COOKIE).path("/")), Redirect::to("/console/login")).into_response())
}

// ---------------------------------------------------------------- OpenID sign-in

/// What a sign-in started keeps in the browser until the provider sends the person
/// back ([`oidc::Pending`]).
const PENDING_COOKIE: &str = "caregate_oidc";

/// The pending sign-in's cookie. `SameSite=Lax`, not `Strict`: the provider's redirect
/// back is a navigation from another site, which must carry it; only to the callbacks,
/// and for ten minutes.
fn pending_cookie(st: &AppState, value: String) -> Cookie<'static> {
    Cookie::build((PENDING_COOKIE, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(st.http.auth.secure_cookies.unwrap_or(true))
        .path("/console/oidc")
        .max_age(time::Duration::minutes(10))
        .build()
}

/// A refused sign-in: said on the log-in page, logged with its reason.
fn refused(st: &AppState, provider: &OidcProvider, e: &oidc::SignInError) -> Response {
    tracing::warn!(provider = %provider.name, issuer = %provider.issuer, reason = e.reason(), detail = %e, "OpenID sign-in refused");
    let page = login_form(&st.http.auth.oidc, Some(&e.message_fr(&provider.label)));
    if e.status() == StatusCode::SERVICE_UNAVAILABLE {
        return (StatusCode::SERVICE_UNAVAILABLE, [(axum::http::header::RETRY_AFTER, "30")], page).into_response();
    }
    (e.status(), page).into_response()
}

fn unknown_provider(name: &str) -> PageError {
    ApiError::not_found(format!("le fournisseur d'identité {name:?}")).into()
}

/// The button: off to the provider, with a fresh state, nonce and PKCE challenge.
async fn oidc_start(State(st): State<AppState>, jar: CookieJar, Path(name): Path<String>) -> Result<Response, PageError> {
    let provider = st.http.auth.provider(&name).ok_or_else(|| unknown_provider(&name))?;
    match oidc::start(provider).await {
        Ok((url, pending)) => Ok((jar.add(pending_cookie(&st, pending.encode())), Redirect::to(url.as_str())).into_response()),
        Err(e) => Ok(refused(&st, provider, &e)),
    }
}

/// The provider sends the person back here: checked, mapped to a role, and given the
/// same console session as a local log-in.
async fn oidc_callback(
    State(st): State<AppState>,
    jar: CookieJar,
    Path(name): Path<String>,
    Query(answer): Query<oidc::Callback>,
) -> Result<Response, PageError> {
    let provider = st.http.auth.provider(&name).ok_or_else(|| unknown_provider(&name))?;
    let pending = jar.get(PENDING_COOKIE).and_then(|c| oidc::Pending::decode(c.value()));
    // Used once, whatever comes of it.
    let jar = jar.remove(Cookie::build(PENDING_COOKIE).path("/console/oidc"));
    let identity = match oidc::finish(provider, pending, &answer).await {
        Ok(identity) => identity,
        Err(e) => return Ok((jar, refused(&st, provider, &e)).into_response()),
    };
    let opened = match provider.map(&identity.claims) {
        Ok((role, scope)) => {
            let account = caregate_storage::Account {
                name: format!("{}:{}", provider.name, identity.subject),
                display_name: provider.display_name(&identity.claims),
                role,
                scope,
                password_hash: None,
                disabled: false,
                federated: Some(caregate_storage::FederatedIdentity { issuer: identity.issuer.clone(), subject: identity.subject.clone() }),
                email: provider.email(&identity.claims),
            };
            auth::open_federated_session(&st.accounts, &account, st.http.auth.session_hours).await
        }
        Err(why) => Err(auth::AuthError::SignIn(oidc::SignInError::Unmapped(why))),
    };
    match opened {
        Ok((account, token)) => {
            tracing::info!(provider = %provider.name, subject = %identity.subject, account = %account.name, role = %account.role, "OpenID sign-in");
            // A page rather than a redirect: the session cookie is `SameSite=Strict`, and
            // a browser does not send it on a redirect chain another site started; the
            // page's own move to the console is caregate's.
            let page = bare_with_head(
                "Connexion réussie",
                html! { meta http-equiv="refresh" content="0;url=/console"; },
                html! {
                    div.connexion {
                        h1 { "Connexion réussie" }
                        p { "Bonjour " (account.display_name) ". " a #continue href="/console" { "Continuer vers la console" } }
                    }
                },
            );
            Ok((jar.add(session_cookie(&st, token)), Html(page.into_string())).into_response())
        }
        Err(auth::AuthError::SignIn(e)) => {
            tracing::warn!(subject = %identity.subject, "OpenID sign-in refused for this subject");
            Ok((jar, refused(&st, provider, &e)).into_response())
        }
        Err(auth::AuthError::Storage(e)) => Err(e.into()),
        Err(e) => Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()).into()),
    }
}

// ---------------------------------------------------------------- queue, dossier, dashboard

// Beside this file rather than in a `console/` directory: the page shell above is being
// changed on another branch, and the two must merge.
#[path = "dashboard.rs"]
mod dashboard;
#[path = "dossier.rs"]
mod dossier;
#[path = "console_queue.rs"]
mod queue;

fn evidence_list(records: &[EvidenceRecord], current: Option<caregate_schemas::EvidenceId>) -> Markup {
    html! {
        table.evidence {
            tr { th { "Fichier" } th { "Type" } th { "Statut" } th { "Observations" } }
            @for r in records.iter().filter(|r| Some(r.evidence_id) != current) {
                tr {
                    td { a href={ "/console/evidence/" (r.evidence_id) } { (r.path) } }
                    td { (kind_label(r.kind)) }
                    td { (Status::label_fr(r.status)) }
                    td { @for f in &r.findings { (code_label(f.code)) br; } }
                }
            }
        }
    }
}

// ---------------------------------------------------------------- evidence

/// Characters of extracted text shown on the evidence page.
const PREVIEW_CHARS: usize = 4000;

/// Which page of an evidence to show, and which field to point at.
#[derive(Deserialize, Default)]
struct PageView {
    page: Option<u32>,
    champ: Option<String>,
}

async fn evidence_page(State(st): State<AppState>, caller: Caller, Path(id): Path<String>, Query(view): Query<PageView>) -> Result<Html<String>, PageError> {
    let rec = http::record_for(&st, &caller, Action::Review, &id).await?;
    caller.may(Action::ReadFile, Some(&rec.submission.establishment))?;
    let text = if rec.status == Status::Infected {
        None
    } else {
        Some(crate::retrieval::read_text(st.index.as_ref(), &rec, &caller.actor()).await.map_err(ApiError::from)?)
    };
    let others = st.index.submission(rec.submission.submission_id).await?;
    let signatures = rec.fields.document.as_ref().map_or(&[][..], |d| d.signatures.as_slice());
    let locations = rec.fields.invoice().map(|i| &i.locations).filter(|l| !l.is_empty());
    let text_or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".to_owned());
    let content = html! {
        table #metadata {
            tr { th { "Fichier" } td { (rec.path) } }
            tr { th { "Dossier" } td { a href={ "/console/submissions/" (rec.submission.submission_id) } { (rec.submission.submission_id) } } }
            tr { th { "FINESS" } td { (rec.submission.establishment) " (" (region_label(&rec.submission.establishment)) ")" } }
            tr { th { "Objectifs revendiqués" } td { (rec.submission.objectives.join(", ")) } }
            tr { th { "Statut" } td #status { (Status::label_fr(rec.status)) } }
            tr { th { "Type de pièce" } td { (kind_label(rec.kind)) @if let Some(c) = rec.confidence { " (confiance " (format!("{c:.2}")) ")" } } }
            tr { th { "Format détecté" } td { (rec.media_type.as_deref().unwrap_or("?")) } }
            tr { th { "Taille" } td { (rec.size) " octets" } }
            tr { th { "SHA-256" } td { code { (rec.sha256.hex()) } } }
            tr { th { "Reçu le" } td { (when(rec.received_at)) } }
            tr { th { "Conservé jusqu'au" } td { (rec.retain_until.map(|t| t.format("%d/%m/%Y").to_string()).unwrap_or_else(|| "—".into())) } }
        }
        h2 { "Analyse antivirus" }
        @match &rec.scan {
            Some(s) => p { (s.engine) " : " strong { (scan_fr(s.result)) } @if let Some(sig) = &s.signature { " — " code { (sig) } } " (" (when(s.scanned_at)) ")" },
            None => p { "Pas encore analysé." },
        }
        h2 { "Observations" }
        (findings_table(&rec.findings, locations.map(|l| (&rec, l))))
        @if let Some(pages) = viewable_pages(&rec) {
            (page_view(&rec, pages, locations, &view))
        }
        @if !signatures.is_empty() {
            h2 { "Signatures électroniques" }
            table #signatures {
                tr {
                    th { "Signataire (certificat)" } th { "Signé le" } th { "Résultat" } th { "Chaîne de certification" } th { "Date prouvée par" }
                    th { "Niveau PAdES" } th { "Modifications après signature" } th { "Révocation" } th { "SubFilter" }
                }
                @for (i, s) in signatures.iter().enumerate() {
                    // Its id: where a reason about this signature points (the dossier page).
                    tr.signature id={ "signature-" (i + 1) } {
                        td { (text_or_dash(&s.signer_subject)) } td { (pdf_date_fr(&text_or_dash(&s.signed_at))) }
                        @match &s.validation {
                            Some(v) => {
                                td.indication {
                                    strong { (v.indication.label_fr()) } " " code { (serde_json::to_value(v.indication).ok().and_then(|j| j.as_str().map(str::to_owned)).unwrap_or_default()) }
                                    @if let Some(sub) = v.sub_indication { br; (sub.label_fr()) " " code { (sub.code()) } }
                                }
                                td.chain {
                                    @for (i, subject) in v.chain.iter().enumerate() { @if i > 0 { " → " } (subject) }
                                    br; @if v.trusted { "reconnue (" (v.trust_anchors) " autorité(s) de confiance configurée(s))" } @else { "non reconnue (" (v.trust_anchors) " autorité(s) de confiance configurée(s))" }
                                }
                                td.time-source {
                                    @match v.time_source {
                                        caregate_schemas::extracted::TimeSource::Timestamp => { "horodatage" @if let Some(t) = v.timestamp.as_ref().and_then(|t| t.time) { " du " (when(t)) } }
                                        caregate_schemas::extracted::TimeSource::Claimed => "déclaration du signataire (non prouvée)",
                                        caregate_schemas::extracted::TimeSource::Unknown => "rien",
                                    }
                                }
                                td.pades { (v.pades_level.and_then(|l| serde_json::to_value(l).ok()).and_then(|j| j.as_str().map(str::to_owned)).unwrap_or_else(|| "—".into())) }
                                td.modification { (v.modification_level.label_fr()) @if !v.modifications_permitted { " — " strong { "non permises" } } }
                                td.revocation {
                                    @match v.revocation {
                                        caregate_schemas::extracted::RevocationStatus::Good => "vérifiée (non révoqué)",
                                        caregate_schemas::extracted::RevocationStatus::Revoked => {
                                            strong { "révoqué" } @if let Some(t) = v.revoked_at { " le " (when(t)) }
                                            @if v.indication == caregate_schemas::extracted::Indication::TotalPassed { " — signature horodatée avant la révocation" }
                                        }
                                        caregate_schemas::extracted::RevocationStatus::NotChecked => "non vérifiée (aucune donnée dans le fichier)",
                                    }
                                }
                            }
                            None => { td colspan="6" { "Non validée (pièce lue avant la validation des signatures : " code { "caregate signatures" } ")" } }
                        }
                        td { (text_or_dash(&s.sub_filter)) }
                    }
                }
            }
        }
        h2 { "Données extraites" }
        (crate::fields_fr::fields_tables(&rec))
        h2 { "Texte (aperçu)" }
        @match &text {
            Some(t) if !t.is_empty() => pre #text { (t.chars().take(PREVIEW_CHARS).collect::<String>()) @if t.chars().count() > PREVIEW_CHARS { "\n[…]" } },
            Some(_) => p { "Aucun texte extrait." },
            None => p { "Fichier infecté : jamais lu." },
        }
        @if rec.object_key.is_some() {
            p { a #download href={ "/api/evidence/" (rec.evidence_id) "/content" } { "Télécharger le fichier" } " (les octets sont vérifiés contre leur SHA-256 avant l'envoi)" }
        }
        h2 { "Autres pièces du dossier" }
        (evidence_list(&others, Some(rec.evidence_id)))
    };
    Ok(page(&caller, &rec.path, content))
}

// ---------------------------------------------------------------- page view

/// Pages a person may see rendered: a PDF kept in the evidence store.
fn viewable_pages(rec: &EvidenceRecord) -> Option<u32> {
    let pdf = rec.media_type.as_deref() == Some("application/pdf");
    let pages = rec.fields.document.as_ref().map(|d| d.pages as u32).filter(|&n| n > 0)?;
    (pdf && rec.object_key.is_some() && rec.status != Status::Infected).then_some(pages)
}

/// One page of the file, rendered by the server, with the box of every field read on
/// it; the field asked for (`champ`), and every field a finding points at, stand out.
fn page_view(rec: &EvidenceRecord, pages: u32, locations: Option<&BTreeMap<String, Location>>, view: &PageView) -> Markup {
    let boxes: Vec<(&str, u32, [f32; 4])> = locations
        .into_iter()
        .flatten()
        .filter_map(|(field, l)| match *l {
            Location::Page { page, x0, y0, x1, y1 } => {
                Some((field.as_str(), page, [x0, y0, x1, y1].map(|v| v as f32 * caregate_extract::render::PIXELS_PER_POINT)))
            }
            Location::Xml { .. } => None,
        })
        .collect();
    let asked = view.champ.as_deref();
    let flagged = |field: &str| asked == Some(field) || rec.findings.iter().any(|f| f.pointer.as_deref() == Some(field));
    let shown = view
        .page
        .or_else(|| asked.and_then(|a| boxes.iter().find(|b| b.0 == a)).map(|b| b.1))
        .or_else(|| boxes.iter().find(|b| flagged(b.0)).map(|b| b.1))
        .unwrap_or(1)
        .clamp(1, pages);
    let link = |n: u32| format!("/console/evidence/{}?page={n}{}#page", rec.evidence_id, asked.map(|a| format!("&champ={a}")).unwrap_or_default());
    html! {
        section #page {
            h2 { "Page " (shown) " sur " (pages) }
            @if pages > 1 {
                p.pages { "Pages : "
                    @for n in 1..=pages.min(200) { @if n == shown { strong { (n) } } @else { a href=(link(n)) { (n) } } }
                }
            }
            @if !boxes.is_empty() { p { "Encadré : où chaque donnée de la facture a été lue" @if asked.is_some() || boxes.iter().any(|b| flagged(b.0)) { " ; en rouge, celle qui est signalée" } "." } }
            div.viewport {
                div.sheet {
                    img alt={ "Page " (shown) } src={ "/console/evidence/" (rec.evidence_id) "/pages/" (shown) };
                    @for (field, _, [x0, y0, x1, y1]) in boxes.iter().filter(|b| b.1 == shown) {
                        a.champ.signale[flagged(field)] data-champ=(field) title=(field_label(field)) href={ "/console/evidence/" (rec.evidence_id) "?champ=" (field) "#page" }
                            style=(format!("left:{x0:.0}px;top:{y0:.0}px;width:{:.0}px;height:{:.0}px", (x1 - x0).max(4.0), (y1 - y0).max(4.0))) {}
                    }
                }
            }
        }
    }
}

/// A field's name as a controller reads it (the names of the dossier page's reasons).
fn field_label(field: &str) -> String {
    format!("{} ({field})", crate::fields_fr::field_fr(field))
}

/// The page image: the stored bytes read back through the checked read (an audited
/// read, as a download), rendered by poppler in the sandbox.
async fn page_image(State(st): State<AppState>, caller: Caller, Path((id, page)): Path<(String, u32)>) -> Result<Response, PageError> {
    let rec = http::record_for(&st, &caller, Action::Review, &id).await?;
    caller.may(Action::ReadFile, Some(&rec.submission.establishment))?;
    let pages = viewable_pages(&rec).ok_or_else(|| ApiError::not_found("une page à montrer de ce fichier"))?;
    if page == 0 || page > pages {
        return Err(ApiError::not_found(format!("la page {page} (le fichier en a {pages})")).into());
    }
    let detail = serde_json::json!({"page": page});
    let spool = crate::retrieval::read_for_view(st.evidence.as_ref(), st.index.as_ref(), &rec, &caller.actor(), st.intake.spool_dir(), "console_page", detail)
        .await
        .map_err(ApiError::from)?;
    let rendered = tokio::task::spawn_blocking(move || caregate_extract::render::pdf_page(spool.path(), page))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    match rendered {
        Ok(png) => Ok(([(axum::http::header::CONTENT_TYPE, "image/png"), (axum::http::header::CACHE_CONTROL, "private, max-age=300")], png).into_response()),
        // A file poppler cannot draw is a property of the file, not an outage or a bug.
        Err(e) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "page_unrenderable", format!("la page {page} n'a pas pu être affichée : {e}")).into()),
    }
}

// ---------------------------------------------------------------- search

async fn search_page(State(st): State<AppState>, caller: Caller, Query(params): Query<SearchParams>) -> Result<Html<String>, PageError> {
    caller.may(Action::Search, None)?;
    let asked =
        [&params.finess, &params.siren, &params.siret, &params.invoice, &params.objective, &params.kind, &params.status, &params.from, &params.to, &params.q]
            .iter()
            .any(|v| given(v).is_some());
    let results = if asked {
        let q = params.to_query(&caller.0)?;
        Some(st.index.search(&q).await?.into_iter().filter(|r| caller.0.covers(&r.submission.establishment)).collect::<Vec<_>>())
    } else {
        None
    };
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let content = html! {
        form.filters method="get" action="/console/search" {
            label { "Texte" input name="q" value=(value(&params.q)) size="24"; }
            label { "FINESS" input name="finess" value=(value(&params.finess)) size="10"; }
            label { "SIREN" input name="siren" value=(value(&params.siren)) size="10"; }
            label { "SIRET" input name="siret" value=(value(&params.siret)) size="14"; }
            label { "N° de facture" input name="invoice" value=(value(&params.invoice)) size="12"; }
            label { "Objectif" input name="objective" value=(value(&params.objective)) size="12"; }
            label { "Type" input name="kind" value=(value(&params.kind)) size="12"; }
            label { "Statut" select name="status" {
                option value="" { "Tous" }
                @for s in [Status::Stored, Status::NeedsReview, Status::Infected, Status::Failed] { option value=(s.as_str()) selected[given(&params.status) == Some(s.as_str())] { (Status::label_fr(s)) } }
            } }
            (queue::date_field("from", "Reçu du", given(&params.from).and_then(|d| http::parse_day("from", d).ok())))
            (queue::date_field("to", "au", given(&params.to).and_then(|d| http::parse_day("to", d).ok())))
            button type="submit" { "Rechercher" }
        }
        @if let Some(results) = &results {
            p.count { strong #result-count { (results.len()) } " résultat(s)." }
            table #results {
                tr { th { "Reçu le" } th { "FINESS" } th { "Fichier" } th { "Type" } th { "Statut" } th { "SHA-256" } }
                @for r in results {
                    tr {
                        td { (when(r.received_at)) } td { (r.submission.establishment) }
                        td { a href={ "/console/evidence/" (r.evidence_id) } { (r.path) } }
                        td { (kind_label(r.kind)) } td { (Status::label_fr(r.status)) } td { code { (&r.sha256.hex()[..16]) "…" } }
                    }
                }
            }
        }
    };
    Ok(page(&caller, "Recherche dans les archives", content))
}
