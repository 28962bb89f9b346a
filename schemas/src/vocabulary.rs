//! One French vocabulary for what controllers and archivists read: every finding and
//! reason code an extractor, a stage or a referential rule can produce, with its French
//! label and a sentence that explains it; and the French names of verdicts, statuses,
//! kinds and severities. The console, the French report and the API speak through these
//! tables only, so the same thing is never called two names.
//!
//! A test walks the source tree and checks that every code written there has its term.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{Kind, Severity, Status, Verdict};

/// One code as people read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Term {
    pub code: FindingCode,
    /// A few words, for a table cell or a badge.
    pub label: &'static str,
    /// What it means and what a controller should do about it.
    pub explanation: &'static str,
}

macro_rules! codes {
    ($($variant:ident = $code:literal => $label:literal, $explanation:literal;)+) => {
        /// Every finding and reason code an extractor, a stage, the judge or a controller's
        /// decision can produce. Serialised as its snake_case name (`siret_invalid`), the
        /// string stored in records, verifications and exports since the first version.
        ///
        /// Append only: a record archived years ago must still read, so a code is never
        /// renamed or removed (the test `no_code_is_ever_removed` holds the list).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum FindingCode {
            $($variant,)+
        }

        named_enum!(FindingCode, UnknownCode, "finding code", { $($variant => $code),+ });

        /// Every code with its French words, sorted by code.
        pub const TERMS: &[Term] = &[$(Term { code: FindingCode::$variant, label: $label, explanation: $explanation }),+];
    };
}

codes! {
    ActiveContent = "active_content" => "Contenu actif", "Le PDF contient du JavaScript, des actions automatiques ou des fichiers à lancer : à ouvrir avec précaution.";
    AdLevelBelowTarget = "ad_level_below_target" => "Niveau ANSSI insuffisant", "Le niveau de sécurité de l'annuaire déduit du rapport est inférieur à la cible du programme.";
    AdLevelDeclared = "ad_level_declared" => "Niveau ANSSI déclaré", "Le niveau ANSSI n'est connu que par ce qu'en écrit un rapport d'audit (PDF), sans règles pour le calculer : un contrôleur doit le confirmer sur le rapport.";
    AdLevelReached = "ad_level_reached" => "Niveau ANSSI atteint", "Le niveau de sécurité de l'annuaire déduit du rapport atteint la cible du programme.";
    AdLevelUnconfirmed = "ad_level_unconfirmed" => "Niveau ANSSI non confirmé", "Le niveau semble atteint, mais des règles déclenchées n'ont pas de niveau dans le référentiel.";
    AdLevelUnknown = "ad_level_unknown" => "Niveau ANSSI inconnu", "Aucun rapport exploitable ne permet de déduire le niveau ANSSI de l'annuaire.";
    AdMaturityMismatch = "ad_maturity_mismatch" => "Niveau de maturité différent", "Le niveau de maturité écrit dans le rapport PingCastle n'est pas celui que donnent ses règles déclenchées selon le référentiel : la table du référentiel ne correspond peut-être pas à la version de PingCastle.";
    ArchiveLimits = "archive_limits" => "Archive hors limites", "L'archive dépasse les limites de décompression (taille, nombre de fichiers, imbrication) : son contenu n'est pas extrait.";
    CeilingExceeded = "ceiling_exceeded" => "Plafond dépassé", "Le montant total demandé dépasse le plafond de la catégorie de l'établissement.";
    CeilingUnknown = "ceiling_unknown" => "Plafond non vérifiable", "La catégorie de l'établissement est inconnue ou sans plafond : le montant doit être vérifié par un contrôleur.";
    ControllerAccepted = "controller_accepted" => "Accepté par un contrôleur", "Un contrôleur a examiné l'objectif et l'a accepté.";
    ControllerRejected = "controller_rejected" => "Refusé par un contrôleur", "Un contrôleur a examiné l'objectif et l'a refusé.";
    ControllerRequestedInformation = "controller_requested_information" => "Complément demandé", "Un contrôleur a demandé des pièces ou des précisions à l'établissement.";
    CriticalVulnerability = "critical_vulnerability" => "Vulnérabilité critique", "Le scan signale une vulnérabilité critique (sévérité maximale ou score CVSS au-delà du seuil).";
    DateInWindow = "date_in_window" => "Date dans la période", "La pièce est datée à l'intérieur de la période du programme.";
    DateMissing = "date_missing" => "Date absente", "Aucune date lisible sur la pièce : la période ne peut être vérifiée.";
    DateOutsideWindow = "date_outside_window" => "Date hors période", "La pièce est datée hors de la période du programme.";
    DomainMissing = "domain_missing" => "Domaine non nommé", "Le rapport d'audit ne nomme pas le domaine audité.";
    DossierMixedEstablishments = "dossier_mixed_establishments" => "Dossier mélangé", "Des pièces du dossier ont été déposées pour un autre établissement ou une autre campagne : aucun objectif n'est atteint tant qu'un contrôleur n'a pas tranché.";
    DuplicateSubmission = "duplicate_submission" => "Pièce en double", "La même facture (ou le même fichier) a déjà été fournie, dans ce dossier ou un autre.";
    Encrypted = "encrypted" => "Fichier chiffré", "Le fichier est protégé par un mot de passe inconnu : son contenu n'a pas pu être lu.";
    EncryptedReport = "encrypted_report" => "Rapport chiffré", "Le rapport est chiffré (XML-Enc) : son contenu ne peut être vérifié par la plateforme.";
    EvidenceMissing = "evidence_missing" => "Pièce manquante", "Aucune pièce recevable pour cet objectif.";
    EvidenceNeedsReview = "evidence_needs_review" => "Pièce à examiner", "Une pièce de cet objectif n'a pas pu être lue ou vérifiée automatiquement : un contrôleur doit la regarder.";
    EvidenceNotApplicable = "evidence_not_applicable" => "Pièce non applicable", "La pièce a été déclarée pour cet objectif mais n'est pas d'un type qu'il accepte.";
    EvidencePresent = "evidence_present" => "Pièce fournie", "Au moins une pièce recevable a été fournie pour cet objectif.";
    ExposureFixed = "exposure_fixed" => "Exposition corrigée", "Un service à risque ouvert lors d'un scan précédent est fermé au dernier scan.";
    ExposureNotRescanned = "exposure_not_rescanned" => "Exposition non revérifiée", "Un hôte exposé lors d'un scan précédent n'apparaît pas dans le dernier scan.";
    ExposureUnknown = "exposure_unknown" => "Exposition non vérifiable", "Aucun scan structuré ne permet de vérifier les services exposés sur internet.";
    FacturxPageMismatch = "facturx_page_mismatch" => "Page et XML Factur-X divergents", "La page de la facture Factur-X ne dit pas la même chose que le XML incorporé (numéro, date, identifiants du vendeur ou totaux) : les champs retenus sont ceux du XML, un contrôleur doit vérifier que la page lue et le XML décrivent la même facture.";
    HashMismatch = "hash_mismatch" => "Empreinte différente", "Les octets reçus par le traitement ne correspondent pas à l'empreinte calculée au dépôt.";
    HighRiskServiceExposed = "high_risk_service_exposed" => "Service à risque exposé", "Un service à risque (bureau à distance, partage de fichiers...) est accessible depuis internet.";
    Infected = "infected" => "Fichier infecté", "L'antivirus a détecté une signature : le fichier reste en quarantaine et n'est jamais ouvert.";
    IntegrityAbsent = "integrity_absent" => "Empreinte d'intégrité absente", "Le rapport PingCastle ne porte pas d'empreinte d'intégrité : ses règles ne peuvent être authentifiées.";
    IntegrityMismatch = "integrity_mismatch" => "Rapport modifié", "Les règles du rapport PingCastle ne correspondent pas à son empreinte d'intégrité : il a été modifié après sa production.";
    InvoiceFieldsInconsistent = "invoice_fields_inconsistent" => "Champs de facture incohérents", "Des montants ou des identifiants lus sur la facture se contredisent (HT + TVA ≠ TTC, TVA hors de tout taux, SIREN différent de celui du n° de TVA, date après l'échéance) : les champs en désaccord sont laissés vides et les valeurs lues sont données ; un contrôleur les relit sur la pièce.";
    InvoiceMissing = "invoice_missing" => "Facture non fournie", "Une facture listée au bilan financier n'a pas été fournie.";
    InvoiceNotReported = "invoice_not_reported" => "Facture hors bilan", "Une facture fournie n'apparaît pas dans le bilan financier : un contrôleur vérifie si elle fait partie des dépenses déclarées (bilan incomplet) ou non.";
    LowConfidence = "low_confidence" => "Type incertain", "Le type de la pièce a été deviné avec une confiance faible : un contrôleur doit le confirmer.";
    MemoryLimit = "memory_limit" => "Lecture hors limite mémoire", "La lecture du fichier demandait plus de mémoire que la limite fixée (fichier piégé ou démesuré) : il est archivé sans être lu, un contrôleur doit l'ouvrir.";
    ModifiedAfterSigning = "modified_after_signing" => "Modifié après signature", "Des modifications ont été ajoutées au PDF après sa signature (contenu des pages, pages, polices...) au-delà de ce que le document permet : ce qui est affiché n'est plus ce qui a été signé.";
    NameRefused = "name_refused" => "Nom de fichier refusé", "Le nom de ce fichier dans l'archive déposée est refusé (chemin qui remonte hors de l'archive, chemin absolu, nom vide une fois nettoyé) : la pièce est conservée sous un nom neutre (member-<n>) et le nom d'origine figure dans le détail.";
    NoCriticalVulnerability = "no_critical_vulnerability" => "Aucune vulnérabilité critique", "Le dernier scan de vulnérabilités ne signale aucune vulnérabilité critique.";
    NoOcr = "no_ocr" => "Image non lue", "La pièce est une image (scan ou photo) : son texte n'est pas reconnu automatiquement, un contrôleur doit la lire.";
    NoPublicHost = "no_public_host" => "Aucun hôte public", "Les scans ne portent que sur des adresses privées : l'exposition sur internet n'est pas auditée.";
    NoText = "no_text" => "PDF sans texte", "Le PDF ne contient pas de texte (document scanné) : un contrôleur doit le lire.";
    OcrLowConfidence = "ocr_low_confidence" => "Texte reconnu incertain", "Le texte de ce scan ou de cette photo a été reconnu par OCR avec une confiance faible : un contrôleur doit le relire.";
    OcrPending = "ocr_pending" => "Lecture OCR en attente", "La pièce est un scan ou une photo : elle est archivée, et son texte sera reconnu par OCR dans la file qui lui est propre ; le dossier sera jugé de nouveau ensuite.";
    OcrTotalsInconsistent = "ocr_totals_inconsistent" => "Totaux lus par OCR à vérifier", "HT + TVA ne font pas le TTC tels que l'OCR les a lus sur ce scan : un chiffre est probablement mal reconnu. Les deux lectures sont indiquées ; un contrôleur lit le bon montant sur la facture.";
    OcrUnprepared = "ocr_unprepared" => "Photo lue sans préparation", "ImageMagick n'est pas installé sur le serveur : les pages de ce scan ou de cette photo ont été lues par OCR telles quelles, sans redressement ni agrandissement ; une photo peut en être moins bien lue.";
    OpaqueContent = "opaque_content" => "Contenu opaque", "Le contenu est chiffré par conception (archive ORADAD destinée à l'ANSSI) : seuls le nom, la taille et l'empreinte sont connus.";
    PdfRepaired = "pdf_repaired" => "PDF réparé", "Le PDF est endommagé (table des références) : il a été réparé pour en lire le texte, qui peut être incomplet.";
    ProcessingFailed = "processing_failed" => "Échec du traitement", "Le traitement a échoué après plusieurs tentatives ; la cause est indiquée dans le détail.";
    PublicHostScanned = "public_host_scanned" => "Hôte public audité", "Au moins un hôte exposé sur internet figure dans les scans.";
    PublicHostUnknown = "public_host_unknown" => "Hôtes non listés", "Aucun scan structuré ne liste les hôtes audités.";
    ReportMismatch = "report_mismatch" => "Bilan incohérent", "Le bilan financier ne correspond pas aux factures ou à ses propres lignes.";
    ReportMissing = "report_missing" => "Bilan manquant", "Aucun bilan financier lisible : les dépenses ne peuvent être rapprochées des factures.";
    ReportSuperseded = "report_superseded" => "Bilan remplacé", "Un bilan financier plus récent remplace celui-ci.";
    ReportUnreadable = "report_unreadable" => "Rapport illisible", "Aucun rapport dont le contenu soit lisible par la plateforme (chiffré, opaque ou illisible).";
    ReportWithoutRows = "report_without_rows" => "Bilan sans tableau", "La pièce a été classée bilan financier mais ne contient ni lignes de dépenses ni montants (un courrier, une page de texte) : elle ne remplace pas un bilan et n'est pas rapprochée des factures.";
    SameFileTwice = "same_file_twice" => "Même fichier deux fois", "Le même fichier a été déposé deux fois dans le dossier : il est compté une fois.";
    ScanIncomplete = "scan_incomplete" => "Analyse antivirus incomplète", "L'antivirus s'est arrêté avant la fin (limites de taille ou de temps) : le fichier n'est pas réputé sain.";
    ScanNotPublic = "scan_not_public" => "Scan interne", "Le scan ne porte que sur des adresses privées : il ne dit rien de ce qui est exposé sur internet et n'est pas pris en compte pour cet objectif.";
    ScanTruncated = "scan_truncated" => "Rapport de scan tronqué", "Le rapport de scan s'arrête au milieu (scan interrompu ou fichier coupé) : seuls les hôtes décrits jusqu'au bout ont été lus.";
    ScanUnfinished = "scan_unfinished" => "Scan inachevé", "Le scan réseau ne s'est pas terminé normalement.";
    SellerIsEstablishment = "seller_is_establishment" => "Vendeur = établissement déposant", "Le seul identifiant de vendeur trouvé sur la facture (SIRET, SIREN, n° de TVA ou FINESS) est celui de l'établissement qui dépose le dossier, l'acheteur : il n'est pas retenu comme celui du vendeur et le champ est laissé vide. Un contrôleur relit le vendeur sur la pièce ; si l'identifiant n'est pas celui de l'établissement, il corrige les identifiants de l'établissement.";
    SeveralDocuments = "several_documents" => "Plusieurs documents dans un fichier", "Les pages de ce fichier appartiennent à des documents différents (une autre facture, avec son numéro et ses totaux, commence à la page indiquée) : seuls les champs du premier document sont lus ; un contrôleur vérifie les autres, qui devraient être déposés chacun à part.";
    SignatureAbsent = "signature_absent" => "Pièce non signée", "La pièce ne porte aucune signature électronique : elle ne prouve pas l'objectif à elle seule ; un contrôleur décide s'il l'accepte (une signature manuscrite se vérifie sur la pièce).";
    SignatureDigestMismatch = "signature_digest_mismatch" => "Empreinte de signature fausse", "Les octets signés ne correspondent pas à l'empreinte de la signature : le fichier a été modifié après signature.";
    SignatureHolds = "signature_holds" => "Signature valide", "La pièce porte une signature électronique valide (intacte, d'un signataire reconnu, document non modifié depuis) : elle prouve l'objectif.";
    SignatureIndeterminate = "signature_indeterminate" => "Signature non confirmée", "La signature est intacte mais sa validité n'est pas établie (autorité de certification non reconnue, certificat expiré ou révoqué, date non prouvée) : un contrôleur doit en juger.";
    SignatureInvalid = "signature_invalid" => "Signature invalide", "La signature ne vérifie pas (empreinte, valeur de signature ou structure) ou le document a été modifié depuis : il n'est pas celui qui a été signé.";
    SignatureUnconfirmed = "signature_unconfirmed" => "Signature à confirmer", "La signature électronique de la pièce n'est pas confirmée (non validée, indéterminée ou invalide) : un contrôleur décide s'il accepte la pièce.";
    SiretInvalid = "siret_invalid" => "SIRET ou SIREN invalide", "Le numéro SIRET ou SIREN ne respecte pas sa clé de contrôle.";
    TimeBudget = "time_budget" => "Lecture trop longue", "La lecture du fichier a dépassé le temps alloué : il est archivé sans être lu.";
    TooLarge = "too_large" => "Fichier trop volumineux", "Le fichier dépasse la taille lue par la plateforme : il est archivé sans être lu entièrement.";
    TotalsInconsistent = "totals_inconsistent" => "Totaux incohérents", "HT + TVA ne font pas le TTC indiqué sur la facture.";
    TotalsMissing = "totals_missing" => "Montant TTC absent", "Le montant TTC de la facture n'a pas été trouvé.";
    TypeMismatch = "type_mismatch" => "Type différent du nom", "L'extension du fichier ne correspond pas à son contenu réel.";
    Unreadable = "unreadable" => "Fichier illisible", "Le fichier est endommagé ou d'un format mal formé : son contenu n'a pas pu être lu, ou seulement en partie.";
    VatIdInvalid = "vat_id_invalid" => "Numéro de TVA invalide", "Le numéro de TVA intracommunautaire ne respecte pas sa clé.";
    VulnerabilityFixed = "vulnerability_fixed" => "Vulnérabilité corrigée", "Une vulnérabilité critique d'un scan précédent est absente du dernier scan.";
    VulnerabilityScanMissing = "vulnerability_scan_missing" => "Scan de vulnérabilités manquant", "Aucun scan de vulnérabilités (Nessus, OpenVAS) : l'absence de vulnérabilité critique n'est pas démontrée.";
    WithinCeiling = "within_ceiling" => "Sous le plafond", "Le montant total demandé reste sous le plafond de la catégorie de l'établissement.";
}

impl FindingCode {
    /// Its French words: [`TERMS`] is in the enum's order.
    pub fn term(self) -> &'static Term {
        &TERMS[self as usize]
    }

    /// A few French words, for a table cell or a badge.
    pub fn label(self) -> &'static str {
        self.term().label
    }

    /// What it means and what a controller should do about it, in French.
    pub fn explanation(self) -> &'static str {
        self.term().explanation
    }
}

/// What a code asks of people, beside what it means: the question a controller answers
/// when the code holds an objective for review, and what the establishment can do about
/// it. One entry per code in [`FindingCode::guidance`], an exhaustive match: a new code
/// does not compile until someone has decided both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guidance {
    /// A question a controller answers by yes or no and signs: « Accepter » is the yes
    /// (the proof is accepted), « Rejeter » the no. `None` for a code that never holds an
    /// objective for review (an observation, or a verdict the machine settles).
    pub question: Option<&'static str>,
    /// What the establishment can do (lower case, it follows « À faire : »); `None` when
    /// there is nothing particular to do beyond what the verdict says ([`Verdict::to_do`]).
    pub to_do: Option<&'static str>,
}

/// A code that asks a question, and what the establishment can do.
const fn ask(question: &'static str, to_do: Option<&'static str>) -> Guidance {
    Guidance { question: Some(question), to_do }
}

/// A code that asks no question.
const fn tell(to_do: Option<&'static str>) -> Guidance {
    Guidance { question: None, to_do }
}

/// The establishment's remedies that several codes share.
const SEND_ORIGINAL_PDF: &str = "déposez de préférence le PDF d'origine (exporté par le logiciel qui l'a produit) plutôt qu'un scan ou une photo.";
const SEND_LIGHTER: &str = "déposez une version plus légère du fichier (un PDF exporté par votre logiciel, ou les fichiers un par un).";
const SEND_STRUCTURED_SCAN: &str = "déposez le résultat du scan au format XML (nmap -oX, Nessus, OpenVAS), pas seulement un PDF.";
const SEND_PUBLIC_SCAN: &str = "déposez un scan de vos adresses exposées sur internet (adresses publiques), pas seulement du réseau interne.";
const SEND_PINGCASTLE_XML: &str = "déposez le rapport PingCastle au format XML tel que l'outil l'a produit, non chiffré et sans modification.";
const INVOICE_UNREADABLE: &str = "les montants de la facture ne se lisent pas correctement : remplacez-la par l'original émis par le fournisseur.";
const SIGNATURE_BROKEN: &str = "la signature ne correspond plus au document : déposez le document signé tel qu'il a été signé, sans le modifier.";
const SUPPLIER_ID: &str = "un identifiant du fournisseur est invalide : vérifiez la facture et remplacez-la si besoin.";
const DUPLICATE: &str = "cette pièce a déjà été fournie : retirez le doublon si c'est une erreur.";
const NOT_READ: &str = "le fichier n'a pas pu être lu : déposez-le de nouveau (un PDF exporté par votre logiciel de préférence).";
const FILE_NOT_READ_QUESTION: &str = "Ce fichier n'a pas pu être lu par la plateforme : après l'avoir ouvert, l'acceptez-vous comme preuve ?";

impl FindingCode {
    /// The question a controller answers about this code and what the establishment can
    /// do about it, in plain French. The espace's « À faire » and the console's questions
    /// come from here only.
    pub const fn guidance(self) -> Guidance {
        use FindingCode as C;
        match self {
            C::ActiveContent => ask(
                "Ce PDF contient du contenu actif (JavaScript, actions automatiques) : après l'avoir ouvert avec précaution, l'acceptez-vous comme preuve ?",
                Some("déposez le document sans contenu actif (imprimé ou exporté de nouveau en PDF)."),
            ),
            C::AdLevelBelowTarget => tell(Some("le niveau de sécurité de l'annuaire n'atteint pas la cible : déposez un rapport d'audit après remédiation.")),
            C::AdLevelDeclared => ask(
                "Le niveau ANSSI n'est connu que par ce qu'en écrit le rapport : les constats du rapport attestent-ils ce niveau ?",
                Some("déposez aussi le rapport PingCastle au format XML d'où ce niveau est tiré : la plateforme le calculera."),
            ),
            C::AdLevelReached => ask("Le niveau ANSSI déduit des règles atteint la cible, mais le rapport en annonce un plus bas : retenez-vous que la cible est atteinte ?", None),
            C::AdLevelUnconfirmed => ask("Des règles déclenchées n'ont pas de niveau dans le référentiel : d'après le rapport, l'annuaire atteint-il quand même la cible ?", None),
            C::AdLevelUnknown => ask(
                "Aucun rapport exploitable ne donne le niveau ANSSI de l'annuaire : les pièces du dossier montrent-elles que la cible est atteinte ?",
                Some(SEND_PINGCASTLE_XML),
            ),
            C::AdMaturityMismatch => ask("Le rapport PingCastle annonce un niveau de maturité sous la cible, ses règles un niveau qui l'atteint : retenez-vous que la cible est atteinte ?", None),
            C::ArchiveLimits => ask(
                "Cette archive n'a pas été ouverte (trop grosse ou trop de fichiers) : après l'avoir examinée, l'acceptez-vous comme preuve ?",
                Some(SEND_LIGHTER),
            ),
            C::CeilingExceeded => ask(
                "Le montant demandé dépasse le plafond de la catégorie de l'établissement : l'acceptez-vous tel quel ?",
                Some("le montant demandé dépasse le plafond de votre catégorie : corrigez le bilan."),
            ),
            C::CeilingUnknown => ask("La catégorie de l'établissement n'a pas de plafond connu : le montant demandé respecte-t-il les règles du programme ?", None),
            C::ControllerAccepted | C::ControllerRejected => tell(None),
            C::ControllerRequestedInformation => ask(
                "Un complément a été demandé à l'établissement : ce qu'il a apporté prouve-t-il l'objectif ?",
                Some("répondez au contrôleur ci-dessous, avec les pièces demandées."),
            ),
            C::CriticalVulnerability => tell(Some("corrigez la vulnérabilité critique, puis déposez un nouveau scan.")),
            C::DateInWindow => tell(None),
            C::DateMissing => ask(
                "Aucune date n'a pu être lue : la pièce est-elle datée dans la période du programme ?",
                Some("déposez une pièce dont la date est lisible (un PDF plutôt qu'une photo), ou remplacez celle-ci."),
            ),
            C::DateOutsideWindow => tell(Some("remplacez cette pièce par une pièce datée dans la période du programme, ou retirez-la du dossier (et du bilan).")),
            C::DomainMissing => ask(
                "Le rapport ne nomme pas le domaine audité : est-ce bien l'annuaire de l'établissement qui a été audité ?",
                Some("déposez un rapport d'audit qui nomme le domaine audité."),
            ),
            C::DossierMixedEstablishments => ask(
                "Le dossier contient des pièces d'un autre établissement ou d'une autre campagne : les pièces de cet établissement prouvent-elles l'objectif ?",
                Some("retirez les pièces déposées pour un autre établissement ou une autre campagne."),
            ),
            C::DuplicateSubmission => ask("Cette facture a déjà été fournie, dans ce dossier ou un autre : la comptez-vous ici ?", Some(DUPLICATE)),
            C::Encrypted => ask(
                "Ce fichier est protégé par un mot de passe et n'a pas été lu : après l'avoir ouvert, l'acceptez-vous comme preuve ?",
                Some("le fichier est protégé par un mot de passe : déposez-le sans mot de passe."),
            ),
            C::EncryptedReport => ask("Le rapport est chiffré et la plateforme n'a pas pu le vérifier : l'acceptez-vous comme preuve ?", Some(SEND_PINGCASTLE_XML)),
            C::EvidenceMissing => ask(
                "Aucune pièce recevable pour cet objectif : les autres pièces du dossier le prouvent-elles quand même ?",
                Some("déposez une pièce qui prouve cet objectif (voir les types de pièces attendus dans le cahier des charges de la campagne)."),
            ),
            C::EvidenceNeedsReview => ask("Cette pièce n'a pas pu être lue ou vérifiée par la plateforme : après l'avoir lue, l'acceptez-vous comme preuve ?", None),
            C::EvidenceNotApplicable => {
                tell(Some("cette pièce ne prouve pas cet objectif : déposez le document attendu, ou retirez-la si elle a été jointe par erreur."))
            }
            C::EvidencePresent | C::ExposureFixed => tell(None),
            C::ExposureNotRescanned => ask(
                "Un hôte exposé au scan précédent manque au dernier scan : le tenez-vous pour corrigé ?",
                Some("déposez un nouveau scan qui couvre aussi cet hôte."),
            ),
            C::ExposureUnknown => ask(
                "Aucun scan structuré ne liste les services exposés : les pièces montrent-elles qu'aucun service à risque n'est ouvert sur internet ?",
                Some(SEND_STRUCTURED_SCAN),
            ),
            C::FacturxPageMismatch => ask(
                "La page et le XML de la facture Factur-X ne disent pas la même chose : décrivent-ils bien la même facture ?",
                Some("demandez au fournisseur la facture Factur-X telle qu'il l'a émise, et remplacez celle-ci."),
            ),
            C::HashMismatch => ask("Les octets traités ne sont pas ceux reçus au dépôt : après l'avoir ouvert, acceptez-vous ce fichier comme preuve ?", Some(NOT_READ)),
            C::HighRiskServiceExposed => tell(Some("fermez le service exposé sur internet, puis déposez un nouveau scan.")),
            // Never opened, never accepted: a controller has nothing to weigh.
            C::Infected => tell(Some("le fichier contient un virus et n'a pas été ouvert : retirez-le, vérifiez votre poste, puis déposez une copie saine.")),
            C::IntegrityAbsent => ask("Le rapport PingCastle ne porte pas d'empreinte d'intégrité : l'acceptez-vous comme preuve ?", Some(SEND_PINGCASTLE_XML)),
            C::IntegrityMismatch => tell(Some(SEND_PINGCASTLE_XML)),
            C::InvoiceFieldsInconsistent => {
                ask("Des montants ou des identifiants lus sur la facture se contredisent : après l'avoir relue, l'acceptez-vous ?", Some(INVOICE_UNREADABLE))
            }
            C::InvoiceMissing => ask(
                "Une facture listée au bilan n'a pas été fournie : acceptez-vous la dépense sans elle ?",
                Some("une facture listée au bilan n'a pas été fournie : déposez-la, ou corrigez le bilan."),
            ),
            C::InvoiceNotReported => ask(
                "Cette facture n'apparaît pas au bilan : fait-elle partie des dépenses déclarées ?",
                Some("cette facture n'apparaît pas au bilan : complétez le bilan, ou retirez la facture si elle ne fait pas partie des dépenses."),
            ),
            C::LowConfidence => ask(
                "Le type de cette pièce a été deviné : est-ce bien une pièce qui prouve cet objectif ?",
                Some("si cette pièce n'est pas le document attendu, remplacez-la par celui-ci."),
            ),
            C::MemoryLimit | C::TimeBudget => ask(FILE_NOT_READ_QUESTION, Some(SEND_LIGHTER)),
            C::ModifiedAfterSigning => {
                ask("Le PDF a été modifié après sa signature : acceptez-vous ce qu'il affiche comme preuve ?", Some(SIGNATURE_BROKEN))
            }
            C::NameRefused => tell(None),
            C::NoCriticalVulnerability => tell(None),
            C::NoOcr => ask("Cette image n'est pas lue automatiquement : après l'avoir lue, l'acceptez-vous comme preuve ?", Some(SEND_ORIGINAL_PDF)),
            C::NoPublicHost => tell(Some(SEND_PUBLIC_SCAN)),
            C::NoText => ask("Aucun texte n'a pu être lu dans cette pièce (scan ou photo) : après l'avoir lue, l'acceptez-vous comme preuve ?", Some(SEND_ORIGINAL_PDF)),
            C::OcrLowConfidence => ask("Le texte de ce scan a été mal reconnu : après avoir relu la pièce, l'acceptez-vous comme preuve ?", Some(SEND_ORIGINAL_PDF)),
            C::OcrPending => ask("Le texte de ce scan n'est pas encore reconnu : après l'avoir lu, l'acceptez-vous sans attendre ?", None),
            C::OcrTotalsInconsistent => ask(
                "Les totaux lus par OCR ne tombent pas juste : après lecture de la facture, ses montants sont-ils cohérents ?",
                Some(SEND_ORIGINAL_PDF),
            ),
            C::OcrUnprepared => tell(None),
            C::OpaqueContent => ask(
                "Ce contenu est chiffré pour l'ANSSI et ne peut être lu : l'acceptez-vous comme preuve, sur la foi de son nom et de sa taille ?",
                Some("joignez aussi le rapport lisible correspondant (PingCastle au format XML)."),
            ),
            C::PdfRepaired => ask("Le PDF était endommagé et son texte peut être incomplet : après l'avoir lu, l'acceptez-vous ?", Some(NOT_READ)),
            C::ProcessingFailed => ask(FILE_NOT_READ_QUESTION, Some(NOT_READ)),
            C::PublicHostScanned => tell(None),
            C::PublicHostUnknown => ask(
                "Aucun scan structuré ne liste les hôtes audités : les pièces montrent-elles qu'une adresse exposée sur internet a été auditée ?",
                Some(SEND_STRUCTURED_SCAN),
            ),
            C::ReportMismatch => ask(
                "Le bilan et la facture ne donnent pas le même montant : après lecture de la facture, le montant du bilan est-il le bon ?",
                Some("le bilan ne correspond pas aux factures : corrigez le bilan ou les factures, puis remplacez-les."),
            ),
            C::ReportMissing => {
                ask("Aucun bilan financier lisible : les factures suffisent-elles à justifier la dépense ?", Some("déposez le bilan financier de l'opération."))
            }
            C::ReportSuperseded | C::ReportWithoutRows => tell(None),
            C::ReportUnreadable => ask(
                "Aucun rapport n'est lisible par la plateforme : après l'avoir ouvert, acceptez-vous le rapport comme preuve ?",
                Some("déposez le rapport dans un format lisible et non chiffré (PingCastle au format XML)."),
            ),
            C::SameFileTwice => tell(Some(DUPLICATE)),
            C::ScanIncomplete => ask("L'antivirus n'a pas terminé l'analyse de ce fichier : après l'avoir examiné, l'acceptez-vous comme preuve ?", Some(SEND_LIGHTER)),
            C::ScanNotPublic => tell(Some(SEND_PUBLIC_SCAN)),
            C::ScanTruncated => ask("Le rapport de scan est coupé : ce qui en a été lu suffit-il à prouver l'objectif ?", Some("déposez le rapport de scan complet.")),
            C::ScanUnfinished => ask(
                "Le scan ne s'est pas terminé normalement : ce qu'il montre suffit-il à prouver l'objectif ?",
                Some("relancez le scan jusqu'au bout et déposez son rapport."),
            ),
            C::SellerIsEstablishment => ask(
                "Le seul identifiant de vendeur lu sur la facture est celui de l'établissement lui-même : après avoir relu le vendeur sur la pièce, l'acceptez-vous ?",
                Some("seul le SIRET de votre établissement se lit sur la facture, pas celui du fournisseur : remplacez-la par une facture qui porte le SIRET du fournisseur, ou répondez au contrôleur si le numéro donné pour votre établissement est faux."),
            ),
            C::SeveralDocuments => ask(
                "Ce fichier contient plusieurs documents et seul le premier a été lu : après avoir lu les autres, l'acceptez-vous ?",
                Some("déposez chaque facture dans son propre fichier."),
            ),
            C::SignatureAbsent => ask(
                "Cette pièce n'est pas signée électroniquement : l'acceptez-vous (une signature manuscrite se vérifie sur la pièce) ?",
                Some("si vous le pouvez, déposez la pièce signée électroniquement ; sinon un contrôleur décidera s'il l'accepte."),
            ),
            C::SignatureDigestMismatch | C::SignatureInvalid => tell(Some(SIGNATURE_BROKEN)),
            C::SignatureHolds => tell(None),
            C::SignatureIndeterminate => ask(
                "La signature est intacte mais sa validité n'est pas établie (autorité non reconnue, certificat expiré ou révoqué) : après avoir vérifié le signataire, l'acceptez-vous ?",
                None,
            ),
            C::SignatureUnconfirmed => ask("La signature de cette pièce n'est pas confirmée : après avoir vérifié le signataire, l'acceptez-vous ?", None),
            C::SiretInvalid | C::VatIdInvalid => {
                ask("Un identifiant du fournisseur lu sur la facture est invalide : après l'avoir relue, l'acceptez-vous ?", Some(SUPPLIER_ID))
            }
            C::TooLarge => ask("Ce fichier n'a été lu qu'en partie (trop volumineux) : après l'avoir ouvert, l'acceptez-vous comme preuve ?", Some(SEND_LIGHTER)),
            C::TotalsInconsistent => ask("HT + TVA ne font pas le TTC de la facture : après l'avoir relue, l'acceptez-vous ?", Some(INVOICE_UNREADABLE)),
            C::TotalsMissing => ask("Le montant TTC de la facture n'a pas été trouvé : la facture porte-t-elle un montant recevable ?", Some(INVOICE_UNREADABLE)),
            C::TypeMismatch => ask(
                "L'extension du fichier ne correspond pas à son contenu : est-ce bien la pièce annoncée ?",
                Some("l'extension du fichier ne correspond pas à son contenu : renommez-le correctement et déposez-le de nouveau."),
            ),
            C::Unreadable => ask(FILE_NOT_READ_QUESTION, Some(NOT_READ)),
            C::VulnerabilityFixed => tell(None),
            C::VulnerabilityScanMissing => ask(
                "Aucun scan de vulnérabilités : les pièces montrent-elles qu'aucune vulnérabilité critique ne subsiste ?",
                Some("déposez un rapport de scan de vulnérabilités (Nessus, OpenVAS)."),
            ),
            C::WithinCeiling => tell(None),
        }
    }

    /// The question a controller answers when this code holds an objective for review.
    pub fn question(self) -> Option<&'static str> {
        self.guidance().question
    }
}

impl crate::Reason {
    /// The question a controller answers about this reason: only a reason that holds its
    /// objective for review asks one. For a file the machine could not read
    /// (`evidence_needs_review`), the question of what the file itself says when it has
    /// one (a scan without text, a password...), given `file`.
    pub fn question(&self, file: Option<&crate::EvidenceRecord>) -> Option<&'static str> {
        if self.verdict != Verdict::NeedsReview {
            return None;
        }
        let specific = (self.code == FindingCode::EvidenceNeedsReview)
            .then(|| file?.findings.iter().filter(|f| f.severity >= Severity::Warning).find_map(|f| f.code.question()))
            .flatten();
        specific.or(self.code.question())
    }

    /// What the establishment can do about this reason; nothing for one that is met.
    pub fn to_do(&self) -> Option<&'static str> {
        match self.verdict {
            Verdict::Met => None,
            v => self.code.guidance().to_do.or(v.to_do()),
        }
    }
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
        "information_answered" => "réponse de l'établissement à une demande de complément",
        "withdrawn" => "retiré du dossier par l'établissement (conservé)",
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

impl Verdict {
    /// What the establishment does about a verdict when its reason says nothing particular.
    pub fn to_do(self) -> Option<&'static str> {
        match self {
            Verdict::Met => None,
            Verdict::NeedsReview => Some("rien à faire pour l'instant : un contrôleur examinera ce point, et vous écrira ici s'il lui faut autre chose."),
            Verdict::NotMet => Some("déposez une pièce qui prouve cet objectif, ou remplacez la pièce signalée."),
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
            EventKind::InformationAnswered,
            EventKind::Withdrawn,
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
            assert!(pair[0].code.as_str() < pair[1].code.as_str(), "{} then {}: keep the codes sorted and unique", pair[0].code, pair[1].code);
        }
        for (i, t) in TERMS.iter().enumerate() {
            assert_eq!(t.code as usize, i, "TERMS follows the enum's order");
            assert!(!t.label.is_empty() && t.explanation.ends_with('.'), "{}", t.code);
        }
        assert_eq!(FindingCode::SiretInvalid.label(), "SIRET ou SIREN invalide");
    }

    /// Questions are yes-or-no questions a controller signs; what to do follows « À faire : ».
    #[test]
    fn questions_ask_and_remedies_say_what_to_do() {
        for code in FindingCode::ALL {
            let g = code.guidance();
            if let Some(q) = g.question {
                assert!(q.ends_with(" ?") && q.starts_with(char::is_uppercase), "{code}: {q}");
                assert!(q.contains(" : "), "{code}: the question says what was seen, then asks: {q}");
            }
            if let Some(t) = g.to_do {
                assert!(t.ends_with('.') && t.starts_with(char::is_lowercase), "{code}: {t}");
            }
        }
        let unsigned =
            crate::Reason { code: FindingCode::SignatureAbsent, verdict: Verdict::NeedsReview, message: String::new(), evidence_id: None, pointer: None };
        assert!(unsigned.question(None).is_some_and(|q| q.contains("n'est pas signée")));
        let met = crate::Reason { verdict: Verdict::Met, ..unsigned.clone() };
        assert_eq!((met.question(None), met.to_do()), (None, None), "a met reason asks nothing");
        let quiet = crate::Reason { code: FindingCode::AdLevelUnconfirmed, ..unsigned };
        assert_eq!(quiet.to_do(), Verdict::NeedsReview.to_do(), "no remedy of its own: the verdict's");
    }

    /// The name serde writes is the one `as_str` gives and `from_str` reads back.
    #[test]
    fn a_code_is_written_and_read_as_its_name() {
        for code in FindingCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), serde_json::Value::from(code.as_str()));
            assert_eq!(serde_json::from_value::<FindingCode>(code.as_str().into()).unwrap(), code);
            assert_eq!(code.as_str().parse::<FindingCode>().unwrap(), code);
        }
        assert!("from_a_newer_version".parse::<FindingCode>().is_err());
    }

    /// Records, verifications and archives keep codes for years: every code a released
    /// version wrote must still read. Add new codes here; never take one out.
    #[test]
    fn no_code_is_ever_removed() {
        let written = [
            "active_content",
            "ad_level_below_target",
            "ad_level_declared",
            "ad_level_reached",
            "ad_level_unconfirmed",
            "ad_level_unknown",
            "ad_maturity_mismatch",
            "archive_limits",
            "ceiling_exceeded",
            "ceiling_unknown",
            "controller_accepted",
            "controller_rejected",
            "controller_requested_information",
            "critical_vulnerability",
            "date_in_window",
            "date_missing",
            "date_outside_window",
            "domain_missing",
            "dossier_mixed_establishments",
            "duplicate_submission",
            "encrypted",
            "encrypted_report",
            "evidence_missing",
            "evidence_needs_review",
            "evidence_not_applicable",
            "evidence_present",
            "exposure_fixed",
            "exposure_not_rescanned",
            "exposure_unknown",
            "facturx_page_mismatch",
            "hash_mismatch",
            "high_risk_service_exposed",
            "infected",
            "integrity_absent",
            "integrity_mismatch",
            "invoice_fields_inconsistent",
            "invoice_missing",
            "invoice_not_reported",
            "low_confidence",
            "memory_limit",
            "modified_after_signing",
            "name_refused",
            "no_critical_vulnerability",
            "no_ocr",
            "no_public_host",
            "no_text",
            "ocr_low_confidence",
            "ocr_pending",
            "ocr_totals_inconsistent",
            "ocr_unprepared",
            "opaque_content",
            "pdf_repaired",
            "processing_failed",
            "public_host_scanned",
            "public_host_unknown",
            "report_mismatch",
            "report_missing",
            "report_superseded",
            "report_unreadable",
            "report_without_rows",
            "same_file_twice",
            "scan_incomplete",
            "scan_not_public",
            "scan_truncated",
            "scan_unfinished",
            "seller_is_establishment",
            "several_documents",
            "signature_absent",
            "signature_digest_mismatch",
            "signature_holds",
            "signature_indeterminate",
            "signature_invalid",
            "signature_unconfirmed",
            "siret_invalid",
            "time_budget",
            "too_large",
            "totals_inconsistent",
            "totals_missing",
            "type_mismatch",
            "unreadable",
            "vat_id_invalid",
            "vulnerability_fixed",
            "vulnerability_scan_missing",
            "within_ceiling",
        ];
        for code in written {
            assert!(code.parse::<FindingCode>().is_ok(), "{code} was written by an earlier version and no longer reads");
        }
    }
}
