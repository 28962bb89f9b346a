//! Review: what a caller may load of a dossier (its owner, its verification as decided)
//! and controllers' decisions on it. The API and the console both go through here, and
//! get a typed [`ReviewError`] that each maps to its own answer (JSON, a French page);
//! nothing here speaks HTTP.

use caregate_schemas::{Decision, DecisionKind, SubmissionId, Verification};
use caregate_storage::{Outgoing, StorageError, SubmissionOwner};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Action, Caller, Denied};
use crate::state::AppState;

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("{0:?} is not a UUID")]
    InvalidId(String),
    #[error("{0} : introuvable")]
    NotFound(String),
    /// Only a dossier judged before owners were fixed can disagree with its owner: never
    /// shown, never decided on, under another establishment's name.
    #[error("the verification of submission {0} names another establishment than its owner; judge it again (caregate reverify)")]
    OwnerMismatch(SubmissionId),
    #[error("a decision needs a comment saying why")]
    CommentRequired,
    #[error("{0:?} is not an objective of this submission's referential")]
    UnknownObjective(String),
    /// Another controller holds the dossier (« je prends ce dossier »): they decide it.
    #[error("submission is held by {0}")]
    HeldByOther(String),
    /// The one dossier form was sent without a single objective decided.
    #[error("no objective decided")]
    NothingDecided,
    /// One form decided the same objective twice (a forged or doubled field).
    #[error("objective {0} decided twice in one form")]
    DecidedTwice(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DecisionForm {
    pub objective: String,
    pub decision: DecisionKind,
    /// Mandatory.
    pub comment: String,
}

/// Who a submission belongs to, once the caller is known to be allowed `action` on its
/// establishment: the one answer every route, the console and the decisions go by.
pub async fn owned_submission(st: &AppState, caller: &Caller, action: Action, id: &str) -> Result<SubmissionOwner, ReviewError> {
    caller.may(action, None)?;
    let id: SubmissionId = id.parse().map_err(|_| ReviewError::InvalidId(id.to_owned()))?;
    let owner = st.index.submission_owner(id).await?.ok_or_else(|| ReviewError::NotFound(format!("le dossier {id}")))?;
    caller.may(action, Some(&owner.establishment))?;
    Ok(owner)
}

/// The machine's verification and the decisions on it, once the caller is known to be
/// allowed `action` on the submission.
pub async fn judged(st: &AppState, caller: &Caller, action: Action, id: &str) -> Result<(Verification, Vec<Decision>), ReviewError> {
    let owner = owned_submission(st, caller, action, id).await?;
    let id = owner.submission_id;
    let v = st
        .index
        .verification(id)
        .await?
        .ok_or_else(|| ReviewError::NotFound(format!("la vérification du dossier {id} (dossier inconnu, ou campagne sans référentiel)")))?;
    if v.establishment != owner.establishment {
        return Err(ReviewError::OwnerMismatch(id));
    }
    let decisions = st.index.decisions(id).await?;
    Ok((v, decisions))
}

/// The submission's verification as decided (controllers' decisions laid over the
/// machine's), once the caller is known to be allowed `action` on it.
pub async fn verification_of(st: &AppState, caller: &Caller, action: Action, id: &str) -> Result<Verification, ReviewError> {
    let (machine, decisions) = judged(st, caller, action, id).await?;
    Ok(machine.with_decisions(&decisions))
}

/// Records a decision after checking it; the verification as decided afterwards.
pub async fn decide(st: &AppState, caller: &Caller, id: &str, form: DecisionForm) -> Result<Verification, ReviewError> {
    decide_all(st, caller, id, vec![(form.objective, form.decision)], &form.comment).await
}

/// Records the decisions of one dossier form (one comment for all), after checking
/// every one of them: an unknown objective or a missing comment writes nothing. Refused
/// while another controller holds the dossier. The verification as decided afterwards.
pub async fn decide_all(st: &AppState, caller: &Caller, id: &str, chosen: Vec<(String, DecisionKind)>, comment: &str) -> Result<Verification, ReviewError> {
    let (machine, mut decisions) = judged(st, caller, Action::Decide, id).await?;
    let comment = comment.trim();
    if chosen.is_empty() {
        return Err(ReviewError::NothingDecided);
    }
    if comment.is_empty() {
        return Err(ReviewError::CommentRequired);
    }
    if let Some((unknown, _)) = chosen.iter().find(|(o, _)| !machine.objectives.iter().any(|x| &x.objective == o)) {
        return Err(ReviewError::UnknownObjective(unknown.clone()));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some((twice, _)) = chosen.iter().find(|(o, _)| !seen.insert(o.as_str())) {
        return Err(ReviewError::DecidedTwice(twice.clone()));
    }
    if let Some(held) = st.index.assignment(machine.submission_id).await? {
        if held.holder != caller.actor() {
            return Err(ReviewError::HeldByOther(held.holder));
        }
    }
    let now = Utc::now();
    let form: Vec<Decision> = chosen
        .into_iter()
        .map(|(objective, decision)| Decision {
            submission_id: machine.submission_id,
            objective,
            decision,
            comment: comment.to_owned(),
            actor: caller.actor(),
            decided_at: now,
            basis: machine.basis.clone(),
        })
        .collect();
    decisions.extend(form.iter().cloned());
    let decided = machine.clone().with_decisions(&decisions);
    // Systems that follow verdicts hear of the form as of any new verification; the
    // announcement is queued with the decisions, so a broker outage delays it only.
    let body = serde_json::to_value(&decided).map_err(|e| StorageError::Corrupt(format!("the decided verification as JSON: {e}")))?;
    // The establishment's people hear of it by one e-mail (when mail is on): written with
    // the decisions, so no decision is ever told nobody, and delivered by the relay.
    let mail = st.mail.as_ref().map(|relay| crate::notify::decision_mail(relay.config(), &machine, &form));
    // The whole form in one transaction: a dossier is never left half decided.
    // The hold is checked again in that transaction: taken since the check above, refused.
    let recorded = st
        .index
        .put_decisions(&form, vec![Outgoing::Announcement { topic: caregate_schemas::SUBMISSION_VERIFIED.to_owned(), body }], mail.as_ref())
        .await
        .map_err(|e| match e {
            StorageError::HeldByOther(holder) => ReviewError::HeldByOther(holder),
            e => ReviewError::Storage(e),
        })?;
    st.outbox.send_now(recorded.queued).await;
    if let Some(relay) = &st.mail {
        if recorded.mails > 0 {
            relay.wake();
        } else {
            tracing::info!(submission = %machine.submission_id, establishment = %machine.establishment, "no submitter of the establishment has an e-mail address: the decision is told to nobody by mail");
        }
    }
    Ok(decided)
}

/// « Je prends ce dossier »: the caller holds it, unless another controller does
/// (their name in the error).
pub async fn take(st: &AppState, caller: &Caller, id: &str) -> Result<SubmissionId, ReviewError> {
    let owner = owned_submission(st, caller, Action::Decide, id).await?;
    match st.index.take(owner.submission_id, &caller.actor(), Utc::now()).await? {
        caregate_storage::Taken::Yours => Ok(owner.submission_id),
        caregate_storage::Taken::HeldBy(a) => Err(ReviewError::HeldByOther(a.holder)),
    }
}

/// « Je relâche »: the caller lets go of the dossier; nothing when they did not hold it.
pub async fn release(st: &AppState, caller: &Caller, id: &str) -> Result<SubmissionId, ReviewError> {
    let owner = owned_submission(st, caller, Action::Decide, id).await?;
    st.index.release(owner.submission_id, &caller.actor(), Utc::now()).await?;
    Ok(owner.submission_id)
}
