//! Controllers' decisions on objectives the machine could not settle, and how they
//! change a verification. The machine's verification is stored as computed; decisions are
//! kept beside it and laid over it when it is read, so a later reverification never
//! erases what a person decided, and the machine's own view stays visible in the history.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{FindingCode, ObjectiveVerdict, Reason, SubmissionId, Verdict, Verification};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    Accept,
    Reject,
    /// The establishment must send more; the objective waits for it.
    RequestInformation,
}

named_enum!(DecisionKind, UnknownDecision, "decision", {
    Accept => "accept",
    Reject => "reject",
    RequestInformation => "request_information",
});

impl DecisionKind {
    /// What the objective becomes.
    pub fn verdict(self) -> Verdict {
        match self {
            DecisionKind::Accept => Verdict::Met,
            DecisionKind::Reject => Verdict::NotMet,
            DecisionKind::RequestInformation => Verdict::NeedsReview,
        }
    }

    pub fn label_fr(self) -> &'static str {
        match self {
            DecisionKind::Accept => "Accepté",
            DecisionKind::Reject => "Rejeté",
            DecisionKind::RequestInformation => "Complément demandé",
        }
    }
}

/// A controller's decision on one objective of one submission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Decision {
    pub submission_id: SubmissionId,
    pub objective: String,
    pub decision: DecisionKind,
    /// Mandatory: why, in the controller's words.
    pub comment: String,
    /// Who decided ([`crate::Principal::actor`]).
    pub actor: String,
    pub decided_at: DateTime<Utc>,
    /// The `basis` of the verification the controller was looking at.
    pub basis: String,
}

impl Decision {
    /// Whether the decision still holds for a verification on `basis`. An accept or a
    /// reject stands until another decision replaces it; a request for information lapses
    /// as soon as the dossier changes, since the change is presumably the answer and a
    /// controller must look again.
    pub fn holds_on(&self, basis: &str) -> bool {
        self.decision != DecisionKind::RequestInformation || self.basis.as_str() >= basis
    }

    pub fn reason_code(&self) -> FindingCode {
        match self.decision {
            DecisionKind::Accept => FindingCode::ControllerAccepted,
            DecisionKind::Reject => FindingCode::ControllerRejected,
            DecisionKind::RequestInformation => FindingCode::ControllerRequestedInformation,
        }
    }
}

impl Verification {
    /// The verification as decided: each objective with a decision that still holds
    /// takes the decision's verdict (its reason first, the machine's kept after it), and
    /// the overall verdict follows. `decisions` in any order; the latest per objective wins.
    pub fn with_decisions(mut self, decisions: &[Decision]) -> Self {
        for o in &mut self.objectives {
            let latest = decisions.iter().filter(|d| d.submission_id == self.submission_id && d.objective == o.objective).max_by_key(|d| d.decided_at);
            let Some(d) = latest.filter(|d| d.holds_on(&self.basis)) else { continue };
            o.verdict = d.decision.verdict();
            o.reasons.insert(
                0,
                Reason {
                    code: d.reason_code(),
                    verdict: o.verdict,
                    message: format!("{} par {} le {} : {}", d.decision.label_fr(), d.actor, d.decided_at.format("%d/%m/%Y %H:%M"), d.comment),
                    evidence_id: None,
                    pointer: None,
                },
            );
        }
        self.verdict = self.objectives.iter().map(|o| o.verdict).max().unwrap_or(Verdict::Met);
        self
    }

    /// Whether an objective waits on a controller (see [`ObjectiveVerdict::awaits_controller`]).
    pub fn awaits_controller(&self, objective: &str) -> bool {
        self.objectives.iter().find(|o| o.objective == objective).is_some_and(ObjectiveVerdict::awaits_controller)
    }
}

impl ObjectiveVerdict {
    /// The machine could not settle it and nobody has decided (after a request for
    /// information it waits on the establishment instead).
    pub fn awaits_controller(&self) -> bool {
        self.verdict == Verdict::NeedsReview
            && !self
                .reasons
                .iter()
                .any(|r| matches!(r.code, FindingCode::ControllerAccepted | FindingCode::ControllerRejected | FindingCode::ControllerRequestedInformation))
    }
}

/// An establishment's answer to a controller's request for information on one
/// objective: its words, and the files of the dossier it points at (sent before, or with
/// the answer). Shown to controllers on the dossier; kept in the history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Answer {
    pub submission_id: SubmissionId,
    pub objective: String,
    pub comment: String,
    pub evidence: Vec<crate::EvidenceId>,
    /// Who answered ([`crate::Principal::actor`]).
    pub actor: String,
    pub answered_at: DateTime<Utc>,
}

/// A file the establishment took out of its dossier, replaced by another or withdrawn:
/// the dossier is judged without it from then on, but the file and its record are kept
/// (never deleted before their retention is over) and its history says so.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Withdrawal {
    pub evidence_id: crate::EvidenceId,
    pub submission_id: SubmissionId,
    /// The file that takes its place, when it was replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<crate::EvidenceId>,
    /// Who withdrew it ([`crate::Principal::actor`]).
    pub actor: String,
    pub withdrawn_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verification(basis: &str) -> Verification {
        let objective =
            |id: &str, verdict| ObjectiveVerdict { objective: id.into(), title: id.into(), verdict, claimed: true, evidence: vec![], reasons: vec![] };
        Verification {
            submission_id: SubmissionId(uuid::Uuid::nil()),
            establishment: "750000001".into(),
            campaign: "care-d1-2024".into(),
            referential_id: "care-d1-2024".into(),
            referential_version: "x".into(),
            basis: basis.into(),
            computed_at: Utc::now(),
            pending: 0,
            verdict: Verdict::NeedsReview,
            objectives: vec![objective("A", Verdict::Met), objective("B", Verdict::NeedsReview)],
            evidence: vec![],
        }
    }

    fn decision(kind: DecisionKind, basis: &str, minutes: i64) -> Decision {
        Decision {
            submission_id: SubmissionId(uuid::Uuid::nil()),
            objective: "B".into(),
            decision: kind,
            comment: "vu".into(),
            actor: "c (controller)".into(),
            decided_at: DateTime::from_timestamp(1_700_000_000 + minutes * 60, 0).unwrap(),
            basis: basis.into(),
        }
    }

    #[test]
    fn the_latest_decision_sets_the_objective_and_the_overall_verdict() {
        let v = verification("1").with_decisions(&[decision(DecisionKind::Reject, "1", 0), decision(DecisionKind::Accept, "1", 5)]);
        assert_eq!(v.objectives[1].verdict, Verdict::Met);
        assert_eq!(v.objectives[1].reasons[0].code, FindingCode::ControllerAccepted);
        assert_eq!(v.verdict, Verdict::Met);
        assert!(!v.awaits_controller("B"));
    }

    #[test]
    fn a_request_for_information_lapses_when_the_dossier_changes() {
        let asked = [decision(DecisionKind::RequestInformation, "1", 0)];
        let v = verification("1").with_decisions(&asked);
        assert!(!v.awaits_controller("B"), "waits on the establishment");
        let v = verification("2").with_decisions(&asked);
        assert!(v.awaits_controller("B"), "new evidence: back to the controller");
        let v = verification("2").with_decisions(&[decision(DecisionKind::Reject, "1", 0)]);
        assert_eq!(v.verdict, Verdict::NotMet, "a reject stands");
    }
}
