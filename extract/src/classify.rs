//! Which kind of evidence a file is. Structure decides first (a parsed PingCastle report
//! is an AD audit, a CII with TypeCode 381 a credit note); otherwise weighted text
//! features in French and English. Deterministic: the same text always gives the same
//! kind, confidence and reasons.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use crate::french::fold;

pub use caregate_schemas::Kind;

#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Classification {
    pub kind: Kind,
    /// 0 to 1. Below [`LOW_CONFIDENCE`] the file goes to a person.
    pub confidence: f32,
    /// What decided: the structure recognised, or the features that matched.
    pub reasons: Vec<String>,
}

/// At or below this the kind is a guess, and guesses go to review.
pub const LOW_CONFIDENCE: f32 = 0.5;

impl Classification {
    pub fn structural(kind: Kind, reason: impl Into<String>) -> Self {
        Self { kind, confidence: 1.0, reasons: vec![reason.into()] }
    }

    /// At the threshold or under it: a guess.
    pub fn is_low(&self) -> bool {
        self.confidence <= LOW_CONFIDENCE
    }
}

/// A text feature: a pattern over folded text (lower case, no accents) and its weight.
struct Feature {
    kind: Kind,
    pattern: &'static str,
    weight: f32,
    /// A document-type word ("FACTURE", "ATTESTATION"): opening a heading line, it names
    /// the document. A tool's name (PingCastle, Nmap) is not one: it opens an invoice's
    /// item line as readily as a report's title.
    title: bool,
}

const fn f(kind: Kind, pattern: &'static str, weight: f32) -> Feature {
    Feature { kind, pattern, weight, title: false }
}

const fn t(kind: Kind, pattern: &'static str, weight: f32) -> Feature {
    Feature { kind, pattern, weight, title: true }
}

/// The features, French first. Titles weigh most; words common to several kinds (tva,
/// total) weigh little.
const FEATURES: &[Feature] = &[
    t(Kind::Invoice, r"\bfacture\b", 3.0),
    t(Kind::Invoice, r"\binvoice\b", 3.0),
    // Suppliers abroad: German, Dutch, Spanish and Italian titles and number labels.
    t(Kind::Invoice, r"\b(rechnung|factuur|factura|fattura)\b", 3.0),
    f(Kind::Invoice, r"\b(rechnungs-?(nr|nummer|datum)|factuur ?(nummer|datum)|numero de factura)\b", 2.0),
    f(Kind::Invoice, r"\b(gesamtbetrag|rechnungsbetrag|mwst|ust-?id|btw|te betalen)\b", 0.5),
    f(Kind::Invoice, r"\b(n[°o]|numero) (de )?facture\b|\bfacture (n[°o]|numero)", 2.0),
    f(Kind::Invoice, r"\btotal ttc\b", 1.5),
    f(Kind::Invoice, r"\bnet a payer\b", 2.0),
    f(Kind::Invoice, r"\b(date d'echeance|echeance|conditions de (paiement|reglement))\b", 1.0),
    f(Kind::Invoice, r"\btotal ht\b", 0.5),
    // An invoice's item table and totals, whatever it bills (an AD audit, a scan).
    f(Kind::Invoice, r"\b(prix unitaire|p\.u\.|designation|quantite|qte)\b", 1.0),
    f(Kind::Invoice, r"\b((sous-)?total|montant) (ht|hors taxes?|toutes taxes comprises)\b", 1.0),
    t(Kind::CreditNote, r"\b(facture d'avoir|avoir (n[°o]|numero)|credit note|note de credit)\b", 5.0),
    t(Kind::CreditNote, r"^\s*avoir\b", 3.0),
    t(Kind::Quote, r"\bdevis\b", 3.0),
    t(Kind::Quote, r"\b(quotation|proposition commerciale|offre de prix)\b", 2.5),
    f(Kind::Quote, r"\b(bon pour accord|validite de l'offre|offre valable)\b", 2.5),
    t(Kind::PurchaseOrder, r"\b(bon de commande|purchase order)\b", 5.0),
    f(Kind::PurchaseOrder, r"\bcommande (n[°o]|numero)\b", 1.5),
    t(Kind::FinancialReport, r"\b(rapport|bilan|etat) (financier|recapitulatif)\b", 4.0),
    t(Kind::FinancialReport, r"\brecapitulatif des (depenses|factures)\b", 4.0),
    f(Kind::FinancialReport, r"\b(depenses|montants engages|total general)\b", 1.5),
    f(Kind::FinancialReport, r"\bfournisseur\b.*\b(montant|ht|ttc)\b", 1.0),
    t(Kind::Attestation, r"\battestation\b", 3.0),
    f(Kind::Attestation, r"\b(atteste|certifie|je soussigne|nous soussignes)\b", 2.5),
    f(Kind::Attestation, r"\b(pour servir et valoir|fait a [a-z\- ]+,? le)\b", 2.0),
    t(Kind::AdAuditReport, r"\b(rapport|compte[- ]rendu) d'audit\b", 3.0),
    f(Kind::AdAuditReport, r"\bactive directory\b", 2.0),
    f(Kind::AdAuditReport, r"\b(pingcastle|oradad|purple knight|bloodhound)\b", 3.0),
    f(Kind::AdAuditReport, r"\b(controleurs? de domaine|domain controllers?|krbtgt|comptes a privileges|privileged accounts|gpo)\b", 1.5),
    f(Kind::AdAuditReport, r"\baudit\b", 1.0),
    f(Kind::ExposureScan, r"\bnmap\b", 3.0),
    f(Kind::ExposureScan, r"\b(ports? ouverts?|open ports?|services exposes)\b", 2.0),
    f(Kind::ExposureScan, r"\b(exposition (sur )?internet|surface d'(exposition|attaque)|attack surface)\b", 2.5),
    f(Kind::VulnerabilityScan, r"\b(nessus|openvas|greenbone|qualys|tenable)\b", 3.0),
    f(Kind::VulnerabilityScan, r"\bvulnerabilit", 2.0),
    f(Kind::VulnerabilityScan, r"\bcve-\d{4}-\d+", 2.0),
    f(Kind::VulnerabilityScan, r"\bcvss\b", 1.5),
];

static COMPILED: LazyLock<Vec<Regex>> =
    LazyLock::new(|| FEATURES.iter().map(|f| Regex::new(&format!("(?m){}", f.pattern)).expect("feature pattern")).collect());

/// Features are counted in the head of the document, where titles are, and at most
/// twice each, so a long appendix cannot outvote the title.
const HEAD_CHARS: usize = 20_000;

/// The kind a text reads as.
pub fn classify_text(text: &str) -> Classification {
    let head: String = text.chars().take(HEAD_CHARS).collect();
    let folded = fold(&head);
    // Headings: the first lines of the document, where "FACTURE N°", "DEVIS" or
    // "ATTESTATION" say what it is, even when its body talks about an AD audit.
    let headings: Vec<String> = head.lines().map(str::trim).filter(|l| !l.is_empty()).take(12).map(fold).collect();
    let mut scores = [0f32; Kind::ALL.len()];
    let mut matched: Vec<Vec<String>> = vec![Vec::new(); Kind::ALL.len()];
    for (feature, re) in FEATURES.iter().zip(COMPILED.iter()) {
        let hits = re.find_iter(&folded).take(2).count();
        if hits == 0 {
            continue;
        }
        let mut weight = feature.weight * hits as f32;
        // A document-type word opening a heading line names the document.
        if feature.title && headings.iter().any(|h| re.find(h).is_some_and(|m| m.start() <= 2)) {
            weight += 2.0 * feature.weight;
        }
        let k = feature.kind as usize;
        scores[k] += weight;
        let first = re.find(&folded).map(|m| m.as_str().trim().to_owned()).unwrap_or_default();
        matched[k].push(format!("{first:?} (+{weight})"));
    }
    let mut ranked: Vec<(usize, f32)> = scores.iter().copied().enumerate().filter(|(_, s)| *s > 0.0).collect();
    // Highest score first; ties go to the kind listed first, so the result is stable.
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let Some(&(best, s1)) = ranked.first() else {
        // Nothing recognised is not a certainty of anything: a person looks.
        return Classification { kind: Kind::Other, confidence: 0.0, reasons: vec!["no feature of any evidence kind matched".into()] };
    };
    let s2 = ranked.get(1).map(|r| r.1).unwrap_or(0.0);
    // Strong evidence (a title and a second feature) and a clear margin both count.
    let strength = (s1 / 6.0).min(1.0);
    let margin = s1 / (s1 + s2);
    let confidence = ((strength * margin) * 100.0).round() / 100.0;
    let kind = Kind::ALL[best];
    let mut reasons = vec![format!("{} scored {s1}", kind.as_str())];
    reasons.extend(matched[best].iter().cloned());
    if let Some(&(second, s2)) = ranked.get(1) {
        reasons.push(format!("next: {} scored {s2}", Kind::ALL[second].as_str()));
    }
    Classification { kind, confidence, reasons }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_documents() {
        let invoice =
            classify_text("FACTURE N° FA-2024-0042\nDate : 12/06/2024\nTotal HT 1 000,00\nTVA 20 % 200,00\nTotal TTC 1 200,00\nNet à payer 1 200,00 €");
        assert_eq!(invoice.kind, Kind::Invoice);
        assert!(!invoice.is_low(), "{invoice:?}");

        let avoir = classify_text("AVOIR N° AV-2024-003\nAnnule et remplace la facture FA-2024-0042\nTotal TTC -1 200,00");
        assert_eq!(avoir.kind, Kind::CreditNote, "{avoir:?}");

        let devis = classify_text("DEVIS n° D-1234\nProposition commerciale — audit Active Directory\nValidité de l'offre : 30 jours\nBon pour accord");
        assert_eq!(devis.kind, Kind::Quote, "{devis:?}");

        let attestation =
            classify_text("ATTESTATION\nJe soussigné, directeur du centre hospitalier, atteste que l'audit a été réalisé.\nFait à Lyon, le 3 juillet 2024");
        assert_eq!(attestation.kind, Kind::Attestation);
        assert!(!attestation.is_low());

        let nothing = classify_text("Compte rendu de réunion du comité de pilotage");
        assert_eq!(nothing.kind, Kind::Other);
        assert!(nothing.is_low(), "an unrecognised document is never certain: {nothing:?}");
    }

    #[test]
    fn invoices_from_abroad() {
        for text in [
            "Rechnung   Seite 1\nRechnungsnr.   30064443\nRechnungsdatum   7. Mai 2014\nGesamtbetrag 34,73 EUR",
            "Kopie factuur\nFactuur datum   Factuur\nTotaal 49,99",
            "FACTURA\nNúmero de factura 12\nTotal 10,00",
        ] {
            let c = classify_text(text);
            assert_eq!(c.kind, Kind::Invoice, "{text}: {c:?}");
            assert!(!c.is_low(), "{text}: {c:?}");
        }
    }

    #[test]
    fn at_the_threshold_is_review() {
        assert!(Classification { kind: Kind::Invoice, confidence: LOW_CONFIDENCE, reasons: vec![] }.is_low());
    }

    #[test]
    fn ambiguous_text_is_low_confidence() {
        let c = classify_text("Total TTC : 1 234,56 €");
        assert!(c.is_low(), "{c:?}");
    }

    #[test]
    fn deterministic() {
        let t = "Rapport d'audit Active Directory PingCastle, vulnérabilités CVE-2020-1472";
        assert_eq!(classify_text(t), classify_text(t));
    }
}
