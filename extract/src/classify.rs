//! Which kind of evidence a file is. Structure decides first (a parsed PingCastle report
//! is an AD audit, a CII with TypeCode 381 a credit note); otherwise the text's own shape
//! (a letter, priced lines and totals, a table of invoices, slides, boxes and addresses,
//! numbered articles), then weighted text features in French and English read through
//! it. Deterministic: the same text always gives the same kind, confidence and reasons.
//!
//! What proves nothing has kinds of its own (a cover letter, a diagram, a slide deck, a
//! contract, a quote, a purchase order), so that it never stands in for a proof.

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

/// A letter's opening address, alone on its line ("Madame, Monsieur,", "Bonjour,").
const SALUTATION: &str = r"^(madame|monsieur|mesdames|messieurs|cher|chere|chers|bonjour|bonsoir|dear)\b[^.:;!?]{0,50},$";
/// A letter's closing formula.
const CLOSING: &str = r"\b(veuillez|je vous prie|nous vous prions|recevez)\b.{0,80}\b(agreer|croire|expression|salutations|considerati)|\bsalutations (distinguees|respectueuses|cordiales)|^(bien )?cordialement\b|\b(yours (sincerely|faithfully)|kind regards|best regards)\b";

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
    // Till receipts and tickets: their title, and the lines that close them (the total,
    // how it was paid, the change), in French and English; what a shop or a taxi gives.
    t(Kind::Invoice, r"\b(ticket de caisse|ticket (n[°o]|numero)|receipt)\b", 3.0),
    f(Kind::Invoice, r"^\s*(net )?total\b.{0,30}\d[.,]\d{2}\s*$", 1.0),
    f(Kind::Invoice, r"^\s*(cash|change|especes|rendu|a rendre|cb|carte (bancaire|bleue)|visa|mastercard)\b.{0,30}\d[.,]\d{2}\s*$", 1.5),
    f(Kind::Invoice, r"\b(caisse|caissier|cashier)\b", 0.5),
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
    // What accompanies the proofs. A letter says what it is in its subject and its forms
    // of address, whatever it mentions (invoices, a report, totals).
    t(Kind::CoverLetter, r"\b(courrier|lettre|note|bordereau) (de transmission|d'accompagnement|d'envoi|de couverture)\b|\bcover(ing)? letter\b", 4.0),
    f(Kind::CoverLetter, SALUTATION, 3.0),
    f(Kind::CoverLetter, CLOSING, 3.0),
    f(Kind::CoverLetter, r"^(objet|subject|re) ?:", 1.5),
    f(Kind::CoverLetter, r"^p\. ?j\.|\bpieces? jointes?\b|\bci-joint(e|es|s)?\b|\bveuillez trouver\b|\bplease find (attached|enclosed)\b|^enclosures?\b", 1.5),
    f(Kind::CoverLetter, r"\b(j'ai l'honneur de|nous avons l'honneur de|je vous (adresse|transmets)|nous vous (adressons|transmettons))\b", 2.0),
    // Drawings of a network: boxes named after equipment and zones, with their addresses.
    t(
        Kind::Diagram,
        r"\b(schema|synoptique|cartographie|topologie)\b|\barchitecture (reseau|du reseau|technique|du si)\b|\bnetwork (diagram|map|topology)\b",
        3.0,
    ),
    f(Kind::Diagram, r"\b(pare-feu|firewall|routeur|router|switch|commutateur|proxy|reverse proxy|load balancer|repartiteur de charge)\b", 1.5),
    f(Kind::Diagram, r"\b(vlan|dmz|lan|wan|vpn|wi-?fi|sd-wan|mpls)\b", 1.5),
    // Slides: an agenda, a last slide of thanks or for questions.
    t(Kind::SlideDeck, r"^(sommaire|ordre du jour|agenda|plan de la presentation)$", 1.5),
    f(Kind::SlideDeck, r"\b(merci de votre attention|merci pour votre attention|thank you for your attention)\b|^(des )?questions ?\?$", 3.0),
    // Contracts: the parties, and clauses numbered as articles.
    t(
        Kind::Contract,
        r"\b(contrat|convention|accord-cadre|marche public|acte d'engagement|cahier des clauses)\b|\b(service|framework) agreement\b|\bconditions generales (de vente|d'achat|d'utilisation)\b",
        3.0,
    ),
    f(Kind::Contract, r"\bentre les soussignes\b|\bci-apres (denomme|designe|appele)e?s?\b|\bil a ete (convenu|arrete) ce qui suit\b|\bhereinafter\b", 3.0),
    f(Kind::Contract, r"\b(les|des|aux) parties\b|\ben (deux|trois) exemplaires\b|\bresiliation\b|\bthe parties\b", 1.0),
];

/// Kinds whose documents are written in sentences (a letter, an attestation, a contract,
/// an audit report in prose): their features count in prose like anywhere else.
const PROSE_KINDS: &[Kind] = &[Kind::CoverLetter, Kind::Attestation, Kind::Contract, Kind::AdAuditReport, Kind::ExposureScan, Kind::VulnerabilityScan];

/// What a subject read in a sentence weighs beside the same words in a title or a table:
/// a letter that mentions the invoices and the report is neither.
const IN_PROSE: f32 = 0.25;

/// Kinds a priced document with totals cannot be: an invoice whose every line is about
/// an AD audit or an exposure scan is an invoice.
const NEVER_PRICED: &[Kind] = &[Kind::AdAuditReport, Kind::ExposureScan, Kind::VulnerabilityScan, Kind::Diagram, Kind::SlideDeck];

static COMPILED: LazyLock<Vec<Regex>> =
    LazyLock::new(|| FEATURES.iter().map(|f| Regex::new(&format!("(?m){}", f.pattern)).expect("feature pattern")).collect());

/// Features are counted in the head of the document, where titles are, and at most
/// twice each, so a long appendix cannot outvote the title.
const HEAD_CHARS: usize = 20_000;

static AMOUNT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(^|[^\d.,])\d{1,3}(([  .']\d{3})+|\d*)[.,]\d{2}([^\d]|$)").expect("amount"));
/// A totals label opening a short line that carries its amount.
static TOTALS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(sous-total|total|montant|net a payer|reste a payer|solde|amount due|balance due|grand total|gesamtbetrag|rechnungsbetrag|totaal|te betalen|importe total|totale)\b",
    )
    .expect("totals")
});
/// What names an invoice in a row: its number (letters, digits and separators with at
/// least three digits), its date, or the word.
static INVOICE_REF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b[a-z]{0,5}[-/ ]?\d{2,}[-/]\d{2,}([-/]\d+)?\b|\b\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b|\b\d{4}-\d{2}-\d{2}\b|\bfactures?\b").expect("invoice ref")
});
static CELLS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\s{3,}|\t| ; |\s\|\s").expect("cells"));
static ADDRESS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}(/\d{1,2})?\b").expect("address"));
static PORT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b\d{1,5}/(tcp|udp)\b|\bports?\b").expect("port"));
static LETTER: LazyLock<[Regex; 2]> = LazyLock::new(|| [SALUTATION, CLOSING].map(|p| Regex::new(&format!("(?m){p}")).expect("letter")));
static ARTICLE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(article|art\.) ?(\d+|premier|1er|[ivx]+)\b").expect("article"));

/// The shape of a text, before any word is weighed: sentences or labels, priced lines,
/// totals, rows listing invoices, pages, addresses, articles.
#[derive(Debug, Default)]
struct Shape {
    lines: usize,
    /// Lines that are sentences: eight words or more, mostly words, no amount.
    prose: Vec<bool>,
    /// Lines carrying an amount.
    priced: usize,
    /// A totals label opening a short line with its amount (or the next line's).
    totals: bool,
    /// Rows of a table (three cells or more) with an amount and an invoice's number, date or name.
    invoice_rows: usize,
    /// Pages (blank lines part them) and their words.
    page_words: Vec<usize>,
    /// Lines of five words or fewer.
    short: usize,
    addresses: usize,
    ports: bool,
    articles: std::collections::BTreeSet<String>,
    /// Opened by an address to its reader and closed by a formula: a letter.
    letter: bool,
}

impl Shape {
    fn of(folded: &str) -> Shape {
        let mut s = Shape { page_words: vec![0], ..Shape::default() };
        let lines: Vec<&str> = folded.lines().map(str::trim).collect();
        for (i, line) in lines.iter().enumerate() {
            if line.is_empty() {
                if s.page_words.last().is_some_and(|w| *w > 0) {
                    s.page_words.push(0);
                }
                continue;
            }
            s.lines += 1;
            let words: Vec<&str> = line.split_whitespace().collect();
            *s.page_words.last_mut().expect("a page") += words.len();
            let priced = AMOUNT.is_match(line);
            let wordy = words.iter().filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() * 2 > w.chars().count()).count();
            s.prose.push(words.len() >= 8 && wordy * 4 >= words.len() * 3 && !priced);
            s.short += usize::from(words.len() <= 5);
            if priced {
                s.priced += 1;
                if CELLS.split(line).filter(|c| !c.trim().is_empty()).count() >= 3 && INVOICE_REF.is_match(line) {
                    s.invoice_rows += 1;
                }
            }
            let next_priced = lines.get(i + 1).is_some_and(|l| AMOUNT.is_match(l));
            if TOTALS.is_match(line) && words.len() <= 10 && (priced || next_priced) {
                s.totals = true;
            }
            s.addresses += ADDRESS.find_iter(line).count();
            s.ports |= PORT.is_match(line);
            if let Some(m) = ARTICLE.captures(line) {
                s.articles.insert(m[2].to_owned());
            }
        }
        s.prose.resize(s.lines, false);
        s.letter = LETTER.iter().all(|re| re.is_match(folded));
        s.page_words.retain(|w| *w > 0);
        s
    }

    fn prose_lines(&self) -> usize {
        self.prose.iter().filter(|p| **p).count()
    }

    /// Priced lines and a totals line: an invoice, a quote, an order, or a report of costs.
    fn priced_with_totals(&self) -> bool {
        self.totals && self.priced >= 2
    }

    /// A table listing invoices, with its total: what a financial report is.
    fn invoice_table(&self) -> bool {
        self.invoice_rows >= 2 && self.totals
    }

    /// Pages of a few words each, in short lines: slides.
    fn slides(&self) -> bool {
        let pages = self.page_words.len();
        pages >= 3 && self.page_words.iter().sum::<usize>() <= 60 * pages && self.short * 3 >= self.lines * 2 && self.prose_lines() * 10 <= self.lines
    }

    /// Short labels and addresses, no sentence, no price, no port: boxes of a drawing.
    fn drawing(&self) -> bool {
        self.addresses >= 3 && self.prose_lines() == 0 && self.priced == 0 && !self.ports && self.short * 4 >= self.lines * 3
    }
}

/// The kind a text reads as.
pub fn classify_text(text: &str) -> Classification {
    let head: String = text.chars().take(HEAD_CHARS).collect();
    let folded = fold(&head);
    let shape = Shape::of(&folded);
    let lines: Vec<&str> = folded.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    // Headings: the first lines of the document, where "FACTURE N°", "DEVIS" or
    // "ATTESTATION" say what it is, even when its body talks about an AD audit.
    let headings = &lines[..lines.len().min(12)];
    let mut scores = [0f32; Kind::ALL.len()];
    let mut matched: Vec<Vec<String>> = vec![Vec::new(); Kind::ALL.len()];
    // By kind, the first heading line a title of that kind opens.
    let mut titled_at: Vec<Option<usize>> = vec![None; Kind::ALL.len()];
    for (feature, re) in FEATURES.iter().zip(COMPILED.iter()) {
        // Each line's hits, a sentence's weighing less for kinds not written in sentences;
        // the two heaviest count.
        let mut hits: Vec<(f32, &str)> = Vec::new();
        for (line, prose) in lines.iter().zip(&shape.prose) {
            // A letter tells what it sends, in its sentences and in its lists, and is
            // none of it; unless it bills, with its totals (an invoice with a note).
            let in_letter = shape.letter && feature.kind != Kind::CoverLetter && feature.kind != Kind::Attestation;
            let told = (in_letter && (*prose || !shape.priced_with_totals())) || (*prose && !PROSE_KINDS.contains(&feature.kind));
            let damp = if told { IN_PROSE } else { 1.0 };
            hits.extend(re.find_iter(line).map(|m| (damp, m.as_str())));
        }
        if hits.is_empty() {
            continue;
        }
        hits.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut weight: f32 = hits.iter().take(2).map(|h| feature.weight * h.0).sum();
        // A document-type word opening a heading line names the document.
        let k = feature.kind as usize;
        // "Facturé à" opening a line labels the buyer's block: no title.
        let billed_to = |h: &str| ["facture a", "facture au ", "facturer a"].iter().any(|l| h.starts_with(l));
        if let Some(at) = headings.iter().position(|h| feature.title && !billed_to(h) && re.find(h).is_some_and(|m| m.start() <= 2)) {
            weight += 2.0 * feature.weight;
            titled_at[k] = Some(titled_at[k].map_or(at, |t| t.min(at)));
        }
        scores[k] += weight;
        matched[k].push(format!("{:?} (+{weight})", hits[0].1.trim()));
    }
    // Structure next: what the text's shape says, beside (or against) its words.
    let mut structure: Vec<(Kind, f32, &str)> = Vec::new();
    if shape.invoice_table() {
        structure.push((Kind::FinancialReport, 4.0, "a table of invoice rows with a total"));
    }
    if shape.articles.len() >= 3 && !shape.priced_with_totals() {
        structure.push((Kind::Contract, 3.0, "clauses numbered as articles"));
    }
    // Pages of few words, or labels and addresses, are also what a poor scan gives: the
    // shape confirms words of slides or of a network, it does not stand for them.
    if shape.slides() && scores[Kind::SlideDeck as usize] > 0.0 {
        structure.push((Kind::SlideDeck, 3.0, "pages of a few short lines"));
    }
    if shape.drawing() && scores[Kind::Diagram as usize] > 0.0 {
        structure.push((Kind::Diagram, 3.0, "labels and addresses, no sentence"));
    }
    for (kind, weight, why) in &structure {
        scores[*kind as usize] += weight;
        matched[*kind as usize].push(format!("structure: {why} (+{weight})"));
    }
    let mut notes = Vec::new();
    if shape.priced_with_totals() {
        for kind in NEVER_PRICED {
            scores[*kind as usize] = 0.0;
        }
        notes.push("structure: priced lines and a totals line, never a report or a scan".to_owned());
    }
    if !shape.invoice_table() && scores[Kind::FinancialReport as usize] > 0.0 {
        // Prose, or a page without a table of invoices, is not a report of costs.
        scores[Kind::FinancialReport as usize] *= IN_PROSE;
        notes.push("structure: no table of invoice rows with a total, not a financial report".to_owned());
    }
    // A credit note is titled "AVOIR" or "FACTURE D'AVOIR" and speaks of invoices (the one
    // it credits, "Facture d'origine"), whose words then outweigh its title: titled as a
    // credit note no later than as an invoice, it is one.
    let (credit, invoice) = (Kind::CreditNote as usize, Kind::Invoice as usize);
    if let Some(at) = titled_at[credit].filter(|at| titled_at[invoice].is_none_or(|i| *at <= i)) {
        if scores[invoice] >= scores[credit] {
            scores[credit] = scores[invoice] + 1.0;
            matched[credit].push(format!("structure: titled as a credit note (heading line {}), before any invoice title", at + 1));
        }
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
    let mut confidence = ((strength * margin) * 100.0).round() / 100.0;
    let kind = Kind::ALL[best];
    if kind == Kind::FinancialReport && !shape.invoice_table() {
        // A report's title over no table (a scan read badly, a page of prose): a person looks.
        confidence = confidence.min(LOW_CONFIDENCE);
    }
    let mut reasons = vec![format!("{} scored {s1}", kind.as_str())];
    reasons.extend(matched[best].iter().cloned());
    if let Some(&(second, s2)) = ranked.get(1) {
        reasons.push(format!("next: {} scored {s2}", Kind::ALL[second].as_str()));
    }
    reasons.extend(notes);
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
        // Titled as a credit note under the parties' blocks, then speaking of the invoice
        // it credits in a label/value table: still a credit note; an invoice that deducts
        // a credit note stays an invoice.
        for title in ["AVOIR", "FACTURE D'AVOIR"] {
            let text = format!("Facturé à   ACME SAS\nCH de Valmont\n{title}\nNuméro   AV-2024-0161\nFacture d'origine   FA-2024-0776\nDésignation   Qté   P.U. HT\nAudit   1   -600,00 €\nTotal HT   -600,00 €\nTVA 20 %   -120,00 €\nTotal TTC   -720,00 €\nAvoir sur la facture FA-2024-0776.");
            assert_eq!(classify_text(&text).kind, Kind::CreditNote, "{title}");
        }
        let deducting = classify_text("FACTURE N° FA-2024-0099\nDésignation   Qté   P.U. HT\nAudit   1   1 000,00 €\nAvoir n° AV-2024-0003 déduit   -200,00 €\nTotal HT   800,00 €\nTVA 20 %   160,00 €\nTotal TTC   960,00 €");
        assert_eq!(deducting.kind, Kind::Invoice, "{deducting:?}");

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

    fn sure(text: &str, kind: Kind) {
        let c = classify_text(text);
        assert_eq!(c.kind, kind, "{text}\n{c:?}");
        assert!(!c.is_low(), "{text}\n{c:?}");
    }

    #[test]
    fn cover_letters_are_neither_reports_nor_invoices() {
        // The letter that sends the proofs names all of them, the report and a total.
        sure(
            "Centre Hospitalier de Valmont\nDirection des systèmes d'information\nValmont, le 2 septembre 2024\n\
             Objet : Courrier de transmission – programme CaRE, domaine 1\nMadame, Monsieur,\n\
             Dans le cadre du programme CaRE, j'ai l'honneur de vous transmettre les pièces justificatives du domaine 1 :\n\
             le bilan financier des dépenses engagées, les factures correspondantes, le rapport d'audit de l'Active Directory\n\
             Le montant total des dépenses présentées s'élève à 38 100,00 € TTC, conformément au bilan financier joint.\n\
             Je vous prie d'agréer, Madame, Monsieur, l'expression de mes salutations distinguées.\nLe directeur\n\
             P.J. : bilan financier, 3 factures, rapport d'audit",
            Kind::CoverLetter,
        );
        // One listing the invoices it sends, numbers and amounts, without a title.
        sure(
            "Madame la Directrice,\nNous vous prions de trouver ci-joint les pièces justifiant les dépenses du domaine 1 :\n\
             • facture n° FA-2024-164 de SECURINFO CONSEIL SAS du 13/06/2024, d'un montant de\n14 160,00 € TTC ;\n\
             • facture n° F20248929 de AUDIT RÉSEAUX OUEST SARL du 05/03/2024, d'un montant de\n12 360,00 € TTC ;\n\
             • le bilan financier récapitulatif signé par l'ordonnateur.\n\
             Veuillez agréer, Madame la Directrice, nos salutations respectueuses.",
            Kind::CoverLetter,
        );
        // A message: a greeting, what is attached, regards.
        sure(
            "Bonjour,\nVeuillez trouver ci-joint les factures de l'audit de l'Active Directory et du scan d'exposition sur internet,\n\
             ainsi que le rapport d'audit. Le bilan financier suivra dans la journée.\nCordialement,\nService informatique",
            Kind::CoverLetter,
        );
    }

    #[test]
    fn an_invoice_with_a_note_to_its_reader_stays_an_invoice() {
        sure(
            "FACTURE N° FA-2024-0042\nDate : 12/06/2024\nMadame, Monsieur,\n\
             Audit de l'Active Directory   1   6 400,00 €   6 400,00 €\nTotal HT   6 400,00 €\nTVA 20 %   1 280,00 €\nTotal TTC   7 680,00 €\n\
             Cordialement, le service comptable",
            Kind::Invoice,
        );
    }

    #[test]
    fn invoices_about_an_audit_or_a_scan_are_invoices() {
        sure(
            "SECURINFO CONSEIL SAS\nFACTURE N° FA-2024-563\nDate : 12/06/2024\nDésignation   Qté   P.U. HT   Montant HT\n\
             Audit de sécurité de l'Active Directory : collecte PingCastle et ORADAD, analyse des contrôleurs de domaine   1   6 400,00 €   6 400,00 €\n\
             Revue des comptes à privilèges, des délégations et des GPO ; rédaction du rapport d'audit   1   3 200,00 €   3 200,00 €\n\
             Restitution du rapport d'audit Active Directory   1   900,00 €   900,00 €\nTotal HT   10 500,00 €\nTVA 20 %   2 100,00 €\nTotal TTC   12 600,00 €",
            Kind::Invoice,
        );
        // Never a scan, even where the word "facture" was lost (a scan's OCR).
        let c = classify_text(
            "CYBERVIGIE SA\nN° F2024-88   Date 03/05/2024\nScan d'exposition sur internet (nmap) : ports ouverts et services exposés   2 800,00\n\
             Scan de vulnérabilités (Nessus) des adresses publiques, CVE et score CVSS   3 500,00\nTotal HT   6 300,00\nTotal TTC   7 560,00",
        );
        assert!(![Kind::ExposureScan, Kind::VulnerabilityScan].contains(&c.kind), "{c:?}");
    }

    #[test]
    fn quotes_and_purchase_orders_bill_nothing() {
        sure(
            "SECURINFO CONSEIL SAS\nDEVIS N° DE-2024-031\nDate : 15/04/2024\n\
             Audit de l'Active Directory (PingCastle, ORADAD), rapport d'audit   1   6 400,00 €   6 400,00 €\n\
             Total HT   6 400,00 €\nTVA 20 %   1 280,00 €\nTotal TTC   7 680,00 €\nValidité de l'offre : 60 jours\nBon pour accord",
            Kind::Quote,
        );
        sure(
            "Centre Hospitalier de Valmont\nBON DE COMMANDE N° BC-2024-118\nFournisseur : AUDIT RÉSEAUX OUEST SARL\n\
             Audit de l'Active Directory et rapport d'audit   1   9 600,00 €   9 600,00 €\nTotal HT   9 600,00 €\nTotal TTC   11 520,00 €\n\
             Adresse de livraison : DSI, bâtiment B\nL'ordonnateur",
            Kind::PurchaseOrder,
        );
    }

    #[test]
    fn a_report_of_costs_is_a_table_of_invoices_with_a_total() {
        let table = "BILAN FINANCIER – programme CaRE, domaine 1\nFournisseur   N° facture   Date   HT   TVA   TTC\n\
             SECURINFO CONSEIL SAS   FA-2024-164   13/06/2024   11 800,00   2 360,00   14 160,00\n\
             AUDIT RÉSEAUX OUEST SARL   F20248929   05/03/2024   10 300,00   2 060,00   12 360,00\n\
             Total   22 100,00   4 420,00   26 520,00";
        sure(table, Kind::FinancialReport);
        // The same words in sentences, without the table: not a report.
        let prose = "Bilan financier du programme CaRE\nLes dépenses engagées pour le domaine 1 ont été présentées au comité de direction\n\
             et le bilan financier détaillé sera transmis avec les factures des prestataires retenus cette année.";
        let c = classify_text(prose);
        assert!(c.kind != Kind::FinancialReport || c.is_low(), "{c:?}");
    }

    #[test]
    fn a_network_diagram_is_a_diagram() {
        // What a drawing's text is: names of boxes and their addresses, no sentence.
        sure(
            "Internet\nPare-feu FW-01\n203.0.113.1\nDMZ – VLAN 20   Messagerie\nReverse proxy 203.0.113.10   203.0.113.25\n\
             LAN – VLAN 10   Contrôleur de domaine DC01\nSwitch cœur SW-01   10.10.0.10\nServeur de fichiers   DC02\n10.10.0.20   10.10.0.11",
            Kind::Diagram,
        );
        sure("Schéma d'architecture réseau – CH de Valmont\nInternet\nRouteur opérateur\nPare-feu\nDMZ\nContrôleur de domaine", Kind::Diagram);
    }

    #[test]
    fn slide_decks_and_contracts() {
        sure(
            "Restitution de l'audit Active Directory\nComité de pilotage – 14 juin 2024\n\nSommaire\nContexte\nDémarche (PingCastle, ORADAD)\nConstats\n\n\
             Constats principaux\nComptes à privilèges trop nombreux\nMot de passe krbtgt ancien\n\nMerci de votre attention\nQuestions ?",
            Kind::SlideDeck,
        );
        sure(
            "CONTRAT DE PRESTATION DE SERVICES\nEntre les soussignés :\nle Centre Hospitalier de Valmont, ci-après dénommé « le Client »,\n\
             et SECURINFO CONSEIL SAS, ci-après dénommée « le Prestataire », il a été convenu ce qui suit :\n\
             Article 1 – Objet\nLa réalisation d'un audit de sécurité de l'annuaire Active Directory du Client.\nArticle 2 – Durée\n\
             Article 3 – Prix\nLe prix forfaitaire est fixé à 12 500,00 € HT.\nFait à Valmont, le 2 mai 2024, en deux exemplaires.",
            Kind::Contract,
        );
    }

    #[test]
    fn an_audit_report_in_prose_stays_a_report() {
        // Its sentences describe the audit: reports are written in prose, letters too,
        // but a report has no forms of address.
        sure(
            "Rapport d'audit de sécurité Active Directory\nDomaine audité : ch-valmont.local\nSommaire\n\
             Les points de contrôle PingCastle et ORADAD ont été relevés sur les deux contrôleurs de domaine ;\n\
             quatre règles restent à corriger (délégations, comptes à privilèges, politique de mots de passe).",
            Kind::AdAuditReport,
        );
    }

    #[test]
    fn till_receipts_are_invoices() {
        for text in [
            "SUPERETTE DU MARCHE\nTICKET DE CAISSE N° 0421   Caisse 2\nPAIN   1,20\nCAFE   4,50\nTOTAL   5,70\nCB   5,70\nTVA 5,5 %   0,30",
            "AIK HUAT HARDWARE\nSIMPLIFIED TAX INVOICE\nRECEIPT #: CSP0393921   DATE: 15/06/2017\nTOTAL   15.00\nCASH   15.00\nCHANGE   0.00",
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
