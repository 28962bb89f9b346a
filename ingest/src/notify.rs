//! The e-mail that tells an establishment's people of a controller's decision, in plain
//! French: which dossier, which objective, what was decided or asked, in the
//! controller's words, and where to answer (the establishment's space). Written here,
//! queued with the decision ([`caregate_storage::Decisions::put_decisions`]), delivered by
//! the mail relay ([`caregate_storage::MailRelay`]).

use caregate_schemas::{Decision, DecisionKind, SubmissionId, Verification};
use caregate_storage::{MailConfig, MailDraft};
use sha2::{Digest, Sha256};

/// Where the establishment sees the dossier and answers: its space, under caregate's
/// public address.
pub fn espace_url(config: &MailConfig, submission: SubmissionId) -> String {
    format!("{}/espace/dossiers/{submission}", config.base_url())
}

/// The Message-ID's left part: the decision itself, hashed (dossier, objective, what,
/// who, when to the microsecond), so every copy of this message is recognisably the
/// same, and another decision, even identical in words, is another message.
pub fn decision_key(d: &Decision) -> String {
    let mut h = Sha256::new();
    for part in [d.submission_id.to_string(), d.objective.clone(), d.decision.to_string(), d.actor.clone(), d.decided_at.to_rfc3339(), d.comment.clone()] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    format!("caregate.decision.{}", digest.iter().take(16).map(|b| format!("{b:02x}")).collect::<String>())
}

/// The Message-ID's left part for one form's decisions (one or several objectives).
fn form_key(decisions: &[Decision]) -> String {
    match decisions {
        [d] => decision_key(d),
        many => {
            let mut h = Sha256::new();
            for d in many {
                h.update(decision_key(d).as_bytes());
            }
            let digest = h.finalize();
            format!("caregate.decisions.{}", digest.iter().take(16).map(|b| format!("{b:02x}")).collect::<String>())
        }
    }
}

/// What a decision says to the establishment: the subject's words, the sentence, and
/// what to do next.
fn wording(kind: DecisionKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        DecisionKind::Accept => ("objectif atteint", "Le contrôleur a accepté cet objectif : il est atteint.", "Le détail du dossier est dans votre espace :"),
        DecisionKind::Reject => (
            "objectif non atteint",
            "Le contrôleur a rejeté cet objectif : il n'est pas atteint.",
            "Le détail du dossier, et ce que vous pouvez remplacer ou ajouter, est dans votre espace :",
        ),
        DecisionKind::RequestInformation => (
            "complément demandé",
            "Le contrôleur vous demande un complément avant de décider.",
            "Répondez depuis votre espace, avec un commentaire et les pièces demandées :",
        ),
    }
}

/// The e-mail of one decision form on `machine`'s dossier (the verification the
/// controller decided on: its establishment, campaign and the objectives' titles): one
/// message however many objectives the form decided, each named with its decision. The
/// form has one comment; `decisions` is never empty (the caller checked the form).
pub fn decision_mail(config: &MailConfig, machine: &Verification, decisions: &[Decision]) -> MailDraft {
    let first = &decisions[0];
    let objective = |d: &Decision| {
        let title = machine.objectives.iter().find(|o| o.objective == d.objective).map(|o| o.title.as_str()).unwrap_or_default();
        if title.is_empty() {
            d.objective.clone()
        } else {
            format!("{} — {title}", d.objective)
        }
    };
    // What to do next follows the most demanding decision: a question, then a refusal.
    let most = decisions
        .iter()
        .map(|d| d.decision)
        .max_by_key(|k| match k {
            DecisionKind::Accept => 0,
            DecisionKind::Reject => 1,
            DecisionKind::RequestInformation => 2,
        })
        .unwrap_or(first.decision);
    let (subject, what, decided) = match decisions {
        [d] => {
            let (subject_what, what, _) = wording(d.decision);
            (
                format!("CaRE — dossier {} : {} ({})", machine.establishment, subject_what, d.objective),
                what.to_owned(),
                format!("Objectif : {}\nDécision : {}, le {} (UTC)\n", objective(d), d.decision.label_fr(), d.decided_at.format("%d/%m/%Y à %H:%M")),
            )
        }
        many => (
            format!(
                "CaRE — dossier {} : {} décisions ({})",
                machine.establishment,
                many.len(),
                many.iter().map(|d| d.objective.as_str()).collect::<Vec<_>>().join(", ")
            ),
            format!("Le contrôleur a décidé de {} objectifs de votre dossier, le {} (UTC) :", many.len(), first.decided_at.format("%d/%m/%Y à %H:%M")),
            many.iter().map(|d| format!("- {} : {}\n", objective(d), d.decision.label_fr())).collect(),
        ),
    };
    let next = wording(most).2;
    let comment: String = first.comment.lines().map(|l| format!("  {l}\n")).collect();
    let text = format!(
        "Bonjour,\n\n\
         {what}\n\n\
         Établissement : {establishment} (FINESS)\n\
         Campagne : {campaign}\n\
         {decided}\n\
         {remark} :\n{comment}\n\
         {next}\n{url}\n\n\
         Dossier n° {submission}\n\n\
         -- \n\
         Ce message est envoyé automatiquement par caregate, le service de dépôt des preuves du programme CaRE. \
         Merci de ne pas y répondre : répondez depuis votre espace.\n",
        establishment = machine.establishment,
        campaign = machine.campaign,
        remark = if most == DecisionKind::RequestInformation { "Ce que demande le contrôleur" } else { "Commentaire du contrôleur" },
        url = espace_url(config, first.submission_id),
        submission = first.submission_id,
    );
    MailDraft { establishment: machine.establishment.clone(), key: form_key(decisions), domain: config.message_id_domain(), subject, text }
}

#[cfg(test)]
mod tests {
    use super::*;
    use caregate_schemas::{ObjectiveVerdict, Verdict};
    use chrono::{DateTime, Utc};

    fn config() -> MailConfig {
        MailConfig {
            enabled: true,
            from: "CaRE <ne-pas-repondre@caregate.example.fr>".into(),
            public_base_url: "https://caregate.example.fr/".into(),
            ..MailConfig::default()
        }
    }

    fn machine() -> Verification {
        Verification {
            submission_id: SubmissionId(uuid::Uuid::nil()),
            establishment: "750000001".into(),
            campaign: "care-d1-2024".into(),
            referential_id: "care-d1-2024".into(),
            referential_version: "x".into(),
            basis: "b".into(),
            computed_at: Utc::now(),
            pending: 0,
            verdict: Verdict::NeedsReview,
            objectives: vec![ObjectiveVerdict {
                objective: "D1.PRE".into(),
                title: "Prérequis".into(),
                verdict: Verdict::NeedsReview,
                claimed: true,
                evidence: vec![],
                reasons: vec![],
            }],
            evidence: vec![],
        }
    }

    fn decision(kind: DecisionKind) -> Decision {
        Decision {
            submission_id: SubmissionId(uuid::Uuid::nil()),
            objective: "D1.PRE".into(),
            decision: kind,
            comment: "attestation illisible :\nla renvoyer signée".into(),
            actor: "c.martin (controller)".into(),
            decided_at: DateTime::from_timestamp(1_733_600_000, 0).unwrap(),
            basis: "b".into(),
        }
    }

    #[test]
    fn a_request_for_information_says_what_is_asked_and_where_to_answer() {
        let m = decision_mail(&config(), &machine(), &[decision(DecisionKind::RequestInformation)]);
        assert_eq!(m.subject, "CaRE — dossier 750000001 : complément demandé (D1.PRE)");
        assert_eq!(m.establishment, "750000001");
        for part in [
            "Le contrôleur vous demande un complément",
            "Objectif : D1.PRE — Prérequis",
            "Décision : Complément demandé, le 07/12/2024 à 19:33 (UTC)",
            "Ce que demande le contrôleur :\n  attestation illisible :\n  la renvoyer signée\n",
            "Répondez depuis votre espace",
            "https://caregate.example.fr/espace/dossiers/00000000-0000-0000-0000-000000000000",
        ] {
            assert!(m.text.contains(part), "{part:?} in\n{}", m.text);
        }
        assert_eq!(m.domain, "caregate.example.fr");
        assert_eq!(m.message_id("a@b.fr"), m.message_id("A@B.fr"), "one recipient, one id");
    }

    #[test]
    fn each_decision_has_its_own_stable_key() {
        let (accept, reject) = (decision(DecisionKind::Accept), decision(DecisionKind::Reject));
        assert_eq!(decision_key(&accept), decision_key(&accept.clone()), "stable");
        assert_ne!(decision_key(&accept), decision_key(&reject));
        let later = Decision { decided_at: accept.decided_at + chrono::Duration::microseconds(1), ..accept.clone() };
        assert_ne!(decision_key(&accept), decision_key(&later), "the same words later are another decision");
        let m = decision_mail(&config(), &machine(), std::slice::from_ref(&accept));
        assert!(m.subject.ends_with("objectif atteint (D1.PRE)") && m.text.contains("il est atteint") && m.text.contains("Commentaire du contrôleur"));
        let m = decision_mail(&config(), &machine(), std::slice::from_ref(&reject));
        assert!(m.subject.contains("objectif non atteint") && m.text.contains("n'est pas atteint"));
    }

    #[test]
    fn one_form_on_two_objectives_is_one_mail_naming_both() {
        let accept = decision(DecisionKind::Accept);
        let ask = Decision { objective: "D1.FIN".into(), ..decision(DecisionKind::RequestInformation) };
        let m = decision_mail(&config(), &machine(), &[accept.clone(), ask.clone()]);
        assert_eq!(m.subject, "CaRE — dossier 750000001 : 2 décisions (D1.PRE, D1.FIN)");
        for part in [
            "Le contrôleur a décidé de 2 objectifs de votre dossier, le 07/12/2024 à 19:33 (UTC) :",
            "- D1.PRE — Prérequis : Accepté",
            "- D1.FIN : Complément demandé",
            // A question in the form: the mail says what is asked and where to answer.
            "Ce que demande le contrôleur :",
            "Répondez depuis votre espace",
        ] {
            assert!(m.text.contains(part), "{part:?} in\n{}", m.text);
        }
        assert_ne!(m.key, decision_mail(&config(), &machine(), &[accept]).key, "another form, another message");
    }
}
