//! One French vocabulary for what controllers and archivists read: every finding and
//! reason code an extractor, a stage or a referential rule can produce, with its French
//! label and a sentence that explains it; and the French names of verdicts, statuses,
//! kinds and severities. The console, the French report and the API speak through these
//! tables only, so the same thing is never called two names.
//!
//! A test walks the source tree and checks that every code written there has its term.

use crate::{Kind, Severity, Status, Verdict};

/// One code as people read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Term {
    pub code: &'static str,
    /// A few words, for a table cell or a badge.
    pub label: &'static str,
    /// What it means and what a controller should do about it.
    pub explanation: &'static str,
}

macro_rules! terms {
    ($($code:literal => $label:literal, $explanation:literal;)+) => {
        /// Every finding and reason code, sorted by code.
        pub const TERMS: &[Term] = &[$(Term { code: $code, label: $label, explanation: $explanation }),+];
    };
}

terms! {
    "active_content" => "Contenu actif", "Le PDF contient du JavaScript, des actions automatiques ou des fichiers à lancer : à ouvrir avec précaution.";
    "ad_level_below_target" => "Niveau ANSSI insuffisant", "Le niveau de sécurité de l'annuaire déduit du rapport est inférieur à la cible du programme.";
    "ad_level_declared" => "Niveau ANSSI déclaré", "Le niveau ANSSI n'est connu que par ce qu'en écrit un rapport d'audit (PDF), sans règles pour le calculer : un contrôleur doit le confirmer sur le rapport.";
    "ad_level_reached" => "Niveau ANSSI atteint", "Le niveau de sécurité de l'annuaire déduit du rapport atteint la cible du programme.";
    "ad_level_unconfirmed" => "Niveau ANSSI non confirmé", "Le niveau semble atteint, mais des règles déclenchées n'ont pas de niveau dans le référentiel.";
    "ad_level_unknown" => "Niveau ANSSI inconnu", "Aucun rapport exploitable ne permet de déduire le niveau ANSSI de l'annuaire.";
    "ad_maturity_mismatch" => "Niveau de maturité différent", "Le niveau de maturité écrit dans le rapport PingCastle n'est pas celui que donnent ses règles déclenchées selon le référentiel : la table du référentiel ne correspond peut-être pas à la version de PingCastle.";
    "archive_limits" => "Archive hors limites", "L'archive dépasse les limites de décompression (taille, nombre de fichiers, imbrication) : son contenu n'est pas extrait.";
    "ceiling_exceeded" => "Plafond dépassé", "Le montant total demandé dépasse le plafond de la catégorie de l'établissement.";
    "ceiling_unknown" => "Plafond non vérifiable", "La catégorie de l'établissement est inconnue ou sans plafond : le montant doit être vérifié par un contrôleur.";
    "controller_accepted" => "Accepté par un contrôleur", "Un contrôleur a examiné l'objectif et l'a accepté.";
    "controller_rejected" => "Refusé par un contrôleur", "Un contrôleur a examiné l'objectif et l'a refusé.";
    "controller_requested_information" => "Complément demandé", "Un contrôleur a demandé des pièces ou des précisions à l'établissement.";
    "critical_vulnerability" => "Vulnérabilité critique", "Le scan signale une vulnérabilité critique (sévérité maximale ou score CVSS au-delà du seuil).";
    "date_in_window" => "Date dans la période", "La pièce est datée à l'intérieur de la période du programme.";
    "date_missing" => "Date absente", "Aucune date lisible sur la pièce : la période ne peut être vérifiée.";
    "date_outside_window" => "Date hors période", "La pièce est datée hors de la période du programme.";
    "domain_missing" => "Domaine non nommé", "Le rapport d'audit ne nomme pas le domaine audité.";
    "dossier_mixed_establishments" => "Dossier mélangé", "Des pièces du dossier ont été déposées pour un autre établissement ou une autre campagne : aucun objectif n'est atteint tant qu'un contrôleur n'a pas tranché.";
    "duplicate_submission" => "Pièce en double", "La même facture (ou le même fichier) a déjà été fournie, dans ce dossier ou un autre.";
    "encrypted" => "Fichier chiffré", "Le fichier est protégé par un mot de passe inconnu : son contenu n'a pas pu être lu.";
    "encrypted_report" => "Rapport chiffré", "Le rapport est chiffré (XML-Enc) : son contenu ne peut être vérifié par la plateforme.";
    "evidence_missing" => "Pièce manquante", "Aucune pièce recevable pour cet objectif.";
    "evidence_needs_review" => "Pièce à examiner", "Une pièce de cet objectif n'a pas pu être lue ou vérifiée automatiquement : un contrôleur doit la regarder.";
    "evidence_not_applicable" => "Pièce non applicable", "La pièce a été déclarée pour cet objectif mais n'est pas d'un type qu'il accepte.";
    "evidence_present" => "Pièce fournie", "Au moins une pièce recevable a été fournie pour cet objectif.";
    "exposure_fixed" => "Exposition corrigée", "Un service à risque ouvert lors d'un scan précédent est fermé au dernier scan.";
    "exposure_not_rescanned" => "Exposition non revérifiée", "Un hôte exposé lors d'un scan précédent n'apparaît pas dans le dernier scan.";
    "exposure_unknown" => "Exposition non vérifiable", "Aucun scan structuré ne permet de vérifier les services exposés sur internet.";
    "facturx_page_mismatch" => "Page et XML Factur-X divergents", "La page de la facture Factur-X ne dit pas la même chose que le XML incorporé (numéro, date, identifiants du vendeur ou totaux) : les champs retenus sont ceux du XML, un contrôleur doit vérifier que la page lue et le XML décrivent la même facture.";
    "hash_mismatch" => "Empreinte différente", "Les octets reçus par le traitement ne correspondent pas à l'empreinte calculée au dépôt.";
    "high_risk_service_exposed" => "Service à risque exposé", "Un service à risque (bureau à distance, partage de fichiers...) est accessible depuis internet.";
    "infected" => "Fichier infecté", "L'antivirus a détecté une signature : le fichier reste en quarantaine et n'est jamais ouvert.";
    "integrity_absent" => "Empreinte d'intégrité absente", "Le rapport PingCastle ne porte pas d'empreinte d'intégrité : ses règles ne peuvent être authentifiées.";
    "integrity_mismatch" => "Rapport modifié", "Les règles du rapport PingCastle ne correspondent pas à son empreinte d'intégrité : il a été modifié après sa production.";
    "invoice_fields_inconsistent" => "Champs de facture incohérents", "Des montants ou des identifiants lus sur la facture se contredisent (HT + TVA ≠ TTC, TVA hors de tout taux, SIREN différent de celui du n° de TVA, date après l'échéance) : les champs en désaccord sont laissés vides et les valeurs lues sont données ; un contrôleur les relit sur la pièce.";
    "invoice_missing" => "Facture non fournie", "Une facture listée au bilan financier n'a pas été fournie.";
    "invoice_not_reported" => "Facture hors bilan", "Une facture fournie n'apparaît pas dans le bilan financier : un contrôleur vérifie si elle fait partie des dépenses déclarées (bilan incomplet) ou non.";
    "low_confidence" => "Type incertain", "Le type de la pièce a été deviné avec une confiance faible : un contrôleur doit le confirmer.";
    "memory_limit" => "Lecture hors limite mémoire", "La lecture du fichier demandait plus de mémoire que la limite fixée (fichier piégé ou démesuré) : il est archivé sans être lu, un contrôleur doit l'ouvrir.";
    "modified_after_signing" => "Modifié après signature", "Des modifications ont été ajoutées au PDF après sa signature (contenu des pages, pages, polices...) au-delà de ce que le document permet : ce qui est affiché n'est plus ce qui a été signé.";
    "name_refused" => "Nom de fichier refusé", "Le nom de ce fichier dans l'archive déposée est refusé (chemin qui remonte hors de l'archive, chemin absolu, nom vide une fois nettoyé) : la pièce est conservée sous un nom neutre (member-<n>) et le nom d'origine figure dans le détail.";
    "no_critical_vulnerability" => "Aucune vulnérabilité critique", "Le dernier scan de vulnérabilités ne signale aucune vulnérabilité critique.";
    "no_ocr" => "Image non lue", "La pièce est une image (scan ou photo) : son texte n'est pas reconnu automatiquement, un contrôleur doit la lire.";
    "no_public_host" => "Aucun hôte public", "Les scans ne portent que sur des adresses privées : l'exposition sur internet n'est pas auditée.";
    "no_text" => "PDF sans texte", "Le PDF ne contient pas de texte (document scanné) : un contrôleur doit le lire.";
    "ocr_low_confidence" => "Texte reconnu incertain", "Le texte de ce scan ou de cette photo a été reconnu par OCR avec une confiance faible : un contrôleur doit le relire.";
    "ocr_pending" => "Lecture OCR en attente", "La pièce est un scan ou une photo : elle est archivée, et son texte sera reconnu par OCR dans la file qui lui est propre ; le dossier sera jugé de nouveau ensuite.";
    "ocr_totals_inconsistent" => "Totaux lus par OCR à vérifier", "HT + TVA ne font pas le TTC tels que l'OCR les a lus sur ce scan : un chiffre est probablement mal reconnu. Les deux lectures sont indiquées ; un contrôleur lit le bon montant sur la facture.";
    "ocr_unprepared" => "Photo lue sans préparation", "ImageMagick n'est pas installé sur le serveur : les pages de ce scan ou de cette photo ont été lues par OCR telles quelles, sans redressement ni agrandissement ; une photo peut en être moins bien lue.";
    "opaque_content" => "Contenu opaque", "Le contenu est chiffré par conception (archive ORADAD destinée à l'ANSSI) : seuls le nom, la taille et l'empreinte sont connus.";
    "pdf_repaired" => "PDF réparé", "Le PDF est endommagé (table des références) : il a été réparé pour en lire le texte, qui peut être incomplet.";
    "processing_failed" => "Échec du traitement", "Le traitement a échoué après plusieurs tentatives ; la cause est indiquée dans le détail.";
    "public_host_scanned" => "Hôte public audité", "Au moins un hôte exposé sur internet figure dans les scans.";
    "public_host_unknown" => "Hôtes non listés", "Aucun scan structuré ne liste les hôtes audités.";
    "report_mismatch" => "Bilan incohérent", "Le bilan financier ne correspond pas aux factures ou à ses propres lignes.";
    "report_missing" => "Bilan manquant", "Aucun bilan financier lisible : les dépenses ne peuvent être rapprochées des factures.";
    "report_superseded" => "Bilan remplacé", "Un bilan financier plus récent remplace celui-ci.";
    "report_unreadable" => "Rapport illisible", "Aucun rapport dont le contenu soit lisible par la plateforme (chiffré, opaque ou illisible).";
    "report_without_rows" => "Bilan sans tableau", "La pièce a été classée bilan financier mais ne contient ni lignes de dépenses ni montants (un courrier, une page de texte) : elle ne remplace pas un bilan et n'est pas rapprochée des factures.";
    "same_file_twice" => "Même fichier deux fois", "Le même fichier a été déposé deux fois dans le dossier : il est compté une fois.";
    "scan_incomplete" => "Analyse antivirus incomplète", "L'antivirus s'est arrêté avant la fin (limites de taille ou de temps) : le fichier n'est pas réputé sain.";
    "scan_not_public" => "Scan interne", "Le scan ne porte que sur des adresses privées : il ne dit rien de ce qui est exposé sur internet et n'est pas pris en compte pour cet objectif.";
    "scan_truncated" => "Rapport de scan tronqué", "Le rapport de scan s'arrête au milieu (scan interrompu ou fichier coupé) : seuls les hôtes décrits jusqu'au bout ont été lus.";
    "scan_unfinished" => "Scan inachevé", "Le scan réseau ne s'est pas terminé normalement.";
    "several_documents" => "Plusieurs documents dans un fichier", "Les pages de ce fichier appartiennent à des documents différents (une autre facture, avec son numéro et ses totaux, commence à la page indiquée) : seuls les champs du premier document sont lus ; un contrôleur vérifie les autres, qui devraient être déposés chacun à part.";
    "signature_absent" => "Pièce non signée", "La pièce ne porte aucune signature électronique : elle ne prouve pas l'objectif à elle seule ; un contrôleur décide s'il l'accepte (une signature manuscrite se vérifie sur la pièce).";
    "signature_digest_mismatch" => "Empreinte de signature fausse", "Les octets signés ne correspondent pas à l'empreinte de la signature : le fichier a été modifié après signature.";
    "signature_holds" => "Signature valide", "La pièce porte une signature électronique valide (intacte, d'un signataire reconnu, document non modifié depuis) : elle prouve l'objectif.";
    "signature_indeterminate" => "Signature non confirmée", "La signature est intacte mais sa validité n'est pas établie (autorité de certification non reconnue, certificat expiré ou révoqué, date non prouvée) : un contrôleur doit en juger.";
    "signature_invalid" => "Signature invalide", "La signature ne vérifie pas (empreinte, valeur de signature ou structure) ou le document a été modifié depuis : il n'est pas celui qui a été signé.";
    "signature_unconfirmed" => "Signature à confirmer", "La signature électronique de la pièce n'est pas confirmée (non validée, indéterminée ou invalide) : un contrôleur décide s'il accepte la pièce.";
    "siret_invalid" => "SIRET ou SIREN invalide", "Le numéro SIRET ou SIREN ne respecte pas sa clé de contrôle.";
    "time_budget" => "Lecture trop longue", "La lecture du fichier a dépassé le temps alloué : il est archivé sans être lu.";
    "too_large" => "Fichier trop volumineux", "Le fichier dépasse la taille lue par la plateforme : il est archivé sans être lu entièrement.";
    "totals_inconsistent" => "Totaux incohérents", "HT + TVA ne font pas le TTC indiqué sur la facture.";
    "totals_missing" => "Montant TTC absent", "Le montant TTC de la facture n'a pas été trouvé.";
    "type_mismatch" => "Type différent du nom", "L'extension du fichier ne correspond pas à son contenu réel.";
    "unreadable" => "Fichier illisible", "Le fichier est endommagé ou d'un format mal formé : son contenu n'a pas pu être lu, ou seulement en partie.";
    "vat_id_invalid" => "Numéro de TVA invalide", "Le numéro de TVA intracommunautaire ne respecte pas sa clé.";
    "vulnerability_fixed" => "Vulnérabilité corrigée", "Une vulnérabilité critique d'un scan précédent est absente du dernier scan.";
    "vulnerability_scan_missing" => "Scan de vulnérabilités manquant", "Aucun scan de vulnérabilités (Nessus, OpenVAS) : l'absence de vulnérabilité critique n'est pas démontrée.";
    "within_ceiling" => "Sous le plafond", "Le montant total demandé reste sous le plafond de la catégorie de l'établissement.";
}

/// The term of a code, if it is one of ours.
pub fn term(code: &str) -> Option<&'static Term> {
    TERMS.binary_search_by(|t| t.code.cmp(code)).ok().map(|i| &TERMS[i])
}

/// The French label of a code; a code from elsewhere (a newer referential) is named as
/// such rather than shown bare.
pub fn label(code: &str) -> String {
    term(code).map(|t| t.label.to_owned()).unwrap_or_else(|| format!("Observation « {code} »"))
}

/// The French name of an event of a file's history, from its stored kind (`received`,
/// `file_read`...); a kind this version does not write (an old history) is named as such.
pub fn event_label(kind: &str) -> String {
    let label = match kind {
        "received" => "reçu et mis en quarantaine",
        "retry" => "nouvel essai de traitement",
        "stored" => "archivé",
        "needs_review" => "à examiner",
        "infected" => "infecté (quarantaine)",
        "failed" => "échec du traitement",
        "file_read" => "fichier communiqué",
        "text_read" => "texte extrait consulté",
        "fixity_failed" => "contrôle d'intégrité en échec",
        "deletion_refused" => "suppression refusée (durée de conservation)",
        "deleted" => "supprimé après la durée de conservation",
        "decision" => "décision d'un contrôleur",
        "rescanned" => "analysé de nouveau, sain",
        "infected_on_rescan" => "infecté lors d'une nouvelle analyse (remis en quarantaine)",
        "signatures_validated" => "signatures validées de nouveau",
        "ocr_read" => "texte reconnu par OCR, pièce relue",
        other => return format!("événement « {other} »"),
    };
    label.to_owned()
}

impl Verdict {
    /// One name per verdict, wherever a person reads it.
    pub fn label_fr(self) -> &'static str {
        match self {
            Verdict::Met => "Atteint",
            Verdict::NeedsReview => "À examiner",
            Verdict::NotMet => "Non atteint",
        }
    }
}

impl Status {
    pub fn label_fr(self) -> &'static str {
        match self {
            Status::Received => "en cours",
            Status::Stored => "archivé",
            Status::Infected => "infecté (quarantaine)",
            Status::NeedsReview => "à examiner",
            Status::Failed => "échec",
        }
    }
}

impl Severity {
    pub fn label_fr(self) -> &'static str {
        match self {
            Severity::Info => "information",
            Severity::Warning => "avertissement",
            Severity::Error => "erreur",
            Severity::Critical => "critique",
        }
    }
}

impl crate::extracted::SubIndication {
    /// What the ETSI sub-indication means, for a controller.
    pub fn label_fr(self) -> &'static str {
        use crate::extracted::SubIndication::*;
        match self {
            HashFailure => "les octets signés ne correspondent pas à l'empreinte signée",
            SigCryptoFailure => "la valeur de signature ne vérifie pas avec la clé du signataire",
            FormatFailure => "structure de signature invalide ou modifications non permises après signature",
            NoSigningCertificateFound => "le certificat du signataire est absent de la signature",
            NoCertificateChainFound => "aucune chaîne vers une autorité de confiance configurée",
            OutOfBoundsNoPoe => "certificat hors de sa période de validité, sans preuve de date antérieure",
            RevokedNoPoe => "certificat révoqué, sans preuve que la signature précède la révocation",
            ChainConstraintsFailure => "chaîne de certification non conforme (usages de clé, contraintes d'autorité)",
            CryptoConstraintsFailureNoPoe => "algorithme de signature non vérifiable",
        }
    }
}

impl crate::extracted::Indication {
    pub fn label_fr(self) -> &'static str {
        match self {
            crate::extracted::Indication::TotalPassed => "valide",
            crate::extracted::Indication::Indeterminate => "indéterminée",
            crate::extracted::Indication::TotalFailed => "invalide",
        }
    }
}

impl crate::extracted::ModificationLevel {
    pub fn label_fr(self) -> &'static str {
        use crate::extracted::ModificationLevel::*;
        match self {
            None => "aucune",
            LtaUpdates => "données de validation et horodatages",
            FormFilling => "remplissage de formulaire, signatures",
            Annotations => "annotations",
            Other => "autres modifications (contenu)",
        }
    }
}

impl Kind {
    pub fn label_fr(self) -> &'static str {
        match self {
            Kind::AdAuditReport => "rapport d'audit AD",
            Kind::ExposureScan => "scan d'exposition",
            Kind::VulnerabilityScan => "scan de vulnérabilités",
            Kind::Invoice => "facture",
            Kind::CreditNote => "avoir",
            Kind::Quote => "devis",
            Kind::PurchaseOrder => "bon de commande",
            Kind::FinancialReport => "bilan financier",
            Kind::Attestation => "attestation",
            Kind::CoverLetter => "courrier d'accompagnement",
            Kind::Diagram => "schéma",
            Kind::SlideDeck => "présentation (diaporama)",
            Kind::Contract => "contrat",
            Kind::Other => "autre",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    #[test]
    fn every_event_kind_has_a_french_name() {
        use crate::EventKind;
        let kinds = [
            EventKind::Received,
            EventKind::Retry,
            EventKind::FileRead,
            EventKind::TextRead,
            EventKind::FixityFailed,
            EventKind::DeletionRefused,
            EventKind::Deleted,
            EventKind::Decision,
            EventKind::Rescanned,
            EventKind::InfectedOnRescan,
        ]
        .into_iter()
        .chain([Status::Stored, Status::NeedsReview, Status::Infected, Status::Failed].map(EventKind::Finished));
        for kind in kinds {
            assert!(!event_label(kind.as_str()).starts_with("événement"), "{kind} has no French name");
        }
        assert_eq!(event_label("ancien"), "événement « ancien »");
    }

    #[test]
    fn terms_are_sorted_unique_and_french() {
        for pair in TERMS.windows(2) {
            assert!(pair[0].code < pair[1].code, "{} then {}: keep TERMS sorted and unique", pair[0].code, pair[1].code);
        }
        for t in TERMS {
            assert!(!t.label.is_empty() && t.explanation.ends_with('.'), "{}", t.code);
        }
        assert_eq!(term("siret_invalid").unwrap().label, "SIRET ou SIREN invalide");
        assert_eq!(label("from_a_newer_referential"), "Observation « from_a_newer_referential »");
    }

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// Every code the source can produce (a finding's first argument, a reason's code,
    /// an extraction error's code, a decision's code) has its French term.
    #[test]
    fn every_code_in_the_source_has_a_term() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        for krate in ["extract", "workers", "verify", "ingest", "schemas", "storage", "src"] {
            let dir = if krate == "src" { root.join("src") } else { root.join(krate).join("src") };
            rust_files(&dir, &mut files);
        }
        let produced = regex::Regex::new(r#"(?:Finding::new|warning|finding|\.add)\(\s*"([a-z][a-z0-9_]*)"|=> "([a-z][a-z0-9_]*)",\s*$"#).unwrap();
        let mut missing = Vec::new();
        let mut seen = 0;
        for file in files.iter().filter(|f| !f.ends_with("vocabulary.rs") && !f.ends_with("conformance.rs")) {
            let text = std::fs::read_to_string(file).unwrap();
            // `=> "code",` lines count only inside a `fn code(` (extraction errors) or a
            // `fn reason_code(` (decisions): elsewhere they name formats and roles.
            let code_fns: Vec<&str> = ["pub fn code(&self)", "pub fn reason_code(&self)"]
                .iter()
                .filter_map(|marker| text.find(marker))
                .map(|start| &text[start..text[start..].find("\n    }").map_or(text.len(), |end| start + end)])
                .collect();
            for caps in produced.captures_iter(&text) {
                if let Some(c) = caps.get(1) {
                    seen += 1;
                    if term(c.as_str()).is_none() {
                        missing.push(format!("{}: {}", file.display(), c.as_str()));
                    }
                }
            }
            for body in code_fns {
                for line in body.lines() {
                    if let Some(caps) = produced.captures(line).and_then(|c| c.get(2)) {
                        seen += 1;
                        if term(caps.as_str()).is_none() {
                            missing.push(format!("{}: {}", file.display(), caps.as_str()));
                        }
                    }
                }
            }
        }
        assert!(seen > 60, "the walk found only {seen} codes: is the pattern still right?");
        assert!(missing.is_empty(), "codes without a French term: {missing:#?}");
    }
}
