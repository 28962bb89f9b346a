//! The dossier page (a child of `console`): per objective, its verdict, the files that
//! prove it (with what each says in one line) and the reasons, side by side, and ONE
//! decision form for the whole dossier (a choice per objective, one comment); who holds
//! the dossier, « je prends ce dossier » and « je relâche ».

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use caregate_schemas::{DecisionKind, EvidenceId, EvidenceRecord, ObjectiveVerdict, Reason, Verdict};
use maud::{html, Markup};

use super::{code_label, csrf_input, evidence_list, kind_label, page, region_label, when, PageError};
use crate::auth::{Action, Caller};
use crate::error::ApiError;
use crate::review::{self, ReviewError};
use crate::state::AppState;

/// The prefix of the one form's per-objective choice (`decision:D1.PRE`).
const CHOICE: &str = "decision:";

/// A verdict as a DSFR badge (the `verdict` classes stay for the console's own CSS).
pub(super) fn verdict_badge(v: Verdict) -> Markup {
    let tone = match v {
        Verdict::Met => "fr-badge--success",
        Verdict::NeedsReview => "fr-badge--warning",
        Verdict::NotMet => "fr-badge--error",
    };
    html! { span class={ "fr-badge fr-badge--sm " (tone) " verdict " (v.as_str()) } { (v.label_fr()) } }
}

pub(super) async fn submission_view(st: &AppState, caller: &Caller, id: &str, error: Option<&str>) -> Result<Html<String>, PageError> {
    let v = review::verification_of(st, caller, Action::Review, id).await?;
    let records = st.index.submission(v.submission_id).await?;
    let decisions = st.index.decisions(v.submission_id).await?;
    let held = st.index.assignment(v.submission_id).await?;
    // The establishment's answers to requests for information and the files it withdrew.
    let establishment_side = crate::espace::for_controllers(st, v.submission_id, &records).await?;
    let me = caller.actor();
    let can_decide = Action::Decide.roles().contains(&caller.0.role);
    let mine = held.as_ref().is_some_and(|a| a.holder == me);
    let others = held.as_ref().filter(|a| a.holder != me);
    let record = |e: &caregate_schemas::EvidenceId| records.iter().find(|r| &r.evidence_id == e);
    let name_of = |e: &caregate_schemas::EvidenceId| record(e).map(|r| r.path.clone()).unwrap_or_else(|| e.to_string());
    let question = |o: &ObjectiveVerdict, r: &Reason| asked(o, r, r.evidence_id.as_ref().and_then(&record));
    let base = format!("/console/submissions/{}", v.submission_id);
    let content = html! {
        p { "Établissement " strong { (v.establishment) } " (région " (region_label(&v.establishment)) "), campagne " (v.campaign)
            ", verdict d'ensemble " span #overall { (verdict_badge(v.verdict)) }
            @if v.pending > 0 { " — " (v.pending) " pièce(s) encore en traitement : verdicts provisoires." } }
        div #assignment {
            @match &held {
                Some(a) => p { "Dossier pris par " span.fr-tag #holder { (a.holder) } " depuis le " (when(a.since)) "." },
                None => p { "Personne n'a pris ce dossier." },
            }
            @if can_decide {
                @if mine {
                    form.inline method="post" action={ (base) "/relacher" } { (csrf_input(caller)) button.fr-btn.fr-btn--secondary #release type="submit" { "Je relâche ce dossier" } }
                } @else if held.is_none() {
                    form.inline method="post" action={ (base) "/prendre" } { (csrf_input(caller)) button.fr-btn #take type="submit" { "Je prends ce dossier" } }
                }
            }
        }
        @if let Some(e) = error { div.fr-alert.fr-alert--error.fr-alert--sm #decision-error role="alert" { p { (e) } } }
        form #decision method="post" action={ (base) "/decisions" } {
            (csrf_input(caller))
            div.fr-table {
                table #objectifs {
                    caption { "Objectifs : pièces, motifs et décision" }
                    thead { tr { th scope="col" { "Objectif" } th scope="col" { "Verdict" } th scope="col" { "Pièces qui le prouvent" } th scope="col" { "Motifs" }
                        @if can_decide { th scope="col" { "Décision" } } } }
                    tbody {
                        @for o in &v.objectives {
                            tr id=(o.objective) .objective.attend[o.awaits_controller()] {
                                th scope="row" { code { (o.objective) } br; (o.title) }
                                td.objective-verdict { (verdict_badge(o.verdict)) }
                                td.pieces {
                                    @if o.evidence.is_empty() { "Aucune pièce." }
                                    ul { @for e in &o.evidence {
                                        li {
                                            a href={ "/console/evidence/" (e) } { (name_of(e)) }
                                            @if let Some(r) = record(e) { " " small { (kind_label(r.kind)) } (file_line(r)) }
                                        }
                                    } }
                                }
                                td.motifs { ul {
                                    @for (i, r) in o.reasons.iter().enumerate() {
                                        li.motif { (code_label(r.code)) " — " (r.message)
                                            @if let Some(e) = &r.evidence_id { br; (where_read(e, record(e), r.pointer.as_deref())) }
                                            @if let Some(q) = question(o, r) {
                                                p.question.fr-mb-0 id=(question_id(o, i)) { strong { "Question : " } (q) }
                                            }
                                        }
                                    }
                                } }
                                @if can_decide {
                                    td.choix {
                                        @let questions = o.reasons.iter().enumerate().filter(|(_, r)| question(o, r).is_some()).map(|(i, _)| question_id(o, i)).collect::<Vec<_>>();
                                        @if !questions.is_empty() {
                                            p.fr-hint-text.repondre { "« Accepter » répond oui à " @if questions.len() > 1 { "chaque question" } @else { "la question" } " ci-contre, « Rejeter » non." }
                                        }
                                        select.fr-select id={ "choix-" (o.objective) } name={ (CHOICE) (o.objective) } aria-label={ "Décision sur " (o.objective) } aria-describedby=[(!questions.is_empty()).then(|| questions.join(" "))] disabled[others.is_some()] {
                                            option value="" selected { "Pas de décision" }
                                            option value="accept" { "Accepter" }
                                            option value="reject" { "Rejeter" }
                                            option value="request_information" { "Demander un complément" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if can_decide {
                @if let Some(a) = others {
                    div.fr-alert.fr-alert--info.fr-alert--sm { p { "Ce dossier est pris par " (a.holder) " : lui seul peut le décider tant qu'il ne l'a pas relâché." } }
                } @else {
                    div.fr-input-group {
                        label.fr-label for="comment" { "Commentaire (obligatoire)" span.fr-hint-text { "Il accompagne chaque décision prise ci-dessus." } }
                        textarea.fr-input #comment name="comment" {}
                    }
                    button.fr-btn #decide type="submit" { "Enregistrer les décisions" }
                }
            }
        }
        h2 { "Décisions" }
        @if decisions.is_empty() { p { "Aucune décision." } } @else {
            div.fr-table { table #decisions {
                thead { tr { th scope="col" { "Le" } th scope="col" { "Par" } th scope="col" { "Objectif" } th scope="col" { "Décision" } th scope="col" { "Commentaire" } } }
                tbody { @for d in decisions.iter().rev() {
                    tr { td { (when(d.decided_at)) } td { (d.actor) } td { code { (d.objective) } } td { (d.decision.label_fr()) } td { (d.comment) } }
                } }
            } }
        }
        (establishment_side)
        h2 { "Pièces du dossier" }
        (evidence_list(&records, None))
    };
    Ok(page(caller, &format!("Dossier {}", v.submission_id), content))
}

/// The question a controller answers about a reason, while its objective is in review.
/// For a file the machine could not read, the question of what the file says (`file`).
fn asked(o: &ObjectiveVerdict, r: &Reason, file: Option<&EvidenceRecord>) -> Option<&'static str> {
    (o.verdict == Verdict::NeedsReview).then(|| r.question(file)).flatten()
}

/// A reason's question's id, for the decision's `aria-describedby`.
fn question_id(o: &ObjectiveVerdict, i: usize) -> String {
    format!("question-{}-{i}", o.objective)
}

/// Where a reason was seen: the file by its name, and the field it points at by its
/// French name, linked to its box on the page (or to its row in the file's tables).
fn where_read(e: &EvidenceId, rec: Option<&EvidenceRecord>, pointer: Option<&str>) -> Markup {
    let name = rec.map_or_else(|| e.to_string(), |r| r.path.clone());
    html! {
        span.ou {
            "Pièce " a.piece href={ "/console/evidence/" (e) } { (name) }
            @if let (Some(p), Some(rec)) = (pointer, rec) {
                @let (href, page) = crate::fields_fr::field_anchor(rec, p);
                ", champ " a.pointer href=(href) title=(p) { "« " (crate::fields_fr::field_fr(p)) " »" }
                @if let Some(n) = page { " (encadré page " (n) ")" }
            } @else if let Some(p) = pointer {
                ", champ « " (crate::fields_fr::field_fr(p)) " »"
            }
        }
    }
}

/// A file's one line on the dossier page: what it says, and its findings as tags.
fn file_line(r: &EvidenceRecord) -> Markup {
    html! {
        @if let Some(s) = crate::fields_fr::summary(r) { br; span.resume { (s) } }
        @if !r.findings.is_empty() { br; @for f in &r.findings { span.fr-tag.fr-tag--sm title=(f.code.explanation()) { (f.code.label()) } " " } }
    }
}

pub(super) async fn submission_page(State(st): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Html<String>, PageError> {
    submission_view(&st, &caller, &id, None).await
}

/// The one form: a choice per objective (`decision:<objective>`, empty for none) and one
/// comment.
pub(super) async fn decide(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let mut chosen = Vec::new();
    let mut comment = String::new();
    for (name, value) in fields {
        if let Some(objective) = name.strip_prefix(CHOICE) {
            if value.is_empty() {
                continue;
            }
            let kind: DecisionKind = value.parse().map_err(|e| ApiError::bad_request("invalid_decision", format!("{e}")))?;
            chosen.push((objective.to_owned(), kind));
        } else if name == "comment" {
            comment = value;
        }
    }
    let first = chosen.first().map(|(o, _)| o.clone()).unwrap_or_default();
    let message = match review::decide_all(&st, &caller, &id, chosen, &comment).await {
        Ok(v) => return Ok(Redirect::to(&format!("/console/submissions/{}#{}", v.submission_id, first)).into_response()),
        Err(ReviewError::CommentRequired) => "Le commentaire est obligatoire : dites pourquoi.".to_owned(),
        Err(ReviewError::NothingDecided) => "Aucune décision choisie : choisissez-en au moins une dans la colonne « Décision ».".to_owned(),
        Err(ReviewError::UnknownObjective(o)) => format!("« {o} » n'est pas un objectif de ce dossier."),
        Err(ReviewError::DecidedTwice(o)) => format!("L'objectif {o} a reçu deux décisions dans le même formulaire : choisissez-en une."),
        Err(ReviewError::HeldByOther(h)) => format!("Ce dossier est pris par {h} : lui seul peut le décider."),
        Err(e) => return Err(e.into()),
    };
    let page = submission_view(&st, &caller, &id, Some(&message)).await?;
    Ok((StatusCode::BAD_REQUEST, page).into_response())
}

/// « Je prends ce dossier ».
pub(super) async fn take(State(st): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, PageError> {
    match review::take(&st, &caller, &id).await {
        Ok(sub) => Ok(Redirect::to(&format!("/console/submissions/{sub}")).into_response()),
        Err(ReviewError::HeldByOther(h)) => {
            let page = submission_view(&st, &caller, &id, Some(&format!("Ce dossier est déjà pris par {h}."))).await?;
            Ok((StatusCode::CONFLICT, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// « Je relâche ».
pub(super) async fn release(State(st): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Response, PageError> {
    let sub = review::release(&st, &caller, &id).await?;
    Ok(Redirect::to(&format!("/console/submissions/{sub}")).into_response())
}
