//! The establishments' space (`/espace`, role `submitter`, scoped to its establishments):
//! its dossiers per campaign, each objective's verdict with what the machine saw and what
//! to do, uploads (drag and drop of files or a folder, progress per file, resumed after a
//! cut connection, files already held never sent again), replacing or withdrawing a file,
//! and answering a controller's request for information.
//!
//! The same session, CSRF and authorisation as the console ([`Caller::may`]); uploads go
//! through the API's own intake (`/api/evidence`, with the idempotency keys `caregate
//! submit` sends), so a file sent from the browser is the same record as one sent by the
//! command line. Without a script, a plain form posts the files in one request
//! ([`PLAIN_UPLOAD`]).

use std::collections::{BTreeMap, HashSet};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use caregate_schemas::{Answer, Decision, DecisionKind, EvidenceId, EvidenceRecord, Scope, Status, SubmissionId, Verdict, Verification, Withdrawal};
use caregate_storage::SearchQuery;
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use serde::Deserialize;

use crate::auth::{Action, Caller};
use crate::error::ApiError;
use crate::review::{self, ReviewError};
use crate::state::AppState;
use crate::ui;

/// Where the plain upload form (no script) posts; [`crate::guard`] lets its multipart
/// body through to [`crate::http::receive_form_upload`], which checks its token first.
pub const PLAIN_UPLOAD: &str = "/espace/depot";

/// The space's script: uploads with progress, resumption and idempotency keys, and the
/// verdicts brought up to date while the page is open. The pages work without it.
const SCRIPT: &str = include_str!("espace.js");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/espace", get(home))
        .route("/espace/nouveau", get(new_dossier))
        .route("/espace/depot.js", get(script))
        .route(PLAIN_UPLOAD, post(plain_upload))
        .route("/espace/dossiers/{id}", get(dossier_page))
        .route("/espace/dossiers/{id}/verdicts", get(verdicts_fragment))
        .route("/espace/dossiers/{id}/recus", get(held_files))
        .route("/espace/dossiers/{id}/reponses", post(answer))
        .route("/espace/pieces/{id}/remplacer", get(replace_page))
        .route("/espace/pieces/{id}/retrait", post(withdraw))
}

// ---------------------------------------------------------------- errors

/// An error as a page of the space, in French.
struct PageError(ApiError);

macro_rules! page_error_from {
    ($($t:ty),+) => {$(
        impl From<$t> for PageError {
            fn from(e: $t) -> Self {
                PageError(e.into())
            }
        }
    )+};
}
page_error_from!(ApiError, crate::auth::Denied, ReviewError, caregate_storage::StorageError, crate::intake::IntakeError);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let title = match status {
            StatusCode::FORBIDDEN => "Accès refusé",
            StatusCode::NOT_FOUND => "Introuvable",
            s if s.is_client_error() => "Demande refusée",
            StatusCode::SERVICE_UNAVAILABLE => "Service momentanément indisponible",
            _ => "Erreur",
        };
        let (_, said, _) = self.0.public();
        let body = ui::render(ui::Page {
            title,
            viewer: None,
            current: None,
            head: html! {},
            content: html! {
                h1 { (title) }
                div."fr-alert"."fr-alert--error"."fr-mb-3w" { p #erreur { (said.message) } }
                p { a.fr-link href="/espace" { "Retour à mes dossiers" } }
            },
        });
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
            return (status, [(header::RETRY_AFTER, "5")], Html(body.into_string())).into_response();
        }
        (status, Html(body.into_string())).into_response()
    }
}

/// The space is the submitters' (an establishment's people).
fn submitter(caller: &Caller) -> Result<(), PageError> {
    caller.may(Action::Upload, None)?;
    Ok(())
}

fn page(caller: &Caller, title: &str, content: Markup) -> Html<String> {
    Html(
        ui::render(ui::Page {
            title,
            viewer: Some(ui::Viewer { principal: &caller.0, csrf: caller.csrf() }),
            current: Some("/espace"),
            head: html! { script type="module" src="/espace/depot.js" {} (ui::style(STYLE)) },
            content,
        })
        .into_string(),
    )
}

const STYLE: &str = "
.zone-depot{border:2px dashed #6a6af4;padding:1.5rem;text-align:center;margin-bottom:1rem}
.zone-depot.survol{background:#e3e3fd}
.fichiers progress{width:10rem}
";

fn when(t: DateTime<Utc>) -> String {
    t.format("%d/%m/%Y à %H:%M").to_string()
}

/// A verdict as a DSFR badge.
fn badge(v: Verdict) -> Markup {
    let kind = match v {
        Verdict::Met => "fr-badge--success",
        Verdict::NeedsReview => "fr-badge--warning",
        Verdict::NotMet => "fr-badge--error",
    };
    html! { span class={ "fr-badge " (kind) } data-verdict=(v.as_str()) { (v.label_fr()) } }
}

/// The establishments a submitter speaks for.
fn establishments(caller: &Caller) -> Vec<String> {
    match &caller.0.scope {
        Scope::Establishments(list) => list.clone(),
        // A submitter is always scoped to establishments (see `Role::accepts`).
        Scope::National | Scope::Regions(_) => Vec::new(),
    }
}

// ---------------------------------------------------------------- dossiers

/// One dossier of the establishment, as listed.
struct Listed {
    submission_id: SubmissionId,
    establishment: String,
    campaign: String,
    files: usize,
    last: DateTime<Utc>,
    verdict: Option<Verification>,
}

async fn home(State(st): State<AppState>, caller: Caller) -> Result<Html<String>, PageError> {
    submitter(&caller)?;
    let mine = establishments(&caller);
    let mut dossiers: BTreeMap<SubmissionId, Listed> = BTreeMap::new();
    for finess in &mine {
        caller.may(Action::ReadRecords, Some(finess))?;
        let records = st.index.search(&SearchQuery { establishment: Some(finess.clone()), limit: 10_000, ..Default::default() }).await?;
        for r in records {
            let d = dossiers.entry(r.submission.submission_id).or_insert_with(|| Listed {
                submission_id: r.submission.submission_id,
                establishment: r.submission.establishment.clone(),
                campaign: r.submission.campaign.clone(),
                files: 0,
                last: r.received_at,
                verdict: None,
            });
            d.files += 1;
            d.last = d.last.max(r.received_at);
        }
    }
    for d in dossiers.values_mut() {
        if let Some(v) = st.index.verification(d.submission_id).await? {
            d.verdict = Some(v.with_decisions(&st.index.decisions(d.submission_id).await?));
        }
    }
    let mut per_campaign: BTreeMap<&str, Vec<&Listed>> = BTreeMap::new();
    for d in dossiers.values() {
        per_campaign.entry(d.campaign.as_str()).or_default().push(d);
    }
    let campaigns: Vec<String> = st.intake.referentials().campaigns().map(str::to_owned).collect();
    let content = html! {
        h1 { "Mes dossiers" }
        p { "Établissement(s) : " @for (i, f) in mine.iter().enumerate() { @if i > 0 { ", " } strong { (f) } } "." }
        @if per_campaign.is_empty() { p #aucun-dossier { "Aucun dossier pour l'instant : commencez par en créer un." } }
        @for (campaign, list) in &per_campaign {
            h2 { "Campagne " (campaign) }
            div.fr-table { table #dossiers {
                caption { "Dossiers de la campagne " (campaign) }
                thead { tr { th scope="col" { "Dossier" } th scope="col" { "FINESS" } th scope="col" { "Pièces" } th scope="col" { "Dernier dépôt" } th scope="col" { "Verdict" } } }
                tbody {
                    @for d in list {
                        tr {
                            td { a.fr-link href={ "/espace/dossiers/" (d.submission_id) } { "Dossier du " (when(d.last)) } }
                            td { (d.establishment) }
                            td { (d.files) }
                            td { (when(d.last)) }
                            td { @match &d.verdict { Some(v) => (badge(v.verdict)), None => "en cours de vérification" } }
                        }
                    }
                }
            } }
        }
        h2 { "Nouveau dossier" }
        form method="get" action="/espace/nouveau" #nouveau {
            div.fr-select-group {
                label.fr-label for="nouveau-finess" { "Établissement (FINESS)" }
                select.fr-select #nouveau-finess name="establishment" { @for f in &mine { option value=(f) { (f) } } }
            }
            div.fr-select-group {
                label.fr-label for="nouveau-campagne" { "Campagne" }
                select.fr-select #nouveau-campagne name="campaign" { @for c in &campaigns { option value=(c) { (c) } } }
            }
            button.fr-btn type="submit" { "Créer le dossier" }
        }
    };
    Ok(page(&caller, "Mes dossiers", content))
}

#[derive(Deserialize)]
struct NewDossier {
    establishment: String,
    campaign: String,
}

/// A dossier not made yet: the upload form, for a fresh id; the dossier exists from its
/// first file on.
async fn new_dossier(State(st): State<AppState>, caller: Caller, Query(q): Query<NewDossier>) -> Result<Html<String>, PageError> {
    submitter(&caller)?;
    crate::intake::validate_finess(&q.establishment)?;
    caller.may(Action::Upload, Some(&q.establishment))?;
    let referential = st
        .intake
        .referentials()
        .for_campaign(&q.campaign)
        .ok_or_else(|| ApiError::bad_request("unknown_value", format!("campagne inconnue : {:?}", q.campaign)))?;
    let id = SubmissionId::new();
    let objectives: Vec<(String, String)> = referential.objectives.iter().map(|o| (o.id.clone(), o.title.clone())).collect();
    let content = html! {
        h1 { "Nouveau dossier — campagne " (q.campaign) }
        p { "Établissement " strong { (q.establishment) } ". Le dossier est créé au premier fichier reçu." }
        (upload_form(&caller, &id, &q.establishment, &q.campaign, &Objectives::Choose(&objectives), None))
    };
    Ok(page(&caller, "Nouveau dossier", content))
}

/// The objectives an upload claims: chosen (a new dossier) or those of the dossier.
enum Objectives<'a> {
    Choose(&'a [(String, String)]),
    Fixed(&'a [String]),
}

/// The upload form: works as a plain form posting every file at once; the script takes it
/// over (drop zone, one request per file with its idempotency key, progress, resumption).
fn upload_form(caller: &Caller, id: &SubmissionId, establishment: &str, campaign: &str, objectives: &Objectives<'_>, replaces: Option<EvidenceId>) -> Markup {
    let action = match replaces {
        Some(old) => format!("{PLAIN_UPLOAD}?remplace={old}"),
        None => PLAIN_UPLOAD.to_owned(),
    };
    html! {
        form #depot method="post" action=(action) enctype="multipart/form-data"
            data-submission=(id) data-remplace=[replaces.map(|r| r.to_string())] {
            // The token first: the handler checks it before reading anything else.
            input type="hidden" name=(crate::guard::CSRF_FIELD) value=(caller.csrf());
            input type="hidden" name="establishment" value=(establishment);
            input type="hidden" name="campaign" value=(campaign);
            input type="hidden" name="submission_id" value=(id);
            @match objectives {
                Objectives::Choose(list) => {
                    // The establishment is the buyer of its invoices: its SIRET, printed in
                    // their buyer block, is then never read as the seller's.
                    div.fr-input-group {
                        label.fr-label for="siret-etablissement" { "SIRET de l'établissement (facultatif)"
                            span.fr-hint-text { "14 chiffres. Imprimé sur vos factures comme celui de l'acheteur : il ne sera jamais pris pour celui d'un fournisseur." } }
                        input.fr-input #siret-etablissement type="text" name="establishment_siret" inputmode="numeric" autocomplete="off";
                    }
                    fieldset.fr-fieldset #objectifs {
                        legend.fr-fieldset__legend { "Objectifs que ces pièces prouvent" }
                        @for (oid, title) in *list {
                            div.fr-fieldset__element { div.fr-checkbox-group {
                                input type="checkbox" name="objective" value=(oid) id={ "objectif-" (oid) };
                                label.fr-label for={ "objectif-" (oid) } { (oid) " — " (title) }
                            } }
                        }
                    }
                }
                Objectives::Fixed(list) => {
                    @for o in *list { input type="hidden" name="objective" value=(o); }
                }
            }
            div.zone-depot #zone-depot {
                p { "Glissez-déposez ici vos fichiers ou un dossier entier, ou choisissez-les :" }
                div.fr-upload-group {
                    label.fr-label for="fichiers" { @if replaces.is_some() { "Fichier de remplacement" } @else { "Fichiers" }
                        span.fr-hint-text { "PDF, images, rapports (XML, JSON), archives ZIP." } }
                    input.fr-upload #fichiers type="file" name="file" multiple[replaces.is_none()];
                }
                @if replaces.is_none() {
                    div."fr-upload-group"."fr-mt-2w" {
                        label.fr-label for="repertoire" { "Ou un dossier entier" span.fr-hint-text { "Tous les fichiers du dossier et de ses sous-dossiers." } }
                        input.fr-upload #repertoire type="file" name="file" webkitdirectory multiple;
                    }
                }
            }
            div #fichiers-suivi aria-live="polite" {}
            button.fr-btn #envoyer type="submit" { @if replaces.is_some() { "Remplacer la pièce" } @else { "Envoyer les fichiers" } }
        }
    }
}

/// The dossier, once the caller is known to speak for its establishment.
async fn my_dossier(st: &AppState, caller: &Caller, id: &str) -> Result<caregate_storage::SubmissionOwner, PageError> {
    submitter(caller)?;
    Ok(review::owned_submission(st, caller, Action::ReadRecords, id).await?)
}

/// The requests for information the establishment has not answered yet: per objective,
/// the latest decision when it is a request, with no answer since. (The request stops
/// counting in the verdict once the dossier changes, see [`Decision::holds_on`], but
/// the controller still waits for the answer's words.)
fn open_requests<'a>(decisions: &'a [Decision], answers: &[Answer]) -> BTreeMap<&'a str, &'a Decision> {
    let mut latest: BTreeMap<&str, &Decision> = BTreeMap::new();
    for d in decisions {
        let e = latest.entry(d.objective.as_str()).or_insert(d);
        if d.decided_at >= e.decided_at {
            *e = d;
        }
    }
    latest.retain(|o, d| d.decision == DecisionKind::RequestInformation && !answers.iter().any(|a| a.objective == *o && a.answered_at >= d.decided_at));
    latest
}

/// Each objective's verdict, what the machine saw and what to do; the part of the page
/// the script brings up to date while it is open.
fn verdicts(caller: &Caller, v: &Verification, decisions: &[Decision], records: &[EvidenceRecord], answers: &[Answer]) -> Markup {
    let name_of = |e: &EvidenceId| records.iter().find(|r| &r.evidence_id == e).map_or_else(|| e.to_string(), |r| r.path.clone());
    let requests = open_requests(decisions, answers);
    let since = |d: &Decision| records.iter().filter(|r| r.received_at >= d.decided_at).collect::<Vec<_>>();
    html! {
        div #verdicts data-etat=(format!("{}:{}", v.conclusions_digest(), requests.len())) {
            p.fr-text--lg { "Verdict d'ensemble : " span #verdict-global { (badge(v.verdict)) } }
            @if v.pending > 0 {
                div."fr-alert"."fr-alert--info"."fr-alert--sm"."fr-mb-3w" #en-cours {
                    p { (v.pending) " pièce(s) encore en cours de vérification : les verdicts ci-dessous sont provisoires et se mettront à jour d'eux-mêmes." }
                }
            }
            @for o in &v.objectives {
                section.objectif.fr-mb-4w id={ "objectif-" (o.objective) } {
                    h3 { (o.objective) " — " (o.title) " " span.verdict-objectif { (badge(o.verdict)) } }
                    ul.constats {
                        @for r in &o.reasons {
                            li.fr-mb-1w {
                                strong { (r.code.label()) } " — "
                                "ce que la plateforme a vu : " span.constat { (r.message) }
                                @if let Some(e) = &r.evidence_id { " (pièce " em { (name_of(e)) } ")" }
                                // What to do comes from the one vocabulary (schemas), as the controllers' questions.
                                @if let Some(todo) = r.to_do() {
                                    br; span.a-faire { strong { "À faire : " } (todo) }
                                }
                            }
                        }
                    }
                    @if let Some(d) = requests.get(o.objective.as_str()) {
                        div."fr-callout".demande {
                            h4.fr-callout__title { "Un contrôleur vous demande un complément" }
                            p.fr-callout__text { "Le " (when(d.decided_at)) " : « " span.demande-texte { (d.comment) } " »" }
                            (answer_form(caller, v.submission_id, &o.objective, &since(d)))
                        }
                    }
                    @for a in answers.iter().filter(|a| a.objective == o.objective) {
                        div."fr-alert"."fr-alert--success"."fr-alert--sm"."fr-mt-2w".reponse {
                            p { "Vous avez répondu le " (when(a.answered_at)) " : « " (a.comment) " »"
                                @if !a.evidence.is_empty() { " — pièces : " @for (i, e) in a.evidence.iter().enumerate() { @if i > 0 { ", " } (name_of(e)) } } }
                        }
                    }
                }
            }
        }
    }
}

/// Answering a request: words, and the files sent since the request (ticked), or new
/// ones the script sends first.
fn answer_form(caller: &Caller, id: SubmissionId, objective: &str, since: &[&EvidenceRecord]) -> Markup {
    let slug = objective.replace('.', "-");
    html! {
        form.reponse method="post" action={ "/espace/dossiers/" (id) "/reponses" } data-submission=(id) {
            input type="hidden" name=(crate::guard::CSRF_FIELD) value=(caller.csrf());
            input type="hidden" name="objective" value=(objective);
            div.fr-input-group {
                label.fr-label for={ "reponse-" (slug) } { "Votre réponse" }
                textarea.fr-input id={ "reponse-" (slug) } name="comment" rows="3" required {}
            }
            @if !since.is_empty() {
                fieldset.fr-fieldset {
                    legend.fr-fieldset__legend--regular.fr-fieldset__legend { "Pièces jointes à la réponse (déposées depuis la demande)" }
                    @for r in since {
                        div.fr-fieldset__element { div.fr-checkbox-group {
                            input type="checkbox" name="piece" value=(r.evidence_id) id={ "piece-" (slug) "-" (r.evidence_id) } checked;
                            label.fr-label for={ "piece-" (slug) "-" (r.evidence_id) } { (r.path) }
                        } }
                    }
                }
            }
            div."fr-upload-group".joindre {
                label.fr-label for={ "joindre-" (slug) } { "Joindre de nouveaux fichiers"
                    span.fr-hint-text { "Ils sont déposés dans le dossier, puis joints à votre réponse." } }
                // No name: the script sends the files before the answer (a form of words
                // cannot carry them).
                input.fr-upload id={ "joindre-" (slug) } type="file" multiple;
            }
            div.joints aria-live="polite" {}
            noscript { p.fr-hint-text { "Sans JavaScript, déposez d'abord les fichiers avec le formulaire « Déposer des pièces » ci-dessous : ils apparaîtront ici, à cocher." } }
            button."fr-btn"."fr-btn--secondary" type="submit" { "Envoyer la réponse" }
        }
    }
}

async fn dossier_page(State(st): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, PageError> {
    let owner = my_dossier(&st, &caller, &id).await?;
    let sid = owner.submission_id;
    let records = st.index.submission(sid).await?;
    let withdrawals = st.index.withdrawals(sid).await?;
    let answers = st.index.answers(sid).await?;
    let out: HashSet<EvidenceId> = withdrawals.iter().map(|w| w.evidence_id).collect();
    let (held, gone): (Vec<&EvidenceRecord>, Vec<&EvidenceRecord>) = records.iter().partition(|r| !out.contains(&r.evidence_id));
    let judged = match review::judged(&st, &caller, Action::ReadRecords, &id).await {
        Ok((machine, decisions)) => Some((machine.with_decisions(&decisions), decisions)),
        Err(ReviewError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let mut objectives: Vec<String> = records.iter().flat_map(|r| r.submission.objectives.iter().cloned()).collect();
    objectives.sort();
    objectives.dedup();
    let name_of = |e: &EvidenceId| records.iter().find(|r| &r.evidence_id == e).map_or_else(|| e.to_string(), |r| r.path.clone());
    let content = html! {
        h1 { "Dossier " (owner.campaign) " — " (owner.establishment) }
        p.fr-hint-text { "Référence du dossier : " code #reference { (sid) } }
        h2 { "Verdicts par objectif" }
        div #zone-verdicts aria-live="polite" data-source={ "/espace/dossiers/" (sid) "/verdicts" } {
            @match &judged {
                Some((v, decisions)) => (verdicts(&caller, v, decisions, &records, &answers)),
                None => div #verdicts data-etat="aucun" { p { "Les pièces sont en cours de vérification : le verdict s'affichera ici." } },
            }
        }
        h2 { "Déposer des pièces" }
        p { "Les fichiers déjà reçus (même nom, même contenu) ne sont pas renvoyés : si la connexion est coupée, déposez de nouveau le même dossier, seuls les fichiers manquants partiront." }
        (upload_form(&caller, &sid, &owner.establishment, &owner.campaign, &Objectives::Fixed(&objectives), None))
        h2 { "Pièces du dossier" }
        div.fr-table { table #pieces {
            caption { "Pièces du dossier" }
            thead { tr { th scope="col" { "Fichier" } th scope="col" { "Reçu le" } th scope="col" { "État" } th scope="col" { "Actions" } } }
            tbody {
                @for r in &held {
                    tr data-piece=(r.evidence_id) {
                        td.nom { (r.path) }
                        td { (when(r.received_at)) }
                        td.etat { (Status::label_fr(r.status)) }
                        td {
                            ul.fr-btns-group.fr-btns-group--inline-sm.fr-btns-group--sm {
                                li { a."fr-btn"."fr-btn--secondary".remplacer href={ "/espace/pieces/" (r.evidence_id) "/remplacer" } aria-label={ "Remplacer " (r.path) } { "Remplacer" } }
                                li {
                                    form.retirer method="post" action={ "/espace/pieces/" (r.evidence_id) "/retrait" } {
                                        input type="hidden" name=(crate::guard::CSRF_FIELD) value=(caller.csrf());
                                        button."fr-btn"."fr-btn--tertiary" type="submit" aria-label={ "Retirer " (r.path) } { "Retirer" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        } }
        @if !gone.is_empty() {
            h2 { "Pièces retirées" }
            p { "Elles ne comptent plus pour le verdict, mais restent conservées (et consultables par les contrôleurs) jusqu'à la fin de leur durée de conservation." }
            div.fr-table { table #retirees {
                caption { "Pièces retirées" }
                thead { tr { th scope="col" { "Fichier" } th scope="col" { "Retirée le" } th scope="col" { "Par" } th scope="col" { "Remplacée par" } } }
                tbody {
                    @for w in &withdrawals {
                        tr { td { (name_of(&w.evidence_id)) } td { (when(w.withdrawn_at)) } td { (w.actor) } td { @match &w.replaced_by { Some(n) => (name_of(n)), None => "—" } } }
                    }
                }
            } }
        }
    };
    Ok(page(&caller, &format!("Dossier {}", owner.campaign), content).into_response())
}

/// The verdicts alone, for the script to bring the page up to date.
async fn verdicts_fragment(State(st): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, PageError> {
    let owner = my_dossier(&st, &caller, &id).await?;
    let records = st.index.submission(owner.submission_id).await?;
    let answers = st.index.answers(owner.submission_id).await?;
    let markup = match review::judged(&st, &caller, Action::ReadRecords, &id).await {
        Ok((machine, decisions)) => verdicts(&caller, &machine.with_decisions(&decisions), &decisions, &records, &answers),
        Err(ReviewError::NotFound(_)) => {
            html! { div #verdicts data-etat="aucun" { p { "Les pièces sont en cours de vérification : le verdict s'affichera ici." } } }
        }
        Err(e) => return Err(e.into()),
    };
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], markup.into_string()).into_response())
}

/// A file the dossier holds, as the script compares it with what is about to be sent.
#[derive(serde::Serialize)]
struct Held {
    path: String,
    sha256: caregate_schemas::Sha256Digest,
}

/// The files the dossier holds and counts (not those taken out of it): none yet for a
/// dossier whose first file has not come.
async fn held_files(State(st): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<axum::Json<Vec<Held>>, ApiError> {
    caller.may(Action::Upload, None)?;
    let owner = match review::owned_submission(&st, &caller, Action::ReadRecords, &id).await {
        Ok(owner) => owner,
        Err(ReviewError::NotFound(_)) => return Ok(axum::Json(Vec::new())),
        Err(e) => return Err(e.into()),
    };
    let out: HashSet<EvidenceId> = st.index.withdrawals(owner.submission_id).await?.into_iter().map(|w| w.evidence_id).collect();
    let records = st.index.submission(owner.submission_id).await?;
    Ok(axum::Json(records.into_iter().filter(|r| !out.contains(&r.evidence_id)).map(|r| Held { path: r.path, sha256: r.sha256 }).collect()))
}

async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], SCRIPT).into_response()
}

// ---------------------------------------------------------------- uploads

#[derive(Deserialize, Default)]
struct PlainUpload {
    remplace: Option<String>,
}

/// The plain form's upload (no script): every file in one request, then back to the
/// dossier. Replacing a file: the new one is received first, then the old one withdrawn.
async fn plain_upload(State(st): State<AppState>, caller: Caller, Query(q): Query<PlainUpload>, headers: HeaderMap, body: Body) -> Result<Response, PageError> {
    submitter(&caller)?;
    let old = match crate::http::given(&q.remplace) {
        Some(raw) => Some(crate::http::record_for(&st, &caller, Action::Upload, raw).await?),
        None => None,
    };
    let token = caller.csrf().to_owned();
    let (_, axum::Json(receipt)) = crate::http::receive_form_upload(st.clone(), caller.clone(), headers, body, Some(&token)).await?;
    if let Some(old) = old {
        if old.submission.submission_id != receipt.submission_id {
            return Err(ApiError::bad_request("invalid_value", "la pièce remplacée est d'un autre dossier").into());
        }
        withdraw_one(&st, &caller, &old, receipt.evidence.first().map(|r| r.evidence_id)).await?;
    }
    Ok(Redirect::to(&format!("/espace/dossiers/{}?recus={}", receipt.submission_id, receipt.evidence.len())).into_response())
}

async fn replace_page(State(st): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Html<String>, PageError> {
    submitter(&caller)?;
    let old = crate::http::record_for(&st, &caller, Action::Upload, &id).await?;
    let sub = &old.submission;
    let content = html! {
        h1 { "Remplacer « " (old.path) " »" }
        p { "La pièce remplacée ne comptera plus pour le verdict ; elle reste conservée dans l'historique du dossier." }
        (upload_form(&caller, &sub.submission_id, &sub.establishment, &sub.campaign, &Objectives::Fixed(&sub.objectives), Some(old.evidence_id)))
        p { a.fr-link href={ "/espace/dossiers/" (sub.submission_id) } { "Retour au dossier" } }
    };
    Ok(page(&caller, "Remplacer une pièce", content))
}

/// Takes the file out of its dossier (kept, its history says so), then judges the
/// dossier again.
async fn withdraw_one(st: &AppState, caller: &Caller, old: &EvidenceRecord, replaced_by: Option<EvidenceId>) -> Result<(), PageError> {
    let w =
        Withdrawal { evidence_id: old.evidence_id, submission_id: old.submission.submission_id, replaced_by, actor: caller.actor(), withdrawn_at: Utc::now() };
    if st.index.withdraw(&w).await? {
        tracing::info!(evidence = %old.evidence_id, submission = %w.submission_id, replaced_by = ?replaced_by, actor = %w.actor, "file withdrawn from its dossier");
        // The withdrawal is recorded whatever comes of this: a dossier not judged now is
        // judged with the next file, or by `caregate reverify`.
        if let Err(e) = (st.rejudge.run)(w.submission_id).await {
            tracing::warn!(submission = %w.submission_id, error = %e, "judging the dossier again after a withdrawal failed");
        }
    }
    Ok(())
}

#[derive(Deserialize, Default)]
struct WithdrawForm {
    /// The file that replaces it (the script sends it after uploading the new one).
    remplacee_par: Option<String>,
}

async fn withdraw(State(st): State<AppState>, caller: Caller, Path(id): Path<String>, body: Bytes) -> Result<Response, PageError> {
    submitter(&caller)?;
    let form: WithdrawForm = serde_urlencoded_pairs(&body);
    let old = crate::http::record_for(&st, &caller, Action::Upload, &id).await?;
    let replaced_by = match crate::http::given(&form.remplacee_par) {
        Some(raw) => {
            let new = crate::http::record_for(&st, &caller, Action::Upload, raw).await?;
            if new.submission.submission_id != old.submission.submission_id {
                return Err(ApiError::bad_request("invalid_value", "la pièce de remplacement est d'un autre dossier").into());
            }
            // A replacement that is the file itself, or a file already withdrawn (the same
            // bytes sent again answer with the withdrawn record), would leave the dossier
            // with neither: refused, the old file stays.
            let withdrawn = st.index.withdrawals(old.submission.submission_id).await?;
            if new.evidence_id == old.evidence_id || withdrawn.iter().any(|w| w.evidence_id == new.evidence_id) {
                return Err(ApiError::bad_request(
                    "invalid_value",
                    "la pièce de remplacement est celle qui a été retirée : déposez un autre fichier, l'ancien est conservé",
                )
                .into());
            }
            Some(new.evidence_id)
        }
        None => None,
    };
    withdraw_one(&st, &caller, &old, replaced_by).await?;
    Ok(Redirect::to(&format!("/espace/dossiers/{}#pieces", old.submission.submission_id)).into_response())
}

/// The one field of the withdrawal form besides the token.
fn serde_urlencoded_pairs(body: &[u8]) -> WithdrawForm {
    WithdrawForm { remplacee_par: form_urlencoded::parse(body).find(|(k, _)| k == "remplacee_par").map(|(_, v)| v.into_owned()) }
}

// ---------------------------------------------------------------- answers

/// An answer to a controller's request: its words and the files it points at (repeated
/// `piece` fields, which is why the body is read as pairs).
async fn answer(State(st): State<AppState>, caller: Caller, Path(id): Path<String>, body: Bytes) -> Result<Response, PageError> {
    let owner = my_dossier(&st, &caller, &id).await?;
    let pairs: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let field = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_owned()).unwrap_or_default();
    let (objective, comment) = (field("objective"), field("comment"));
    if comment.is_empty() {
        return Err(ApiError::bad_request("comment_required", "la réponse est vide : écrivez ce que vous envoyez ou expliquez").into());
    }
    let records = st.index.submission(owner.submission_id).await?;
    let mut evidence = Vec::new();
    for (_, raw) in pairs.iter().filter(|(k, _)| k == "piece") {
        let e: EvidenceId = raw.parse().map_err(|_| ApiError::bad_request("invalid_id", format!("{raw:?} n'est pas une pièce")))?;
        if !records.iter().any(|r| r.evidence_id == e) {
            return Err(ApiError::bad_request("invalid_value", "une pièce jointe n'est pas de ce dossier").into());
        }
        evidence.push(e);
    }
    let (machine, decisions) = review::judged(&st, &caller, Action::ReadRecords, &id).await?;
    if !machine.objectives.iter().any(|o| o.objective == objective) {
        return Err(ApiError::bad_request("unknown_value", format!("« {objective} » n'est pas un objectif de ce dossier")).into());
    }
    if !decisions.iter().any(|d| d.objective == objective && d.decision == DecisionKind::RequestInformation) {
        return Err(ApiError::bad_request("invalid_value", "aucun contrôleur n'a demandé de complément sur cet objectif").into());
    }
    // Only a request still open: not one already answered, nor one a later decision
    // (accepted, rejected) has closed; the page offers no form for those either.
    let answers = st.index.answers(owner.submission_id).await?;
    if !open_requests(&decisions, &answers).contains_key(objective.as_str()) {
        return Err(ApiError::bad_request(
            "request_closed",
            "cette demande de complément n'attend plus de réponse (déjà répondue, ou l'objectif a été décidé depuis)",
        )
        .into());
    }
    let a = Answer { submission_id: owner.submission_id, objective, comment, evidence, actor: caller.actor(), answered_at: Utc::now() };
    st.index.put_answer(&a).await?;
    tracing::info!(submission = %a.submission_id, objective = %a.objective, files = a.evidence.len(), "establishment answered a request for information");
    Ok(Redirect::to(&format!("/espace/dossiers/{}#objectif-{}", a.submission_id, a.objective)).into_response())
}

/// What the establishment did on the dossier, for the controllers' dossier page: its
/// answers to requests for information, and the files it took out.
pub(crate) async fn for_controllers(st: &AppState, id: SubmissionId, records: &[EvidenceRecord]) -> Result<Markup, caregate_storage::StorageError> {
    let answers = st.index.answers(id).await?;
    let withdrawals = st.index.withdrawals(id).await?;
    let name_of = |e: &EvidenceId| records.iter().find(|r| &r.evidence_id == e).map_or_else(|| e.to_string(), |r| r.path.clone());
    Ok(html! {
        h2 { "Réponses de l'établissement" }
        @if answers.is_empty() { p { "Aucune réponse à une demande de complément." } } @else {
            div.fr-table { table #reponses {
                caption { "Réponses de l'établissement" }
                thead { tr { th scope="col" { "Le" } th scope="col" { "Par" } th scope="col" { "Objectif" } th scope="col" { "Réponse" } th scope="col" { "Pièces" } } }
                tbody {
                    @for a in answers.iter().rev() {
                        tr {
                            td { (when(a.answered_at)) } td { (a.actor) } td { code { (a.objective) } } td.reponse { (a.comment) }
                            td { @for e in &a.evidence { a href={ "/console/evidence/" (e) } { (name_of(e)) } br; } }
                        }
                    }
                }
            } }
        }
        @if !withdrawals.is_empty() {
            h2 { "Pièces retirées par l'établissement" }
            div.fr-table { table #retraits {
                caption { "Pièces retirées par l'établissement (conservées, non jugées)" }
                thead { tr { th scope="col" { "Pièce" } th scope="col" { "Le" } th scope="col" { "Par" } th scope="col" { "Remplacée par" } } }
                tbody {
                    @for w in &withdrawals {
                        tr {
                            td { a href={ "/console/evidence/" (w.evidence_id) } { (name_of(&w.evidence_id)) } }
                            td { (when(w.withdrawn_at)) } td { (w.actor) }
                            td { @match &w.replaced_by { Some(n) => a href={ "/console/evidence/" (n) } { (name_of(n)) }, None => "—" } }
                        }
                    }
                }
            } }
        }
    })
}
